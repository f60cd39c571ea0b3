# send_many when a pipelined batch breaks off: the error carries partial_results, the outcome
# of every message the server had answered (done, or refused at any step) and None only for
# those it never answered, whether the batch ended by a timeout, a hang-up or a 421.
import pytest

import usmtp
from peers.faultsmtp import FaultServer
from usmtp.errors import (SMTPConnectError, SMTPError, SMTPRecipientsRefused, SMTPSenderRefused,
                          SMTPTimeout, SMTPTransientError)


def batch(n):
    return [("a@example.com", ["b@example.com"],
             b"Message-ID: <m%d@example.com>\r\nSubject: %d\r\n\r\nbody %d\r\n" % (i, i, i))
            for i in range(1, n + 1)]


def run(plan, n=3, timeout=2.0):
    with FaultServer(plan=plan) as srv:
        s = usmtp.SMTP("127.0.0.1", srv.port, mode="plain", timeout=timeout)
        assert s.has_extn("pipelining")
        try:
            return s.send_many(batch(n)), srv
        except SMTPError as e:
            return e, srv
        finally:
            s.close()


@pytest.mark.parametrize("fault,err", [("stall-mail", SMTPTimeout), ("hangup-mail", SMTPConnectError),
                                       ("421-mail", SMTPTransientError), ("hangup-eod", SMTPConnectError)])
@pytest.mark.parametrize("pos", [1, 2, 3])
def test_answered_messages_keep_their_outcome(fault, err, pos):
    e, srv = run({(1, pos): fault})
    assert isinstance(e, err)
    res = e.partial_results
    assert res[:pos - 1] == [{}] * (pos - 1)           # answered 250 before the break
    assert res[pos - 1:] == [None] * (3 - pos + 1)      # the broken one and the rest: unknown
    assert len(srv.accepted()) == pos - 1


@pytest.mark.parametrize("refusal,kind", [("550-mail", SMTPSenderRefused), ("451-mail", SMTPSenderRefused),
                                          ("550-rcpt", SMTPRecipientsRefused),
                                          ("452-rcpt", SMTPRecipientsRefused), ("554-data", SMTPError),
                                          ("552-eod", SMTPError)])
def test_a_refusal_before_the_break_settles_that_message(refusal, kind):
    e, srv = run({(1, 1): refusal, (1, 2): "hangup-mail"})
    assert isinstance(e, SMTPConnectError)
    first = e.partial_results[0]
    code = first.recipients["b@example.com"][0] if kind is SMTPRecipientsRefused else first.code
    assert isinstance(first, kind) and code == int(refusal[:3])
    assert e.partial_results[1:] == [None, None]


def test_unbroken_batch_gives_each_message_its_own_outcome():
    res, srv = run({(1, 2): "550-rcpt"})
    assert res[0] == {} and res[2] == {}
    assert isinstance(res[1], SMTPRecipientsRefused)
    assert len(srv.accepted()) == 2
