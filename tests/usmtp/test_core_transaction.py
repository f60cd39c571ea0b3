# lane: micropython
# Golden transcripts: mail transactions with and without PIPELINING and CHUNKING.
from tinytest import raises
from transcript import ENVELOPE_PIPELINED, ENVELOPE_STEPWISE, opened, run, state
from usmtp.errors import (SMTPDataError, SMTPRecipientsRefused, SMTPSenderRefused,
                          SMTPTransientError, SMTPUsageError, SMTPError, is_transient)


def tx(c, body=b"Subject: hi\r\n\r\nbody\r\n", rcpts=("b@y",), size=None, sender="a@x"):
    # one message as op_send takes it (send(c, m)) and as a batch item
    return (sender, list(rcpts), body, size)


def send(c, m):
    return c.op_send(*m)


def send_many(c, items, *a):
    from usmtp.batch import op_send_many
    return op_send_many(c, items, *a)


# the client's one burst for a batch of two messages, "one" and "two", over CHUNKING (RSET
# between them), before any reply
TWO_IN_ONE_BURST = """
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
C: BDAT 5 LAST
C: one
C: RSET
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
C: BDAT 5 LAST
C: two
"""


def test_sequential_without_pipelining():
    c = opened("SIZE 1000")
    refused = run(c, send(c, tx(c, size=25)), """
C: MAIL FROM:<a@x> SIZE=25
S: 250 2.1.0 ok
C: RCPT TO:<b@y>
S: 250 2.1.5 ok
C: DATA
S: 354 go
C: Subject: hi
C:
C: body
C: .
S: 250 2.0.0 queued as 1
""")
    assert refused == {}
    assert state(c) == "ready"


def test_pipelined_group_with_mixed_recipient_outcomes():
    c = opened("PIPELINING")
    refused = run(c, send(c, tx(c, rcpts=("b@y", "c@y", "d@y"))), """
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
C: RCPT TO:<c@y>
C: RCPT TO:<d@y>
C: DATA
S: 250 ok
S: 250 ok
S: 550 5.1.1 c unknown
S: 452 4.2.2 mailbox full
S: 354 go
C: Subject: hi
C:
C: body
C: .
S: 250 ok
""")
    assert refused == {"c@y": (550, "c unknown"), "d@y": (452, "mailbox full")}


def test_every_recipient_refused_pipelined():
    c = opened("PIPELINING")
    e = raises(SMTPRecipientsRefused, run, c, send(c, tx(c, rcpts=("b@y", "c@y"))), """
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
C: RCPT TO:<c@y>
C: DATA
S: 250 ok
S: 550 no
S: 451 later
S: 554 no valid recipients
C: RSET
S: 250 flushed
""")
    assert e.recipients == {"b@y": (550, "no"), "c@y": (451, "later")}
    # the 451 recipient (greylisting) can still be reached by a retry: transient as a whole;
    # only when every refusal is permanent is the whole refusal permanent
    assert e.transient and is_transient(e)
    assert not is_transient(SMTPRecipientsRefused({"b@y": (550, "no"), "c@y": (553, "no")}))
    assert state(c) == "ready"


def test_all_refused_but_server_says_354_gets_an_empty_end():
    c = opened("PIPELINING")
    raises(SMTPRecipientsRefused, run, c, send(c, tx(c)), """
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
C: DATA
S: 250 ok
S: 450 try later
S: 354 go anyway
C: .
S: 554 no recipients
C: RSET
S: 250 ok
""")


def test_sender_refused_pipelined_and_sequential():
    c = opened("PIPELINING")
    e = raises(SMTPSenderRefused, run, c, send(c, tx(c)), """
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
C: DATA
S: 553 5.7.1 sender rejected
S: 503 5.5.1 need MAIL
S: 503 5.5.1 need MAIL
C: RSET
S: 250 ok
""")
    assert e.code == 553 and e.sender == "a@x" and e.enhanced == "5.7.1"
    c = opened()
    e = raises(SMTPSenderRefused, run, c, send(c, tx(c)), """
C: MAIL FROM:<a@x>
S: 451 4.3.0 later
C: RSET
S: 250 ok
""")
    assert e.transient and is_transient(e)


