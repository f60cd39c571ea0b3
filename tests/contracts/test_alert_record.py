# lane: micropython
# Alert record v1 codec (DESIGN.md "Contracts"): validation names the key, stable compact output.
import json

from outpost_contract import record as ar
from outpost_contract.record import RecordError
from tinytest import raises


def good(**kw):
    rec = {"v": 1, "id": "greenhouse-1-7", "device": "greenhouse", "severity": "warning",
           "kind": "threshold", "subject": "Temperature 31.5 C above 30 C"}
    for k in kw:
        if kw[k] is None:
            del rec[k]
        else:
            rec[k] = kw[k]
    return rec


def key_of(fn, *args):
    return raises(RecordError, fn, *args).key


def test_constants():
    assert ar.VERSION == 1
    assert ar.MAX_BYTES == 32768


def test_encode_is_compact_one_line_in_key_order():
    rec = good(ts=1795870000, body="line 1\nline 2", to=["a@example.com"],
               readings={"temp": {"unit": "C", "value": 31.5}, "hum": {"value": 80}})
    data = ar.encode(rec)
    assert isinstance(data, bytes)
    assert b"\n" not in data and b" \"" not in data and b"\": " not in data and b", " not in data
    assert data == (b'{"v":1,"id":"greenhouse-1-7","device":"greenhouse","severity":"warning",'
                    b'"kind":"threshold","subject":"Temperature 31.5 C above 30 C","ts":1795870000,'
                    b'"body":"line 1\\nline 2","readings":{"hum":{"value":80},'
                    b'"temp":{"unit":"C","value":31.5}},"to":["a@example.com"]}')


def test_round_trip():
    rec = good(ts=0, body="ü ✓ ok", readings={"t": {"value": -1.25, "unit": "°C"}}, to=[])
    data = ar.encode(rec)
    assert "ü ✓".encode() in data   # UTF-8 on both runtimes, not \u escapes
    back = ar.decode(data)
    assert back == rec
    assert ar.decode(str(data, "utf-8")) == rec
    assert ar.decode(bytearray(data)) == rec
    assert ar.encode(back) == data


def test_unknown_keys_ignored():
    rec = good(extra={"x": 1}, colour="red")
    back = ar.decode(json.dumps(rec))
    assert back == good()
    assert b"colour" not in ar.encode(rec)


def test_every_required_key_missing():
    for k in ar.REQUIRED:
        assert key_of(ar.decode, json.dumps(good(**{k: None}))) == k
        e = raises(RecordError, ar.encode, good(**{k: None}))
        assert k in str(e) and "required" in str(e)


def test_malformed_required_keys():
    cases = [
        ("v", 2), ("v", "1"), ("v", True), ("v", 1.0),
        ("id", ""), ("id", "a b"), ("id", "x/y"), ("id", "a" * 129), ("id", 7),
        ("device", ""), ("device", "d" * 65), ("device", "gre en"), ("device", ["x"]),
        ("severity", "fatal"), ("severity", "INFO"), ("severity", None and 1 or 3),
        ("kind", ""), ("kind", "k" * 33), ("kind", "a\nb"), ("kind", 5),
        ("subject", "s" * 201), ("subject", "a\r\nBcc: x@y"), ("subject", "a\nb"), ("subject", 1),
    ]
    for k, v in cases:
        assert key_of(ar.encode, good(**{k: v})) == k, (k, v)
        assert key_of(ar.decode, json.dumps(good(**{k: v}))) == k, (k, v)
    # the limits themselves are accepted
    ar.encode(good(id="a" * 128, device="d" * 64, kind="k" * 32, subject="s" * 200))


def test_malformed_optional_keys():
    cases = [
        ("ts", -1, "ts"), ("ts", "now", "ts"), ("ts", 1.5, "ts"), ("ts", True, "ts"),
        ("body", 5, "body"), ("body", "x" * 16385, "body"), ("body", "é" * 8193, "body"),
        ("readings", [1], "readings"), ("readings", {"t": 5}, "readings.t"),
        ("readings", {"t": {"unit": "C"}}, "readings.t"),
        ("readings", {"t": {"value": "hot"}}, "readings.t.value"),
        ("readings", {"t": {"value": True}}, "readings.t.value"),
        ("readings", {"t": {"value": 1, "unit": 3}}, "readings.t.unit"),
        ("readings", {"": {"value": 1}}, "readings"),
        ("to", "a@b.c", "to"), ("to", ["nobody"], "to"), ("to", ["a@b@c"], "to"),
        ("to", ["a b@c.d"], "to"), ("to", ["a@b.c\r\nx"], "to"), ("to", [1], "to"),
    ]
    for k, v, key in cases:
        assert key_of(ar.encode, good(**{k: v})) == key, (k, v)
    assert ar.encode(good(body="x" * 16384))
    inf = float("inf")
    assert key_of(ar.encode, good(readings={"t": {"value": inf}})) == "readings.t.value"
    assert key_of(ar.encode, good(readings={"t": {"value": inf - inf}})) == "readings.t.value"


