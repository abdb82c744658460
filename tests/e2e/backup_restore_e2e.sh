#!/usr/bin/env bash
# etcd backup and restore proof on a deployed lab (docs/operations.md "etcd backup and restore"):
#   1. etcd_restore.yml without a terminal and without kubebin_etcd_restore_confirm refuses,
#      and the API server is still serving;
#   2. ConfigMap "kubebin-restore-probe" with a random value, then etcd_backup.yml; the
#      snapshot is on the controller, 0600, and matches its .sha256 (sha256sum -c);
#   3. the probe is deleted and a ConfigMap "kubebin-after-backup" created;
#   4. etcd_restore.yml -e kubebin_etcd_restore_confirm=true;
#   5. the probe is back with its value, "kubebin-after-backup" is gone, every etcd member is
#      healthy and in the member list, every Node Ready, and a new object can be written.
#   Scheduled snapshots (kubebin-etcd-backup.timer on the first etcd member, between 1 and 2):
#   T1. its service started keep+1 times: each run leaves a snapshot that etcdutl reads and
#      that matches its .sha256, 0600 in a 0700 directory, and exactly `keep` are left (the
#      oldest pruned); with etcdutl made to fail (/bin/false bind-mounted over it) the unit
#      fails and leaves no file behind;
#   T2. etcd_restore.yml -e etcd_restore_source=hosts -e etcd_restore_snapshot=<the oldest kept>
#      without confirmation: that snapshot is found, verified on the member, fetched to the
#      controller with its .sha256, and the run is refused before anything is stopped.
# BACKUP_E2E_SOURCE=hosts (make e2e-etcd-timer): step 2 takes the snapshot with the timer's
# service instead of etcd_backup.yml, and step 4 restores it with etcd_restore_source=hosts
# (the newest scheduled snapshot): the proof that a timer-made snapshot brings data back.
# Prints the figures (durations, counts). Re-runnable: it cleans up its own objects.
#   KUBEBIN_LAB_NAME=ops tests/e2e/backup_restore_e2e.sh
#   KUBEBIN_LAB_NAME=ops BACKUP_E2E_SOURCE=hosts tests/e2e/backup_restore_e2e.sh
# Needs ansible-playbook and kubectl in PATH and the collection on ANSIBLE_COLLECTIONS_PATH.
set -euo pipefail
cd "$(dirname "$0")/../.."
lab=${KUBEBIN_LAB_NAME:-kb}
export KUBEBIN_LAB_NAME=$lab
. tests/e2e/lib.sh   # run, recap, ap, e2e_inventory
inv=$(e2e_inventory)
cluster=${KUBEBIN_CLUSTER_NAME:-kubebin}
cdir=$(dirname "$inv")/.kubebin/$cluster
export KUBECONFIG=${KUBECONFIG:-$cdir/admin.kubeconfig}
backups=$cdir/backups
logs=${LOGDIR:-build/e2e-backup-restore}
mkdir -p "$logs"
ns=default

fail() { echo "backup_restore_e2e: FAIL: $*"; exit 1; }
etcd_first=$(ansible-inventory -i "$inv" --graph etcd | sed -n 's/^ *|--//p' | head -n1)
etcd_count=$(ansible-inventory -i "$inv" --graph etcd | grep -c -- '|--')
etcdctl() {  # etcdctl ARGS... on the first etcd member, with the role's health-check client cert
  python3 hack/lab/lab.py --name "$lab" ssh "$etcd_first" \
    "etcdctl --cacert=/etc/etcd/pki/ca.pem --cert=/etc/etcd/pki/healthcheck-client.pem \
     --key=/etc/etcd/pki/healthcheck-client-key.pem --endpoints=https://127.0.0.1:2379 $*"
}

onhost() {  # onhost CMD: a shell command as root on the first etcd member
  python3 hack/lab/lab.py --name "$lab" ssh "$etcd_first" "$*"
}
source_=${BACKUP_E2E_SOURCE:-controller}
case $source_ in controller|hosts) ;; *) fail "BACKUP_E2E_SOURCE=$source_: controller or hosts";; esac

kubectl -n $ns delete configmap kubebin-restore-probe kubebin-after-backup kubebin-after-restore --ignore-not-found >/dev/null

