"""The unchanged firmware on the emulated board, sending straight to a real SMTP server
(aiosmtpd with implicit TLS from the test CA; the board's config carries the CA PEM).
Time is the emulated clock: hours of board time run in well under a second of real time."""
import csv
import io
import os

from emu_fixtures import RISE, T_START, base_config, emu  # noqa: F401 (fixture)
from peers.smtpd import MailServer
from serial_gateway import SerialGateway


def test_temperature_rise_gives_exactly_one_alert(emu):
    with MailServer(tls="implicit") as srv:
        board = emu(base_config(mail=srv), RISE)
        board.run(2 * 3600)
        msgs = srv.wait_for(1)
        board.run(600)
        assert len(srv.messages) == 1, board.lines[-20:]
        m = msgs[0]
        assert m.tls
        assert m.mail_from == "shed@example.org" and m.rcpt_tos == ["me@example.org"]
        p = m.parsed()
        assert p["Message-ID"] == "<shed-1-1@example.org>"
        assert p["Subject"].startswith("shed: freezer.temperature -")
        assert p["Subject"].endswith(" °C (above -12 °C)")
        assert p["X-Outpost-Severity"] == "critical"
        assert "Alert id: shed-1-1" in p.get_body().get_content()
        # the alert went out at the first sample above -12 C (about 12.5 min in), dated then
        date = p["Date"].datetime.timestamp()
        assert T_START + 690 <= date <= T_START + 780
        assert any("sent shed-1-1 via smtp" in line for line in board.lines)


