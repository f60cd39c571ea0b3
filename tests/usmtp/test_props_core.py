# Property tests (CPython only): whatever bytes a server sends, the core raises only usmtp's
# errors, and a well-formed reply survives any split into reads.
from hypothesis import given, settings, strategies as st

from usmtp.core import ClientCore, DONE, NEED_DATA
from usmtp.errors import SMTPError


def drive(core, op, reads):
    core.start(op)
    it = iter(reads)
    for _ in range(10000):
        core.data_to_send()
        step = core.poll()
        if step == DONE:
            return core.result
        if step == NEED_DATA:
            core.receive_data(next(it, b""))
    raise AssertionError("core did not finish")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=12))
def test_parser_raises_only_library_errors(chunks):
    p = ClientCore()        # the reply parser is the core's (receive_data, next_reply)
    try:
        for c in chunks:
            p.receive_data(c)
            while p.next_reply() is not None:
                pass
    except SMTPError:
        pass


reply_line = st.builds(lambda code, text: b"%d %s\r\n" % (code, text),
                       st.sampled_from([220, 250, 354, 421, 450, 500, 550, 221, 235, 334]),
                       st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")))
noise = st.one_of(st.binary(max_size=60), reply_line)


@settings(max_examples=300, deadline=None)
@given(st.lists(noise, max_size=15), st.sampled_from(["plain", "starttls", "opportunistic"]))
def test_session_on_arbitrary_server_bytes_raises_only_library_errors(reads, mode):
    core = ClientCore(mode=mode, local_hostname="[127.0.0.1]", allow_plaintext_auth=True)
    try:
        if drive(core, core.op_open(), reads) == "ready":
            tx = core.make_tx("a@x", ["b@y", "c@y"], b"hello\r\n")
            drive(core, core.op_send(tx), reads)
    except SMTPError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=40))
def test_replies_survive_any_split(cuts):
    wire = (b"220-mx.example\r\n220 ready\r\n250-mx\r\n250-PIPELINING\r\n250-SIZE 100\r\n"
            b"250 8BITMIME\r\n")
    reads, pos = [], 0
    for n in cuts:
        reads.append(wire[pos:pos + n])
        pos += n
    reads.append(wire[pos:])
    core = ClientCore(mode="plain", local_hostname="[127.0.0.1]")
    assert drive(core, core.op_open(), [r for r in reads if r]) == "ready"
    assert core.ext == {"PIPELINING": "", "SIZE": "100", "8BITMIME": ""}
    assert core.greeting_reply.lines == ["mx.example", "ready"]
