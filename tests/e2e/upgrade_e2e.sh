#!/usr/bin/env bash
# The upgrade proof on the local lab (docs/operations.md#upgrade): deploy Kubernetes FROM,
# run a Deployment (2 replicas, a PodDisruptionBudget) behind a Service and a probe that
# requests the Service every 0.5 s from the first master, upgrade to TO with upgrade.yml,
# stop the probe, then re-run upgrade.yml (must report changed=0) and check that a
# downgrade is refused. Prints the figures; exits non-zero when a check fails.
#
#   tests/e2e/upgrade_e2e.sh                     # fresh lab (down + up), 1.36.4 -> 1.37.1
#   UPGRADE_E2E_FRESH=0 tests/e2e/upgrade_e2e.sh # keep the lab (it must run FROM or nothing yet)
#   UPGRADE_E2E_FRESH=0 UPGRADE_E2E_DEPLOY=0 ...  # the lab already runs FROM: skip site.yml
# Environment: KUBEBIN_LAB_NAME (lab instance), LAB_ARGS (lab.py up topology flags),
# UPGRADE_FROM / UPGRADE_TO (versions in the lab mirror), UPGRADE_E2E_MAX_FAILED (probe
# failures tolerated, default 0), UPGRADE_E2E_INTERRUPT_AT (a task name: a first upgrade.yml
# run is killed, process group and all, UPGRADE_E2E_INTERRUPT_DELAY seconds (default 3) after
# it starts that task; the timed run that follows must finish the upgrade).
set -euo pipefail
cd "$(dirname "$0")/../.."
from=${UPGRADE_FROM:-1.36.4}
to=${UPGRADE_TO:-1.37.1}
lab="python3 hack/lab/lab.py"
logs=build/e2e/upgrade${KUBEBIN_LAB_NAME:+-$KUBEBIN_LAB_NAME}
mkdir -p "$logs"

if [ "${UPGRADE_E2E_FRESH:-1}" = 1 ]; then $lab down; fi
# shellcheck disable=SC2086
$lab up ${LAB_ARGS:-}
. tests/e2e/lib.sh   # run, recap, ap, e2e_inventory
inv=$(e2e_inventory)
admin="$(dirname "$inv")/.kubebin/kubebin/admin.kubeconfig"
kc() { kubectl --kubeconfig "$admin" "$@"; }
probe_stop() {
  ansible -i "$inv" 'masters[0]' -m ansible.builtin.command \
    -a 'systemctl stop kubebin-upgrade-probe.service' > /dev/null 2>&1 || true
}

deploy=skipped
if [ "${UPGRADE_E2E_DEPLOY:-1}" = 1 ]; then run deploy site.yml -e "kubebin_kubernetes_version=$from"; deploy=${took}s; fi
run workload tests/e2e/upgrade_workload.yml -e "kubebin_kubernetes_version=$from"
ip=$(kc -n kubebin-upgrade get service probe-web -o jsonpath='{.spec.clusterIP}')
echo "workload: $(kc -n kubebin-upgrade get pods -o wide --no-headers | awk '{print $1" on "$7}' | paste -sd, -), Service $ip"

# The probe: a transient systemd unit on the first master (a host with kube-proxy rules,
# so it reaches the ClusterIP, and never drained away like a pod would be).
probe_stop
ansible -i "$inv" 'masters[0]' -m ansible.builtin.copy \
  -a "src=tests/e2e/upgrade_probe.py dest=/usr/local/sbin/kubebin-upgrade-probe mode=0755" > /dev/null
ansible -i "$inv" 'masters[0]' -m ansible.builtin.command -a \
  "systemd-run --unit kubebin-upgrade-probe --collect /usr/bin/python3 /usr/local/sbin/kubebin-upgrade-probe http://$ip/ /run/kubebin-upgrade-probe.json 0.5" > /dev/null
trap probe_stop EXIT
sleep 5

