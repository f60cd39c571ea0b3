"""Every board's freeze manifest reads cleanly the way MicroPython's manifest tool reads it
(tests/infra/manifest_reader.py), and freezes what the firmware imports."""
import os

import pytest

from infra.manifest_reader import ManifestError, read

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOARDS = sorted(d for d in os.listdir(os.path.join(ROOT, "boards"))
                if os.path.isfile(os.path.join(ROOT, "boards", d, "manifest.py")))


def test_every_board_has_a_manifest():
    assert {"esp32_devkitc", "esp32_s3", "esp32_c3", "pico_w", "emulated"} <= set(BOARDS)


@pytest.mark.parametrize("board", BOARDS)
def test_board_manifest_reads_and_freezes_the_app(board):
    m = read(os.path.join(ROOT, "boards", board, "manifest.py"))
    targets = {t for t, _, _ in m.files}
    for need in ("usmtp/core.py", "usmtp/client.py", "usmtp/writer.py", "umail.py",
                 "outpost/app.py", "outpost/transport.py", "board.py"):
        assert need in targets, (board, need)
    # the firmware's own tree and usmtp's each carry one metadata()
    names = [t.get("description", "") for t in m.trees]
    assert len(names) == 2, names
    owner = {t: meta for t, _, meta in m.files}
    assert owner["usmtp/core.py"]["description"].startswith("Small SMTP client")
    assert owner["outpost/app.py"]["description"] == "Outpost board firmware"
    if board != "emulated":
        assert len(m.skipped) == 1 and m.skipped[0].startswith("$(PORT_DIR)/"), m.skipped


def test_every_frozen_module_the_firmware_imports_is_in_the_manifest():
    m = read(os.path.join(ROOT, "boards", "esp32_devkitc", "manifest.py"))
    targets = {t for t, _, _ in m.files}
    for name in sorted(os.listdir(os.path.join(ROOT, "lib"))):
        if name.endswith(".py"):
            assert name in targets, name
    for name in sorted(os.listdir(os.path.join(ROOT, "lib", "outpost_contract"))):
        if name.endswith(".py"):
            assert "outpost_contract/" + name in targets, name
    for name in sorted(os.listdir(os.path.join(ROOT, "firmware", "outpost"))):
        if name.endswith(".py"):
            assert "outpost/" + name in targets, name


def test_a_second_metadata_in_one_tree_is_refused(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "manifest.py").write_text(
        'metadata(version="1")\npackage("pkg", base_path="..")\n')
    (tmp_path / "top.py").write_text('metadata(version="2")\ninclude("pkg/manifest.py")\n')
    with pytest.raises(ManifestError, match="Duplicate call to metadata"):
        read(str(tmp_path / "top.py"))
    # the same package through require() has a tree of its own
    (tmp_path / "top2.py").write_text('metadata(version="2")\nadd_library("l", ".")\n'
                                      'require("pkg", library="l")\n')
    m = read(str(tmp_path / "top2.py"))
    assert [t["version"] for t in m.trees] == ["2", "1"]


def test_a_missing_file_is_refused(tmp_path):
    (tmp_path / "top.py").write_text('module("nope.py")\n')
    with pytest.raises(ManifestError, match="cannot stat"):
        read(str(tmp_path / "top.py"))