def test_hovering_value_makes_no_storm(emu):
    # wobbles across -12 C every sample, never below the 1 C hysteresis band: one episode
    def hover(name, t):
        if name == "freezer.temperature":
            return -11.8 if int(t // 30) % 2 else -12.4
        return None
    with MailServer(tls="implicit") as srv:
        board = emu(base_config(mail=srv), hover)
        board.run(3 * 3600)
        srv.wait_for(1)
        assert len(srv.messages) == 1


def test_swinging_value_is_held_to_the_cooldown(emu):
    # swings well past the hysteresis band every 5 minutes: a new episode each time, but at
    # most one alert per 30-minute cooldown (an episode inside the cooldown is told when it ends)
    def swing(name, t):
        if name == "freezer.temperature":
            return -8.0 if int(t // 150) % 2 else -16.0
        return None
    with MailServer(tls="implicit") as srv:
        board = emu(base_config(mail=srv), swing)
        board.run(3 * 3600)
        parsed = [m.parsed() for m in srv.messages]
        firing = [p for p in parsed if p["X-Outpost-State"] == "firing"]
        n = len(firing)
        crossings = 3 * 3600 // 300
        assert 3 <= n <= 3 * 3600 // 1800 + 1, n
        assert crossings > 5 * n
        ids = [p["Message-ID"] for p in parsed]
        assert len(set(ids)) == len(parsed)
        # each episode that was told is closed by one resolved mail answering its firing
        resolved = [p for p in parsed if p["X-Outpost-State"] == "resolved"]
        assert n - 1 <= len(resolved) <= n
        assert sorted(p["In-Reply-To"] for p in resolved) == \
            sorted(p["Message-ID"] for p in firing)[:len(resolved)]


def test_morning_report_with_csv_attachment(emu):
    script = {"freezer.temperature": [[0, -18.0], [3600, -17.0], [7200, -18.0]],
              "freezer.humidity": 40.0, "freezer.pressure": 1000.0}
    cfg = base_config(report={"at": "07:00", "csv_every": 300})
    with MailServer(tls="implicit") as srv:
        cfg = base_config(mail=srv, report={"at": "07:00", "csv_every": 300})
        board = emu(cfg, script)
        board.run(2 * 3600 + 600)   # 05:00 -> 07:10 UTC
        msgs = srv.wait_for(1)
        assert len(msgs) == 1
        p = msgs[0].parsed()
        assert p["Subject"] == "shed report 2026-11-28"
        assert p["Message-ID"] == "<shed-1-1@example.org>"
        body = p.get_body(("plain",)).get_content()
        assert "freezer.temperature: min -18.00 mean -17.5" in body
        assert "max -17.00 °C" in body
        atts = list(p.iter_attachments())
        assert len(atts) == 1
        att = atts[0]
        assert att.get_content_type() == "text/csv"
        assert att.get_filename() == "shed-2026-11-28.csv"
        rows = list(csv.reader(io.StringIO(att.get_content())))
        assert rows[0] == ["time_utc", "freezer.temperature", "freezer.pressure", "freezer.humidity"]
        data = rows[1:]
        assert 20 <= len(data) <= 26
        assert data[0][0] == "2026-11-28T05:00:00Z"
        temps = [float(r[1]) for r in data]
        assert min(temps) == -18.0 and max(temps) <= -17.0
        assert all(float(r[3]) == 40.0 for r in data)
        assert all(abs(float(r[2]) - 1000.0) < 0.2 for r in data)


def test_permanent_refusal_is_not_retried_on_another_path(emu):
    with MailServer(tls="implicit") as srv, SerialGateway() as gw:
        srv.rcpt_reply["me@example.org"] = "550 5.1.1 no such user"
        board = emu(base_config(mail=srv, serial=gw, order=("smtp", "serial")), RISE,
                    uart_urls={1: gw.url})
        board.run(3600)
        assert srv.messages == []
        assert gw.frames == 0
        assert any("REFUSED shed-1-1" in line and "550" in line for line in board.lines)
        # the refusal is journalled: after a reset the record is not tried again
        board = emu(base_config(mail=srv, serial=gw, order=("smtp", "serial")),
                    {"freezer.temperature": -18.0}, uart_urls={1: gw.url})
        srv.rcpt_reply.clear()
        board.run(600)
        assert srv.messages == [] and gw.frames == 0


def test_clock_never_set_means_no_tls_attempt(emu):
    # Wi-Fi is up but NTP never answers: certificates cannot be checked, so direct SMTP is not
    # tried (the log says why) and the serial gateway takes the alert
    with MailServer(tls="implicit") as srv, SerialGateway() as gw:
        board = emu(base_config(mail=srv, serial=gw), RISE, uart_urls={1: gw.url}, ntp=False)
        board.run(1800)
        gw.wait_frames(1)
        assert [r["id"] for r in gw.records] == ["shed-1-1"]
        assert gw.records[0]["severity"] == "critical"
        assert "ts" not in gw.records[0]   # the clock was never set
        assert srv.connections == []
        assert any("ntp: failed" in line for line in board.lines)
        assert any("smtp: clock not set" in line and "cannot verify" in line for line in board.lines)
        assert any("sent shed-1-1 via serial" in line for line in board.lines)


def test_tarpit_mail_server_falls_through_within_the_budget(emu):
    # the mail server answers too slowly: the SMTP attempt ends at its timeout and the serial
    # gateway gets the alert in the same round, not after a retry
    with MailServer(tls="implicit") as srv, SerialGateway() as gw:
        srv.delay = 8
        cfg = base_config(mail=srv, serial=gw, order=("smtp", "serial"))
        cfg["smtp"]["timeout"] = 2
        board = emu(cfg, RISE, uart_urls={1: gw.url})
        board.run(800)
        gw.wait_frames(1)
        assert [r["id"] for r in gw.records] == ["shed-1-1"]
        failed = [l for l in board.lines if "path smtp:" in l]
        assert len(failed) == 1
        assert not any("kept shed-1-1" in l for l in board.lines)
        srv.delay = 0


def test_budget_bounds_one_round_and_the_alert_waits(emu):
    # budget 3 s, SMTP timeout 10 s: the slow SMTP attempt is cut at the budget, the serial path
    # gets no time in this round, and the alert waits in the outbox for the next one
    with MailServer(tls="implicit") as srv, SerialGateway() as gw:
        srv.delay = 8
        cfg = base_config(mail=srv, serial=gw, order=("smtp", "serial"))
        cfg["transport"]["budget"] = 3
        cfg["smtp"]["timeout"] = 10
        board = emu(cfg, RISE, uart_urls={1: gw.url})
        board.run(760)
        assert any("kept shed-1-1" in l and "serial: no time left in the budget" in l for l in board.lines)
        assert gw.frames == 0
        srv.delay = 0
        board.run(120)
        msgs = srv.wait_for(1)
        assert msgs[0].parsed()["Message-ID"] == "<shed-1-1@example.org>"
        board.run(600)
        assert len(srv.messages) == 1 and gw.frames == 0


def test_starttls_with_auth_and_no_secret_in_the_log(emu):
    with MailServer(tls="starttls", auth_users={"shed@example.org": "s3cret-pw"}, auth_required=True) as srv:
        cfg = base_config(mail=srv)
        cfg["smtp"].update({"mode": "starttls", "username": "shed@example.org", "password": "s3cret-pw"})
        cfg["wifi"]["password"] = "wifi-s3cret"
        board = emu(cfg, RISE)
        board.run(1800)
        m = srv.wait_for(1)[0]
        assert m.tls and m.auth_user == "shed@example.org"
        assert m.parsed()["Message-ID"] == "<shed-1-1@example.org>"
        text = "\n".join(board.lines)
        assert "s3cret-pw" not in text and "wifi-s3cret" not in text


def test_wrong_password_falls_through_to_the_gateway_and_is_said_once(emu):
    with MailServer(tls="implicit", auth_users={"shed@example.org": "right"}, auth_required=True) as srv, \
            SerialGateway() as gw:
        cfg = base_config(mail=srv, serial=gw, order=("smtp", "serial"))
        cfg["smtp"].update({"username": "shed@example.org", "password": "wrong-pw"})
        # two separate warm spells: two episodes (firing, resolved, firing), through the gateway
        script = {"freezer.temperature": [[0, -18.0], [600, -18.0], [660, -5.0], [1200, -5.0],
                                          [1260, -18.0], [3000, -18.0], [3060, -5.0]]}
        board = emu(cfg, script, uart_urls={1: gw.url})
        board.run(3600)
        gw.wait_frames(3)
        assert [(r["id"], r.get("state"), r.get("closes")) for r in gw.records] == \
            [("shed-1-1", "firing", None), ("shed-1-2", "resolved", "shed-1-1"), ("shed-1-3", "firing", None)]
        assert srv.messages == []
        warned = [l for l in board.lines if "535" in l and "check smtp.username" in l]
        assert len(warned) == 1
        assert "wrong-pw" not in "\n".join(board.lines)


def test_a_critical_episode_repeats_every_four_hours_then_resolves(emu):
    # warm from minute 15 to 9 h 15 min: the alert, two reminders (4 h, 8 h), the all-clear
    script = {"freezer.temperature": [[0, -18.0], [600, -18.0], [900, -5.0], [33300, -5.0],
                                      [33600, -18.0]]}
    with MailServer(tls="implicit") as srv:
        board = emu(base_config(mail=srv), script)
        board.run(10 * 3600)
        msgs = [m.parsed() for m in srv.wait_for(4)]
        assert [p["X-Outpost-State"] for p in msgs] == ["firing", "firing", "firing", "resolved"]
        first = msgs[0]["Message-ID"]
        assert msgs[1]["Subject"].endswith("(above -12 °C), for 4 h")
        assert msgs[2]["Subject"].endswith("(above -12 °C), for 8 h")
        assert msgs[1].get_body().get_content().startswith("Still: freezer.temperature is -5 °C.")
        # each reminder threads under the firing, as the all-clear does
        for m in msgs[1:]:
            assert (m["In-Reply-To"], m["References"]) == (first, first)
        assert "State:    still firing, reminds of shed-1-1" in msgs[1].get_body().get_content()
        done = msgs[3]
        assert done["In-Reply-To"] == first
        assert done["Subject"].startswith("shed: freezer.temperature back to -")
        assert "after 9 h" in done["Subject"] and done["Subject"].endswith("(worst -5 °C)")
        body = done.get_body().get_content()
        assert "Lasted:   9 h" in body and "Worst:    -5 °C" in body


def test_a_reminder_goes_at_its_due_time_not_at_the_next_sample(emu):
    # samples every 7 min; the alert at the sample of 05:14, reminders every 10 min: the board
    # wakes for 05:24 and 05:34 (the samples would come at 05:28 and 05:35)
    script = {"freezer.temperature": [[0, -18.0], [600, -18.0], [900, -5.0]]}
    with SerialGateway() as gw:
        cfg = base_config(serial=gw, order=("serial",), sample_every=420)
        cfg["rules"][0]["repeat"] = 600
        board = emu(cfg, script, uart_urls={1: gw.url})
        board.run(2100)
        gw.wait_frames(3)
        assert [(r["id"], r.get("repeats")) for r in gw.records[:3]] == \
            [("shed-1-1", None), ("shed-1-2", "shed-1-1"), ("shed-1-3", "shed-1-1")]
        made = [l.split("]")[0][1:] for l in board.lines if " alert shed-1-" in l]
        assert made[:3] == ["2026-11-28T05:14:00Z", "2026-11-28T05:24:00Z", "2026-11-28T05:34:00Z"]
        assert gw.records[1]["subject"].endswith(", for 10 min")
