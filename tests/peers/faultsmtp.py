# An upstream SMTP server on loopback that injects one fault at a chosen place: which
# connection, and which message (counted by MAIL commands) on it. Real sockets and real SMTP
# (EHLO with PIPELINING, DATA with dot-stuffing), one thread per connection. It records every
# message body it received, whether it answered it 250, and its Message-ID, so a test can
# check that nothing answered 250 was ever sent again and nothing was lost.
#
# Faults (what happens at the chosen message):
#   421-mail, 451-mail, 550-mail      that reply to MAIL (421 then closes the connection)
#   451-rcpt, 452-rcpt, 550-rcpt      that reply to RCPT
#   554-data                          that reply to DATA
#   451-eod, 552-eod                  that reply to the end of the data
#   hangup-mail                       close the connection on MAIL, no reply
#   hangup-eod                        take the data, close without a reply
#   stall-mail                        stop answering at MAIL (the client times out)
#   stall-eod                         take the data, never answer it (the client's data timeout)
import socket
import threading
import time

from peers.closing import Closing, quietly

FAULTS = ("421-mail", "451-mail", "550-mail", "451-rcpt", "452-rcpt", "550-rcpt", "554-data",
          "451-eod", "552-eod", "hangup-mail", "hangup-eod", "stall-mail", "stall-eod")
PERMANENT = ("550-mail", "550-rcpt", "554-data", "552-eod")


def message_id(data):
    for line in data.split(b"\r\n"):
        if not line:
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"message-id":
            return value.strip().decode("ascii", "replace")
    return None


class Transfer:
    # one message body as received, and what the server answered it
    def __init__(self, conn, pos, data, reply, generation=0, keep=True):
        self.at = time.time()       # when the server had it all (before its reply)
        self.generation = generation
        self.conn = conn
        self.pos = pos
        self.data = data if keep else None
        self.reply = reply
        self.mid = message_id(data)

    @property
    def accepted(self):
        return self.reply.startswith("250")


class FaultServer(Closing):
    def __init__(self, fault=None, conn=1, pos=1, plan=None, eod_delay=0.0, keep_bodies=True):
        # plan: {(connection, message position): fault}; fault/conn/pos: a plan of one.
        # eod_delay: seconds the server "scans" each message before its reply (a reply in
        # flight, where a client's crash lands); generation: a tag the test moves on, kept
        # with each transfer; keep_bodies=False keeps only each transfer's Message-ID (a soak
        # of a million messages)
        self.keep_bodies = keep_bodies
        self.plan = dict(plan or {})
        self.eod_delay = eod_delay
        self.generation = 0
        self.faults_hit = 0
        if fault is not None:
            self.plan[(conn, pos)] = fault
        self.transfers = []
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._threads = []
        self._conns = []
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    # -- results ------------------------------------------------------------------------------
    def accepted(self):
        with self._lock:
            return [t for t in self.transfers if t.accepted]

    def accepted_after_250(self):
        # transfers of a Message-ID that the server had already accepted before: must be none
        seen = set()
        again = []
        with self._lock:
            for t in self.transfers:
                if t.mid in seen:
                    again.append(t)
                if t.accepted:
                    seen.add(t.mid)
        return again

    # -- server -------------------------------------------------------------------------------
    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                n = self.connections
                self._conns.append(c)
            t = threading.Thread(target=self._serve, args=(c, n), daemon=True)
            t.start()
            self._threads.append(t)

    def _fault(self, n, pos, step):
        f = self.plan.get((n, pos))
        if f is None or not f.endswith("-" + step):
            return None
        with self._lock:
            self.faults_hit += 1
        return f

    def _serve(self, c, n):
        c.settimeout(30)
        f = c.makefile("rb")

        def say(line):
            c.sendall(line.encode() + b"\r\n")
        try:
            say("220 fault.test ESMTP")
            pos = 0
            mail_ok = False
            rcpt_ok = 0
            while True:
                line = f.readline(2048)
                if not line:
                    return
                cmd = line.strip().decode("ascii", "replace")
                verb = cmd[:4].upper()
                if verb in ("EHLO", "HELO"):
                    c.sendall(b"250-fault.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif verb == "MAIL":
                    pos += 1
                    rcpt_ok = 0
                    flt = self._fault(n, pos, "mail")
                    mail_ok = flt is None
                    if flt == "hangup-mail":
                        return
                    if flt == "stall-mail":
                        while f.readline(2048):
                            pass
                        return
                    if flt is not None:
                        say(flt[:3] + " fault: " + flt)
                        if flt.startswith("421"):
                            return
                    else:
                        say("250 2.1.0 ok")
                elif verb == "RCPT":
                    flt = self._fault(n, pos, "rcpt")
                    if not mail_ok:
                        say("503 5.5.1 MAIL first")
                    elif flt is not None:
                        say(flt[:3] + " fault: " + flt)
                    else:
                        rcpt_ok += 1
                        say("250 2.1.5 ok")
                elif verb == "DATA":
                    flt = self._fault(n, pos, "data")
                    if not mail_ok or not rcpt_ok:
                        say("554 5.5.1 no valid recipients")
                        continue
                    if flt is not None:
                        say(flt[:3] + " fault: " + flt)
                        continue
                    say("354 go ahead")
                    lines = []
                    while True:
                        d = f.readline(1 << 20)
                        if not d:
                            return
                        if d == b".\r\n":
                            break
                        lines.append(d[1:] if d.startswith(b".") else d)
                    data = b"".join(lines)
                    flt = self._fault(n, pos, "eod")
                    if flt in ("hangup-eod", "stall-eod"):
                        with self._lock:
                            self.transfers.append(Transfer(n, pos, data, "none", keep=self.keep_bodies))
                        if flt == "stall-eod":
                            while f.readline(2048):
                                pass
                        return
                    reply = (flt[:3] + " fault: " + flt) if flt else "250 2.0.0 queued"
                    if self.eod_delay:
                        time.sleep(self.eod_delay)
                    with self._lock:
                        self.transfers.append(Transfer(n, pos, data, reply, self.generation, self.keep_bodies))
                    say(reply)
                    mail_ok = False
                elif verb == "RSET":
                    mail_ok = False
                    rcpt_ok = 0
                    say("250 2.0.0 ok")
                elif verb == "NOOP":
                    say("250 2.0.0 ok")
                elif verb == "QUIT":
                    say("221 2.0.0 bye")
                    return
                else:
                    say("502 5.5.2 not implemented")
        except OSError:
            return
        finally:
            quietly(c.close)

    def close(self):
        self._stop.set()
        quietly(self._sock.close)
        with self._lock:
            for c in self._conns:
                quietly(c.shutdown, socket.SHUT_RDWR)
