#!/usr/bin/env bash
# A second OS (docs/testing.md section 15; `make e2e-os`): the cluster proof on Debian 13
# hosts and on a mixed cluster, each on a fresh lab of its own, one after the other:
#   13     lab $OS_LAB_13 (default t13):   `lab.py up --suite trixie`, 1 master + 2 nodes
#   mixed  lab $OS_LAB_MIX (default tmix): `lab.py up --suite bookworm --node-suite trixie`
# Each: lab up; site.yml; site.yml again (changed=0 on every host); tests/e2e/verify_os.yml
# (each host runs the suite the lab gave it, each Node's osImage names its host's release);
# tests/e2e/verify.yml (nodes Ready, CSRs, pod IP/ClusterIP/DNS/NodePort, logs, exec,
# metrics). Prints the time of each step and the load average (/proc/loadavg) before and
# after; then removes the lab (OS_E2E_KEEP=1 keeps it).
#   OS_E2E_SCENARIOS="13 mixed"   which scenarios, in this order
#   LAB_ARGS                      more `lab.py up` flags (e.g. "--nodes 1")
set -euo pipefail
cd "$(dirname "$0")/../.."
scenarios=${OS_E2E_SCENARIOS:-13 mixed}
. tests/e2e/lib.sh   # run, recap

fail() { echo "os_e2e: FAIL: $*"; exit 1; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
figures=()

scenario() {
  local name=$1 lab suite node_suite t0
  case $name in
    13) lab=${OS_LAB_13:-t13}; suite=trixie; node_suite=trixie ;;
    mixed) lab=${OS_LAB_MIX:-tmix}; suite=bookworm; node_suite=trixie ;;
    *) fail "unknown scenario $name (13 or mixed)" ;;
  esac
  export KUBEBIN_LAB_NAME=$lab
  logs=${LOGDIR:-build/e2e/os-$lab}
  mkdir -p "$logs"
  t0=$(date +%s)
  local load0; load0=$(load)
  echo "== os_e2e $name: lab $lab, masters $suite, nodes $node_suite (load $load0)"
  python3 hack/lab/lab.py up --suite "$suite" --node-suite "$node_suite" ${LAB_ARGS:-} > "$logs/lab-up.log" 2>&1 \
    || { tail -n 30 "$logs/lab-up.log"; fail "lab.py up ($lab)"; }
  local t_up=$(( $(date +%s) - t0 ))
  tail -n 1 "$logs/lab-up.log"
  inv=$(python3 hack/lab/lab.py inventory)

  run site-1 site.yml; local t_site=$took
  run site-2 site.yml; local t_noop=$took
  recap site-2
  if recap site-2 | grep -qE 'changed=[1-9]|failed=[1-9]'; then
    fail "$name: the second site.yml run changed something (must be changed=0)"
  fi
  run verify-os tests/e2e/verify_os.yml -e verify_os_suite="$suite" -e verify_os_node_suite="$node_suite"
  local t_os=$took
  grep -hoE '"msg": "[^"]*(Debian|node )[^"]*"' "$logs/verify-os.log" | sed 's/^"msg": //' || true
  run verify tests/e2e/verify.yml; local t_verify=$took
  grep -hoE '"msg": "(node|forged)[^"]*"' "$logs/verify.log" | sed 's/^"msg": //' || true
  local load1; load1=$(load)
  figures+=("$name (lab $lab, masters $suite, nodes $node_suite): lab up ${t_up}s, site.yml ${t_site}s, again ${t_noop}s (changed=0), verify_os ${t_os}s, verify ${t_verify}s; total $(( $(date +%s) - t0 ))s; load $load0 -> $load1")
  if [ -z "${OS_E2E_KEEP:-}" ]; then
    python3 hack/lab/lab.py down > "$logs/lab-down.log" 2>&1 || { tail -n 20 "$logs/lab-down.log"; fail "lab.py down ($lab)"; }
  fi
}

for s in $scenarios; do scenario "$s"; done
echo "os_e2e PASS; figures:"
printf '  %s\n' "${figures[@]}"
