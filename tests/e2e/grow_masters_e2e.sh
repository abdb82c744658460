#!/usr/bin/env bash
# From one master to three with site.yml (docs/operations.md, "Adding masters and etcd
# members"), on the local lab instance GROW_LAB (default "grow"):
#   1. lab up with 1 master (etcd on it) + 2 nodes; site.yml (timed); a marker key in etcd;
#   2. the lab grows to 3 masters (etcd on each) + the same nodes; site.yml (timed): etcd gains
#      two members by `member add` (no re-bootstrap), the API server certificate names the
#      three masters, the new masters run the control plane, and with more than one master
#      every master and node gets the local apiserver balancer and points its components at it;
#   3. site.yml again must report changed=0 on every host;
#   4. checks: 3 started etcd members, all healthy, the marker key still there (the cluster
#      was grown, not bootstrapped again);
#      /readyz answers on each master; the node's kubelet and kube-proxy use the balancer,
#      which sees 3 apiservers up; every node Ready; tests/e2e/verify.yml.
# Not part of `make test` (it takes three site.yml runs); run it by hand:
#   tests/e2e/grow_masters_e2e.sh      env GROW_LAB=grow, GROW_E2E_KEEP=1 keeps the lab
set -euo pipefail
cd "$(dirname "$0")/../.."
export KUBEBIN_LAB_NAME=${GROW_LAB:-grow}
lab="python3 hack/lab/lab.py"
logs=build/e2e/grow-$KUBEBIN_LAB_NAME
mkdir -p "$logs"
. tests/e2e/lib.sh   # run, recap
die() { echo "grow e2e: $*"; exit 1; }
on() { local h=$1; shift; $lab ssh "$KUBEBIN_LAB_NAME-$h" "$@"; }
etcdctl_on() {
  local h=$1; shift
  on "$h" "etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/etcd/pki/ca.pem \
    --cert=/etc/etcd/pki/healthcheck-client.pem --key=/etc/etcd/pki/healthcheck-client-key.pem $*"
}
cleanup() { [ "${GROW_E2E_KEEP:-0}" = 1 ] || $lab down > /dev/null; }
trap cleanup EXIT

$lab down > /dev/null
$lab up --masters 1 --nodes 2
inv=$($lab inventory)
run deploy site.yml; deploy=$took
recap deploy
marker="grown-$(date +%s)"
etcdctl_on master1 put /kubebin-grow-test "$marker" > /dev/null

$lab up --masters 3 --nodes 2
inv=$($lab inventory)
run grow site.yml; grow=$took
recap grow
run again site.yml; again=$took
recap again
if recap again | grep -qE 'changed=[1-9]|failed=[1-9]'; then die "the site.yml after the growth changed something (must be changed=0)"; fi

members=$(etcdctl_on master1 member list)
echo "$members"
[ "$(echo "$members" | grep -c ', started, ')" = 3 ] || die "etcd has not 3 started members"
[ "$(etcdctl_on master3 get --print-value-only /kubebin-grow-test)" = "$marker" ] \
  || die "the key written before the growth is not on master3: etcd was bootstrapped again"
etcdctl_on master1 del /kubebin-grow-test > /dev/null
etcdctl_on master1 endpoint health --cluster \
  || die "an etcd member is unhealthy"
for m in master1 master2 master3; do
  r=$(on "$m" curl -s --cacert /etc/kubernetes/pki/ca.pem https://127.0.0.1:6443/readyz || true)
  [ "$r" = ok ] || die "kube-apiserver on $m: /readyz answered '$r'"
done
for f in kubelet.kubeconfig kube-proxy.kubeconfig; do
  s=$(on node1 "sed -n 's/^ *server: //p' /etc/kubernetes/$f")
  case $s in https://127.0.0.1:*) ;; *) die "node1's $f points at $s, not at the local balancer";; esac
done
lb=$(on node1 "echo 'show servers state kube-apiserver' | socat - UNIX:/run/haproxy-kubebin.sock" \
  | awk 'NF > 6 && $1 ~ /^[0-9]+$/ && $4 !~ /-fallback$/ {printf "%s=%s ", $4, ($6 == 2 ? "UP" : "DOWN")} END {print ""}')
echo "node1's balancer: $lb"
[ "$(echo "$lb" | grep -o '=UP' | wc -l)" = 3 ] || die "node1's balancer does not see 3 apiservers up: $lb"
run verify tests/e2e/verify.yml; verify=$took
grep -E '"msg": "(node|forged)' "$logs/verify.log" || true
echo "grow e2e figures: 1 master + 2 nodes deploy ${deploy}s, growth to 3 masters ${grow}s, re-run (changed=0) ${again}s, verify ${verify}s; the etcd data of the 1-member cluster kept"
