"""`make flash` checks the image before anything is erased (tools/preflight.py): the file, its
size, the ESP image magic byte 0xE9, the chip in its header and in its name, UF2 for the Pico W.
No board is needed: every refusal happens before esptool runs."""
import os
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import preflight  # noqa: E402

CHIP_ID = {"esp32": 0, "esp32s3": 9, "esp32c3": 5}


def esp_image(path, chip="esp32", size=1600 * 1024, magic=0xE9):
    head = bytes([magic, 3, 2, 0x20]) + struct.pack("<I", 0x40080000)
    head += bytes([0xEE, 0, 0, 0]) + struct.pack("<H", CHIP_ID[chip]) + bytes(10)
    with open(path, "wb") as f:
        f.write(head + bytes(size - len(head)))
    return str(path)


def uf2_image(path, blocks=1200, family=0xE48BFF56):
    with open(path, "wb") as f:
        for i in range(blocks):
            blk = struct.pack("<IIIIIIII", 0x0A324655, 0x9E5D5157, 0x2000, 0x10000000 + 256 * i,
                              256, i, blocks, family)
            f.write(blk + bytes(476) + struct.pack("<I", 0x0AB16F30))
    return str(path)


def test_a_good_image_passes(tmp_path):
    assert preflight.image_problems(esp_image(tmp_path / "ESP32_GENERIC-v1.27.0.bin"), "esp32") == []
    assert preflight.image_problems(esp_image(tmp_path / "ESP32_GENERIC_S3-v1.27.0.bin", "esp32s3"),
                                    "esp32s3") == []
    assert preflight.image_problems(uf2_image(tmp_path / "RPI_PICO_W-v1.27.0.uf2"), "rp2040") == []


def test_missing_or_unnamed_file(tmp_path):
    assert "FIRMWARE= must name" in preflight.image_problems("", "esp32")[0]
    assert "no such file" in preflight.image_problems(str(tmp_path / "x.bin"), "esp32")[0]


def test_a_download_cut_short(tmp_path):
    p = preflight.image_problems(esp_image(tmp_path / "fw.bin", size=4000), "esp32")
    assert len(p) == 1 and "4000 bytes, too small" in p[0]


def first_problem(path, chip):
    return preflight.image_problems(path, chip)[0]


def test_wrong_magic_says_what_the_file_is(tmp_path):
    assert "not the ESP image magic 0xe9" in first_problem(esp_image(tmp_path / "fw.bin", magic=0), "esp32")
    assert "a UF2 file (for the Pico)" in first_problem(uf2_image(tmp_path / "fw.uf2"), "esp32")
    elf = tmp_path / "firmware.elf"
    elf.write_bytes(b"\x7fELF" + bytes(100000))
    assert "an ELF file (use the .bin)" in first_problem(str(elf), "esp32")


def test_an_image_for_another_chip(tmp_path):
    p = preflight.image_problems(esp_image(tmp_path / "fw.bin", "esp32s3"), "esp32")
    assert p == ["FIRMWARE=%s: an image for esp32s3 (its header), this board is esp32"
                 % (tmp_path / "fw.bin")]
    # the name says C3, the header says ESP32 (a renamed file): both are reported
    p = preflight.image_problems(esp_image(tmp_path / "ESP32_GENERIC_C3-v1.27.0.bin"), "esp32c3")
    assert any("its header" in x for x in p) and not any("file name" in x for x in p)
    p = preflight.image_problems(esp_image(tmp_path / "ESP32_GENERIC_C3-v1.27.0.bin"), "esp32")
    assert p and "the file name says esp32c3, this board is esp32" in p[0]


def test_uf2_checks(tmp_path):
    assert "not the RP2040" in first_problem(uf2_image(tmp_path / "x.uf2", family=0x68ED2B88), "rp2040")
    assert "not a UF2 file" in first_problem(esp_image(tmp_path / "x.bin"), "rp2040")
    cut = tmp_path / "cut.uf2"
    cut.write_bytes(open(uf2_image(tmp_path / "y.uf2"), "rb").read()[:-100])
    assert "not whole 512-byte UF2 blocks" in first_problem(str(cut), "rp2040")


def make_flash(*args):
    return subprocess.run(["make", "-s", "flash"] + list(args), cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_make_flash_refuses_a_bad_image_before_erasing(tmp_path):
    bad = esp_image(tmp_path / "ESP32_GENERIC_S3-v1.27.0.bin", "esp32s3")
    r = make_flash("BOARD=esp32_devkitc", "PORT=/dev/ttyNOPE9", "FIRMWARE=" + bad)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "this board is esp32" in out
    assert "erase" not in out.lower() and "esptool" not in out


def test_make_flash_checks_the_port_before_erasing(tmp_path):
    good = esp_image(tmp_path / "ESP32_GENERIC-v1.27.0.bin")
    r = make_flash("BOARD=esp32_devkitc", "PORT=/dev/ttyNOPE9", "FIRMWARE=" + good)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "PORT=/dev/ttyNOPE9: no such device" in out
    assert "an image for esp32; flashing" in out     # the image passed, the port did not
    assert "erase-flash" not in out


def test_make_flash_pico_needs_a_uf2(tmp_path):
    r = make_flash("BOARD=pico_w", "FIRMWARE=" + esp_image(tmp_path / "x.bin"))
    assert r.returncode != 0 and "not a UF2 file" in r.stdout + r.stderr


def test_esptool_and_mpremote_are_pinned_and_used_pinned():
    req = open(os.path.join(ROOT, "requirements-test.txt")).read().splitlines()
    pins = {l.split("==")[0].lower(): l.split("==")[1] for l in req if "==" in l}
    assert "esptool" in pins and "mpremote" in pins
    mk = open(os.path.join(ROOT, "mk", "board.mk")).read()
    assert "pip install esptool\n" not in mk and "install mpremote\n" not in mk
    from importlib import metadata
    assert metadata.version("esptool") == pins["esptool"]
    assert metadata.version("mpremote") == pins["mpremote"]
