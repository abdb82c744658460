#!/usr/bin/env bash
# The cluster proof on the local lab (docs/testing.md): lab up, site.yml, a second site.yml
# that must report changed=0 on every host, then tests/e2e/verify.yml (nodes Ready, CSRs,
# a forged CSR refused, a Deployment on two nodes reached by pod IP, ClusterIP and DNS,
# logs and exec). Prints the figures. Run with `make e2e`.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 hack/lab/lab.py up ${LAB_ARGS:-}
inv=$(python3 hack/lab/lab.py inventory)
logs=build/e2e
mkdir -p "$logs"

. tests/e2e/lib.sh   # run, recap

run site-1 site.yml;  first=$took
run site-2 site.yml;  second=$took
recap=$(recap site-2)
echo "$recap"
if echo "$recap" | grep -qE 'changed=[1-9]|failed=[1-9]'; then
  echo "e2e: the second site.yml run changed something (must be changed=0)"; exit 1
fi
run verify tests/e2e/verify.yml; verify=$took
grep -E '"msg": "(node|forged)' "$logs/verify.log" || true
echo "e2e figures: first site.yml ${first}s, second (changed=0) ${second}s, verify ${verify}s"
