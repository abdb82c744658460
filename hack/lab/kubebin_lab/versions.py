"""hack/lab/versions.env (the lab's pinned upstream versions) and version strings."""
from __future__ import annotations

import re
from pathlib import Path

_LINE = re.compile(r"([A-Z][A-Z0-9_]*)=([^\s#'\"]*)")


def parse_versions(text: str, source: str = "versions.env") -> dict[str, str]:
    """KEY=VALUE lines, `#` comments and blank lines ignored (shell/make compatible).

    Anything else stops the program with `<source>:<line>: expected KEY=VALUE`.
    """
    out: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.fullmatch(line)
        if not m:
            raise SystemExit(f"{source}:{n}: expected KEY=VALUE, got {raw!r}")
        out[m.group(1)] = m.group(2)
    return out


def load_versions(path: Path) -> dict[str, str]:
    return parse_versions(path.read_text(), str(path))


def version_key(version: str) -> list[int]:
    """Sort key of a release number ("1.37.1" -> [1, 37, 1]); a leading v is ignored."""
    return [int(x) for x in version.lstrip("v").split(".")]


def staging_version(k8s_version: str) -> str:
    """The k8s.io/* staging modules' version of a Kubernetes release: 1.37.1 -> v0.37.1."""
    _major, minor, patch = k8s_version.split(".")
    return f"v0.{minor}.{patch}"


def stable_files(k8s_versions: list[str]) -> dict[str, bytes]:
    """dl.k8s.io's release/stable.txt and release/stable-<minor>.txt for the versions built."""
    if not k8s_versions:
        return {}
    out = {"kubernetes/release/stable.txt": f"v{max(k8s_versions, key=version_key)}\n".encode()}
    for kv in k8s_versions:
        minor = ".".join(kv.split(".")[:2])
        same = [x for x in k8s_versions if x.startswith(minor + ".")]
        out[f"kubernetes/release/stable-{minor}.txt"] = f"v{max(same, key=version_key)}\n".encode()
    return out


def deb_upstream_version(deb_version: str) -> str:
    """The upstream part of a Debian version: 1:1.35.0-4+deb12u1+b1 -> 1.35.0."""
    return re.sub(r"^\d+:", "", deb_version).split("-")[0]
