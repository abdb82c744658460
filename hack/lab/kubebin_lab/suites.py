"""The Debian suites a lab host can run, and what differs between them.

One table, not special cases in lab.py: each suite names its Debian release and the
packages debootstrap puts into the host image (what the roles need to start from a bare
OS; the roles install the rest). Every name was checked to exist in the suite's main
component (the image build fails on a missing one).
"""
from __future__ import annotations

DEFAULT_SUITE = "bookworm"
IMAGE_REPO = "localhost/kubebin-lab-host"

# Packages of every suite.
_BASE_PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "python3", "python3-apt", "openssh-server",
    "iproute2", "iputils-ping", "sudo", "ca-certificates", "procps", "less",
]

SUITES: dict[str, dict] = {
    "bookworm": {
        "release": "Debian 12",
        "packages": _BASE_PACKAGES,
        # PID 1's arguments: none beyond the default.
        "init_args": [],
        # Units masked in the image besides the ones every suite masks (lab.py).
        "mask": [],
    },
    "trixie": {
        "release": "Debian 13",
        "packages": _BASE_PACKAGES,
        "init_args": [],
        # openssh 10's first-boot `ssh-keygen -A` (RSA, ECDSA, ed25519): it would race
        # kubebin-lab-hostkeys.service for the ed25519 key, and RSA is slow on a busy machine.
        "mask": ["sshd-keygen.service"],
    },
}


def check_suite(suite: str, option: str = "--suite") -> str:
    """suite, or ValueError naming the option and the known suites."""
    if suite not in SUITES:
        known = ", ".join(f"{s} ({v['release']})" for s, v in SUITES.items())
        raise ValueError(f"{option} {suite!r} is not a lab suite; known: {known}")
    return suite


def image_ref(suite: str) -> str:
    """The host image of a suite: localhost/kubebin-lab-host:<suite>."""
    return f"{IMAGE_REPO}:{check_suite(suite)}"


def packages(suite: str) -> list[str]:
    return list(SUITES[check_suite(suite)]["packages"])


def masked_units(suite: str) -> list[str]:
    """Units masked in this suite's image on top of those every suite masks."""
    return list(SUITES[check_suite(suite)]["mask"])


def init_args(suite: str) -> list[str]:
    """Arguments after /sbin/init for a host of this suite (systemd reads its own command
    line as the kernel's inside a container)."""
    return list(SUITES[check_suite(suite)]["init_args"])


def needed(default_suite: str, host_suites: list[str]) -> list[str]:
    """The suites whose images a lab needs, sorted: the hosts' and the lab's own (the
    mirror container runs from the image of the lab's suite)."""
    return sorted({default_suite, *host_suites})


def summary(suite: str, node_suite: str) -> str:
    """'Debian 12 bookworm', or 'Debian 12 bookworm, nodes Debian 13 trixie'."""
    names = {s: f"{v['release']} {s}" for s, v in SUITES.items()}
    if suite == node_suite:
        return names[check_suite(suite)]
    return f"{names[check_suite(suite)]}, nodes {names[check_suite(node_suite, '--node-suite')]}"
