# lane: micropython
# Golden transcripts: greeting, EHLO/HELO, STARTTLS, AUTH, and the reply parser's bounds.
from tinytest import raises
from transcript import new_core, opened, row, run, state
from usmtp.errors import (SMTPAuthError, SMTPConnectError, SMTPPermanentError,
                          SMTPProtocolError, SMTPTLSError, SMTPTransientError, SMTPUsageError)
from usmtp.core import Core


def test_multiline_greeting_and_ehlo_parsing():
    c = new_core()
    res = run(c, c.op_open(), """
S: 220-mx.example ESMTP ready
S: 220-no UCE
S: 220 welcome
C: EHLO [127.0.0.1]
S: 250-mx.example greets you
S: 250-PIPELINING
S: 250-SIZE 35882577
S: 250-auth=LOGIN PLAIN
S: 250-8bitmime
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250 SMTPUTF8
""")
    assert res == "ready"
    assert c.got[0] == (220, "mx.example ESMTP ready\nno UCE\nwelcome")
    assert c.ext["SIZE"] == "35882577"
    assert c.ext["AUTH"] == "LOGIN PLAIN"
    assert "8BITMIME" in c.ext and "SMTPUTF8" in c.ext
    assert c.has("PIPELINING") and c.has("CHUNKING")
    assert state(c) == "ready"


def test_pipelining_and_chunking_can_be_switched_off():
    c = opened("PIPELINING,CHUNKING", pipelining=False, chunking=False)
    assert not c.has("PIPELINING") and not c.has("CHUNKING")


def test_helo_fallback_when_ehlo_unknown():
    c = new_core()
    run(c, c.op_open(), """
S: 220 old.example SMTP
C: EHLO [127.0.0.1]
S: 502 command not implemented
C: HELO [127.0.0.1]
S: 250 old.example
""")
    assert state(c) == "ready" and c.ext == {}


def test_helo_refused_too():
    c = new_core()
    e = raises(SMTPPermanentError, run, c, c.op_open(), """
S: 220 x
C: EHLO [127.0.0.1]
S: 500 what
C: HELO [127.0.0.1]
S: 501 go away
""")
    assert e.code == 501 and e.command == "HELO"


def test_greeting_4xx_and_5xx():
    for code, cls in ((450, SMTPTransientError), (554, SMTPPermanentError)):
        c = new_core()
        e = raises(cls, run, c, c.op_open(), "S: %d 5.7.1 no service for you" % code)
        assert e.code == code and e.command == "greeting"
    c = new_core()
    e = raises(SMTPTransientError, run, c, c.op_open(), "S: 421 4.3.2 busy, closing")
    assert e.code == 421 and e.enhanced == "4.3.2" and state(c) == "closed"


def test_ehlo_4xx_is_not_retried_as_helo():
    c = new_core()
    e = raises(SMTPTransientError, run, c, c.op_open(), """
S: 220 x
C: EHLO [127.0.0.1]
S: 451 try later
""")
    assert e.code == 451


STARTTLS_OPEN = """
S: 220 mx ESMTP
C: EHLO [127.0.0.1]
S: 250-mx
S: 250-STARTTLS
S: 250 AUTH PLAIN
C: STARTTLS
S: 220 2.0.0 go ahead
"""


def test_starttls_then_capabilities_forgotten_and_ehlo_again():
    c = new_core(mode="starttls")
    assert run(c, c.op_open(), STARTTLS_OPEN) == "starttls"
    assert state(c) == "tls"
    c.tls_established()
    assert c.ext == {} and c.secure and state(c) == "start"
    run(c, c.op_hello(), """
C: EHLO [127.0.0.1]
S: 250-mx
S: 250 AUTH PLAIN LOGIN
""")
    assert c.ext == {"AUTH": "PLAIN LOGIN"}


def test_the_driver_reports_events_and_the_table_moves_the_state():
    # h11's way: the driver says what happened (a finished handshake, a lost connection) and
    # the core's table decides the state; a handshake it did not ask for is the driver's mistake
    c = new_core(mode="starttls")
    raises(SMTPUsageError, c.tls_established)
    assert state(c) == "greeting"
    run(c, c.op_open(), STARTTLS_OPEN)
    c.tls_established()
    assert state(c) == "start" == row("tls", "TLS")[3]
    c.lost()
    assert state(c) == "closed" == row("start", "LOST")[3]
    raises(SMTPConnectError, c.start, c.op_hello())
    assert row("greeting", "DATA") is None and row("mail", "BDAT-LAST")[2:] == ["250", "ready", "mail"]


