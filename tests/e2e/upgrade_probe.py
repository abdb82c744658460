# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Request URL every INTERVAL seconds until SIGTERM; keep the counts in OUT (JSON).

Usage: upgrade_probe.py URL OUT [INTERVAL]   (run on a host that reaches the ClusterIP)
A request fails when it does not answer 200 within 2 s. Each failure is also logged with
its time and reason in OUT's "failures" (the last 50).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request

_RUNNING = [True]


def _stop(_signum: int, _frame: object) -> None:
    _RUNNING[0] = False


def _save(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def main(url: str, out: str, interval: float) -> int:
    signal.signal(signal.SIGTERM, _stop)
    data = {"url": url, "started": time.time(), "total": 0, "failed": 0, "failures": [], "running": True}
    while _RUNNING[0]:
        begin = time.time()
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                ok = resp.status == 200 and resp.read().startswith(b"probe-web")
                reason = "HTTP %d" % resp.status
        except Exception as exc:  # pylint: disable=broad-except
            ok, reason = False, repr(exc)
        data["total"] += 1
        if not ok:
            data["failed"] += 1
            data["failures"] = (data["failures"] + [[time.strftime("%H:%M:%S", time.gmtime(begin)), reason]])[-50:]
        data["ended"] = time.time()
        _save(out, data)
        time.sleep(max(0.0, interval - (time.time() - begin)))
    data["running"] = False
    _save(out, data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.5))