def test_4xx_and_5xx_at_every_transaction_step():
    # (step, transcript) for the sequential client; each must raise, RSET, and stay usable
    steps = {
        "MAIL": "C: MAIL FROM:<a@x>\nS: %d nope\n",
        "RCPT": "C: MAIL FROM:<a@x>\nS: 250 ok\nC: RCPT TO:<b@y>\nS: %d nope\n",
        "DATA": "C: MAIL FROM:<a@x>\nS: 250 ok\nC: RCPT TO:<b@y>\nS: 250 ok\nC: DATA\n"
                "S: %d nope\n",
        "EOD": "C: MAIL FROM:<a@x>\nS: 250 ok\nC: RCPT TO:<b@y>\nS: 250 ok\nC: DATA\n"
               "S: 354 go\nC: x\nC: .\nS: %d nope\n",
    }
    expect = {"MAIL": SMTPSenderRefused, "RCPT": SMTPRecipientsRefused, "DATA": SMTPDataError,
              "EOD": SMTPDataError}
    for step in steps:
        for code in (451, 554):
            c = opened()
            e = raises(expect[step], run, c, send(c, tx(c, body=b"x")),
                       (steps[step] % code) + "C: RSET\nS: 250 ok")
            assert is_transient(e) == (code == 451), (step, code)
            assert state(c) == "ready"
            assert run(c, c.op_simple("NOOP"), "C: NOOP\nS: 250 ok")[0] == 250


def test_421_at_any_step_closes():
    c = opened("PIPELINING")
    e = raises(SMTPTransientError, run, c, send(c, tx(c)), """
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
C: DATA
S: 250 ok
S: 421 4.4.2 shutting down
""")
    assert e.code == 421 and state(c) == "closed"


def test_bdat_pipelined_in_one_write():
    c = opened("PIPELINING,CHUNKING")
    refused = run(c, send(c, tx(c, body=b"Subject: hi\n\n.line\n")), """
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
C: BDAT 22 LAST
C: Subject: hi
C:
C: .line
S: 250 ok
S: 250 ok
S: 250 2.0.0 got 22 octets
""")
    assert refused == {}


def test_bdat_streamed_in_chunks_and_failed_chunk():
    c = opened("PIPELINING,CHUNKING")
    c.bdat_size = 8
    body = [b"12345", b"6789\n", b"abc"]    # normalised: 123456789\r\nabc\r\n (16 bytes)
    run(c, send(c, tx(c, body=body)), """
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
C: BDAT 8
C: 12345678\\
C: BDAT 8 LAST
C: 9
C: abc
S: 250 ok
S: 250 ok
S: 250 ok
S: 250 done
""")
    c = opened("PIPELINING,CHUNKING")
    e = raises(SMTPDataError, run, c, send(c, tx(c, body=b"x\n")), """
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
C: BDAT 3 LAST
C: x
S: 250 ok
S: 250 ok
S: 552 5.3.4 too big
C: RSET
S: 250 ok
""")
    assert e.code == 552 and e.command == "end of data"


def test_bdat_without_pipelining_waits_per_command():
    c = opened("CHUNKING")
    run(c, send(c, tx(c, body=b"x")), """
C: MAIL FROM:<a@x>
S: 250 ok
C: RCPT TO:<b@y>
S: 250 ok
C: BDAT 3 LAST
C: x
S: 250 ok
""")


def test_smuggling_sequences_are_stuffed_on_the_wire():
    c = opened()
    run(c, send(c, tx(c, body=[b"a\n.\r\nMAIL FROM:<evil@x>\r\n", b"b\r.\nc\r", b"\n."])), ENVELOPE_STEPWISE + """
C: a
C: ..
C: MAIL FROM:<evil@x>
C: b
C: ..
C: c
C: ..
C: .
S: 250 ok
""")


def test_size_limit_checked_before_sending_and_8bit_flag():
    c = opened("SIZE 10,8BITMIME")
    e = raises(SMTPDataError, run, c, send(c, tx(c, body=b"x" * 20, size=20)), "")
    assert e.code == 552 and not is_transient(e)
    t = ("a@x", ["b@y"], "caf\xe9".encode(), 5, True)
    run(c, c.op_send(*t), """
C: MAIL FROM:<a@x> SIZE=5 BODY=8BITMIME
S: 250 ok
C: RCPT TO:<b@y>
S: 250 ok
C: DATA
S: 354 go
C: caf\xe9
C: .
S: 250 ok
""")


