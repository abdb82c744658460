#!/usr/bin/env bash
# The Molecule role scenarios (molecule/README.md) the way a contributor runs them: one after
# the other, each `molecule test` (destroy, syntax, create, prepare, converge, idempotence,
# side_effect, verify, destroy) with the roles of this checkout, on the network and mirror of
# lab KUBEBIN_LAB_NAME (default "mol", 1 idle master; made for the run and removed at the
# end unless MOLECULE_KEEP_LAB=1; a lab already up is used as it is and kept). Prints each
# scenario's time (also in build/molecule/times.txt).
#   make molecule                                  os_prep, docker, etcd, loadbalancer, master
#   make molecule MOLECULE_SCENARIOS="etcd"        one of them
set -euo pipefail
cd "$(dirname "$0")/../.."
export KUBEBIN_LAB_NAME=${KUBEBIN_LAB_NAME:-mol}
scenarios=${MOLECULE_SCENARIOS:-os_prep docker etcd loadbalancer master}
lab="python3 hack/lab/lab.py"
logs=${MOLECULE_LOGS:-build/molecule}   # each scenario's log, times.txt
mkdir -p "$logs"

# The lab's network and mirror only; the scenarios bring their own hosts (.100 - .254).
# A lab that is already up (someone's own, KUBEBIN_LAB_NAME=...) is used as it is and kept.
# The scenarios' hosts take the lab's SSH key (its state dir): Ansible and testinfra reach
# them over SSH, as the lab's own hosts.
export KUBEBIN_LAB_NETWORK KUBEBIN_LAB_STATE
names=$(PYTHONPATH=hack/lab python3 -c 'import os; from kubebin_lab.inventory import instance_names as n
i = n(os.environ["KUBEBIN_LAB_NAME"], os.environ.get("KUBEBIN_LAB_STATE")); print(i["network"], i["state_dir"])')
read -r KUBEBIN_LAB_NETWORK KUBEBIN_LAB_STATE <<< "$names"
if podman network exists "$KUBEBIN_LAB_NETWORK"; then
  $lab up | tail -n 1
else
  [ "${MOLECULE_KEEP_LAB:-0}" = 1 ] || trap '$lab down > /dev/null' EXIT
  $lab up --masters 1 --nodes 0 | tail -n 1
fi
inv=$($lab inventory)
mirror=$(sed -n 's|^ *kubebin_download_mirror: *http://\([0-9.]*\):.*|\1|p' "$inv" | head -n 1)
export KUBEBIN_LAB_NET=${mirror%.*}

# The roles under their collection name, from this checkout (not a copy).
coll=$PWD/build/molecule/collections
mkdir -p "$coll/ansible_collections/kubebin"
ln -sfn "$PWD" "$coll/ansible_collections/kubebin/cluster"
export ANSIBLE_COLLECTIONS_PATH=$coll
# The Makefile's controller interpreter must not reach the scenario hosts.
unset ANSIBLE_PYTHON_INTERPRETER

# stamp START: each line of stdin prefixed with the seconds since START ("[ 123] ...").
stamp() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    printf '[%4d] %s\n' $(( $(printf '%(%s)T' -1) - $1 )) "$line"
  done
}
# steps LOG: the duration of each molecule step (the first destroy is "destroy", the last
# "destroy-end"), from its "Executing" line to its "Executed" line.
steps() {
  sed 's/\x1b\[[0-9;]*m//g' "$1" |
    sed -n 's/^\[ *\([0-9]*\)\] INFO .* \([a-z_]*\): \(Executing\|Executed\).*/\1 \3 \2/p' |
    awk '$2 == "Executing" { t0 = $1 }
         $2 == "Executed" { n = $3; if (n in seen) n = n "-end"; seen[n] = 1
                            printf "%s%s %ds", (out ? ", " : "    "), n, $1 - t0; out = 1 }
         END { if (out) print "" }'
}

: > "$logs/times.txt"
rc=0
for s in $scenarios; do
  # A scenario's hosts have the same names (kbm-*) for every checkout and lab: its run waits
  # while another checkout runs it (molecule's first destroy would remove the other's hosts).
  exec {lock}> "/run/lock/kubebin-molecule-$s.lock"
  flock -n "$lock" || { echo "$s: waiting for another run of this scenario"; flock "$lock"; }
  start=$(date +%s)
  # Each log line starts with the seconds since the scenario started, so a slow step or task
  # shows in the log; the steps' durations go under the scenario's line in times.txt.
  if molecule test -s "$s" < /dev/null 2>&1 | stamp "$start" > "$logs/$s.log"; then result=ok; else
    result=FAILED; rc=1
    sed 's/\x1b\[[0-9;]*m//g' "$logs/$s.log" | grep -n -B2 -A12 'fatal:' | tail -n 40 || true
  fi
  printf '%-12s %5ss %s (log: %s; load %s)\n' "$s" $(( $(date +%s) - start )) "$result" "$logs/$s.log" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$logs/times.txt"
  steps "$logs/$s.log" | tee -a "$logs/times.txt"
  exec {lock}>&-
done
echo "=== make molecule (lab $KUBEBIN_LAB_NAME, network $KUBEBIN_LAB_NETWORK, $KUBEBIN_LAB_NET.0/24)"
cat "$logs/times.txt"
exit $rc
