"""usmtp on its own: a report with a CSV attachment goes over STARTTLS with AUTH and a verified
certificate to a local mail catcher; the protocol trace (credentials redacted) and the message
as received are printed."""
import email
import email.policy
import io
import time

import usmtp
from usmtp.writer import Message, make_message_id

from catcher import Catcher


def readings_csv(n=24):
    out = io.StringIO()
    out.write("time_utc,greenhouse_C,humidity_pct\n")
    t0 = int(time.time()) - n * 3600
    for i in range(n):
        out.write("%d,%.1f,%d\n" % (t0 + i * 3600, 18 + (i % 12) * 0.7, 60 + i % 7))
    return io.BytesIO(out.getvalue().encode())


def main():
    with Catcher() as catcher:
        print("== mail catcher on 127.0.0.1:%d (STARTTLS required, AUTH required)" % catcher.port)
        msg = Message("Greenhouse <greenhouse@outpost.example>", ["owner@example.com"],
                      "Daily report: greenhouse 18.0\u201325.7 \u00b0C",
                      body="Min 18.0 \u00b0C, mean 21.9 \u00b0C, max 25.7 \u00b0C over 24 h.\n"
                           "Samples attached.\n",
                      date=int(time.time()),
                      message_id=make_message_id("greenhouse-7-42", "greenhouse@outpost.example"))
        msg.attach("readings.csv", readings_csv(), "text/csv")
        print("== protocol trace")
        with usmtp.SMTP("localhost", catcher.port, mode="starttls", cadata=catcher.ca_pem,
                        trace=lambda line: print("   " + line)) as s:
            s.login(catcher.user, catcher.password)
            refused = s.send_message(msg)
        print("== refused recipients: %r" % (refused,))
        if not catcher.wait_for(1):
            print("the catcher received nothing")
            return 1
        mail_from, rcpts, data = catcher.messages[0]
        print("== received from %s for %s (%d bytes)" % (mail_from, ", ".join(rcpts), len(data)))
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        for k in ("From", "To", "Subject", "Date", "Message-ID"):
            print("   %s: %s" % (k, parsed[k]))
        print("   body: %s" % parsed.get_body(("plain",)).get_content().strip().replace("\n", " / "))
        for part in parsed.iter_attachments():
            content = part.get_content()
            if isinstance(content, bytes):
                content = content.decode()
            lines = content.splitlines()
            print("   attachment %s (%s): %d rows, first: %s" % (
                part.get_filename(), part.get_content_type(), len(lines) - 1, lines[1]))
    return 0

