# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only probe of the components on one host, for playbooks/upgrade.yml.

Usage: upgrade_state.py UNIT [UNIT...]   (prints one JSON object, changes nothing)

For every systemd unit: whether it runs, the version of the binary its unit starts
(ExecStart path, symlinks resolved, `--version`), and whether the running process still
runs that very file. A process whose binary was replaced (a new file at a fixed path: its
/proc/PID/exe ends in " (deleted)") or re-linked (a symlink now pointing at another
release directory) is not current: it needs a restart even when the file on disk already
has the target version. That is what lets an interrupted upgrade resume. A name without a
unit (runc) is looked up on PATH and reports only its version.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

_VERSION_RE = re.compile(r"(?<![0-9.])v?([0-9]+\.[0-9]+\.[0-9]+)(?![0-9])")
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _run(argv: list[str]) -> str:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (res.stdout or "") + (res.stderr or "")


def binary_version(path: str) -> str:
    """First X.Y.Z of `<path> --version` (kube-*, containerd, etcd, runc all print one)."""
    if not path or not os.path.exists(path):
        return ""
    match = _VERSION_RE.search(_run([path, "--version"]))
    return match.group(1) if match else ""


def unit_props(unit: str) -> dict[str, str]:
    out = _run(["systemctl", "show", unit + ".service", "-p", "LoadState", "-p", "ActiveState",
                "-p", "MainPID", "-p", "ExecStart"])
    props: dict[str, str] = {}
    for line in out.splitlines():
        key, _sep, value = line.partition("=")
        props[key] = value
    return props


def unit_state(unit: str) -> dict[str, object]:
    props = unit_props(unit)
    if props.get("LoadState", "not-found") == "not-found":
        path = shutil.which(unit, path=_PATH) or ""
        return {"unit": False, "active": False, "current": True, "version": binary_version(path),
                "path": path}
    match = re.search(r"path=(\S+)", props.get("ExecStart", ""))
    path = os.path.realpath(match.group(1)) if match else ""
    pid = int(props.get("MainPID", "0") or "0")
    exe = ""
    if pid > 0:
        try:
            exe = os.readlink("/proc/%d/exe" % pid)
        except OSError:
            exe = ""
    deleted = exe.endswith(" (deleted)")
    current = bool(pid > 0 and exe and not deleted and os.path.realpath(exe) == path)
    return {"unit": True, "active": props.get("ActiveState") == "active", "current": current,
            "version": binary_version(path), "path": path, "running": exe}


def main(units: list[str]) -> int:
    print(json.dumps({unit: unit_state(unit) for unit in units}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
