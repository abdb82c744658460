# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Probe of the local balancer in the loadbalancer Molecule scenario (test-only, run as root on
the hosts). Prints JSON.

  servers                    the kube-apiserver backend's servers from haproxy's runtime
                             socket (`show stat`): status, check and agent results
  get PATH COUNT             COUNT requests, each on a new TLS connection, through the
                             balancer (https://127.0.0.1:PORT, the certificate verified
                             against the CA copy for the name "kubernetes"): [[status, body]]
  watch SERVER STATE SECONDS the server's statuses until it is STATE ("UP", "DOWN", "DRAIN";
                             a suffix such as " (agent)" ignored, "UP 1/2" is not UP): every
                             status seen on the way, in order, each with "full" (its checks
                             all passing), and the server's last stats; exit 1 when not
                             reached in time

Options: --port (8443) --ca (/etc/haproxy/kubebin-ca.pem) --socket (/run/haproxy-kubebin.sock)
--backend (kube-apiserver) --name (kubernetes).
"""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import json
import socket
import ssl
import sys
import time


def servers(sock_path: str, backend: str) -> dict[str, dict[str, str]]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(sock_path)
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    text = data.decode()
    if not text.startswith("# "):
        raise RuntimeError(f"unexpected answer from {sock_path}: {text[:200]!r}")
    rows = csv.DictReader(io.StringIO(text[2:]))
    keep = ("status", "check_status", "check_desc", "last_chk", "check_health", "check_rise", "check_fall",
            "agent_status", "last_agt", "weight", "bck")
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        if r["pxname"] == backend and r["svname"] not in ("FRONTEND", "BACKEND"):
            # "* " marks a check in progress
            out[r["svname"]] = {k: (r.get(k) or "").removeprefix("* ") for k in keep}
    return out


def full_health(server: dict[str, str]) -> bool:
    """Every recent check passed (health at rise + fall - 1): what a drain by the agent
    looks like, unlike one by the suspect-drain Lua task, which comes after a failed check."""
    try:
        return int(server["check_health"]) >= int(server["check_rise"]) + int(server["check_fall"]) - 1
    except (KeyError, ValueError):
        return False


def get(path: str, count: int, port: int, ca: str, name: str) -> list[list]:
    context = ssl.create_default_context(cafile=ca)
    out: list[list] = []
    for _attempt in range(count):
        conn = http.client.HTTPSConnection(name, port, context=context, timeout=10)
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.sock = context.wrap_socket(raw, server_hostname=name)
            conn.request("GET", path, headers={"Connection": "close"})
            resp = conn.getresponse()
            out.append([resp.status, resp.read().decode(errors="replace")])
        except (OSError, http.client.HTTPException) as exc:
            out.append([0, f"{type(exc).__name__}: {exc}"])
        finally:
            conn.close()
    return out


def base_state(status: str) -> str:
    return status.split(" (")[0]


def watch(sock_path: str, backend: str, server: str, state: str, seconds: float) -> tuple[bool, list, dict]:
    seen: list[dict] = []
    last: dict[str, str] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        last = servers(sock_path, backend).get(server, {})
        now = {"status": last.get("status", "missing"), "full": full_health(last)}
        if not seen or seen[-1] != now:
            seen.append(now)
        if base_state(now["status"]) == state:
            return True, seen, last
        time.sleep(0.05)
    return False, seen, last


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--ca", default="/etc/haproxy/kubebin-ca.pem")
    parser.add_argument("--socket", default="/run/haproxy-kubebin.sock")
    parser.add_argument("--backend", default="kube-apiserver")
    parser.add_argument("--name", default="kubernetes")
    parser.add_argument("command", choices=["servers", "get", "watch"])
    parser.add_argument("args", nargs="*")
    opts = parser.parse_args(argv[1:])
    if opts.command == "servers" and not opts.args:
        print(json.dumps(servers(opts.socket, opts.backend)))
        return 0
    if opts.command == "get" and len(opts.args) == 2 and opts.args[1].isdigit():
        print(json.dumps(get(opts.args[0], int(opts.args[1]), opts.port, opts.ca, opts.name)))
        return 0
    if opts.command == "watch" and len(opts.args) == 3:
        ok, seen, last = watch(opts.socket, opts.backend, opts.args[0], opts.args[1], float(opts.args[2]))
        print(json.dumps({"reached": ok, "seen": seen, "last": last}))
        return 0 if ok else 1
    parser.error(f"wrong arguments for {opts.command}: {opts.args}")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
