# lane: micropython
# DATA stuffing and CRLF normalisation, including the permanent SMTP-smuggling regression tests.
from usmtp.stuffing import DataStuffer, CRLFNormalizer, unstuff, normalize
from tinytest import raises

END = b"\r\n.\r\n"


def reference_normalize(data):
    # independent per-byte oracle: CR, LF and CRLF are each one line break; last line closed
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        c = data[i]
        if c == 13:
            out += b"\r\n"
            if i + 1 < n and data[i + 1] == 10:
                i += 1
        elif c == 10:
            out += b"\r\n"
        else:
            out.append(c)
        i += 1
    if out and not out.endswith(b"\r\n"):
        out += b"\r\n"
    return bytes(out)


def stuff(chunks, cls=DataStuffer):
    s = cls()
    out = b""
    for c in chunks:
        out += s.feed(c)
    return out + s.end()


def splits(data):
    # the message whole, and split in two and in three at every pair of positions
    yield [data]
    n = len(data)
    for i in range(n + 1):
        yield [data[:i], data[i:]]
        for j in range(i, n + 1):
            yield [data[:i], data[i:j], data[j:]]


def only_crlf(data):
    return data.replace(b"\r\n", b"").find(b"\r") < 0 and data.replace(b"\r\n", b"").find(b"\n") < 0


def test_simple_message():
    assert stuff([b"Subject: x\r\n\r\nhello\r\n"]) == b"Subject: x\r\n\r\nhello\r\n.\r\n"


def test_empty_message_is_only_the_mark():
    assert stuff([]) == b".\r\n"
    assert stuff([b"", b""]) == b".\r\n"


def test_last_line_is_closed():
    assert stuff([b"abc"]) == b"abc\r\n.\r\n"
    assert stuff([b"abc"], CRLFNormalizer) == b"abc\r\n"


def test_bare_lf_and_bare_cr_become_crlf():
    assert stuff([b"a\nb\rc\r\nd\n"]) == b"a\r\nb\r\nc\r\nd\r\n.\r\n"
    assert stuff([b"\r\r\n\n\r"]) == b"\r\n\r\n\r\n\r\n.\r\n"


def test_cr_lf_split_across_chunks_is_one_break():
    assert stuff([b"a\r", b"\nb"]) == b"a\r\nb\r\n.\r\n"
    assert stuff([b"a\r", b"", b"\n", b"b"]) == b"a\r\nb\r\n.\r\n"
    assert stuff([b"a\r", b"\r", b"\n"]) == b"a\r\n\r\n.\r\n"
    assert stuff([b"a\r", b"\n\n"]) == b"a\r\n\r\n.\r\n"


def test_leading_dots_doubled_at_chunk_boundaries():
    assert stuff([b".a\r\n.b\r\n"]) == b"..a\r\n..b\r\n.\r\n"
    assert stuff([b"x\r\n", b".y"]) == b"x\r\n..y\r\n.\r\n"
    assert stuff([b"x\r", b"\n", b".", b"."]) == b"x\r\n...\r\n.\r\n"
    assert stuff([b"x.", b".y"]) == b"x..y\r\n.\r\n"


def test_normalizer_does_not_stuff():
    assert stuff([b".a\n.\n"], CRLFNormalizer) == b".a\r\n.\r\n"


def test_accepts_str_bytearray_memoryview():
    s = DataStuffer()
    out = s.feed("é\n") + s.feed(bytearray(b".x\n")) + s.feed(memoryview(b"y")) + s.end()
    assert out == "é\r\n..x\r\ny\r\n.\r\n".encode()
    assert isinstance(out, bytes)
    raises(TypeError, DataStuffer().feed, 42)


def test_feed_after_end_refused():
    s = DataStuffer()
    s.end()
    raises(ValueError, s.feed, b"x")
    raises(ValueError, s.end)


def test_unstuff():
    assert unstuff(b".\r\n") == b""
    assert unstuff(b"..a\r\n...\r\n.\r\n") == b".a\r\n..\r\n"
    raises(ValueError, unstuff, b"a\r\n")
    e = raises(ValueError, unstuff, b"a\r\n.\r\nMAIL FROM:<x@y>\r\n.\r\n")
    assert "after" in str(e)


SMUGGLING = [
    b"a\n.\r\nMAIL FROM:<evil@x>\r\n",
    b"a\r.\nRCPT TO:<evil@x>\r\n",
    b"a\r\n.\rDATA\r\n",
    b"a\n.\nQUIT\n",
    b".\r\nMAIL FROM:<evil@x>\r\n",
    b"a\r\n.\r\n",
    b"\r.\r",
    b".\n.\r.\r\n.",
]


def test_smuggling_never_ends_data_early():
    # permanent regression test: whatever the chunking, the first end-of-data mark is the last
    for msg in SMUGGLING:
        want = reference_normalize(msg)
        for chunks in splits(msg):
            out = stuff(chunks)
            assert out.endswith(b".\r\n")
            body = out[:-3]
            assert body.find(END) < 0, (msg, chunks)
            assert not body.startswith(b".\r\n"), (msg, chunks)
            assert only_crlf(out), (msg, chunks)
            assert unstuff(out) == want, (msg, chunks)


def test_chunking_never_changes_output():
    msg = b"x\r\n.\n..\r.\r\r\n\n.y\rz"
    whole = stuff([msg])
    for chunks in splits(msg):
        assert stuff(chunks) == whole
        assert stuff(chunks, CRLFNormalizer) == reference_normalize(msg)
    assert normalize(msg) == reference_normalize(msg)
