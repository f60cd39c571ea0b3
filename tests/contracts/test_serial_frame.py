# lane: micropython
# Serial frame v1 codec: A1 <crc32 hex> <json>\n, ACK/NAK replies, chatter ignored.
import binascii

from outpost_contract import record as alert_record
from outpost_contract import frame as sf
from outpost_contract.frame import FrameError
from tinytest import raises

REC = alert_record.encode({"v": 1, "id": "gh-2-9", "device": "gh", "severity": "critical",
                           "kind": "threshold", "subject": "Frost: -2 °C"})


def test_version():
    assert sf.VERSION == 1 and sf.PREFIX == b"A1 "


def test_encode_shape():
    line = sf.encode(REC)
    crc = b"%08x" % (binascii.crc32(REC) & 0xFFFFFFFF)
    assert line == b"A1 " + crc + b" " + REC + b"\n"
    assert line.count(b"\n") == 1


def test_round_trip():
    line = sf.encode(REC)
    assert sf.parse(line) == REC
    assert sf.parse(line[:-1]) == REC                       # without the newline
    assert sf.parse(line[:-1] + b"\r\n") == REC             # with a CRLF from a terminal
    assert sf.parse(str(line, "utf-8")) == REC
    assert alert_record.decode(sf.parse(line))["id"] == "gh-2-9"


def test_encode_refuses_multi_line_or_non_object():
    raises(ValueError, sf.encode, b'{"a":1}\n{"b":2}')
    raises(ValueError, sf.encode, b"[1]")
    raises(ValueError, sf.encode, b"{" + b" " * sf.MAX_LINE + b"}")


def test_other_lines_ignored():
    for line in [b"", b"\n", b"rst:0x1 (POWERON_RESET)\n", b">>> ", b"A1", b"A2 00000000 {}\n",
                 b"a1 00000000 {}\n", b" A1 00000000 {}\n", b"\xff\xfe garbage\n", "ets Jun  8 2016"]:
        assert sf.parse(line) is None, line


def test_crc_mismatch_names_the_id():
    line = sf.encode(REC)
    bad = line.replace(b"Frost", b"Frist")
    e = raises(FrameError, sf.parse, bad)
    assert e.reason == "crc" and e.id == "gh-2-9"
    assert "gh-2-9" in str(e)


def test_crc_mismatch_unreadable_id():
    line = sf.encode(REC)
    e = raises(FrameError, sf.parse, line[:-20] + b"\n")     # truncated JSON
    assert e.reason == "crc" and e.id is None
    e = raises(FrameError, sf.parse, b"A1 00000000 \xff\xfe\xfd\n")
    assert e.reason == "crc" and e.id is None


def test_malformed_frames():
    for line in [b"A1 \n", b"A1 0000\n", b"A1 12345678{}\n", b"A1 1234567G {}\n",
                 b"A1 ABCDEF01 {}\n", b"A1 12345678\n"]:
        e = raises(FrameError, sf.parse, line)
        assert e.reason == "malformed", line
    e = raises(FrameError, sf.parse, b"A1 " + b"0" * (sf.MAX_LINE + 1))
    assert e.reason == "too-long"


def test_non_utf8_payload_with_good_crc():
    payload = b'{"id":"\xff\xfe"}'
    line = b"A1 " + b"%08x" % (binascii.crc32(payload) & 0xFFFFFFFF) + b" " + payload + b"\n"
    e = raises(FrameError, sf.parse, line)
    assert e.reason == "not-utf8"


def test_ack_nak():
    assert sf.ack("gh-2-9") == b"ACK gh-2-9\n"
    assert sf.nak("gh-2-9", "crc") == b"NAK gh-2-9 crc\n"
    assert sf.nak(None, "malformed") == b"NAK - malformed\n"
    assert sf.nak("gh-2-9", "bad\r\nACK x") == b"NAK gh-2-9 bad  ACK x\n"
    raises(ValueError, sf.ack, "bad id")
    raises(ValueError, sf.ack, None)
    raises(ValueError, sf.nak, "a\nb", "x")


def test_parse_reply():
    assert sf.parse_reply(sf.ack("gh-2-9")) == ("ACK", "gh-2-9")
    assert sf.parse_reply(b"ACK gh-2-9\r\n") == ("ACK", "gh-2-9")
    assert sf.parse_reply(sf.nak("gh-2-9", "spool full")) == ("NAK", "gh-2-9", "spool full")
    assert sf.parse_reply(sf.nak(None, "crc")) == ("NAK", None, "crc")
    assert sf.parse_reply("NAK x-1-1") == ("NAK", "x-1-1", "")
    for line in [b"", b"ACK\n", b"ACK \n", b"ACK a b\n", b"ACKgh\n", b"hello\n", b"\xff\xfe\n",
                 b"NAK bad/id x\n", b"A1 00000000 {}\n"]:
        assert sf.parse_reply(line) is None, line
