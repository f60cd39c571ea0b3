# uMail's call shapes (shawwwn/uMail umail.py): login() and to() return (code, [reply lines])
# from the server, and login() accepts 503 "already authenticated" (uMail asserts 235 or 503),
# so a script that logs in through the constructor and again by hand still runs.
import pytest

from peers.certs import TestCA
from peers.smtpd import MailServer


@pytest.fixture()
def umail(tmp_path, monkeypatch):
    import umail
    ca = TestCA()
    monkeypatch.setattr(umail, "CADATA", ca.ca_pem)
    return umail, ca


def test_login_twice_and_reply_shapes(umail):
    umail, ca = umail
    with MailServer(tls="starttls", ca=ca, auth_users={"me@example.com": "pw"},
                    auth_required=True) as srv:
        smtp = umail.SMTP("localhost", srv.port, username="me@example.com", password="pw")
        code, resp = smtp.login("me@example.com", "pw")
        assert code == 503 and isinstance(resp, list) and resp
        code, resp = smtp.to(["someone@example.com"])
        assert code == 354 and isinstance(resp, list) and resp
        assert smtp.send("Subject: hi\n\nbody\n")[0] == 250
        smtp.quit()
        assert srv.wait_for(1)[0].data == b"Subject: hi\r\n\r\nbody\r\n"


def test_login_reply_is_a_list_and_wrong_password_still_raises(umail):
    umail, ca = umail
    from usmtp.errors import SMTPAuthError
    with MailServer(tls="starttls", ca=ca, auth_users={"me@example.com": "pw"}) as srv:
        smtp = umail.SMTP("localhost", srv.port)
        with pytest.raises(SMTPAuthError):
            smtp.login("me@example.com", "wrong")
        code, resp = smtp.login("me@example.com", "pw")
        assert code == 235 and isinstance(resp, list)
        smtp.quit()


def test_local_domain_names_the_client_in_ehlo(umail, monkeypatch):
    # uMail scripts set umail.LOCAL_DOMAIN to choose their EHLO name
    umail, ca = umail
    monkeypatch.setattr(umail, "LOCAL_DOMAIN", "board.example.org")
    with MailServer(tls="starttls", ca=ca) as srv:
        smtp = umail.SMTP("localhost", srv.port)
        smtp.quit()
        verbs = [c for c in srv.connections[0].commands if c.upper().startswith("EHLO")]
        assert verbs and all(v == "EHLO board.example.org" for v in verbs), verbs
