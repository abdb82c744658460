# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""haproxy agent of kubebin.cluster.loadbalancer, one on every master (installed by the role).

Every balancer's haproxy connects to it (`agent-check`) every few hundred milliseconds and
reads one line: "drain" while the drain file exists, "ready" otherwise. "drain" makes the
balancers send no new connection to this master's kube-apiserver while the ones it has
finish; "ready" undoes it. The drain file is made by the ExecStop= of kube-apiserver's
systemd drop-in just before the apiserver gets SIGTERM (systemctl stop/restart, an upgrade),
and removed by its ExecStartPre=, so a planned stop drains the apiserver on every balancer
before its /readyz turns 500 and its listener closes. Up and down are still decided by the
balancers' /readyz health checks; an agent that does not answer changes nothing.

Usage: kubebin-lb-agent.py ADDRESS PORT DRAIN_FILE
"""

from __future__ import annotations

import os
import socket
import sys


def answer(drain_file: str) -> bytes:
    return b"drain\n" if os.path.exists(drain_file) else b"ready\n"


def serve(address: str, port: int, drain_file: str) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.create_server((address, port), family=family, backlog=128) as server:
        while True:
            conn, _peer = server.accept()
            with conn:
                conn.settimeout(1.0)
                try:
                    conn.sendall(answer(drain_file))
                except OSError:
                    pass


def main(argv: list[str]) -> int:
    if len(argv) != 4 or not argv[2].isdigit():
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    serve(argv[1].strip("[]"), int(argv[2]), argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
