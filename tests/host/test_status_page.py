# The status page as a person sees it: a real gateway (real Mosquitto, a real upstream) serves
# it, Debian's headless Chromium shows it (DevTools protocol on a pipe), and the test reads what
# the page shows: boards with their state, last readings, charts and open episodes; the queue
# with why each delivery waits; dead letters; recent alerts with their path and delivery. A new
# reading and a new alert then arrive over MQTT and appear without a reload. A screenshot is
# kept in build/status-page.png. The JSON API, the password and the readings' bounds are checked
# without the browser.
import base64
import json
import os
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway_helpers import ROOT, free_port, make_cfg, record, wait_for
from outpost_gateway import overview
from outpost_gateway.clock import ManualClock
from outpost_gateway.compose import gateway_alert
from outpost_gateway.service import Gateway, open_spool
from outpost_gateway.spool import Alert, Outcome, Readings, Seen
from peers.chromium import Chromium
from peers.mosquitto import Mosquitto
from peers.smtpd import MailServer

BUILD = os.path.join(ROOT, "build")


def get(port, path, password=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if password is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(b"me:" + password.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def board_client(broker, name):
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


def alert_bytes(device, seq, **kw):
    return json.dumps(record(device=device, seq=seq, **kw)).encode()


def seed(gw, now):
    sp = gw.spool
    # a day of greenhouse temperatures, one every 10 minutes, and the board's heartbeats
    sp.write([Readings("greenhouse", now - 86400 + (i + 1) * 600, {"temp": 18.0 + (i % 36) / 4.0, "hum": 60.0})
              for i in range(144)])
    sp.write([Seen("greenhouse", now - 30, "online", True)])
    # an episode that opened and is still open (a reminder since), and one that closed
    opened = record(device="greenhouse", seq=1, severity="critical", subject="greenhouse temp above 30 C",
                    readings={"temp": {"value": 31.0, "unit": "C"}}, state="firing")
    again = record(device="greenhouse", seq=2, severity="critical", subject="greenhouse temp still above 30 C",
                   readings={"temp": {"value": 32.0, "unit": "C"}}, state="firing")
    low = record(device="greenhouse", seq=3, subject="greenhouse humidity low",
                 readings={"hum": {"value": 20.0, "unit": "%"}}, state="firing")
    back = record(device="greenhouse", seq=4, severity="info", subject="greenhouse humidity back to normal",
                  readings={"hum": {"value": 50.0, "unit": "%"}}, state="resolved", closes=low["id"])
    sp.write([Alert(r["id"], r["device"], r["severity"], r["kind"], r["subject"], "serial",
                    json.dumps(r).encode(), ["ops@example.org"]) for r in (opened, again, low, back)])
    for r in (opened, again, low, back):
        sp.finish([Outcome(r["id"], "ops@example.org", "done", 1, now, None, 250, None)], now)
    # one waiting after a failure, one dead letter
    sp.write([gateway_alert("cellar-1-7", "threshold", "warning", "cellar water", "b", ["ops@example.org"], now)])
    sp.finish([Outcome("cellar-1-7", "ops@example.org", "ready", 2, now + 3600, "421 4.7.0 try again later", 421, None)],
              now)
    sp.write([gateway_alert("cellar-1-8", "threshold", "warning", "cellar door", "b", ["nobody@example.org"], now)])
    sp.finish([Outcome("cellar-1-8", "nobody@example.org", "dead", 1, now, "550 5.1.1 no such user", 550, None)], now)
    sp.write([Seen("cellar", now - 7200, "offline", True)])
    return opened


@pytest.fixture
def site(tmp_path):
    with Mosquitto() as broker, MailServer() as up:
        port = free_port()
        cfg = make_cfg(tmp_path, mqtt={"enabled": True, "host": broker.host, "port": broker.port,
                                       "client_id": "gw-page"},
                       relay={"port": up.port, "timeout": 5.0},
                       http={"enabled": True, "port": port})
        gw = Gateway(cfg)
        now = gw.clock.time()
        opened = seed(gw, now)
        gw.start()
        try:
            assert wait_for(lambda: gw.mqtt.subscribed, 30)
            yield {"gw": gw, "port": port, "broker": broker, "up": up, "opened": opened}
        finally:
            gw.stop()
            gw.spool.close()


@pytest.mark.peers
def test_status_page_in_chromium_shows_boards_queue_alerts_and_updates_without_reload(site):
    gw, port, broker = site["gw"], site["port"], site["broker"]
    board = board_client(broker, "greenhouse")
    try:
        board.publish("outpost/greenhouse/state", json.dumps({"temp": 24.5, "hum": 61, "door": "shut"}),
                      qos=0, retain=True).wait_for_publish(10)
        assert wait_for(lambda: gw.spool.latest_readings().get("greenhouse", {}).get("temp", (0,))[0] == 24.5, 20)
        browser = Chromium()
        try:
            browser.open("http://127.0.0.1:%d/?refresh=0.3" % port)
            # the first drawing
            browser.evaluate("Number(document.body.dataset.updates) > 0 ? 1 : new Promise(function (ok, no) {"
                             " document.addEventListener('outpost-updated', ok, {once: true});"
                             " setTimeout(function () { no('no update in 20 s'); }, 20000); })")
            browser.evaluate("Promise.all(Array.from(document.images).map(function (i) { return i.decode(); }))"
                             ".then(function () { return true; })")
            seen = browser.evaluate("""(function () {
                function text(sel) { var e = document.querySelector(sel); return e ? e.textContent : null; }
                function rows(id) { return Array.from(document.querySelectorAll('#' + id + ' tbody tr'))
                    .map(function (tr) { return Array.from(tr.cells).map(function (c) { return c.textContent; }); }); }
                var g = document.getElementById('board-greenhouse');
                return {
                  state: g.dataset.state, cellar: document.getElementById('board-cellar').dataset.state,
                  readings: Array.from(g.querySelectorAll('.reading')).map(function (r) {
                    var img = r.querySelector('img');
                    return [r.dataset.name, r.querySelector('.value').textContent, img.complete && img.naturalWidth]; }),
                  episodes: Array.from(g.querySelectorAll('.episodes li')).map(function (li) { return li.textContent; }),
                  pending: rows('pending'), dead: rows('dead'), recent: rows('recent'),
                  counts: text('#counts'), running: text('#running'),
                  nav: performance.getEntriesByType('navigation').length };
            })()""")
            assert seen["state"] == "online" and seen["cellar"] == "offline"
            # the live reading, with a chart image drawn by the gateway (text states are not charted)
            assert [(n, v) for n, v, _ in seen["readings"]] == [("hum", "61"), ("temp", "24.5")]
            assert all(w == 600 for _, _, w in seen["readings"]), seen["readings"]
            # the open critical episode (with its reminder); the closed one is gone
            assert len(seen["episodes"]) == 1, seen["episodes"]
            assert seen["episodes"][0].startswith("critical: greenhouse temp still above 30 C (open since ")
            assert "1 reminder" in seen["episodes"][0]
            assert [(r[0], r[3]) for r in seen["pending"]] == [("cellar-1-7", "ready")]
            assert "after attempt 2 failed: 421 4.7.0 try again later" in seen["pending"][0][4]
            assert seen["pending"][0][5].endswith(" UTC")
            assert seen["dead"][0][0] == "cellar-1-8" and seen["dead"][0][3] == "550 5.1.1 no such user"
            recent = {r[3]: r for r in seen["recent"]}
            assert recent["greenhouse temp above 30 C"][4] == "serial"
            assert recent["greenhouse temp above 30 C"][5] == "delivered"
            assert recent["cellar door"][5] == "dead" and recent["cellar water"][5] == "waiting"
            assert seen["nav"] == 1
            browser.evaluate("window.outpostMarker = 'before the update'")

            # a new reading and a new alert over MQTT: the page shows them without a reload
            board.publish("outpost/greenhouse/state", json.dumps({"temp": 27.25, "hum": 58}),
                          qos=0, retain=True).wait_for_publish(10)
            rec = record(device="greenhouse", seq=9, subject="greenhouse door open")
            board.publish("outpost/greenhouse/alert", json.dumps(rec), qos=1).wait_for_publish(10)
            after = browser.evaluate("""new Promise(function (ok, no) {
                function look() {
                  var v = document.querySelector('#board-greenhouse .reading[data-name=temp] .value');
                  var rows = Array.from(document.querySelectorAll('#recent tbody tr'));
                  var door = rows.filter(function (tr) { return tr.cells[3].textContent === 'greenhouse door open'; })[0];
                  if (v && v.textContent === '27.25' && door) {
                    document.removeEventListener('outpost-updated', look);
                    ok({temp: v.textContent, path: door.cells[4].textContent, marker: window.outpostMarker,
                        nav: performance.getEntriesByType('navigation').length,
                        updates: Number(document.body.dataset.updates)});
                  }
                }
                document.addEventListener('outpost-updated', look);
                setTimeout(function () { no('the update did not appear in 30 s'); }, 30000);
            })""")
            assert after["temp"] == "27.25" and after["path"] == "mqtt"
            assert after["marker"] == "before the update" and after["nav"] == 1 and after["updates"] >= 2
            browser.evaluate("Promise.all(Array.from(document.images).map(function (i) { return i.decode(); }))"
                             ".then(function () { return true; })")
            os.makedirs(BUILD, exist_ok=True)
            shot = os.path.join(BUILD, "status-page.png")
            browser.screenshot(shot)
            with open(shot, "rb") as f:
                assert f.read(8) == b"\x89PNG\r\n\x1a\n"
            # nothing was asked of any other host (the page is self-contained)
            hosts = set()
            for ev in browser.events:
                if ev.get("method") == "Network.requestWillBeSent":
                    hosts.add(ev["params"]["request"]["url"].split("/")[2])
            assert hosts <= {"127.0.0.1:%d" % port}
        finally:
            browser.close()
    finally:
        board.loop_stop()
        board.disconnect()


def test_api_chart_and_static_files(site):
    port = site["port"]
    code, h, body = get(port, "/api/boards")
    data = json.loads(body)
    assert code == 200 and h["Content-Type"] == "application/json"
    g = [b for b in data["boards"] if b["device"] == "greenhouse"][0]
    assert [r["name"] for r in g["readings"]] == ["hum", "temp"]
    assert g["episodes"][0]["id"] == site["opened"]["id"] and g["episodes"][0]["repeats"] == 1
    code, _, body = get(port, "/api/queue")
    q = json.loads(body)
    assert [p["id"] for p in q["pending"]] == ["cellar-1-7"] and q["pending"][0]["reason"].startswith("next try ")
    assert [d["id"] for d in q["dead"]] == ["cellar-1-8"]
    code, h, svg = get(port, "/chart/greenhouse/temp.svg")
    assert code == 200 and h["Content-Type"] == "image/svg+xml" and "default-src 'self'" in h["Content-Security-Policy"]
    assert b"<polyline" in svg and b"144 readings" in svg and b"max 26.75" in svg
    code, _, svg = get(port, "/chart/nobody/temp.svg")
    assert code == 200 and b"no readings in the last 24 h" in svg
    for path in ("/", "/static/page.js", "/static/page.css"):
        code, h, body = get(port, path)
        assert code == 200 and body, path
        assert b"http://" not in body and b"https://" not in body, path      # no CDN, nothing outside
    assert get(port, "/static/../config.py")[0] == 404


def test_password_protects_the_page_but_not_health(tmp_path):
    port = free_port()
    cfg = make_cfg(tmp_path, http={"enabled": True, "port": port, "listen": "0.0.0.0", "password": "s3cret"},
                   relay={"enabled": False})
    gw = Gateway(cfg)
    gw.start()
    try:
        for path in ("/", "/api/boards", "/api/queue", "/metrics", "/chart/a/b.svg"):
            code, h, _ = get(port, path)
            assert code == 401 and h["WWW-Authenticate"].startswith("Basic"), path
            assert get(port, path, "wrong")[0] == 401
            assert get(port, path, "s3cret")[0] == 200, path
        assert get(port, "/health")[0] == 200
    finally:
        gw.stop()
        gw.spool.close()


def test_lan_listener_without_password_is_refused(tmp_path):
    from outpost_gateway import config
    with pytest.raises(config.ConfigError, match=r"http.listen: '0.0.0.0' is reachable .* http.password"):
        make_cfg(tmp_path, http={"enabled": True, "listen": "0.0.0.0"})
    make_cfg(tmp_path, http={"enabled": True, "listen": "::1"})


def test_readings_are_kept_keep_days_and_at_most_max_rows(tmp_path):
    clock = ManualClock(1_700_000_000.0)
    cfg = make_cfg(tmp_path, readings={"keep_days": 1, "max_rows": 1000})
    sp = open_spool(cfg, clock)
    try:
        now = clock.time()
        # two days of one reading a minute: the first day goes, then the oldest beyond 1000 rows
        sp.write([Readings("b", now - 2 * 86400 + i * 60, {"t": float(i)}) for i in range(2 * 1440)])
        sp.trim_readings(now)
        pts = sp.reading_series("b", "t", 0)
        assert len(pts) == 1000 and pts[-1][1] == 2879.0 and pts[0][0] >= now - 86400
        # a retained state handed over again at subscribe is stored once
        sp.write([Readings("c", now, {"t": 1.0})])
        sp.write([Readings("c", now + 5, {"t": 1.0}, replay=True)])
        sp.write([Readings("c", now + 9, {"t": 2.0}, replay=True)])
        assert [v for _, v in sp.reading_series("c", "t", 0)] == [1.0, 2.0]
    finally:
        sp.close()


def test_open_episodes_follow_closes_and_reminders():
    def a(i, kind, rec):
        return {"id": rec.get("id", "x-1-%d" % i), "kind": kind, "severity": "warning", "subject": "s%d" % i,
                "received": 1_700_000_000 + i, "raw": 0, "payload": json.dumps(rec).encode()}
    alerts = [a(1, "threshold", {"id": "x-1-1", "readings": {"t": {}}}),
              a(2, "threshold", {"id": "x-1-2", "readings": {"t": {}}}),
              a(3, "value-stuck", {"id": "x-1-3", "readings": {"h": {}}}),
              a(4, "threshold", {"id": "x-1-4", "state": "resolved", "closes": "x-1-1", "readings": {"t": {}}})]
    eps = overview.open_episodes(list(reversed(alerts)))
    assert [e["id"] for e in eps] == ["x-1-3"]
    # a reminder that names its firing (`repeats`) counts there, whatever its reading
    alerts = [a(1, "threshold", {"id": "x-1-1", "readings": {"t": {}}}),
              a(2, "threshold", {"id": "x-1-2", "repeats": "x-1-1"})]
    eps = overview.open_episodes(list(reversed(alerts)))
    assert [(e["id"], e["repeats"]) for e in eps] == [("x-1-1", 1)]
