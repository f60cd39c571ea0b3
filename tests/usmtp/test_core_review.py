# lane: micropython
# Golden transcripts for holes found in review: state left half-open after a batch, HELO on an
# EHLO-less server asked again, commands written into an open DATA, recipient refusals that a
# retry can still cure.
from tinytest import raises
from transcript import ENVELOPE_PIPELINED, ENVELOPE_STEPWISE, new_core, opened, run, state
from usmtp.errors import (SMTPDataError, SMTPRecipientsRefused, SMTPUsageError, is_transient)


def tx(c, body=b"x", rcpts=("b@y",), size=None):
    # one message as op_send takes it (send(c, m)) and as a batch item
    return ("a@x", list(rcpts), body, size)


def send(c, m):
    return c.op_send(*m)


def send_many(c, items, *a):
    from usmtp.batch import op_send_many
    return op_send_many(c, items, *a)


def test_send_many_resets_a_failed_message_followed_by_a_locally_refused_one():
    # message 1 leaves the server inside a transaction (MAIL accepted, RCPT refused); message 2
    # is refused before sending (SIZE). The batch must still end with RSET, else the connection
    # is stuck in "mail" and the next send is refused as misuse (a permanent error).
    c = opened("PIPELINING,SIZE 100")
    res = run(c, send_many(c, [tx(c, size=1), tx(c, body=b"y" * 200, size=200)]), """
C: MAIL FROM:<a@x> SIZE=1
C: RCPT TO:<b@y>
C: DATA
S: 250 ok
S: 550 5.1.1 no b
S: 554 5.5.1 no valid recipients
C: RSET
S: 250 ok
""")
    assert isinstance(res[0], SMTPRecipientsRefused)
    assert isinstance(res[1], SMTPDataError) and res[1].code == 552
    assert state(c) == "ready"
    assert run(c, send(c, tx(c)), ENVELOPE_PIPELINED + """
C: x
C: .
S: 250 ok
""") == {}


def test_second_ehlo_on_a_helo_only_server_falls_back_to_helo_again():
    c = new_core()
    run(c, c.op_open(), """
S: 220 old.example SMTP
C: EHLO [127.0.0.1]
S: 500 5.5.1 what?
C: HELO [127.0.0.1]
S: 250 old.example
""")
    assert state(c) == "ready"
    assert run(c, c.op_hello(), """
C: EHLO [127.0.0.1]
S: 502 5.5.1 what?
C: HELO [127.0.0.1]
S: 250 old.example
""") == "ready"
    assert state(c) == "ready"


def test_noop_rset_quit_are_refused_inside_an_open_data():
    # between op_begin_data and op_end_data every byte is message text: a command written
    # there would land in the message and its reply would never come
    c = opened()
    from usmtp.stream import op_begin_data, op_end_data, write_data
    run(c, op_begin_data(c, "a@x", ["b@y"]), ENVELOPE_STEPWISE)
    for cmd in ("NOOP", "RSET", "QUIT"):
        e = raises(SMTPUsageError, run, c, c.op_simple(cmd), "")
        assert "data" in str(e), str(e)
        assert state(c) == "data"
    write_data(c, b"hello\n")
    assert run(c, op_end_data(c), "C: hello\nC: .\nS: 250 ok") == {}
    assert run(c, c.op_simple("NOOP"), "C: NOOP\nS: 250 ok")[0] == 250


def test_552_to_rcpt_counts_as_transient():
    # RFC 5321 4.5.3.1.10: 552 "too many recipients" is an old mistake for 452; clients
    # SHOULD treat a 552 to RCPT as temporary
    c = opened()
    e = raises(SMTPRecipientsRefused, run, c, send(c, tx(c)), """
C: MAIL FROM:<a@x>
S: 250 ok
C: RCPT TO:<b@y>
S: 552 too many recipients
C: RSET
S: 250 ok
""")
    assert e.transient and is_transient(e)


