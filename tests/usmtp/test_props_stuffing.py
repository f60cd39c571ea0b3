# Property tests (hypothesis, CPython only): any bytes, cut into any chunks, round-trip through
# DataStuffer and unstuff to the CRLF-normalised original, and the cuts never change the output.
from hypothesis import given, settings, strategies as st

from usmtp.stuffing import DataStuffer, CRLFNormalizer, unstuff, normalize
from test_stuffing import reference_normalize  # independent per-byte oracle

# bytes rich in the characters that matter, plus anything else
interesting = st.lists(st.sampled_from([b"\r", b"\n", b".", b"\r\n", b"a", b" "]) | st.binary(max_size=3),
                       max_size=40).map(b"".join)
anybytes = interesting | st.binary(max_size=200)


def cut(data, points):
    points = sorted(set(p % (len(data) + 1) for p in points))
    chunks, last = [], 0
    for p in points:
        chunks.append(data[last:p])
        last = p
    chunks.append(data[last:])
    return chunks


def run(cls, chunks, kinds):
    s = cls()
    out = b""
    for i, c in enumerate(chunks):
        kind = kinds[i % len(kinds)] if kinds else 0
        if kind == 1:
            c = bytearray(c)
        elif kind == 2:
            c = memoryview(c)
        out += s.feed(c)
    return out + s.end()


def lines_end_crlf(data):
    rest = data.replace(b"\r\n", b"")
    return b"\r" not in rest and b"\n" not in rest


@settings(max_examples=400, deadline=None)
@given(anybytes, st.lists(st.integers(min_value=0, max_value=10 ** 6), max_size=12),
       st.lists(st.integers(min_value=0, max_value=2), max_size=4))
def test_roundtrip_any_chunking(data, points, kinds):
    chunks = cut(data, points)
    out = run(DataStuffer, chunks, kinds)
    assert lines_end_crlf(out)
    assert out == run(DataStuffer, [data], [])
    assert unstuff(out) == reference_normalize(data)
    body = out[:-3]
    assert b"\r\n.\r\n" not in body and not body.startswith(b".\r\n")


@settings(max_examples=300, deadline=None)
@given(anybytes, st.lists(st.integers(min_value=0, max_value=10 ** 6), max_size=12))
def test_normalizer_any_chunking(data, points):
    out = run(CRLFNormalizer, cut(data, points), [])
    assert lines_end_crlf(out)
    assert out == reference_normalize(data) == normalize(data)
    # normalising is idempotent and keeps every non-line-break byte in order
    assert normalize(out) == out
    assert out.replace(b"\r\n", b"") == data.replace(b"\r\n", b"").replace(b"\r", b"").replace(b"\n", b"")
