from __future__ import annotations

import pytest
from kubebin_lab import apt

DEB822 = """Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 -----END PGP PUBLIC KEY BLOCK-----
"""


def test_deb822_entries():
    first, second = apt.deb822_entries(DEB822)
    assert first == {"types": "deb", "uris": "http://deb.debian.org/debian", "suites": "bookworm bookworm-updates",
                     "components": "main", "signed-by": "/usr/share/keyrings/debian-archive-keyring.gpg"}
    assert second["suites"] == "bookworm-security"
    assert second["signed-by"].splitlines()[1:] == ["-----BEGIN PGP PUBLIC KEY BLOCK-----", ".",
                                                    "-----END PGP PUBLIC KEY BLOCK-----"]


def test_one_line_entries():
    text = ("# comment\n"
            "deb [arch=amd64 signed-by=/k.gpg] http://mirror/debian bookworm main contrib\n"
            "deb-src http://mirror/debian bookworm main\n"
            "deb http://mirror/debian bookworm-updates main # trailing\n"
            "deb http://short\n")
    assert apt.one_line_entries(text) == [("http://mirror/debian", "bookworm", ["main", "contrib"]),
                                          ("http://mirror/debian", "bookworm-updates", ["main"])]


@pytest.mark.parametrize("sources, want", [
    ([("debian.sources", DEB822)], "http://deb.debian.org/debian"),
    # the security stanza alone is no mirror of the suite
    ([("s.sources", DEB822.split("\n\n")[1])], None),
    # disabled, deb-src only, other component: skipped
    ([("a.sources", "Types: deb\nURIs: http://off\nSuites: bookworm\nComponents: main\nEnabled: no\n"),
      ("b.sources", "Types: deb-src\nURIs: http://src\nSuites: bookworm\nComponents: main\n"),
      ("c.list", "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n"
                 "deb https://download.docker.com/linux/debian bookworm stable\n"),
      ("sources.list", "deb [trusted=yes] http://mirror.example/debian bookworm main\n")],
     "http://mirror.example/debian"),
    ([("sources.list", "deb http://deb.debian.org/debian trixie main\n")], None),
    ([], None),
])
def test_debian_mirror(sources, want):
    assert apt.debian_mirror(sources, "bookworm") == want


@pytest.mark.parametrize("name, text, want", [
    # deb822: Debian's suites move, another vendor's suite and the comments stay
    ("debian.sources", DEB822, DEB822.replace("Suites: bookworm bookworm-updates", "Suites: trixie trixie-updates")
     .replace("Suites: bookworm-security", "Suites: trixie-security")),
    ("x.sources", "Types: deb\nURIs: http://m/debian\nsuites:  bookworm-backports cloud-sdk-bookworm\r\n"
                  "Components: main\n",
     "Types: deb\nURIs: http://m/debian\nsuites: trixie-backports cloud-sdk-bookworm\r\nComponents: main\n"),
    # one-line, with options (one holding a space), deb-src, comments and a disabled line
    ("sources.list",
     "# bookworm mirror\n"
     "deb [arch=amd64 signed-by=/k.gpg] http://m/debian bookworm main contrib\n"
     "deb-src http://m/debian bookworm-updates main # trailing\n"
     "# deb http://m/debian bookworm main\n"
     "deb https://vendor/apt cloud-sdk-bookworm main\n",
     "# bookworm mirror\n"
     "deb [arch=amd64 signed-by=/k.gpg] http://m/debian trixie main contrib\n"
     "deb-src http://m/debian trixie-updates main # trailing\n"
     "# deb http://m/debian bookworm main\n"
     "deb https://vendor/apt cloud-sdk-bookworm main\n"),
])
def test_retarget_sources(name, text, want):
    assert apt.retarget_sources(name, text, "bookworm", "trixie") == want
    back = apt.retarget_sources(name, want, "trixie", "bookworm")
    assert back == text.replace("suites:  ", "suites: ")


def test_apt_files_and_host_debian_mirror(tmp_path, monkeypatch):
    monkeypatch.delenv(apt.MIRROR_ENV, raising=False)
    etc = tmp_path / "etc/apt"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "apt.conf.d").mkdir()
    (etc / "sources.list.d/debian.sources").write_text(DEB822)
    (etc / "sources.list.d/old.list.disabled-by-farm").write_text("deb http://nope bookworm main\n")
    (etc / "apt.conf.d/01proxy").write_text('Acquire::http::Proxy "http://p:3142";\n')
    sources, confs = apt.apt_files(str(tmp_path))
    assert sources == [str(etc / "sources.list.d/debian.sources")]
    assert confs == [str(etc / "apt.conf.d/01proxy")]
    assert apt.host_debian_mirror("bookworm", str(tmp_path)) == "http://deb.debian.org/debian"
    assert apt.host_debian_mirror("trixie", str(tmp_path)) is None        # the host's suite unknown
    (tmp_path / "etc/os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
                                             'VERSION_CODENAME=bookworm\nID=debian\n')
    assert apt.host_codename(str(tmp_path)) == "bookworm"
    # a Debian 12 host naming only bookworm: its mirror serves trixie too
    assert apt.host_debian_mirror("trixie", str(tmp_path)) == "http://deb.debian.org/debian"
    assert apt.host_codename(str(tmp_path / "nowhere")) is None
    monkeypatch.setenv(apt.MIRROR_ENV, "http://override/debian")
    assert apt.host_debian_mirror("trixie", str(tmp_path)) == "http://override/debian"