def test_non_ascii_address_needs_smtputf8():
    c = opened("SMTPUTF8")
    t = ("j\xf6rg@x", ["b@y"], b"x")
    run(c, c.op_send(*t), """
C: MAIL FROM:<j\xf6rg@x> SMTPUTF8
S: 250 ok
C: RCPT TO:<b@y>
S: 250 ok
C: DATA
S: 354 go
C: x
C: .
S: 250 ok
""")
    c = opened()
    raises(SMTPUsageError, run, c, c.op_send("j\xf6rg@x", ["b@y"], b"x"), "")


def test_envelope_injection_and_bad_addresses_refused():
    c = opened()
    for bad in ("a@x>\r\nRCPT TO:<evil@z", "a@x\nDATA", "a b@x", "a@x\x00", "<a@x"):
        raises(SMTPUsageError, c.envelope, bad, ["b@y"])
        raises(SMTPUsageError, c.envelope, "a@x", [bad])
    raises(SMTPUsageError, c.envelope, "a@x", [])
    t = c.envelope("Alice <a@x>", ["b@y", "B <b@y>", "c@y"])
    assert t[0] == "a@x" and t[1] == ["b@y", "c@y"]


def test_send_many_pipelined_with_chunking_is_one_burst():
    c = opened("PIPELINING,CHUNKING")
    txs = [tx(c, body=b"one"), tx(c, body=b"two", rcpts=("z@y",)), tx(c, body=b"three")]
    res = run(c, send_many(c, txs), """
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
C: BDAT 5 LAST
C: one
C: RSET
C: MAIL FROM:<a@x>
C: RCPT TO:<z@y>
C: BDAT 5 LAST
C: two
C: RSET
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
C: BDAT 7 LAST
C: three
S: 250 ok
S: 250 ok
S: 250 queued one
S: 250 reset
S: 250 ok
S: 550 5.1.1 no z
S: 554 5.5.1 no valid recipients
S: 250 reset
S: 250 ok
S: 250 ok
S: 250 queued three
""")
    assert res[0] == {} and res[2] == {}
    assert isinstance(res[1], SMTPRecipientsRefused) and res[1].recipients["z@y"][0] == 550


def test_send_many_settles_each_message_on_its_reply_one_end_in_flight():
    # a caller that settles each message on its reply (the gateway's relay): with CHUNKING the
    # next message's BDAT LAST waits for the previous one's answer, so a crash leaves at most
    # one message answered but not recorded
    c = opened("PIPELINING,CHUNKING")
    told = []

    def settled(i, result, reply):
        told.append((i, result if isinstance(result, dict) else "refused", reply[0]))
    txs = [tx(c, body=b"one"), tx(c, body=b"two", rcpts=("z@y",)), tx(c, body=b"three")]
    res = run(c, send_many(c, txs, settled), """
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
C: BDAT 5 LAST
C: one
C: RSET
C: MAIL FROM:<a@x>
C: RCPT TO:<z@y>
S: 250 ok
S: 250 ok
S: 250 queued one
S: 250 reset
S: 250 ok
S: 550 5.1.1 no z
C: BDAT 5 LAST
C: two
C: RSET
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
S: 554 5.5.1 no valid recipients
S: 250 reset
S: 250 ok
S: 250 ok
C: BDAT 7 LAST
C: three
S: 250 queued three
""")
    assert res[0] == {} and res[2] == {}
    # each told once, as its reply came: "two" on its refused RCPT, before its data went
    assert told == [(0, {}, 250), (1, "refused", 550), (2, {}, 250)]


def test_send_many_settles_each_message_in_one_burst_when_asked():
    # one_end=False (the relay's one_in_flight = false): a CHUNKING batch goes in one burst,
    # and each message is still told as its reply comes
    c = opened("PIPELINING,CHUNKING")
    told = []
    txs = [tx(c, body=b"one"), tx(c, body=b"two")]
    res = run(c, send_many(c, txs, lambda i, r, reply: told.append((i, reply[0])), False), TWO_IN_ONE_BURST + """
S: 250 ok
S: 250 ok
S: 250 queued one
S: 250 reset
S: 250 ok
S: 250 ok
S: 250 queued two
""")
    assert res == [{}, {}] and told == [(0, 250), (1, 250)]


