# Packaging and deployment files: the systemd unit comments every directive and is hardened;
# pyproject names the entry point and dependencies (test_gateway_wheel.py builds and runs the
# wheel); the Makefile fragment has the target.
import os
import sys

from gateway_helpers import HOST, ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def test_unit_every_directive_commented_and_hardened():
    lines = open(os.path.join(HOST, "outpost-gateway.service")).read().splitlines()
    directives = {}
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#") and not line.startswith("["):
            # the block of directives it belongs to starts right under a comment
            j = i - 1
            while j >= 0 and "=" in lines[j] and not lines[j].startswith("#"):
                j -= 1
            assert j >= 0 and lines[j].startswith("#"), "uncommented directive: " + line
            directives.setdefault(line.split("=")[0], []).append(line.split("=", 1)[1])
    assert directives["NoNewPrivileges"] == ["true"]
    assert directives["User"] == ["outpost"]
    assert directives["StateDirectory"] == ["outpost-gateway"]
    assert directives["ProtectSystem"] == ["strict"]
    assert "python -m outpost_gateway run" in directives["ExecStart"][0]
    # room above what the SMTP ingress lets sessions take (it refuses them first)
    assert int(directives["LimitNOFILE"][0]) > 1024


def test_pyproject_entry_point_python_and_dependencies():
    # what the wheel holds is checked by building and running it: test_gateway_wheel.py
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        p = tomllib.load(f)
    assert p["project"]["scripts"]["outpost-gateway"] == "outpost_gateway.cli:main"
    assert p["project"]["requires-python"] == ">=3.9"
    deps = " ".join(p["project"]["dependencies"])
    for d in ("paho-mqtt>=2", "pyserial", "aiosmtpd", "tomli"):
        assert d in deps


def test_each_third_party_dependency_in_one_adapter():
    pkg = os.path.join(HOST, "outpost_gateway")
    owners = {"paho": set(), "serial": set(), "aiosmtpd": set(), "tomllib": set(), "dns": set(), "dkim": set()}
    for name in os.listdir(pkg):
        if name.endswith(".py"):
            for line in open(os.path.join(pkg, name)):
                for dep in owners:
                    if line.startswith("import " + dep) or line.startswith("from " + dep) or \
                            line.strip().startswith("import " + dep):
                        owners[dep].add(name)
    assert owners == {"paho": {"mqtt_ingress.py"}, "serial": {"serial_ingress.py"},
                      "aiosmtpd": {"smtp_ingress.py"}, "tomllib": {"config.py"}, "dns": {"mx.py"},
                      "dkim": {"dkim_sign.py"}}


def test_make_fragment_has_install_target():
    text = open(os.path.join(ROOT, "mk", "gateway.mk")).read()
    assert "install-gateway:" in text and "host/outpost-gateway.service" in text
