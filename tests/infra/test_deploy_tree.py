"""tools/deploy_tree.py lays out a board's flash as `make deploy` copies it: .mpy files in lib/,
boot.py and main.py as source, and the config checked in full and written compact."""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import deploy_tree  # noqa: E402


def write(tmp_path, text):
    p = tmp_path / "config_local.py"
    p.write_text(text)
    return str(p)


def test_layout_and_compact_checked_config(tmp_path):
    cfg = write(tmp_path, 'CONFIG = {"device": "shed", "mail": {"sender": "s@example.org", '
                          '"to": ["me@example.org"]}}\n')
    out = str(tmp_path / "tree")
    deploy_tree.build("esp32_devkitc", cfg, out)
    names = set()
    for d, _, files in os.walk(out):
        for f in files:
            names.add(os.path.relpath(os.path.join(d, f), out))
    for need in ("boot.py", "main.py", "board.mpy", "config.json", "lib/usmtp/core.mpy",
                 "lib/outpost/app.mpy", "lib/outpost_contract/record.mpy", "lib/umail.mpy"):
        assert need in names, need
    assert not [n for n in names if n.startswith("lib/") and not n.endswith(".mpy")]
    assert "config_local.py" not in names and "lib/outpost/config.mpy" in names
    with open(os.path.join(out, "config.json")) as f:
        loaded = json.load(f)
    # merged with the defaults: the board needs no checker and no defaults of its own
    assert loaded["device"] == "shed" and loaded["sample_every"] == 30
    assert loaded["smtp"]["timeout"] == 20


def test_a_bad_config_is_refused_with_the_key_named(tmp_path, capsys):
    cfg = write(tmp_path, 'CONFIG = {"devcie": "shed"}\n')
    rc = deploy_tree.main(["--board", "esp32_devkitc", "--config", cfg,
                           "--out", str(tmp_path / "tree")])
    assert rc == 2
    assert "devcie" in capsys.readouterr().err
    assert not os.path.exists(str(tmp_path / "tree" / "config.json"))


def test_an_unknown_board_is_refused(tmp_path):
    cfg = write(tmp_path, "CONFIG = {}\n")
    with pytest.raises(SystemExit, match="no boards/nope/board.py"):
        deploy_tree.build("nope", cfg, str(tmp_path / "tree"))
