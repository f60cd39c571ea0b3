# The mip package.json and the freeze manifest list every usmtp module, and nothing else.
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_package_json_and_manifest_are_current():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen_package_json.py"),
                        "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_package_json_lists_every_module_for_mip():
    with open(os.path.join(ROOT, "lib", "usmtp", "package.json")) as f:
        pj = json.load(f)
    listed = sorted(u[1] for u in pj["urls"])
    present = sorted(f for f in os.listdir(os.path.join(ROOT, "lib", "usmtp"))
                     if f.endswith(".py") and f != "manifest.py")
    assert listed == present
    assert all(u[0] == "usmtp/" + u[1] for u in pj["urls"])
    import usmtp
    assert pj["version"] == usmtp.__version__


def test_freeze_manifest_names_files_that_exist():
    # run manifest.py with the three functions MicroPython's manifest tool provides
    base = os.path.join(ROOT, "lib", "usmtp")
    found = []

    def metadata(version=None, **kw):
        assert version

    def package(name, files=None, base_path=".", opt=None):
        for f in files:
            p = os.path.join(base, base_path, name, f)
            assert os.path.isfile(p), p
            found.append(f)

    def module(path, base_path=".", opt=None):
        assert os.path.isfile(os.path.join(base, base_path, path))
        found.append(path)

    with open(os.path.join(base, "manifest.py")) as f:
        exec(f.read(), {"metadata": metadata, "package": package, "module": module})
    assert "core.py" in found and "umail.py" in found