# 1. no confirmation, no terminal: refused, nothing stopped (a controller snapshot must exist:
#    in CI the upgrade step made one; BACKUP_E2E_SOURCE=hosts checks the refusal in T2 instead).
if [ "$source_" = controller ]; then
  start=$(date +%s)
  if ap -i "$inv" etcd_restore.yml > "$logs/restore-unconfirmed.log" 2>&1 < /dev/null; then
    fail "etcd_restore.yml ran without confirmation"
  fi
  grep -q "Restore not confirmed" "$logs/restore-unconfirmed.log" || fail "no 'Restore not confirmed' message"
  kubectl get --raw /readyz >/dev/null || fail "the API server is not serving after a refused restore"
  refused=$(( $(date +%s) - start ))
  echo "refused without confirmation in ${refused}s, API server still ready"
fi

# T1. the scheduled snapshots: keep+1 runs of the timer's service, each verified, the oldest pruned.
start=$(date +%s)
tdir=$(onhost "systemctl cat kubebin-etcd-backup.service >/dev/null && sed -n 's/^dir=//p' /usr/local/bin/kubebin-etcd-backup") \
  || fail "no kubebin-etcd-backup.service on $etcd_first (etcd_backup_timer_enabled, etcd_backup_timer_members)"
keep=$(onhost "sed -n 's/^keep=//p' /usr/local/bin/kubebin-etcd-backup")
onhost "systemctl is-enabled kubebin-etcd-backup.timer && systemctl is-active kubebin-etcd-backup.timer" >/dev/null \
  || fail "kubebin-etcd-backup.timer is not enabled and active on $etcd_first"
before=$(onhost "ls -A $tdir | grep -c '^$cluster-.*\\.db\$' || true")
onhost "for i in \$(seq $((keep + 1))); do systemctl start kubebin-etcd-backup.service || exit 1; done" \
  || fail "kubebin-etcd-backup.service failed (journalctl -u kubebin-etcd-backup on $etcd_first)"
