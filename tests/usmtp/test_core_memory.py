# Memory the core allocates for a message given whole (bytes or str): it must be O(piece), not
# extra copies of the message (on a board a second and third copy of a 100 KB message do not
# fit). CPython-only: tracemalloc measures the peak of what the core allocates.
import tracemalloc

import pytest

from transcript import opened
from transcript import DONE, NEED_DATA

REPLIES = {"MAIL": b"250 ok\r\n", "RCPT": b"250 ok\r\n", "DATA": b"354 go\r\n",
           "EOD": b"250 ok\r\n", "BDAT": b"250 ok\r\n", "BDAT-LAST": b"250 ok\r\n"}


def _peak_while_sending(ext, body):
    c = opened(ext)
    sent = 0
    tracemalloc.start()
    try:
        c.start(c.op_send("a@x", ["b@y"], body))
        while True:
            out = c.data_to_send()
            sent += len(out)
            del out
            step = c.poll()
            if step == DONE:
                break
            if step == NEED_DATA:
                c.receive_data(REPLIES[c.waiting_for()])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert c.result == {}
    return peak, sent


@pytest.mark.parametrize("ext", ["PIPELINING", "PIPELINING,CHUNKING", "", "CHUNKING"])
@pytest.mark.parametrize("kind", [bytes, str])
def test_a_whole_message_is_not_copied(ext, kind):
    body = b"a line of the message, with a dot next\n.\n" * 50000      # 2 MB
    if kind is str:
        body = body.decode()
    peak, sent = _peak_while_sending(ext, body)
    assert sent > len(body)
    # a str is encoded once (that copy is the message itself); nothing else grows with it
    allowed = 256 * 1024 + (len(body) if kind is str else 0)
    assert peak < allowed, "peak %d bytes for a %d byte message (%s)" % (peak, len(body), ext)