def test_size_limit():
    many = {}
    for i in range(600):
        many["sensor%03d" % i] = {"value": 12345.5, "unit": "hPa"}
    e = raises(RecordError, ar.encode, good(body="x" * 16000, readings=many))
    assert e.key == "record" and "32768" in str(e)
    big = b'{"v":1,' + b" " * 40000 + b"}"
    assert key_of(ar.decode, big) == "record"


def test_garbage():
    assert key_of(ar.decode, b"\xff\xfe{}") == "record"
    assert key_of(ar.decode, b"{not json") == "record"
    assert key_of(ar.decode, b"[1, 2]") == "record"
    assert key_of(ar.decode, b"") == "record"
    assert key_of(ar.decode, 42) == "record"
    assert key_of(ar.encode, "not a dict") == "record"


def test_nesting_bounded_before_parsing():
    # "[[[[..." would exhaust the parser's stack (RecursionError on CPython, RuntimeError on
    # MicroPython); the decoder counts the depth first and says what is wrong
    for deep in (b"[" * 5000, b'{"v":1,"x":' + b"[" * 5000 + b"]" * 5000 + b"}", b'{"a":' * 3000):
        e = raises(RecordError, ar.decode, deep)
        assert e.key == "record" and "nests deeper than 8" in str(e)
    # brackets inside strings do not count, and a real record's depth passes
    assert ar.decode(json.dumps(good(body="[" * 300 + "{" * 300, readings={"t": {"value": 1}})))["body"]
    assert ar.loads(b"[[[[[[[[1]]]]]]]]") == [[[[[[[[1]]]]]]]]
    assert key_of(ar.loads, b"[[[[[[[[[1]]]]]]]]]") == "record"


def test_control_characters_refused_in_header_text():
    for c in ("\x0b", "\x0c", "\x1b", "\x7f", "\x00", "\r", "\n"):
        assert key_of(ar.encode, good(subject="a" + c + "b")) == "subject"
        assert key_of(ar.encode, good(kind="k" + c)) == "kind"
    assert ar.encode(good(subject="tab\tis fine"))


def test_lone_surrogate_refused():
    import sys
    if sys.implementation.name != "cpython":
        return      # MicroPython's json has no surrogate escapes to decode into lone surrogates
    rec = json.loads(json.dumps(good()).replace('"Temperature', '"\\ud800Temperature'))
    assert key_of(ar.encode, rec) == "subject"
    assert key_of(ar.decode, json.dumps(good(body="\ud800"))) == "body"


def test_make_id():
    assert ar.make_id("greenhouse", 3, 41) == "greenhouse-3-41"
    assert ar.encode(good(id=ar.make_id("gh.1", 0, 0)))
    assert key_of(ar.make_id, "bad name", 1, 1) == "device"
    assert key_of(ar.make_id, "d", -1, 1) == "boot"
    assert key_of(ar.make_id, "d", 1, "2") == "seq"
    assert key_of(ar.make_id, "d" * 64, 10 ** 40, 10 ** 40) == "id"


def test_episode_state_and_closes():
    # v1 without `state` still reads, and reads as firing
    old = ar.decode(json.dumps(good()))
    assert "state" not in old and ar.state_of(old) == "firing"
    fire = good(state="firing")
    assert ar.decode(ar.encode(fire)) == fire
    done = good(id="greenhouse-1-9", state="resolved", closes="greenhouse-1-7")
    data = ar.encode(done)
    assert data.endswith(b',"state":"resolved","closes":"greenhouse-1-7"}')
    back = ar.decode(data)
    assert back == done and ar.state_of(back) == "resolved"


def test_episode_state_refusals():
    assert key_of(ar.encode, good(state="open")) == "state"
    assert key_of(ar.encode, good(state=1)) == "state"
    assert key_of(ar.decode, json.dumps(good(state="resolved"))) == "closes"
    assert key_of(ar.encode, good(state="firing", closes="greenhouse-1-7")) == "closes"
    assert key_of(ar.encode, good(closes="greenhouse-1-7")) == "closes"
    assert key_of(ar.encode, good(state="resolved", closes="a b")) == "closes"
    assert key_of(ar.encode, good(state="resolved", closes="x" * 129)) == "closes"


def test_a_reminder_names_the_firing_it_repeats():
    again = good(id="greenhouse-1-8", state="firing", repeats="greenhouse-1-7")
    data = ar.encode(again)
    assert data.endswith(b',"state":"firing","repeats":"greenhouse-1-7"}')
    assert ar.decode(data)["repeats"] == "greenhouse-1-7"
    assert ar.decode(ar.encode(good(repeats="greenhouse-1-7")))["repeats"] == "greenhouse-1-7"
    assert key_of(ar.encode, good(state="resolved", closes="greenhouse-1-7", repeats="greenhouse-1-7")) == "repeats"
    assert key_of(ar.encode, good(repeats="a b")) == "repeats"