# every kept snapshot: etcdutl reads it, its .sha256 matches, 0600; the directory 0700; nothing half-written
tcheck=$(onhost "cd $tdir && [ \$(stat -c %a .) = 700 ] && n=0 && for f in $cluster-*.db; do
  [ \$(stat -c %a \$f) = 600 ] && [ \$(stat -c %a \$f.sha256) = 600 ] && sha256sum -c --quiet \$f.sha256 \
  && etcdutl snapshot status \$f -w json >/dev/null || { echo BAD \$f; exit 1; }; n=\$((n + 1)); done;
  echo \$n \$(ls -A | grep -c part || true)") || fail "a scheduled snapshot does not verify: $tcheck"
read -r tcount tparts <<< "$tcheck"
[ "$tcount" = "$keep" ] && [ "$tparts" = 0 ] || fail "$tcount scheduled snapshots ($tparts .part files) after $((keep + 1)) runs, expected $keep"
pruned=$(( before + keep + 1 - tcount ))
# a snapshot that does not verify: etcdutl replaced by /bin/false for one run
etcdutl_bin=$(onhost "readlink -f /usr/local/bin/etcdutl")
onhost "mount --bind /bin/false $etcdutl_bin"
if onhost "systemctl start kubebin-etcd-backup.service" 2>/dev/null; then bad=ran; else bad=failed; fi
onhost "umount $etcdutl_bin"
after_bad=$(onhost "ls -A $tdir | grep -c '\.db\$' ; systemctl is-failed kubebin-etcd-backup.service || true" | tr '\n' ' ')
onhost "systemctl reset-failed kubebin-etcd-backup.service"
[ "$bad" = failed ] && [ "$after_bad" = "$keep failed " ] \
  || fail "with etcdutl failing the unit $bad and left: $after_bad (expected failed, $keep .db files)"
timer=$(( $(date +%s) - start ))
echo "scheduled snapshots: $((keep + 1)) runs of kubebin-etcd-backup.service on $etcd_first in ${timer}s: $tcount kept in $tdir"
echo "  (keep=$keep, pruned $pruned), each read by etcdutl and matching its .sha256, 0600 in a 0700 dir;"
echo "  a run whose snapshot does not verify: unit failed, no file left"

# T2. a named scheduled snapshot chosen, verified and fetched, then the unconfirmed restore refused.
oldest=$(onhost "cd $tdir && ls $cluster-*.db | head -n1")
start=$(date +%s)
if ap -i "$inv" etcd_restore.yml -e etcd_restore_source=hosts -e etcd_restore_snapshot="$oldest" \
   > "$logs/restore-hosts-unconfirmed.log" 2>&1 < /dev/null; then
  fail "etcd_restore.yml (hosts) ran without confirmation"
fi
grep -q "Restore not confirmed" "$logs/restore-hosts-unconfirmed.log" || fail "no 'Restore not confirmed' message (hosts)"
(cd "$backups" && sha256sum -c --quiet "$oldest.sha256") || fail "the fetched $oldest does not match its .sha256"
[ "$(stat -c %a "$backups/$oldest")" = 600 ] || fail "$backups/$oldest is not 0600"
kubectl get --raw /readyz >/dev/null || fail "the API server is not serving after a refused restore (hosts)"
echo "named scheduled snapshot $oldest: found, verified, fetched (sha256 ok, 0600), restore refused unconfirmed in $(( $(date +%s) - start ))s"
rm -f "$backups/$oldest" "$backups/$oldest.sha256"

# 2. an object, then a backup (etcd_backup.yml to the controller, or the timer's service on the member).
value=$RANDOM-$(date +%s)
kubectl -n $ns create configmap kubebin-restore-probe --from-literal=value="$value" >/dev/null
if [ "$source_" = hosts ]; then
  start=$(date +%s)
  onhost "systemctl start kubebin-etcd-backup.service" || fail "kubebin-etcd-backup.service failed"
  backup=$(( $(date +%s) - start ))
  snap=$(onhost "cd $tdir && ls $cluster-*.db | tail -n1")
  echo "backup: scheduled snapshot $etcd_first:$tdir/$snap by kubebin-etcd-backup.service in ${backup}s"
else
  run backup etcd_backup.yml; backup=$took
  snap=$(ls -t "$backups"/"$cluster"-*.db | head -n1)
  [ "$(stat -c %a "$snap")" = 600 ] || fail "$snap is not 0600"
  [ "$(stat -c %a "$backups")" = 700 ] || fail "$backups is not 0700"
  (cd "$backups" && sha256sum -c --quiet "$(basename "$snap").sha256") || fail "sha256 of $snap"
  keys=$(grep -o '[0-9]* keys' "$logs/backup.log" | head -n1)
  echo "backup: $snap ($(stat -c %s "$snap") bytes, $keys) in ${backup}s, sha256 verified, 0600 in a 0700 dir"
  echo "recap: $(grep -A20 'PLAY RECAP' "$logs/backup.log" | grep -c 'changed=[1-9]') host(s) changed (a backup creates a file: expected)"
fi

# 3. the object lost, another written after the backup.
kubectl -n $ns delete configmap kubebin-restore-probe >/dev/null
kubectl -n $ns create configmap kubebin-after-backup --from-literal=x=1 >/dev/null
kubectl -n $ns get configmap kubebin-restore-probe >/dev/null 2>&1 && fail "probe not deleted"

# 4. restore.
if [ "$source_" = hosts ]; then
  run restore etcd_restore.yml -e kubebin_etcd_restore_confirm=true -e etcd_restore_source=hosts; restore=$took
  grep -q "$snap" "$logs/restore.log" || fail "the restore did not use the newest scheduled snapshot $snap"
else
  run restore etcd_restore.yml -e kubebin_etcd_restore_confirm=true; restore=$took
fi

# 5. checks.
got=$(kubectl -n $ns get configmap kubebin-restore-probe -o jsonpath='{.data.value}') || fail "probe not restored"
[ "$got" = "$value" ] || fail "probe value '$got', expected '$value'"
kubectl -n $ns get configmap kubebin-after-backup >/dev/null 2>&1 && fail "kubebin-after-backup survived the restore"
healthy=$(etcdctl "endpoint health --cluster -w json" | python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if e["health"]))')
members=$(etcdctl "member list -w json" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["members"]))')
[ "$healthy" = "$etcd_count" ] && [ "$members" = "$etcd_count" ] || fail "etcd: $healthy healthy, $members members, expected $etcd_count"
kubectl wait --for=condition=Ready nodes --all --timeout=180s >/dev/null || fail "nodes not Ready"
nodes=$(kubectl get nodes --no-headers | wc -l)
ready=$(kubectl get nodes --no-headers | awk '$2 == "Ready"' | wc -l)
kubectl -n $ns create configmap kubebin-after-restore --from-literal=x=1 >/dev/null || fail "cannot write after the restore"
kubectl -n $ns delete configmap kubebin-restore-probe kubebin-after-restore >/dev/null
old=$(grep -o 'before-restore-[0-9TZ]*' "$logs/restore.log" | sort -u | head -n1 || true)

echo "backup_restore_e2e figures ($source_ snapshot): backup ${backup}s, restore ${restore}s, probe restored (value $value),"
echo "  object written after the backup gone, etcd ${healthy}/${etcd_count} healthy and ${members} members,"
echo "  nodes ${ready}/${nodes} Ready, new object written; old data kept as /var/lib/etcd.${old:-?}"
echo "backup_restore_e2e: PASS"
