# One small HTTP listener: GET /health (JSON, 200 when ingress and relay are working, else 503,
# naming every path whose thread is gone or whose last step failed), GET /metrics (Prometheus
# text format), and the status page: / with its static files (shipped in the wheel), the JSON it
# reads (/api/boards, /api/queue) and one server-drawn SVG chart per reading (/chart/D/N.svg).
# With http.password set, everything but /health asks for it (HTTP Basic, any user name); without
# it the config keeps the listener on loopback.
import base64
import hmac
import json
import os
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATIC_TYPES = {"index.html": "text/html; charset=utf-8", "page.js": "text/javascript; charset=utf-8",
                "page.css": "text/css; charset=utf-8"}
# the page loads nothing from elsewhere and runs no inline script
CSP = "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'"


def _static(name):
    with open(os.path.join(STATIC, name), "rb") as f:
        return f.read()


class HttpStatus:
    def __init__(self, host, port, gateway):
        gw = gateway

        class Handler(BaseHTTPRequestHandler):
            timeout = 10      # seconds a client may take to send its request; a slow one is dropped

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                path = url.path
                if path != "/health" and not self._authorized():
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="outpost-gateway", charset="UTF-8"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if path == "/" or path.startswith("/static/"):
                    name = "index.html" if path == "/" else path[len("/static/"):]
                    if name not in STATIC_TYPES:
                        self._reply(404, "text/plain", b"not found\n")
                    else:
                        self._reply(200, STATIC_TYPES[name], _static(name))
                elif path == "/api/boards":
                    from .overview import boards
                    self._json(boards(gw.cfg, gw.spool, gw.clock.time()))
                elif path == "/api/queue":
                    from .overview import queue
                    self._json(queue(gw.spool, gw.clock.time()))
                elif path.startswith("/chart/") and path.endswith(".svg"):
                    dev, _, name = path[len("/chart/"):-len(".svg")].partition("/")
                    from .overview import chart
                    dev, name = urllib.parse.unquote(dev), urllib.parse.unquote(name)
                    self._reply(200, "image/svg+xml", chart(gw.spool, dev, name, gw.clock.time()).encode())
                elif path == "/metrics":
                    body = gw.metrics.render(gw.gauges()).encode()
                    self._reply(200, "text/plain; version=0.0.4", body)
                elif self.path == "/health":
                    st = gw.status()
                    problems = []
                    if st["mqtt"] is not None and not st["mqtt"]["connected"]:
                        problems.append("mqtt disconnected")
                    if st.get("amqp") is not None and not st["amqp"]["consuming"]:
                        problems.append("amqp not consuming")
                    if st["relay_paused"]:
                        problems.append("relay paused")
                    if gw.spool.is_full():
                        problems.append("spool full")
                    if gw.spool.write_error is not None:
                        problems.append("spool write failing")
                    for path, why in sorted(st["failed"].items()):
                        problems.append("%s failed: %s" % (path, why))
                    st["ok"] = not problems
                    st["problems"] = problems
                    self._reply(200 if not problems else 503, "application/json",
                                json.dumps(st).encode())
                else:
                    self._reply(404, "text/plain", b"not found\n")

            def _authorized(self):
                pw = gw.cfg["http"]["password"]
                if not pw:
                    return True
                h = self.headers.get("Authorization") or ""
                if not h.startswith("Basic "):
                    return False
                try:
                    got = base64.b64decode(h[6:], validate=True).decode("utf-8").partition(":")[2]
                except (ValueError, UnicodeError):
                    return False
                return hmac.compare_digest(got.encode(), pw.encode())

            def _json(self, data):
                self._reply(200, "application/json", json.dumps(data).encode())

            def _reply(self, code, ctype, body):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                if ctype.startswith("text/html") or ctype.startswith("image/svg"):
                    self.send_header("Content-Security-Policy", CSP)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass        # the page moved on (a chart replaced before it loaded)

            def log_message(self, fmt, *args):
                pass     # scrapes every few seconds would drown the log

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._t = None

    def start(self):
        self._t = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)
        self._t.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
