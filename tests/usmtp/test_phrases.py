# lane: micropython
# What core.py and client.py say when something fails is in usmtp/phrases.py, by number, and
# loads only when an error is raised (usmtp.errors.err; moreerrors.amiss names the state).
# Each error still says what is wrong and names it, word for word as before the texts moved,
# on both runtimes; a session that succeeds never loads the phrases.
import sys

from tinytest import raises
from transcript import ENVELOPE_PIPELINED, ENVELOPE_STEPWISE, new_core, opened, run
from usmtp.errors import SMTPConnectError, SMTPProtocolError, SMTPUsageError


def said(exc_type, fn, *a):
    return str(raises(exc_type, fn, *a))


def test_a_session_that_succeeds_never_loads_the_phrases():
    sys.modules.pop("usmtp.phrases", None)
    c = opened("PIPELINING")
    assert run(c, c.op_send("a@x", ["b@y"], b"hi\n"), ENVELOPE_PIPELINED + """
C: hi
C: .
S: 250 ok
""") == {}
    assert "usmtp.phrases" not in sys.modules


def test_input_errors_name_the_input():
    from usmtp.core import Core
    assert said(SMTPUsageError, Core, "plain", "host\r\nRCPT TO:<x@y>") == \
        "local_hostname: CR, LF or NUL in 'host\\r\\nRCPT TO:<x@y>'"
    c = opened("AUTH PLAIN", allow_plaintext_auth=True)
    assert said(SMTPUsageError, run, c, c.op_auth("u", "p\x00w"), "") == \
        "password must be UTF-8 text without NUL"
    c = opened()
    assert said(SMTPUsageError, run, c, c.op_send("a@x", [], b"x"), "") == "no recipients"
    assert said(SMTPUsageError, run, c, c.op_send("a@x", ["j\xf6rg@x"], b"x"), "") == \
        "non-ASCII address, no SMTPUTF8"
    assert said(SMTPUsageError, run, c, c.op_send("a@x", ["<>"], b"x"), "") == \
        "recipient '' is empty"
    from usmtp.core import fix
    assert said(TypeError, fix, 5, [True, False], True) == "message chunk: int"


def test_misuse_names_the_state():
    c = new_core()
    assert said(SMTPUsageError, c.tls_established) == "no STARTTLS to establish"
    assert said(SMTPUsageError, run, c, c.op_send("a@x", ["b@y"], b"x"), "") == \
        "not in state greeting"
    c = opened()
    assert said(SMTPUsageError, run, c, c.op_auth("u", "p"), "") == \
        "no AUTH over an unencrypted connection (allow_plaintext_auth)"
    from usmtp.stream import op_begin_data
    run(c, op_begin_data(c, "a@x", ["b@y"]), ENVELOPE_STEPWISE)
    assert said(SMTPUsageError, run, c, c.op_simple("RSET"), "") == "RSET not in state data"
    c = opened()
    c.start(c.op_simple("NOOP"))
    assert said(SMTPUsageError, c.start, c.op_simple("NOOP")) == "busy"


def test_what_the_server_did_wrong_is_named():
    c = opened()
    assert said(SMTPProtocolError, run, c, c.op_simple("NOOP"), "C: NOOP\nS: 354 go ahead") == \
        "reply 354 to NOOP in state ready: go ahead"
    c = opened()
    assert said(SMTPProtocolError, run, c, c.op_simple("NOOP"), "C: NOOP\nS: 2x0 what") == \
        "reply line malformed: b'2x0 what'"
    c = opened()
    assert said(SMTPProtocolError, run, c, c.op_simple("NOOP"), "C: NOOP\nS: 250 " + "x" * 3000) \
        == "reply over 2048 bytes a line, 100 lines or 16384 bytes"
    c = opened()
    assert said(SMTPConnectError, run, c, c.op_simple("NOOP"), "C: NOOP\nS: <EOF>") == \
        "server closed the connection before replying to NOOP"
    assert said(SMTPConnectError, c.start, c.op_simple("NOOP")) == "connection closed"


def test_the_client_says_what_became_of_the_connection():
    from usmtp.client import SMTP
    s = SMTP()
    assert said(SMTPUsageError, s.sendmail, "a@x", ["b@y"], b"x") == "not connected"
    s._lost = "SMTPTimeout: no reply to EOD in 60 s"
    assert said(SMTPConnectError, s.login, "u", "p") == \
        "the connection was lost (SMTPTimeout: no reply to EOD in 60 s)"
