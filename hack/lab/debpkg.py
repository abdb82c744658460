"""Debian packages for the lab tools: which of a list are missing, and installing them.

Shared by lab.py (`setup`: podman & co) and build.py (compilers and libraries the builds
need). Standard library only; apt uses the machine's own sources and settings.
"""
from __future__ import annotations

import fcntl
import os
import subprocess

APT_GET = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
# lab.py image and build.py may install at the same moment: apt-get update does not wait for
# the lists lock (DPkg::Lock::Timeout covers dpkg's lock only), so our installs take turns.
LOCK_FILE = "/run/lock/kubebin-lab-debpkg.lock"


class DebPkgError(Exception):
    """An apt-get step failed; the message names the command and ends with its output."""


def missing(pkgs: list[str]) -> list[str]:
    """The packages of pkgs that dpkg does not list as installed, in their order."""
    p = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *pkgs],
                       capture_output=True, text=True)
    ok = {line.split()[0] for line in p.stdout.splitlines() if line.split()[1:] == ["installed"]}
    return [x for x in pkgs if x not in ok]


def install_command(pkgs: list[str]) -> list[str]:
    return [*APT_GET, "install", "-y", "--no-install-recommends", *pkgs]


def install(pkgs: list[str]) -> None:
    """apt-get update, then install pkgs (as root, non-interactive); DebPkgError on failure."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with open(LOCK_FILE, "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _install_locked(pkgs, env)


def _install_locked(pkgs: list[str], env: dict) -> None:
    for cmd, timeout in (([*APT_GET, "update"], 900), (install_command(pkgs), 1800)):
        try:
            p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise DebPkgError(f"{' '.join(cmd)}: timed out after {timeout}s") from e
        if p.returncode != 0:
            raise DebPkgError(f"{' '.join(cmd)} failed (exit {p.returncode}): "
                              + (p.stderr or p.stdout).strip()[-800:])


if __name__ == "__main__":
    import sys
    # python3 hack/lab/debpkg.py PKG...: install those of PKG that are missing (as root)
    todo = missing(sys.argv[1:])
    if todo:
        print(f"installing {' '.join(todo)}", flush=True)
        try:
            install(todo)
        except DebPkgError as exc:
            sys.exit(f"ERROR {exc}")
