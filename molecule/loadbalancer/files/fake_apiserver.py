# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in kube-apiserver of the loadbalancer Molecule scenario (test-only, run on the masters).

An HTTPS server on ADDRESS:PORT with the certificate CERT and key KEY: GET /readyz and
/livez answer 200 "ok" (what the balancer's health checks ask), GET /backend answers 200
with this host's name (which backend a request through the balancer reached), anything
else 404. Each connection is handled in its own thread, TLS handshake included.

Usage: fake_apiserver.py ADDRESS PORT CERT KEY
"""

from __future__ import annotations

import http.server
import socket
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        body = {"/readyz": b"ok", "/livez": b"ok", "/backend": socket.gethostname().encode()}.get(self.path.split("?")[0])
        self.send_response(200 if body is not None else 404)
        body = body if body is not None else b"not found"
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args) -> None:  # pylint: disable=redefined-builtin
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__(address, Handler)

    def finish_request(self, request, client_address) -> None:
        # The handshake in the connection's thread: a client that connects and says nothing
        # (a TCP check) does not hold up the others.
        request.settimeout(10)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


def main(argv: list[str]) -> int:
    if len(argv) != 5 or not argv[2].isdigit():
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(argv[3], argv[4])
    with Server((argv[1], int(argv[2])), context) as server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
