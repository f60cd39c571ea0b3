# The app's side of the SMTP step on a board (smtp_hop.StepPath): the alert handed over in
# mail.go, the step woken, its outcome read back from mail.res; the app holds this small
# module, not smtp_path. The step itself runs on the real MicroPython in tests/realmp.
import json

import pytest

from outpost import Down, Refused
from outpost.smtp_hop import RESULT_FILE, SEND_FILE, StepPath
from outpost import smtp_path

REC = {"v": 1, "id": "shed-3-1", "device": "shed", "severity": "critical", "kind": "rule",
       "subject": "door is 1"}


class Net:
    up = True

    def connected(self):
        return self.up


class Woken(Exception):
    pass


def step_path(root, net=None):
    cfg = {"smtp": {"host": "mail.example.org", "mode": "starttls", "insecure_skip_verify": False}}

    def wake():
        raise Woken()       # a board never comes back from the hop
    return StepPath(cfg, net or Net(), lambda m: None, str(root), wake, False)


def test_the_step_reads_the_same_files_as_the_path_it_stands_for():
    assert (SEND_FILE, RESULT_FILE) == (smtp_path.SEND_FILE, smtp_path.RESULT_FILE)


def test_the_journalled_record_goes_to_mail_go_as_it_is(tmp_path):
    data = b'{"v":1,"id":"shed-3-1","x":"as journalled"}'
    with pytest.raises(Woken):
        step_path(tmp_path).send(REC, None, 10, None, 0, data)
    assert (tmp_path / SEND_FILE).read_bytes() == b"shed-3-1 0\n" + data


def test_a_report_shedding_its_csv_is_encoded_again_without_it(tmp_path):
    with pytest.raises(Woken):
        step_path(tmp_path).send(dict(REC, kind="report"), "t,v\n1,2\n", 10, None, 2, b"{}")
    with open(tmp_path / SEND_FILE, "rb") as f:
        assert f.readline() == b"shed-3-1 2\n"
        rec = json.loads(f.read())
    assert rec["id"] == "shed-3-1" and "x_csv" not in rec


def test_the_outcome_comes_back_as_the_path_would_raise_it(tmp_path):
    (tmp_path / RESULT_FILE).write_text("shed-3-1 sent")
    calls = []
    step_path(tmp_path).send(REC, None, 10, lambda: calls.append(1))
    assert calls == [1] and not (tmp_path / RESULT_FILE).exists()
    (tmp_path / RESULT_FILE).write_text("shed-3-1 refused 550 5.1.1 no such user")
    with pytest.raises(Refused, match="550 5.1.1"):
        step_path(tmp_path).send(REC, None, 10)
    (tmp_path / RESULT_FILE).write_text("shed-3-1 down cannot connect")
    with pytest.raises(Down, match="cannot connect"):
        step_path(tmp_path).send(REC, None, 10)
    # another alert's outcome is dropped, and this one goes to the step
    (tmp_path / RESULT_FILE).write_text("shed-3-0 sent")
    with pytest.raises(Woken):
        step_path(tmp_path).send(REC, None, 10, lambda: pytest.fail("not this alert"))
    assert not (tmp_path / RESULT_FILE).exists()


def test_without_wi_fi_the_step_is_not_woken(tmp_path):
    net = Net()
    net.up = False
    with pytest.raises(Down, match="no Wi-Fi"):
        step_path(tmp_path, net).send(REC, None, 10)
    assert not (tmp_path / SEND_FILE).exists()