def test_send_many_data_mode_pipelines_end_of_data_with_next_group():
    c = opened("PIPELINING")
    res = run(c, send_many(c, [tx(c, body=b"one"), tx(c, body=b"two")]), ENVELOPE_PIPELINED + """
C: one
C: .
C: RSET
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
C: DATA
S: 250 queued one
S: 250 reset
S: 250 ok
S: 250 ok
S: 354 go
C: two
C: .
S: 451 4.3.0 try again
C: RSET
S: 250 ok
""")
    assert res[0] == {}
    assert isinstance(res[1], SMTPDataError) and is_transient(res[1])


def test_send_many_connection_lost_reports_partial_results():
    c = opened("PIPELINING,CHUNKING")
    e = raises(SMTPError, run, c, send_many(c, [tx(c, body=b"one"), tx(c, body=b"two")]), TWO_IN_ONE_BURST + """
S: 250 ok
S: 250 ok
S: 250 queued one
S: <EOF>
""")
    assert e.partial_results[0] == {} and e.partial_results[1] is None


def test_operation_before_greeting_is_misuse():
    from transcript import new_core
    c = new_core()
    raises(SMTPUsageError, run, c, send(c, tx(c)), "")


def test_deferred_auth_leads_the_first_pipelined_group():
    c = opened("PIPELINING,CHUNKING,AUTH PLAIN", mode="tls")
    run(c, c.op_auth("user", "pass", defer=True), "")
    assert not c.authed
    run(c, send(c, tx(c, body=b"x")), """
C: AUTH PLAIN AHVzZXIAcGFzcw==
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
S: 235 ok
S: 250 ok
S: 250 ok
C: BDAT 3 LAST
C: x
S: 250 ok
""")
    assert c.authed


def test_deferred_auth_refused_raises_auth_error_from_the_send():
    from usmtp.errors import SMTPAuthError
    c = opened("PIPELINING,AUTH PLAIN", mode="tls")
    run(c, c.op_auth("user", "pass", defer=True), "")
    e = raises(SMTPAuthError, run, c, send(c, tx(c, body=b"x")), """
C: AUTH PLAIN AHVzZXIAcGFzcw==
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
S: 535 5.7.8 bad credentials
S: 530 5.7.0 authentication required
S: 503 5.5.1 need MAIL
C: RSET
S: 250 ok
""")
    assert e.code == 535 and not c.authed


def test_deferred_auth_refused_by_a_server_that_takes_mail_anyway_sends_no_message():
    # Postfix with mynetworks: AUTH refused, MAIL and RCPT accepted. No DATA and no BDAT may
    # follow (it would be delivered unauthenticated, again on every retry): RSET instead.
    from usmtp.errors import SMTPAuthError
    for ext in ("PIPELINING,AUTH PLAIN", "PIPELINING,CHUNKING,AUTH PLAIN"):
        c = opened(ext, mode="tls")
        run(c, c.op_auth("user", "pass", defer=True), "")
        e = raises(SMTPAuthError, run, c, send(c, tx(c, body=b"x")), """
C: AUTH PLAIN AHVzZXIAcGFzcw==
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
S: 535 5.7.8 bad credentials
S: 250 2.1.0 ok
S: 250 2.1.5 ok
C: RSET
S: 250 ok
""")
        assert e.code == 535 and not c.authed and state(c) == "ready"


def test_deferred_auth_without_pipelining_is_immediate():
    c = opened("AUTH PLAIN", mode="tls")
    run(c, c.op_auth("user", "pass", defer=True), "C: AUTH PLAIN AHVzZXIAcGFzcw==\nS: 235 ok")
    assert c.authed


def test_530_to_mail_is_an_auth_error_not_a_refused_sender():
    from usmtp.errors import SMTPAuthError
    c = opened()
    e = raises(SMTPAuthError, run, c, send(c, tx(c)), """
C: MAIL FROM:<a@x>
S: 530 5.7.0 Authentication required
C: RSET
S: 250 ok
""")
    assert e.code == 530 and e.command == "MAIL"
