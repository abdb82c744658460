"""Offline stand-in for the get-pip.py bootstrap script that ansible-test downloads.

ansible-test creates each sanity-test venv without pip, then runs a cached
``get_pip_<version>.py`` with ``pip install`` arguments. Its download host is
unreachable here, so ``make sanity`` installs this file under that cache name. Like
get-pip.py it runs pip from a wheel, not from the target environment (here the pip
wheel bundled with the interpreter's ``ensurepip``), so pip never replaces itself
while running, and installs what ansible-test asked for from the package index
configured on the machine.
"""

import glob
import os
import subprocess
import sys

import ensurepip


def main() -> None:
    bundled = os.path.join(os.path.dirname(ensurepip.__file__), "_bundled")
    wheels = sorted(glob.glob(os.path.join(bundled, "pip-*.whl")))
    if not wheels:
        sys.exit(f"no pip wheel bundled with {sys.executable} (looked in {bundled})")
    # get-pip.py's own flags are not pip install flags.
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel", "--no-pip")]
    subprocess.check_call([sys.executable, os.path.join(wheels[-1], "pip"), "install"] + args)


if __name__ == "__main__":
    main()
