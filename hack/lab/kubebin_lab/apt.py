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


def host_codename(root: str = "/") -> str | None:
    """VERSION_CODENAME of the host's /etc/os-release (bookworm on Debian 12)."""
    try:
        with open(os.path.join(root, "etc/os-release"), encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.strip().partition("=")
                if key == "VERSION_CODENAME":
                    return value.strip("\"'") or None
    except FileNotFoundError:
        pass
    return None


def host_debian_mirror(suite: str, root: str = "/") -> str | None:
    """$KUBEBIN_LAB_DEBIAN_MIRROR, else the Debian mirror of this host's apt sources for suite.

    A Debian mirror serves every suite under one base URL: when the host's sources name only
    its own suite (a Debian 12 host asked for trixie), the mirror of the host's suite is it.
    """
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV]
    sources = []
    for f in apt_files(root)[0]:
        with open(f, encoding="utf-8", errors="replace") as fh:
            sources.append((f, fh.read()))
    mirror = debian_mirror(sources, suite)
    own = host_codename(root)
    if mirror is None and own and own != suite:
        mirror = debian_mirror(sources, own)
    return mirror


def _retarget(suite: str, old: str, new: str) -> str:
    """old -> new, old-updates -> new-updates, old-security -> new-security, ...; else suite."""
    if suite == old or suite.startswith(old + "-"):
        return new + suite[len(old):]
    return suite


def retarget_sources(name: str, text: str, old: str, new: str) -> str:
    """The apt sources file `name` (deb822 when it ends with .sources, else one-line) with
    the Debian suite `old` and its -updates/-security/-backports suites replaced by `new`'s,
    for an image of another release than the host. Other entries (another vendor's suite,
    comments) are kept as they are."""
    out = []
    if name.endswith(".sources"):
        for line in text.splitlines(keepends=True):
            key, sep, value = line.partition(":")
            if sep and not line.startswith(("#", " ", "\t")) and key.strip().lower() == "suites":
                eol = line[len(line.rstrip("\r\n")):]
                line = f"{key}: " + " ".join(_retarget(s, old, new) for s in value.split()) + eol
            out.append(line)
        return "".join(out)
    for line in text.splitlines(keepends=True):
        body, hash_, comment = line.partition("#")
        words = body.split()
        if len(words) >= 3 and words[0] in ("deb", "deb-src"):
            i = 1
            if words[1].startswith("["):              # deb [opts] uri suite comp...
                while i < len(words) and not words[i].endswith("]"):
                    i += 1
                i += 1
            if i + 1 < len(words):
                words[i + 1] = _retarget(words[i + 1], old, new)
                eol = line[len(line.rstrip("\r\n")):]
                line = " ".join(words) + (f" {hash_}{comment}".rstrip("\r\n") if hash_ else "") + eol
        out.append(line)
    return "".join(out)
