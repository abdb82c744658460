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
# Prints the figures (durations, counts). Re-runnable: it cleans up its own objects.
#   KUBEBIN_LAB_NAME=ops tests/e2e/backup_restore_e2e.sh
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

kubectl -n $ns delete configmap kubebin-restore-probe kubebin-after-backup kubebin-after-restore --ignore-not-found >/dev/null

# 1. no confirmation, no terminal: refused, nothing stopped.
start=$(date +%s)
if ap -i "$inv" etcd_restore.yml > "$logs/restore-unconfirmed.log" 2>&1 < /dev/null; then
  fail "etcd_restore.yml ran without confirmation"
fi
grep -q "Restore not confirmed" "$logs/restore-unconfirmed.log" || fail "no 'Restore not confirmed' message"
kubectl get --raw /readyz >/dev/null || fail "the API server is not serving after a refused restore"
refused=$(( $(date +%s) - start ))
echo "refused without confirmation in ${refused}s, API server still ready"

# 2. an object, then a backup.
value=$RANDOM-$(date +%s)
kubectl -n $ns create configmap kubebin-restore-probe --from-literal=value="$value" >/dev/null
run backup etcd_backup.yml; backup=$took
snap=$(ls -t "$backups"/"$cluster"-*.db | head -n1)
[ "$(stat -c %a "$snap")" = 600 ] || fail "$snap is not 0600"
[ "$(stat -c %a "$backups")" = 700 ] || fail "$backups is not 0700"
(cd "$backups" && sha256sum -c --quiet "$(basename "$snap").sha256") || fail "sha256 of $snap"
keys=$(grep -o '[0-9]* keys' "$logs/backup.log" | head -n1)
echo "backup: $snap ($(stat -c %s "$snap") bytes, $keys) in ${backup}s, sha256 verified, 0600 in a 0700 dir"
echo "recap: $(grep -A20 'PLAY RECAP' "$logs/backup.log" | grep -c 'changed=[1-9]') host(s) changed (a backup creates a file: expected)"

# 3. the object lost, another written after the backup.
kubectl -n $ns delete configmap kubebin-restore-probe >/dev/null
kubectl -n $ns create configmap kubebin-after-backup --from-literal=x=1 >/dev/null
kubectl -n $ns get configmap kubebin-restore-probe >/dev/null 2>&1 && fail "probe not deleted"

# 4. restore.
run restore etcd_restore.yml -e kubebin_etcd_restore_confirm=true; restore=$took

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

echo "backup_restore_e2e figures: backup ${backup}s, restore ${restore}s, probe restored (value $value),"
echo "  object written after the backup gone, etcd ${healthy}/${etcd_count} healthy and ${members} members,"
echo "  nodes ${ready}/${nodes} Ready, new object written; old data kept as /var/lib/etcd.${old:-?}"
echo "backup_restore_e2e: PASS"
