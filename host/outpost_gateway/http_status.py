# One small HTTP listener: GET /health (JSON, 200 when ingress and relay are working, else 503,
# naming every path whose thread is gone or whose last step failed)
# and GET /metrics (Prometheus text format).
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HttpStatus:
    def __init__(self, host, port, gateway):
        gw = gateway

        class Handler(BaseHTTPRequestHandler):
            timeout = 10      # seconds a client may take to send its request; a slow one is dropped

            def do_GET(self):
                if self.path == "/metrics":
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

            def _reply(self, code, ctype, body):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

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
