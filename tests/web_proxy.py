"""A small real reverse proxy, run as its own process by the tests (``python -m
tests.web_proxy LISTEN_PORT UPSTREAM_PORT``): it forwards GET and HEAD to the upstream and,
like Caddy's ``reverse_proxy``, *replaces* any X-Forwarded-For the client sent with the
address the client really connected from. Caddy itself is not installed on the test
machines; docs/web.md gives the Caddyfile this stands for.
"""

from __future__ import annotations

import http.client
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
       "transfer-encoding", "upgrade", "x-forwarded-for", "x-forwarded-proto",
       "x-forwarded-host", "forwarded"}


class Proxy(BaseHTTPRequestHandler):
    upstream_port = 0
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["X-Forwarded-For"] = self.client_address[0]
        headers["X-Forwarded-Proto"] = "https"
        up = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            up.request(self.command, self.path, headers=headers)
            r = up.getresponse()
            body = r.read()
        finally:
            up.close()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _forward

    def log_message(self, fmt, *args) -> None:  # quiet
        pass


def main() -> None:
    listen, upstream = int(sys.argv[1]), int(sys.argv[2])
    Proxy.upstream_port = upstream
    server = ThreadingHTTPServer(("127.0.0.1", listen), Proxy)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
