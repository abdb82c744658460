"""lab.py down on a machine without podman (a fresh CI machine: ci_e2e.sh starts with a down)."""
from __future__ import annotations

import argparse

import lab


def test_down_without_podman_removes_only_the_inventory(tmp_path, monkeypatch, capsys):
    inv = tmp_path / "inventory" / "hosts.yml"
    inv.parent.mkdir()
    inv.write_text("all: {}\n")
    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(lab, "need_root", lambda: None)
    monkeypatch.setattr(lab.shutil, "which", lambda cmd: None)

    def no_podman(*args, **kwargs):
        raise AssertionError(f"podman called without podman installed: {args}")

    monkeypatch.setattr(lab, "podman", no_podman)
    lab.cmd_down(argparse.Namespace(purge=True))
    assert not tmp_path.exists()  # purge removed the state directory
    out = capsys.readouterr().out
    assert "podman is not installed" in out and "removed " + str(inv) in out


def test_down_with_podman_takes_the_podman_path(tmp_path, monkeypatch):
    monkeypatch.setattr(lab, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(lab, "need_root", lambda: None)
    monkeypatch.setattr(lab.shutil, "which", lambda cmd: "/usr/bin/" + cmd)
    called = []
    monkeypatch.setattr(lab, "_down_podman", lambda: called.append(True))
    lab.cmd_down(argparse.Namespace(purge=False))
    assert called == [True] and tmp_path.exists()
