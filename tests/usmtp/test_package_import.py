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
        from usmtp import client            # a submodule by name, loaded on demand
        assert isinstance(client.ms(), int)
    finally:
        # the modules (and the package's attributes) other tests imported, back as they were
        for name in list(sys.modules):
            if name.startswith("usmtp."):
                sys.modules.pop(name)
        for name in saved:
            sys.modules[name] = saved[name]
            setattr(usmtp, name[6:], saved[name])


def test_rarer_error_classes_load_on_first_use_and_are_the_same_classes():
    # usmtp.errors defines what a driver catches; the rest live in usmtp.moreerrors, loaded
    # when first named, and every route to a name gives the one class
    import sys
    import usmtp.errors
    errors = sys.modules["usmtp.errors"]    # not a package attribute another test left behind
    saved = sys.modules.pop("usmtp.moreerrors", None)
    if saved is not None:
        del usmtp.moreerrors
    try:
        # before any is named, the classification needs none of them
        assert errors.outcome(errors.SMTPTimeout("t")) == "retry"
        assert errors.outcome(errors.SMTPConnectError("c")) == "retry"
        assert errors.outcome(errors.SMTPUsageError("u")) == "refused"
        assert errors.outcome(MemoryError()) == "retry"
        assert "usmtp.moreerrors" not in sys.modules
    finally:
        if saved is not None:
            sys.modules["usmtp.moreerrors"] = saved
            usmtp.moreerrors = saved
    from usmtp.errors import SMTPAuthError
    from usmtp import moreerrors
    assert SMTPAuthError is moreerrors.SMTPAuthError is usmtp.SMTPAuthError
    assert errors.SMTPTLSError is usmtp.SMTPTLSError
    assert issubclass(errors.SMTPSenderRefused, errors.SMTPReplyError)
    assert issubclass(errors.SMTPTLSError, errors.SMTPError)
    e = errors.reply_error(451, "later", "4.3.0", "MAIL")
    assert isinstance(e, usmtp.SMTPTransientError) and errors.is_transient(e)
    assert errors.outcome(e) == "retry"
    assert errors.outcome(errors.SMTPPermanentError(550, "no")) == "refused"
    assert errors.outcome(SMTPAuthError(535, "bad")) == "reconfigure"
    assert errors.outcome(errors.SMTPTLSError("cert")) == "reconfigure"
    r = errors.SMTPRecipientsRefused({"a@b": (452, "full")})
    assert errors.is_transient(r) and errors.outcome(r) == "retry"
    try:
        errors.SMTPNoSuchError
        raise AssertionError("an unknown name must raise AttributeError")
    except AttributeError:
        pass


def test_an_alerts_plain_message_loads_no_mime():
    # what the board's SMTP step writes for an alert of ASCII text (long lines, a body over
    # the chunk size, threading headers, a display name) is the writer's alone: usmtp.mime
    # (and its interned names) stays out of the heap
    import sys
    import usmtp.writer as w
    saved = sys.modules.pop("usmtp.mime", None)
    had = hasattr(usmtp, "mime")
    if had:
        del usmtp.mime
    try:
        body = ("Still: freezer.temperature is -4.5 C.\nRule:     freezer.temperature above -12 C"
                " (cooldown 30 min, repeats every 4 h)\n" + "  12:00:00  -4.5 C\n" * 40 +
                "-- \nDevice:   shed1\n" + "x" * 300 + "\n")
        mid = w.make_message_id("shed1-3-7", "Shed board <shed1@example.org>")
        m = w.Message("Shed board <shed1@example.org>", ["ops@example.org", "b@example.net"],
                      "shed1: freezer at -4.5 C", body, date=1796000000, message_id=mid,
                      headers=[("X-Outpost-Alert-Id", "shed1-3-7"), ("In-Reply-To", mid),
                               ("References", mid)])
        data = b"".join(m.chunks(512))
        assert "usmtp.mime" not in sys.modules
        assert data.count(b"=\r\n") == 1 + 3         # the long Rule line, the 300 x's
        assert b"\r\n-- \r\n" not in data and b"\r\n--=20\r\n" in data
        assert m.recipients() == ["ops@example.org", "b@example.net"]
    finally:
        sys.modules.pop("usmtp.mime", None)
        if saved is not None:
            sys.modules["usmtp.mime"] = saved
            usmtp.mime = saved