def test_starttls_required_but_not_offered():
    c = new_core(mode="starttls")
    e = raises(SMTPTLSError, run, c, c.op_open(), """
S: 220 mx
C: EHLO [127.0.0.1]
S: 250-mx
S: 250 AUTH PLAIN
""")
    assert "STARTTLS" in str(e)


def test_starttls_required_but_refused():
    for code in (454, 501):
        c = new_core(mode="starttls")
        e = raises(SMTPTLSError, run, c, c.op_open(), """
S: 220 mx
C: EHLO [127.0.0.1]
S: 250-mx
S: 250 STARTTLS
C: STARTTLS
S: %d TLS not available
""" % code)
        assert str(code) in str(e)


def opened_in(mode, transcript):
    # a core in this TLS mode, opened along the transcript (greeting, EHLO, maybe STARTTLS)
    c = new_core(mode=mode)
    assert run(c, c.op_open(), transcript) == "ready"
    return c


def test_opportunistic_continues_in_plaintext_when_absent_or_refused():
    c = opened_in("opportunistic", """
S: 220 mx
C: EHLO [127.0.0.1]
S: 250 mx
""")
    assert not c.secure
    c = opened_in("opportunistic", """
S: 220 mx
C: EHLO [127.0.0.1]
S: 250-mx
S: 250 STARTTLS
C: STARTTLS
S: 454 not now
""")
    assert not c.secure and state(c) == "ready"


def test_plain_mode_never_starttls():
    opened_in("plain", """
S: 220 mx
C: EHLO [127.0.0.1]
S: 250-mx
S: 250 STARTTLS
""")


def test_data_injected_before_tls_handshake_is_refused():
    c = new_core(mode="starttls")
    raises(SMTPProtocolError, run, c, c.op_open(), STARTTLS_OPEN.rstrip() +
           "\nS: 250 injected reply\\")


def test_tls_established_without_starttls_is_misuse():
    c = opened()
    raises(SMTPUsageError, c.tls_established)


# ---- AUTH ---------------------------------------------------------------------------------

def secure_core(ext, trace=None):
    return opened(ext, mode="tls", trace=trace)


def test_auth_plain_with_initial_response():
    c = secure_core("AUTH LOGIN PLAIN")
    # base64("\0user\0pass")
    assert run(c, c.op_auth("user", "pass"), """
C: AUTH PLAIN AHVzZXIAcGFzcw==
S: 235 2.7.0 accepted
""") == "PLAIN"
    assert c.authed


def test_auth_plain_empty_challenge_gets_the_response():
    c = secure_core("AUTH PLAIN")
    run(c, c.op_auth("user", "pass"), """
C: AUTH PLAIN AHVzZXIAcGFzcw==
S: 334 
C: AHVzZXIAcGFzcw==
S: 235 ok
""")


def test_auth_login():
    c = secure_core("AUTH LOGIN")
    assert run(c, c.op_auth("user", "pass"), """
C: AUTH LOGIN
S: 334 VXNlcm5hbWU6
C: dXNlcg==
S: 334 UGFzc3dvcmQ6
C: cGFzcw==
S: 235 ok
""") == "LOGIN"


def test_auth_xoauth2_success_and_failure():
    c = secure_core("AUTH XOAUTH2 PLAIN")
    tok = "dXNlcj1hQGIuYwFhdXRoPUJlYXJlciB0b2sBAQ=="   # user=a@b.c ^A auth=Bearer tok ^A^A
    assert run(c, c.op_auth("a@b.c", "tok", True), """
C: AUTH XOAUTH2 %s
S: 235 2.7.0 accepted
""" % tok) == "XOAUTH2"
    c = secure_core("AUTH XOAUTH2")
    # the server's JSON error arrives as a challenge; we answer empty and get the 5xx
    e = raises(SMTPAuthError, run, c, c.op_auth("a@b.c", "tok", True), """
C: AUTH XOAUTH2 %s
S: 334 eyJzdGF0dXMiOiI0MDEifQ==
C:
S: 535 5.7.8 bad token
""" % tok)
    assert e.code == 535 and '"status":"401"' in e.text and not e.transient


def test_auth_refused_4xx_and_5xx():
    for code in (454, 535):
        c = secure_core("AUTH PLAIN")
        e = raises(SMTPAuthError, run, c, c.op_auth("u", "p"), """
C: AUTH PLAIN AHUAcA==
S: %d 5.7.8 nope
""" % code)
        assert e.code == code and e.transient == (code < 500)


