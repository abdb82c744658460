"""build.py and lab.py stay the entry points, with the same CLI and importable names."""
from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize("args, words", [
    (["build.py", "--help"], ["{all,path,kubernetes,etcd,containerd,runc,cni,crictl,images,mirror,e2e}", "--k8s-version"]),
    (["lab.py", "--help"], ["{setup,image,up,down,status,inventory,ssh}", "--name"]),
    (["lab.py", "inventory", "--help"], ["--out", "--ssh-user", "--owner", "--no-become"]),
    (["lab.py", "up", "--help"], ["--masters", "--nodes", "--etcd", "--etcd-on-masters", "--subnet",
                                  "--suite", "--node-suite"]),
    (["lab.py", "image", "--help"], ["--suite", "--force"]),
])
def test_help(root, args, words):
    p = subprocess.run([sys.executable, str(root / "hack" / "lab" / args[0]), *args[1:]],
                       capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == 0, p.stderr
    for word in words:
        assert word in p.stdout


def test_build_path_prints_the_mirror(root, tmp_path):
    p = subprocess.run([sys.executable, str(root / "hack" / "lab" / "build.py"), "path"], capture_output=True,
                       text=True, timeout=60, check=False, env={"KUBEBIN_LAB_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert (p.returncode, p.stdout) == (0, f"{tmp_path}/mirror\n")


def test_lab_refuses_a_bad_name(capsys):
    lab = importlib.import_module("lab")
    assert lab.main(["--name", "Bad-Name", "status"]) == 2
    assert "lab name 'Bad-Name' must be" in capsys.readouterr().err


def test_build_keeps_the_names_controlplane_py_uses(root):
    build = importlib.import_module("build")
    assert build.load_versions()["KUBERNETES_VERSION"]
    assert build.sha256_file(root / "hack" / "lab" / "versions.env")
