#!/usr/bin/env bash
# The lab scenario of `make test` (and so of CI), on ONE fresh lab instance (default name
# "ci": 1 master with etcd + 2 nodes), one step after the other on the same cluster, run
# the way an operator runs it (step 0, tests/e2e/operator_setup.sh): playbooks by FQCN from
# the collection installed out of the built tarball, as the ordinary user kubebin-op (no
# sudo, no kubectl), over SSH as the hosts' non-root user `kubebin` with ansible_become:
#   1. upgrade   tests/e2e/upgrade_e2e.sh: site.yml deploys Kubernetes 1.36.4, a Deployment
#                (2 replicas, a PodDisruptionBudget) is probed through its Service every
#                0.5 s while upgrade.yml takes the cluster to 1.37.1 (0 failed requests
#                allowed): a first run is killed (controller and SSH sessions) while it
#                installs the first node's kubelet, the next run must finish the job
#                (every node at 1.37.1, none left cordoned); a re-run of upgrade.yml must
#                report changed=0, a downgrade is refused;
#   2. scale     tests/e2e/scale_e2e.sh: a third node joins with add_node.yml (existing
#                nodes changed=0, masters only the CSR approver's node list), re-run
#                changed=0, then remove_node.yml (twice, the second changed=0);
#   3. backup    tests/e2e/backup_restore_e2e.sh: the scheduled snapshots (timer's service
#                run keep+1 times: each verified, the oldest pruned; a failing verification
#                fails the unit and leaves no file; a named one fetched for a restore that is
#                refused unconfirmed), then a ConfigMap, etcd_backup.yml, the ConfigMap
#                deleted, etcd_restore.yml, the ConfigMap is back, etcd healthy;
#   4. posture   tests/e2e/posture_e2e.sh: bad input stops site.yml with a message naming
#                it (a host user without sudo, an inventory without etcd, a controller
#                without the kubernetes package); the example playbook of docs/using-roles.md
#                (roles one by one, become per play) reports changed=0; and from a plain
#                copy of the checkout, as root over root SSH, bare `ansible-playbook site.yml`
#                reports changed=0 on the upgraded, scaled and restored cluster;
#   5. verify    tests/e2e/verify.yml: nodes Ready, CSRs, a forged CSR refused, a workload
#                reached by pod IP, ClusterIP and DNS, logs and exec;
#   6. cis       tests/e2e/cis_e2e.sh: the CIS Kubernetes Benchmark (kube-bench) on every
#                host, 0 FAIL.
# Prints each step's duration and the total; the lab is removed at the end (CI_E2E_KEEP=1
# keeps it). Needs the lab components built (`make lab-build`); run it with `make e2e-ci`.
set -euo pipefail
cd "$(dirname "$0")/../.."
export KUBEBIN_LAB_NAME=${KUBEBIN_LAB_NAME:-ci}
lab="python3 hack/lab/lab.py"
logs=build/e2e/ci-$KUBEBIN_LAB_NAME
mkdir -p "$logs"
. tests/e2e/lib.sh   # run, recap

summary=()
started=$(date +%s)
step() {  # step NAME COMMAND...: run it, its output also in $logs/NAME.out; stop on failure
  local name=$1 t0 rc=0; shift
  t0=$(date +%s)
  echo "=== ci e2e: $name ($(date -u +%H:%M:%S))"
  "$@" 2>&1 | tee "$logs/$name.out" || rc=$?
  summary+=("$(printf '%-9s %5ss  %s' "$name" $(( $(date +%s) - t0 )) "$([ $rc = 0 ] && echo ok || echo "FAILED (rc $rc)")")")
  if [ $rc != 0 ]; then report; echo "ci e2e: step '$name' failed (output: $logs/$name.out)"; exit $rc; fi
}
report() {  # the step times, also kept in $logs/summary.txt for .ci/run
  { echo "=== ci e2e summary (lab $KUBEBIN_LAB_NAME, load $(cut -d' ' -f1-3 /proc/loadavg))"
    printf '  %s\n' "${summary[@]}"
    echo "  total    $(( $(date +%s) - started ))s"; } | tee "$logs/summary.txt"
}
cleanup() {
  if [ "${CI_E2E_KEEP:-0}" = 1 ]; then echo "ci e2e: lab $KUBEBIN_LAB_NAME kept (CI_E2E_KEEP=1)"; else $lab down > /dev/null; fi
}
trap cleanup EXIT

$lab down > /dev/null   # a fresh lab: whatever an earlier run left is removed
# The operator posture (tests/e2e/lib.sh): the steps' playbooks run as an ordinary user
# without sudo, with the collection installed from the tarball, over SSH as the hosts'
# non-root sudo user; CI_E2E_OPERATOR= (empty) runs them as root from this checkout instead.
op=${CI_E2E_OPERATOR-kubebin-op}
if [ -n "$op" ]; then
  step operator bash tests/e2e/operator_setup.sh "$op"
  export KUBEBIN_E2E_OPERATOR=$op
fi
step upgrade env UPGRADE_E2E_FRESH=0 LAB_ARGS="--masters 1 --nodes 2" \
  UPGRADE_E2E_INTERRUPT_AT="${CI_E2E_INTERRUPT_AT-Upgrade | kubelet and kube-proxy}" bash tests/e2e/upgrade_e2e.sh
step scale env SCALE_NODES=2 bash tests/e2e/scale_e2e.sh
step backup env LOGDIR="$logs/backup" bash tests/e2e/backup_restore_e2e.sh

inv=$(e2e_inventory)
if [ -n "$op" ]; then
  step posture bash tests/e2e/posture_e2e.sh bad-input controller-files own-playbook plain-clone
else
  site_again() {
    run site site.yml
    recap site
    if recap site | grep -qE 'changed=[1-9]|failed=[1-9]'; then
      echo "ci e2e: site.yml after the day-2 steps changed something (must be changed=0)"; return 1
    fi
  }
  step site site_again
fi
verify() {
  run verify tests/e2e/verify.yml
  grep -E '"msg": "(node|forged)' "$logs/verify.log" || true
}
step verify verify
step cis env LOGS="$logs/cis" bash tests/e2e/cis_e2e.sh
report
echo "ci e2e: PASS"
