# The direct SMTP path. Its own module so the SMTP step (sendwake.py) loads this path and
# usmtp and nothing of MQTT or serial.
import gc

from outpost import Down, Refused, unload  # noqa: F401 (re-exported: what every path shares)

def remove(path):
    # -> whether there was a file to remove
    import os
    try:
        os.remove(path)
    except OSError:
        return False
    return True


MAIL_FILE = "mail.out"     # the composed message of the alert being sent (see SmtpPath)
INFLIGHT = "inflight"      # the alert being sent, in case the board crashes (see the app)
SEND_FILE = "mail.go"      # the SMTP step's alert: "<id> <shed>\n<the record as journalled>"
RESULT_FILE = "mail.res"   # its outcome: "<id> sent" | "<id> refused <why>" | "<id> down <why>"
# (the same names in smtp_hop.py, the app's side of the step, which does not load this module)


class SmtpPath:
    # Two steps, so their modules never share the heap: compose the alert's email with the
    # writer into MAIL_FILE on flash (once per alert: a retry reuses it), unload the writer;
    # then connect (TLS), log in and stream the file, and unload the client.
    name = "smtp"

    def __init__(self, cfg, net, log, root=""):
        self.smtp = cfg["smtp"]
        self.mail = cfg["mail"]
        self.chart = cfg["report"]["chart"]
        self.net = net
        self.log = log
        self.auth_warned = False
        self.trace = None       # a callable given the SMTP dialogue (AUTH redacted): test-alert
        self.file = root + "/" + MAIL_FILE if root else MAIL_FILE
        self.root = root
        self.wake = None          # set for the SMTP step (see smtp_hop.by_step)
        self.wake_resets = False  # wake() resets the board (a send wake) or not (App.hand_over)
        self.context = None       # a TLS context built early in the SMTP step (sendwake._tls)

    def enabled(self):
        return bool(self.smtp["host"])

    def send(self, rec, csv, timeout, sent=None, shed=0, payload=None):
        # shed: what a report that kept failing leaves out (1: its charts, 2: its CSV too);
        # payload: the record as journalled, for the SMTP step (not encoded again)
        from outpost import smtp_hop
        why = smtp_hop.check(self.smtp, self.net)
        if why is None and self.wake is not None:
            why = smtp_hop.by_step(self, rec, csv, sent, shed, payload)
            if why is None:
                return
            if why[0] == "refused":
                raise Refused(why[1])
            why = why[1]
        smtp_hop = None
        unload("outpost.smtp_hop")
        if why is not None:
            raise Down(why)
        self.send_now(rec, csv, timeout, sent, None, shed)

    def send_now(self, rec, csv, timeout, sent=None, drop=None, shed=0):
        # drop: the SMTP step's modules it no longer needs once the record is read (they go
        # before composing, so the message's parts find the heap the app left)
        try:
            if drop is None:
                # the client first, the writer on top of it: unloaded after composing, the
                # writer leaves one free stretch at the top of the heap, where TLS finds its
                # large blocks
                import usmtp
                usmtp.SMTP
            else:
                for name in drop:
                    unload(name)
                gc.collect()
            rcpts = self._compose(rec, csv if shed < 2 else None, shed)
        finally:
            unload("outpost.compose")
            unload("outpost_contract.mail")
            unload("usmtp.mime")
            unload("usmtp.writer")
            unload("outpost.chart")     # a report's charts: loaded to compose it only
            unload("outpost.png")
            if drop is not None:
                # a send wake: everything the message needed goes (the record's rules too),
                # the client loads after it into a clean heap
                unload("usmtp")
                unload("outpost_contract.rules")
            gc.collect()
        rec = csv = None
        try:
            self._send(rcpts, timeout, sent)
        except Refused:
            self._forget()
            raise
        finally:
            # the SMTP step is over: its modules give their heap back to the next step
            unload("usmtp")
            gc.collect()
        self._forget()

    # --- the SMTP step (with wake set): the app journals the alert, writes SEND_FILE (the id,
    # then the record as journalled) and calls wake(): the hop to the step in this wake, or a
    # send wake (state into RTC memory, a deep sleep of 1 ms; main.py then runs outpost.sendwake
    # before it loads the app). Only this path and usmtp share the heap. Its outcome goes to
    # RESULT_FILE ("<id> sent|refused|down <why>"), read when the app, loaded again, tries the
    # alert again: smtp_hop.by_step, which the app on a board holds instead of this module.

    def _forget(self):
        remove(self.file)

    def _compose(self, rec, csv, shed=0):
        # -> the envelope recipients; MAIL_FILE holds "<id> <shed>\n<rcpt> <rcpt>...\n<message>"
        rid = rec["id"].encode() + b" " + str(shed).encode()
        try:
            with open(self.file, "rb") as f:
                if f.readline().rstrip() == rid:
                    return f.readline().decode().split()
        except OSError:
            pass
        from usmtp.errors import SMTPUsageError
        if shed and rec["kind"] == "report":
            self.log("smtp: " + rec["id"] + ", a report that kept failing, goes " +
                     ("without its charts" if shed == 1 else "as plain text"))
        chart = bool(self.chart and csv and rec["kind"] == "report" and not shed)
        try:
            try:
                return self._write(rid, rec, csv, chart)
            except MemoryError:
                if not chart:
                    raise
            # the charts did not fit: the report goes without them rather than not at all
            unload("outpost.chart")
            unload("outpost.png")
            gc.collect()
            self.log("smtp: out of memory writing the report's charts; it goes without them")
            return self._write(rid, rec, csv, False)
        except SMTPUsageError as e:
            # an address or header the writer refuses: our setup, not an outage of the gateway,
            # which can still deliver it
            self._forget()
            raise Down("cannot write the message: " + str(e))
        except OSError as e:
            self._forget()
            raise Down("flash: " + str(e))

    def _write(self, rid, rec, csv, chart):
        # in parts, so their modules never share the heap: a report's charts to flash first
        # (outpost.chart and outpost.png, then unloaded), then the message, the writer reading
        # the charts back from flash as it streams them into the file
        import os
        charts = []
        files = []
        try:
            if chart:
                from outpost import chart as ch
                charts = ch.write(csv, self.file)
                ch = None
                unload("outpost.chart")
                unload("outpost.png")
                gc.collect()
            for i in range(len(charts)):
                name, lo, hi, path = charts[i]
                files.append(open(path, "rb"))
                charts[i] = (name, lo, hi, files[i])
            from outpost_contract import mail
            msg = mail.message(rec, self.mail["sender"], rec.get("to") or self.mail["to"],
                               self.mail.get("subject_prefix", ""))
            mail = None
            if csv:
                from outpost import compose     # a report's parts (an alert's mail is plain)
                compose.add(msg, rec, csv, charts)
                compose = None
            rcpts = msg.recipients()
            # written whole under another name, then renamed: a power cut while writing must
            # not leave a file whose first line says "composed" (a retry would send it cut
            # short, or empty, and take the 250 for the alert)
            tmp = self.file + ".new"
            with open(tmp, "wb") as f:
                f.write(rid + b"\n" + " ".join(rcpts).encode() + b"\n")
                for chunk in msg.chunks(512):
                    f.write(chunk)
            msg = None
        finally:
            for f in files:
                f.close()
            # the chart files (chart.write), and any a power cut left
            i = 0
            while remove(self.file + ".c" + str(i)):
                i += 1
        remove(self.file)
        os.rename(tmp, self.file)
        return rcpts

    def _body(self):
        # the composed message in small pieces, straight from flash
        with open(self.file, "rb") as f:
            f.readline()
            f.readline()
            while True:
                b = f.read(128)   # small: during TLS the heap has no large free block (the
                                  # real port at 112k had none of 257 bytes; usmtp gathers
                                  # the pieces into its own buffer for each write)
                if not b:
                    return
                yield b

    def _send(self, rcpts, timeout, sent):
        import usmtp
        from usmtp.errors import SMTPError, outcome
        c = self.smtp
        gc.collect()  # TLS needs the largest free block we can give it
        try:
            s = usmtp.SMTP(c["host"], c["port"], mode=c["mode"], cadata=c["ca"] or None,
                           server_hostname=c["server_hostname"] or None, timeout=timeout,
                           insecure_skip_verify=c["insecure_skip_verify"],
                           allow_plaintext_auth=c["allow_plaintext_auth"],
                           data_timeout=c["data_timeout"] or None, trace=self.trace,
                           chunking=False,  # DATA: no BDAT module, no chunk buffer on the heap
                           context=self.context)
            try:
                if c["oauth2_token"]:
                    s.login_oauth2(c["username"], c["oauth2_token"], defer=True)
                elif c["username"]:
                    s.login(c["username"], c["password"], defer=True)  # rides with MAIL and RCPT
                refused = s.sendmail(self.mail["sender"], rcpts, self._body())
                if sent is not None:
                    sent()      # the 250 settles it; QUIT is a courtesy
                try:
                    s.quit()
                except (SMTPError, OSError):
                    pass  # the message was accepted (250) before this
            finally:
                s.close()
        except OSError as e:        # every SMTPError is an OSError
            answer = outcome(e)     # usmtp's one classification; what it does here is ours
            if answer == "refused":
                raise Refused(str(e))
            if answer == "reconfigure":
                # our credentials or TLS setup, not the message: the gateway can still deliver it
                if not self.auth_warned:
                    self.log("smtp: setup refused (" + str(e) + "): check smtp.username, "
                             "password, oauth2_token and ca")
                    self.auth_warned = True
                raise Down("AUTH or TLS refused")
            if isinstance(e, SMTPError):
                raise Down(str(e) or e.__class__.__name__)
            raise Down("network: " + str(e))
        for rcpt in refused:
            self.log("smtp: " + rcpt + " refused: " + str(refused[rcpt][0]) + " " + refused[rcpt][1])