def test_auth_needs_encryption_unless_allowed():
    c = opened("AUTH PLAIN")
    e = raises(SMTPUsageError, run, c, c.op_auth("u", "p"), "")
    assert "unencrypted" in str(e)
    c = opened("AUTH PLAIN", allow_plaintext_auth=True)
    run(c, c.op_auth("u", "p"), """
C: AUTH PLAIN AHUAcA==
S: 235 ok
""")


def test_auth_not_offered_or_no_common_mechanism():
    c = secure_core("SIZE 10")
    raises(SMTPAuthError, run, c, c.op_auth("u", "p"), "")
    c = secure_core("AUTH CRAM-MD5 GSSAPI")
    e = raises(SMTPAuthError, run, c, c.op_auth("u", "p"), "")
    assert "CRAM-MD5" in str(e)


def test_auth_endless_challenges_are_cut_off():
    c = secure_core("AUTH LOGIN")
    text = "C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: dQ==\nS: 334 UGFzc3dvcmQ6\nC: cA==\n"
    text += "S: 334 eA==\nC: *\nS: 501 cancelled\n"
    raises(SMTPAuthError, run, c, c.op_auth("u", "p"), text)


def test_trace_redacts_auth_payloads():
    seen = []
    c = secure_core("AUTH LOGIN", trace=seen.append)
    run(c, c.op_auth("user", "s3cret"), """
C: AUTH LOGIN
S: 334 VXNlcm5hbWU6
C: dXNlcg==
S: 334 UGFzc3dvcmQ6
C: czNjcmV0
S: 235 ok
""")
    joined = "\n".join(seen)
    assert "C: AUTH LOGIN" in joined and "235 ok" in joined
    assert "czNjcmV0" not in joined and "dXNlcg==" not in joined and "s3cret" not in joined
    seen2 = []
    c = secure_core("AUTH PLAIN", trace=seen2.append)
    run(c, c.op_auth("user", "s3cret"), "C: AUTH PLAIN AHVzZXIAczNjcmV0\nS: 235 ok")
    assert "AHVzZXIAczNjcmV0" not in "\n".join(seen2)
    assert "C: AUTH PLAIN <redacted>" in seen2


# ---- malformed, over-long and endless replies -------------------------------------------

def test_malformed_replies_are_protocol_errors():
    bad = ["S: hello there", "S: 25", "S: 2x0 ok", "S: 250+ok", "S: 199 info",
           "S: 600 six hundred", "S: 250-first\nS: 251 changed code"]
    for b in bad:
        c = new_core()
        e = raises(SMTPProtocolError, run, c, c.op_open(), b)
        assert str(e)


def test_overlong_line_is_refused_without_buffering_it_all():
    c = new_core()
    raises(SMTPProtocolError, run, c, c.op_open(), "S: 220 " + "x" * 5000 + "\\")


def test_endless_continuation_is_refused():
    c = new_core()
    raises(SMTPProtocolError, run, c, c.op_open(), "\n".join(["S: 220-more"] * 150))


def test_total_reply_size_is_bounded():
    c = new_core()
    raises(SMTPProtocolError, run, c, c.op_open(),
           "\n".join(["S: 220-" + "y" * 1500] * 20))


def test_reply_split_across_reads_and_bare_lf():
    c = new_core()
    run(c, c.op_open(), """
S: 22\\
S: 0 mx\\
S: .example
C: EHLO [127.0.0.1]
S: 250 mx
""")
    assert c.got[0] == (220, "mx.example")


def test_unexpected_success_code_names_the_state():
    c = opened()
    e = raises(SMTPProtocolError, run, c, c.op_simple("NOOP"), "C: NOOP\nS: 354 go ahead")
    assert "354" in str(e) and "NOOP" in str(e) and "ready" in str(e)


def test_connection_closed_while_waiting():
    c = opened()
    e = raises(SMTPConnectError, run, c, c.op_simple("NOOP"), "C: NOOP\nS: <EOF>")
    assert "NOOP" in str(e)
    assert state(c) == "closed"


def test_bad_mode_and_injected_hostname():
    raises(SMTPUsageError, Core, "tls-ish")
    raises(SMTPUsageError, Core, "plain", "host\r\nRCPT TO:<x@y>")


def test_credentials_that_are_not_utf8_are_a_usage_error():
    from usmtp import auth
    e = raises(SMTPUsageError, auth.Mechanism, "PLAIN", b"user", b"\xff\xfe")
    assert "password" in str(e) and "\\xff" not in str(e)
