#!/usr/bin/env bash
# Set up the controller posture of an operator for the e2e scripts (tests/e2e/lib.sh,
# KUBEBIN_E2E_OPERATOR): an ordinary user of this machine (created if missing; no sudo, no
# password) with, in its home,
#   venv/          a virtualenv with only the root requirements.txt (no kubectl), pinned by
#                  tests/requirements.txt where that names a version;
#   ~/.ansible/collections/  kubebin.cluster installed from the built tarball;
#   sysbin/        the machine's commands without kubectl (PATH: venv/bin:sysbin);
#   .ansible.cfg   the [ssh_connection] settings of the root ansible.cfg (pipelining);
#   e2e/           a copy of the test playbooks of tests/e2e (the checkout may not be
#                  readable by that user);
#   inventory/     written later by e2e_inventory (lab.py inventory --out).
# Run as root from the repository root after `make build-tarball`:
#   tests/e2e/operator_setup.sh USER
set -euo pipefail
cd "$(dirname "$0")/../.."
op=${1:?usage: operator_setup.sh USER}
tarball=$(ls build/kubebin-cluster-*.tar.gz 2> /dev/null | head -n 1)
[ -n "$tarball" ] || { echo "operator_setup: no build/kubebin-cluster-*.tar.gz: run make build-tarball"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "operator_setup: run as root (it creates the user)"; exit 1; }

getent passwd "$op" > /dev/null || useradd --create-home --shell /bin/bash "$op"
home=$(getent passwd "$op" | cut -d: -f6)
if id -nG "$op" | tr ' ' '\n' | grep -qxE 'sudo|wheel|root'; then
  echo "operator_setup: $op is in an admin group; the operator must be an ordinary user"; exit 1
fi
as_op() { (cd "$home" && runuser -u "$op" -- env -i "HOME=$home" "USER=$op" PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "$@"); }

# The venv: the system python3 (its venv module, Debian's python3-venv), the user's own pip.
if ! /usr/bin/python3 -c 'import ensurepip' 2> /dev/null; then
  python3 hack/lab/debpkg.py python3-venv
fi
stamp=$(sha256sum requirements.txt tests/requirements.txt | sha256sum | cut -c1-16)
if [ "$(cat "$home/venv/.kubebin-stamp" 2> /dev/null)" != "$stamp" ]; then
  rm -rf "$home/venv"
  as_op /usr/bin/python3 -m venv "$home/venv"
  # the machine's pip settings (index, certificates) come from /etc/pip.conf and the
  # environment; pass the PIP_* variables through
  install -o "$op" -m 0644 requirements.txt "$home/requirements.txt"
  grep -E '^(ansible-core|cryptography|kubernetes)==' tests/requirements.txt \
    | install -o "$op" -m 0644 /dev/stdin "$home/constraints.txt"
  # shellcheck disable=SC2046
  runuser -u "$op" -- env -i "HOME=$home" PATH=/usr/bin:/bin $(env | grep -E '^PIP_' || true) \
    "$home/venv/bin/pip" install -q -r "$home/requirements.txt" -c "$home/constraints.txt"
  echo "$stamp" | runuser -u "$op" -- tee "$home/venv/.kubebin-stamp" > /dev/null
fi

# The collection, from the tarball, as that user.
install -o "$op" -m 0644 "$tarball" "$home/$(basename "$tarball")"
as_op "$home/venv/bin/ansible-galaxy" collection install --force --offline "$home/$(basename "$tarball")" > /dev/null
as_op "$home/venv/bin/ansible-galaxy" collection list kubebin.cluster 2> /dev/null | grep -E '^kubebin\.cluster'

# The PATH of the operator's runs (lib.sh): venv/bin, then sysbin/ = the machine's commands
# minus any kubectl (a machine may have one; the controller must not need it).
rm -rf "$home/sysbin" && install -d -o "$op" -m 0755 "$home/sysbin"
ln -s /usr/bin/* "$home/sysbin/"
[ -z "$(ls -A /usr/local/bin)" ] || ln -sf /usr/local/bin/* "$home/sysbin/"
rm -f "$home/sysbin"/kubectl*

# The settings our docs recommend for a controller (the [ssh_connection] part of the root
# ansible.cfg: pipelining, ControlPersist), as the operator's own ~/.ansible.cfg.
sed -n '/^\[ssh_connection\]/,$p' ansible.cfg | install -o "$op" -m 0644 /dev/stdin "$home/.ansible.cfg"

rm -rf "$home/e2e" && install -d -o "$op" -m 0755 "$home/e2e"
install -o "$op" -m 0644 tests/e2e/*.yml "$home/e2e/"
[ -d docs/examples ] && install -o "$op" -m 0644 docs/examples/*.yml "$home/e2e/"
echo "operator_setup: $op ready ($home/venv/bin/ansible-playbook $(as_op "$home/venv/bin/ansible-playbook" --version | head -n1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+'), kubectl on its PATH: $(as_op bash -c "PATH=$home/venv/bin:$home/sysbin; command -v kubectl || echo none"))"