def _send_collect(c, t):
    from transcript import DONE, NEED_DATA
    replies = {"MAIL": b"250 ok\r\n", "RCPT": b"250 ok\r\n", "DATA": b"354 go\r\n",
               "EOD": b"250 ok\r\n", "BDAT": b"250 ok\r\n", "BDAT-LAST": b"250 ok\r\n"}
    sent = bytearray()
    c.start(c.op_send(*t))
    while True:
        sent.extend(c.data_to_send())
        step = c.poll()
        if step == DONE:
            return c.result, bytes(sent)
        if step == NEED_DATA:
            c.receive_data(replies[c.waiting_for()])


def test_a_whole_message_sent_in_pieces_is_the_same_on_the_wire():
    # a message given whole is stuffed in pieces; lines that start (".") or end (CR|LF) at a
    # piece boundary must come out exactly as if stuffed at once
    PIECE = 4096        # the pieces usmtp.core.norm cuts a whole message into
    from usmtp.stuffing import DataStuffer, normalize
    body = bytearray(b"x" * (3 * PIECE + 10))
    body[PIECE - 1:PIECE + 1] = b"\n."          # a dot starting the second piece
    body[2 * PIECE - 1:2 * PIECE + 1] = b"\r\n"  # a CRLF split between pieces
    body[3 * PIECE - 1:3 * PIECE + 2] = b"\r.\n"
    body = bytes(body)
    st = DataStuffer()
    stuffed = st.feed(body) + st.end()
    for kind in (bytes, bytearray, str):
        src = kind(body) if kind is not str else body.decode()
        c = opened("PIPELINING")
        res, sent = _send_collect(c, tx(c, body=src))
        assert res == {}
        head = b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"
        assert sent == head + stuffed, kind
    c = opened("PIPELINING,CHUNKING")
    res, sent = _send_collect(c, tx(c, body=body))
    wire = normalize(body)
    assert res == {}
    got = bytearray()
    rest = sent[len(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n"):]
    while rest:
        line, _, rest = rest.partition(b"\r\n")
        n = int(line.split()[1])
        got.extend(rest[:n])
        rest = rest[n:]
    assert bytes(got) == wire


def test_pipelined_bdat_stops_once_the_transaction_is_known_to_have_failed():
    # RFC 3030: after an error reply to the transaction, send no further BDAT segment. The
    # pipelined client reads replies when 100 commands are in flight; a refused MAIL found
    # then must stop the body instead of streaming all of it into certain rejection.
    MAX_OUTSTANDING = 100   # pipelined commands in flight before the core reads replies
    c = opened("PIPELINING,CHUNKING")
    c.bdat_size = 8
    n = MAX_OUTSTANDING - 1                      # BDATs in flight when the first reply is read
    lines = ["C: MAIL FROM:<a@x>", "C: RCPT TO:<b@y>"]
    for _ in range(n):
        lines += ["C: BDAT 8", "C: xxxxxxxx\\"]
    lines += ["S: 550 5.7.1 sender refused", "S: 503 5.5.1 need MAIL"]
    lines += ["S: 503 5.5.1 need MAIL"] * n
    lines += ["C: RSET", "S: 250 ok"]
    e = raises(Exception, run, c, send(c, tx(c, body=b"x" * (8 * (n + 50)))), "\n".join(lines))
    assert e.__class__.__name__ == "SMTPSenderRefused", repr(e)
    assert state(c) == "ready"


def test_deferred_auth_refused_in_a_batch_is_the_error_of_every_message_it_sank():
    # AUTH rides with the first message only; once it is refused no message of the batch goes
    # out (a server taking local mail without AUTH would deliver them). Each reports the AUTH
    # error: reported as a 5xx sender refusal, a temporary 454 would dead-letter them.
    from usmtp.errors import SMTPAuthError
    c = opened("PIPELINING,CHUNKING,AUTH PLAIN", mode="tls")
    run(c, c.op_auth("user", "pass", defer=True), "")
    res = run(c, send_many(c, [tx(c, body=b"one"), tx(c, body=b"two")]), """
C: AUTH PLAIN AHVzZXIAcGFzcw==
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
S: 454 4.7.0 temporary authentication failure
S: 250 2.1.0 ok
S: 250 2.1.5 ok
C: RSET
S: 250 ok
""")
    for r in res:
        assert isinstance(r, SMTPAuthError) and r.code == 454 and is_transient(r), repr(r)
