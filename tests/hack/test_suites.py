from __future__ import annotations

import pytest
from kubebin_lab import suites


def test_suites_table():
    assert suites.DEFAULT_SUITE == "bookworm"
    assert {s: v["release"] for s, v in suites.SUITES.items()} == {"bookworm": "Debian 12", "trixie": "Debian 13"}
    for suite in suites.SUITES:
        pkgs = suites.packages(suite)
        # what Ansible and the lab need on every host, whatever the suite calls it
        assert {"python3", "python3-apt", "openssh-server", "systemd", "sudo"} <= set(pkgs)
        assert len(pkgs) == len(set(pkgs))
        assert suites.image_ref(suite) == f"localhost/kubebin-lab-host:{suite}"
        assert all(a.strip() == a and a for a in suites.init_args(suite))
    # bookworm hosts keep the image name and PID 1 arguments they had before suites existed
    assert suites.image_ref("bookworm") == "localhost/kubebin-lab-host:bookworm"
    assert suites.init_args("bookworm") == [] and suites.masked_units("bookworm") == []
    # openssh 10 (trixie) would make its own host keys at first boot, racing the lab's unit
    assert "sshd-keygen.service" in suites.masked_units("trixie")


def test_unknown_suite():
    with pytest.raises(ValueError, match=r"--node-suite 'sid' is not a lab suite; known: bookworm \(Debian 12\)"):
        suites.check_suite("sid", "--node-suite")
    with pytest.raises(ValueError, match="'buster' is not a lab suite"):
        suites.image_ref("buster")


def test_needed_suites():
    assert suites.needed("bookworm", ["trixie", "bookworm", "trixie"]) == ["bookworm", "trixie"]
    assert suites.needed("trixie", []) == ["trixie"]


def test_summary():
    assert suites.summary("bookworm", "bookworm") == "Debian 12 bookworm"
    assert suites.summary("bookworm", "trixie") == "Debian 12 bookworm, nodes Debian 13 trixie"
    with pytest.raises(ValueError, match="--node-suite 'sid'"):
        suites.summary("bookworm", "sid")
