"""Unit tests of the lab tooling's pure parts (hack/lab/kubebin_lab/) and of the version pins.

Run from the checkout (the collection copy of `make unit` has no hack/):
    .venv/bin/python -m pytest tests/hack        (also part of `make unit`)
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "hack" / "lab"
if str(LAB) not in sys.path:
    sys.path.insert(0, str(LAB))


@pytest.fixture(name="root")
def fixture_root() -> Path:
    """The checkout."""
    return ROOT
