# make install-gateway / uninstall-gateway / purge-gateway run for real on this machine, which
# has no systemd as PID 1 (like a container, a chroot or an SD card before its first boot),
# with every path pointed into a temp folder and a throw-away service user. The venv is real:
# pip installs the package (its dependencies come from pip's cache, warmed by make setup).
import os
import pwd
import stat
import subprocess
import uuid

import pytest

from gateway_helpers import ROOT

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="installing a service creates a user: needs root"),
              pytest.mark.slow]


def make(target, paths, user):
    args = ["make", "--no-print-directory", "-C", ROOT, target, "SYSTEMD=no", "MOSQUITTO_RESTART=no",
            "GATEWAY_USER=" + user] + ["%s=%s" % kv for kv in paths.items()]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    return p.returncode, p.stdout.decode()


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_install_uninstall_purge_without_systemd(tmp_path):
    user = "opgw" + uuid.uuid4().hex[:8]
    paths = {"GATEWAY_PREFIX": tmp_path / "opt", "GATEWAY_ETC": tmp_path / "etc",
             "GATEWAY_UNIT": tmp_path / "systemd" / "outpost-gateway.service",
             "GATEWAY_STATE": tmp_path / "state", "GATEWAY_BIN": tmp_path / "bin",
             "MOSQUITTO_CONFD": tmp_path / "mosquitto-conf.d"}
    paths["MOSQUITTO_CONFD"].mkdir()
    os.chmod(str(tmp_path), 0o755)       # the service user must reach its folders
    try:
        rc, out = make("install-gateway", paths, user)
        assert rc == 0, out
        assert "did not load it: systemd is not running here" in out
        assert "next steps:" in out and "runuser -u %s" % user in out
        uid = pwd.getpwnam(user).pw_uid
        st = os.stat(str(paths["GATEWAY_STATE"]))
        assert (st.st_uid, mode(paths["GATEWAY_STATE"])) == (uid, 0o700)
        conf = paths["GATEWAY_ETC"] / "gateway.toml"
        assert mode(conf) == 0o640
        assert 'state_dir = "%s"' % paths["GATEWAY_STATE"] in conf.read_text()
        unit = paths["GATEWAY_UNIT"].read_text()
        assert "ExecStart=%s/bin/python -m outpost_gateway run --config %s/gateway.toml" % (
            paths["GATEWAY_PREFIX"], paths["GATEWAY_ETC"]) in unit
        assert "User=%s" % user in unit
        # folders outside /var/lib and /etc: made by install, the state one writable under
        # ProtectSystem=strict; no StateDirectory= that would make /var/lib/outpost-gateway
        assert "ReadWritePaths=%s\n" % paths["GATEWAY_STATE"] in unit
        assert "StateDirectory" not in unit and "ConfigurationDirectory" not in unit
        assert "ProtectSystem=strict" in unit
        assert (paths["MOSQUITTO_CONFD"] / "outpost.conf").exists()
        # the installed command runs; the untouched example stops at what the user must set,
        # not at a spool folder that does not exist
        p = subprocess.run([str(paths["GATEWAY_BIN"] / "outpost-gateway"), "check-config", "-c", str(conf)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        assert p.returncode == 2 and b"relay.host" in p.stdout, p.stdout

        rc, out = make("install-gateway", paths, user)      # again: an edited config is kept
        assert rc == 0 and "kept your %s" % conf in out, out

        rc, out = make("uninstall-gateway", paths, user)
        assert rc == 0, out
        assert not paths["GATEWAY_PREFIX"].exists() and not paths["GATEWAY_UNIT"].exists()
        assert not os.path.lexists(str(paths["GATEWAY_BIN"] / "outpost-gateway"))
        assert conf.exists() and paths["GATEWAY_STATE"].is_dir()
        assert "config (with the relay password): %s" % paths["GATEWAY_ETC"] in out
        assert "spool (undelivered alerts too):  %s" % paths["GATEWAY_STATE"] in out
        assert "user: " + user in out and "make purge-gateway" in out
        assert "Mosquitto settings: %s/outpost.conf" % paths["MOSQUITTO_CONFD"] in out

        rc, out = make("purge-gateway", paths, user)
        assert rc == 0, out
        assert "removed user " + user in out
        assert not paths["GATEWAY_ETC"].exists() and not paths["GATEWAY_STATE"].exists()
        with pytest.raises(KeyError):
            pwd.getpwnam(user)
        # the Mosquitto settings install added go too, and purge says so
        assert "removed %s/outpost.conf" % paths["MOSQUITTO_CONFD"] in out
        assert not (paths["MOSQUITTO_CONFD"] / "outpost.conf").exists()
    finally:
        subprocess.run(["userdel", user], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_purge_keeps_a_user_it_did_not_make(tmp_path):
    paths = {"GATEWAY_PREFIX": tmp_path / "opt", "GATEWAY_ETC": tmp_path / "etc",
             "GATEWAY_UNIT": tmp_path / "unit.service", "GATEWAY_STATE": tmp_path / "state",
             "GATEWAY_BIN": tmp_path / "bin"}
    (tmp_path / "etc").mkdir()
    rc, out = make("purge-gateway", paths, "nobody")
    assert rc == 0, out
    assert "kept user nobody: it was there before make install-gateway" in out
    pwd.getpwnam("nobody")
    assert not (tmp_path / "etc").exists()


def test_purge_keeps_edited_mosquitto_settings_and_says_so(tmp_path):
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "outpost.conf").write_text("# mine\nmax_queued_messages 5\n")
    paths = {"GATEWAY_PREFIX": tmp_path / "opt", "GATEWAY_ETC": tmp_path / "etc",
             "GATEWAY_UNIT": tmp_path / "unit.service", "GATEWAY_STATE": tmp_path / "state",
             "GATEWAY_BIN": tmp_path / "bin", "MOSQUITTO_CONFD": conf_d}
    rc, out = make("purge-gateway", paths, "nobody")
    assert rc == 0, out
    assert "kept %s/outpost.conf: you edited it" % conf_d in out
    assert (conf_d / "outpost.conf").exists()


def test_destdir_and_prefix_stage_everything_for_a_package(tmp_path):
    # a packager's run: the default folders, every file under DESTDIR, naming the final paths;
    # no user made, nothing chowned or started
    stage = tmp_path / "stage"
    user = "opgw" + uuid.uuid4().hex[:8]
    before = os.path.exists("/opt/outpost-gateway-staged")
    args = ["make", "--no-print-directory", "-C", ROOT, "install-gateway", "DESTDIR=%s" % stage,
            "PREFIX=/usr", "GATEWAY_PREFIX=/opt/outpost-gateway-staged", "GATEWAY_USER=" + user,
            "GATEWAY_STATE=/var/lib/outpost-gw2", "GATEWAY_ETC=/etc/outpost-gw2", "SYSTEMD=no",
            # the folders are what this test is about: the package alone (its dependencies are
            # installed by the test above)
            "GATEWAY_PIP=--no-deps"]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    out = p.stdout.decode()
    assert p.returncode == 0, out
    assert os.path.exists("/opt/outpost-gateway-staged") == before
    assert not os.path.exists("/var/lib/outpost-gw2") and not os.path.exists("/etc/outpost-gw2")
    with pytest.raises(KeyError):
        pwd.getpwnam(user)
    venv = stage / "opt" / "outpost-gateway-staged"
    assert (venv / "bin" / "python").exists()
    link = stage / "usr" / "bin" / "outpost-gateway"
    assert os.readlink(str(link)) == "/opt/outpost-gateway-staged/bin/outpost-gateway"
    # the venv's scripts name where it will live, not the staging folder
    for f in (venv / "bin").iterdir():
        if f.is_file() and not f.is_symlink():
            assert str(stage).encode() not in f.read_bytes(), f
    assert str(stage) not in (venv / "pyvenv.cfg").read_text()
    conf = stage / "etc" / "outpost-gw2" / "gateway.toml"
    assert 'state_dir = "/var/lib/outpost-gw2"' in conf.read_text() and mode(conf) == 0o640
    assert mode(stage / "var" / "lib" / "outpost-gw2") == 0o700
    unit = (stage / "etc" / "systemd" / "system" / "outpost-gateway.service").read_text()
    assert "StateDirectory=outpost-gw2\n" in unit and "ConfigurationDirectory=outpost-gw2\n" in unit
    assert "ExecStart=/opt/outpost-gateway-staged/bin/python -m outpost_gateway run --config " \
        "/etc/outpost-gw2/gateway.toml" in unit
    assert str(stage) not in unit
    assert (stage / "etc" / "mosquitto" / "conf.d" / "outpost.conf").exists()
    assert "staged under %s" % stage in out
