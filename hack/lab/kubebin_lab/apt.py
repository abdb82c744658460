"""The host's apt sources: which files there are, and the Debian mirror they name.

build.py (the flannel image's debootstrap) and lab.py (the host image's debootstrap)
both take the Debian mirror from here: never hard-coded, never written into the repo.
"""
from __future__ import annotations

import glob
import os

MIRROR_ENV = "KUBEBIN_LAB_DEBIAN_MIRROR"


def apt_files(root: str = "/") -> tuple[list[str], list[str]]:
    """The host's enabled apt source files (sources.list, sources.list.d/*.list|*.sources)
    and its apt.conf.d files, as absolute paths under root."""
    etc = os.path.join(root, "etc/apt")
    sources = [f for f in [os.path.join(etc, "sources.list")] if os.path.isfile(f)]
    sources += sorted(f for f in glob.glob(os.path.join(etc, "sources.list.d/*"))
                      if f.endswith((".list", ".sources")) and os.path.isfile(f))
    confs = sorted(f for f in glob.glob(os.path.join(etc, "apt.conf.d/*")) if os.path.isfile(f))
    return sources, confs


def deb822_entries(text: str) -> list[dict]:
    """The stanzas of a deb822 .sources file, as dicts with lower-case keys."""
    entries, cur, last = [], {}, None
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                entries.append(cur)
            cur, last = {}, None
            continue
        if line[0] in " \t" and last:
            cur[last] += "\n" + line.strip()
            continue
        k, _, v = line.partition(":")
        last = k.strip().lower()
        cur[last] = v.strip()
    return entries


def one_line_entries(text: str) -> list[tuple[str, str, list[str]]]:
    """(uri, suite, components) of each `deb` line of a sources.list file
    (`deb [options] uri suite component...`)."""
    out = []
    for line in text.splitlines():
        w = line.split("#")[0].split()
        if len(w) >= 4 and w[0] == "deb":
            if w[1].startswith("["):       # deb [opts] uri suite comp...
                while w and not w[1].endswith("]"):
                    w.pop(1)
                w.pop(1)
            if len(w) >= 4:
                out.append((w[1], w[2], w[3:]))
    return out


def debian_mirror(sources: list[tuple[str, str]], suite: str) -> str | None:
    """The URI of the first enabled `deb ... <suite> main` entry of sources, given as
    (file name, content) pairs: deb822 when the name ends with .sources, else one-line."""
    for name, text in sources:
        if name.endswith(".sources"):
            for e in deb822_entries(text):
                if e.get("enabled", "yes").lower() == "no":
                    continue
                if "deb" in e.get("types", "").split() and suite in e.get("suites", "").split() \
                        and "main" in e.get("components", "").split() and e.get("uris", "").split():
                    return e["uris"].split()[0]
        else:
            for uri, entry_suite, components in one_line_entries(text):
                if entry_suite == suite and "main" in components:
                    return uri
    return None


def host_debian_mirror(suite: str, root: str = "/") -> str | None:
    """$KUBEBIN_LAB_DEBIAN_MIRROR, else the Debian mirror of this host's apt sources for suite."""
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV]
    sources = []
    for f in apt_files(root)[0]:
        with open(f, encoding="utf-8", errors="replace") as fh:
            sources.append((f, fh.read()))
    return debian_mirror(sources, suite)
