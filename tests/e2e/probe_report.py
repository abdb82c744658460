"""Figures of the HA probe (tests/e2e/ha_failover.sh) over time windows.

The probe on a node GETs https://127.0.0.1:<lb port>/readyz through the node's balancer
every 0.2 s, a new connection (and TLS handshake) each time, and logs one line per request:
<epoch when the answer came> <HTTP code, 000 = none> <seconds taken>. A request FAILS when
it got no answer (000: connection refused or reset, TLS error, or the 3 s timeout) or an
answer other than 200 (a /readyz of 500 from an apiserver that is shutting down counts).

    probe_report.py PROBE_LOG LABEL:START:END [LABEL:START:END ...] [--assert-zero LABEL ...]

START and END are epochs (END may be "end": the last line). Prints, per window, the number
of requests, the failed ones (when, what), the longest gap between two good answers, the
slowest request and the share of the time a request was open (the sum of their durations
over the window: a master that dies at a random instant finds one of the probe's requests
on its connection with about that probability divided by the number of apiservers; a TCP
balancer cannot replay such a request, its bytes went to the dead server); exits 1 when a window named after --assert-zero had a failed request or no
request at all.
"""

from __future__ import annotations

import sys


def load(path: str) -> list[tuple[float, str, float]]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            p = line.split()
            if len(p) == 3:
                rows.append((float(p[0]), p[1], float(p[2])))
    return rows


def open_share(sel: list, start: float, end: float) -> float:
    """Share of [start, end) during which one of the probe's requests was open."""
    span = min(end, sel[-1][0]) - start
    return min(1.0, sum(min(d, t - start) for t, _c, d in sel) / span) if span > 0 else 0.0


def report(label: str, rows: list, start: float, end: float) -> int:
    sel = [r for r in rows if start <= r[0] < end]
    if not sel:
        print(f"probe {label}: no requests")
        return -1
    ok = [r[0] for r in sel if r[1] == "200"]
    bad = [(t, c, d) for t, c, d in sel if c != "200"]
    pts = [start] + ok + [min(end, sel[-1][0])]
    gap, at = max((b - a, a) for a, b in zip(pts, pts[1:]))
    line = (f"probe {label}: {len(sel)} requests, {len(bad)} failed "
            f"({sum(1 for r in bad if r[1] == '000')} without an answer, "
            f"{sum(1 for r in bad if r[1] != '000')} answered non-200); longest gap between good answers "
            f"{gap:.2f}s (from {at - start:+.1f}s); slowest request {max(r[2] for r in sel):.2f}s; "
            f"a request open {open_share(sel, start, end):.0%} of the time")
    if bad:
        line += "; failures: " + ", ".join(f"{c} at {t - start:+.1f}s after {d:.2f}s" for t, c, d in bad[:10])
    print(line)
    return len(bad)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    rows = load(argv[1])
    args = argv[2:]
    must = set()
    if "--assert-zero" in args:
        i = args.index("--assert-zero")
        must = set(args[i + 1:])
        args = args[:i]
    rc = 0
    for spec in args:
        label, start, end = spec.rsplit(":", 2)
        stop = rows[-1][0] + 1 if end == "end" else float(end)
        failed = report(label, rows, float(start), stop)
        if label in must and failed != 0:
            print(f"FAILED: probe window '{label}' had " + ("no request" if failed < 0 else f"{failed} failed request(s)"))
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
