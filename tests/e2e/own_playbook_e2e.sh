#!/usr/bin/env bash
# The example playbook of docs/using-roles.md (docs/examples/own-playbook.yml: the roles
# imported one by one, `become: true` per play) deploys a cluster FROM SCRATCH on a fresh
# lab (1 master with etcd + 1 node), the way an operator runs it: as an ordinary controller
# user (tests/e2e/operator_setup.sh), with the collection installed from the tarball, over
# SSH as the hosts' non-root sudo user and an inventory WITHOUT ansible_become; then a
# second run must report changed=0. (The CI scenario re-runs it on its cluster only.)
#   make e2e-own-playbook        (lab "own", operator "kubebin-own"; the lab is removed)
set -euo pipefail
cd "$(dirname "$0")/../.."
export KUBEBIN_LAB_NAME=${KUBEBIN_LAB_NAME:-own} KUBEBIN_E2E_OPERATOR=${KUBEBIN_E2E_OPERATOR:-kubebin-own}
lab="python3 hack/lab/lab.py"
logs=build/e2e/own-playbook-$KUBEBIN_LAB_NAME
mkdir -p "$logs"
. tests/e2e/lib.sh   # run, recap, ap
$lab down > /dev/null
trap '[ "${OWN_E2E_KEEP:-0}" = 1 ] || $lab down > /dev/null' EXIT
$lab up --masters 1 --nodes 1 | tail -n 1
bash tests/e2e/operator_setup.sh "$KUBEBIN_E2E_OPERATOR" | tail -n 1
home=$(e2e_operator_home)
$lab inventory --out "$home/inventory-own" --ssh-user kubebin --no-become --owner "$KUBEBIN_E2E_OPERATOR" > /dev/null
inv=$home/inventory-own/hosts.yml
if grep -q ansible_become "$inv"; then echo "own-playbook e2e: the inventory sets ansible_become"; exit 1; fi
run first docs/examples/own-playbook.yml; first=$took
recap first
run again docs/examples/own-playbook.yml; again=$took
recap again
if recap again | grep -qE 'changed=[1-9]|failed=[1-9]|unreachable=[1-9]'; then
  echo "own-playbook e2e: the second run changed something (must be changed=0)"; exit 1
fi
grep -E '"nodes \([0-9]+, [0-9]+ Ready\)' "$logs/again.log" | head -n 1
echo "own-playbook e2e figures: first run ${first}s, re-run ${again}s (changed=0)"
