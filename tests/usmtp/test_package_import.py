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