status=0
interrupted=none
if [ -n "${UPGRADE_E2E_INTERRUPT_AT:-}" ]; then
  # An interrupted upgrade: the controller dies (its whole process group, SSH sessions and
  # all, killed) once the log reaches the task UPGRADE_E2E_INTERRUPT_AT; the next run must
  # finish the job (and uncordon what the dead run cordoned).
  t0=$(date +%s)
  ap_argv -i "$inv" upgrade.yml -e "kubebin_kubernetes_version=$to"
  (cd "$AP_DIR" && exec setsid "${AP_ARGV[@]}") > "$logs/upgrade-interrupted.log" 2>&1 < /dev/null &
  pid=$!
  until grep -qF "TASK [$UPGRADE_E2E_INTERRUPT_AT" "$logs/upgrade-interrupted.log"; do
    if ! kill -0 "$pid" 2> /dev/null; then
      tail -n 30 "$logs/upgrade-interrupted.log"
      echo "upgrade e2e: upgrade.yml ended before reaching the task '$UPGRADE_E2E_INTERRUPT_AT'"; exit 1
    fi
    sleep 1
  done
  sleep "${UPGRADE_E2E_INTERRUPT_DELAY:-3}"
  kill -KILL -- "-$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  interrupted="killed after $(( $(date +%s) - t0 ))s at '$UPGRADE_E2E_INTERRUPT_AT'"
  echo "upgrade e2e: first upgrade.yml run $interrupted"
  kc get nodes -o custom-columns=NAME:.metadata.name,VERSION:.status.nodeInfo.kubeletVersion,UNSCHEDULABLE:.spec.unschedulable
fi
run upgrade upgrade.yml -e "kubebin_kubernetes_version=$to" || status=1
upgrade=${took:-0}
sleep 5
probe_stop
trap - EXIT
probe=$(ansible -i "$inv" 'masters[0]' -m ansible.builtin.command -a 'cat /run/kubebin-upgrade-probe.json' 2>/dev/null | sed -n '/^{/,$p')
read -r total failed secs < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["total"], d["failed"], int(d["ended"]-d["started"]))' "$probe")
echo "probe: $total requests over ${secs}s, $failed failed"
python3 -c 'import json,sys; [print("  failed at", t, r) for t, r in json.loads(sys.argv[1])["failures"]]' "$probe"
[ "$status" = 0 ] || exit 1
recap upgrade
kc get nodes -o custom-columns=NAME:.metadata.name,VERSION:.status.nodeInfo.kubeletVersion,READY:'.status.conditions[?(@.type=="Ready")].status',UNSCHEDULABLE:.spec.unschedulable
bad=$(kc get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.status.nodeInfo.kubeletVersion}{"\n"}{end}' | awk -v v="v$to" '$2 != v' | wc -l)
[ "$bad" = 0 ] || { echo "upgrade e2e: $bad node(s) not at v$to"; exit 1; }
cordoned=$(kc get nodes -o jsonpath='{range .items[?(@.spec.unschedulable==true)]}{.metadata.name} {end}')
[ -z "$cordoned" ] || { echo "upgrade e2e: node(s) left cordoned: $cordoned"; exit 1; }
server=$(kc version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')
[ "$server" = "v$to" ] || { echo "upgrade e2e: the API server runs $server, not v$to"; exit 1; }

run rerun upgrade.yml -e "kubebin_kubernetes_version=$to"; rerun=$took
recap rerun
if recap rerun | grep -qE 'changed=[1-9]|failed=[1-9]'; then
  echo "upgrade e2e: the second upgrade.yml run changed something (must be changed=0)"; exit 1
fi

# A refusal: going back to FROM is a downgrade.
if ap -i "$inv" upgrade.yml -e "kubebin_kubernetes_version=$from" > "$logs/downgrade.log" 2>&1 < /dev/null; then
  echo "upgrade e2e: a downgrade to $from was not refused"; exit 1
fi
grep -o 'A downgrade is refused ([^)]*)' "$logs/downgrade.log" | head -n 1 || {
  tail -n 20 "$logs/downgrade.log"; echo "upgrade e2e: the downgrade failed without saying why"; exit 1; }

run cleanup tests/e2e/upgrade_workload.yml -e upgrade_e2e_state=absent
echo "upgrade e2e figures: deploy v$from ${deploy}, interrupted run: $interrupted, upgrade to v$to ${upgrade}s, probe $total requests / $failed failed, re-run (changed=0) ${rerun}s"
[ "$failed" -le "${UPGRADE_E2E_MAX_FAILED:-0}" ] || { echo "upgrade e2e: $failed probe requests failed"; exit 1; }
