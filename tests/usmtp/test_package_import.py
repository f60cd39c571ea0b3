# lane: micropython
# Importing usmtp touches no socket (the VM has none), and the writer loads on first use.
import usmtp


def test_import_has_no_socket_and_exports_the_api():
    assert usmtp.SMTP and usmtp.SMTPError and usmtp.is_transient
    assert issubclass(usmtp.SMTPError, OSError)
    assert issubclass(usmtp.SMTPTransientError, usmtp.SMTPReplyError)


def test_writer_names_load_lazily():
    m = usmtp.Message("a@x.example", ["b@y.example"], "hi", date=0)
    assert usmtp.make_message_id("dev-1-2", "a@x.example") == "<dev-1-2@x.example>"
    assert m.recipients() == ["b@y.example"]


def test_the_rules_modules_load_without_the_client():
    # the board reads its clock and checks addresses at boot: that must not load the client
    import sys
    saved = {}
    for name in list(sys.modules):
        if name.startswith("usmtp."):
            saved[name] = sys.modules.pop(name)
    try:
        import usmtp.clock
        import usmtp.checks
        assert usmtp.checks.address_problem("a@example.org") is None and usmtp.clock.now() > 0
        loaded = sorted([n for n in sys.modules if n.startswith("usmtp.")])
        assert loaded == ["usmtp.checks", "usmtp.clock"], loaded
        from usmtp import netio             # a submodule by name, loaded on demand
        assert netio.ticks_ms() >= 0
    finally:
        # the modules (and the package's attributes) other tests imported, back as they were
        for name in list(sys.modules):
            if name.startswith("usmtp."):
                sys.modules.pop(name)
        for name in saved:
            sys.modules[name] = saved[name]
            setattr(usmtp, name[6:], saved[name])
