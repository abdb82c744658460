#!/usr/bin/env bash
# From three masters to two with remove_master.yml (docs/operations.md, "Removing masters and
# etcd members"), on the local lab instance SHRINK_LAB (default "shrink"):
#   1. lab up with 3 masters (etcd on each) + 1 node; site.yml (timed); a marker key in etcd;
#      leadership moved to master3, so that its removal has to move it away first;
#   2. refused before anything changes: 3 -> 2 etcd members without etcd_allow_even_members;
#      a removal while a member that would stay is down (master2's etcd stopped);
#   3. remove_master.yml -e remove_master=<lab>-master3 (timed): leader moved, member removed,
#      control plane stopped and cleaned, balancers and the masters that stay converged;
#   4. checks: 2 started etcd members, both healthy, the marker key still there, the leader
#      one of them; master3 without etcd, kube-apiserver or their data; node1 Ready and no
#      Node master3; the API answers through node1's balancer, which has 2 backends, both UP;
#      the `kubernetes` Service has 2 endpoints;
#   5. the lab shrinks (lab.py up --masters 2: the host is gone, the inventory without it);
#      refused: a name that is no master or etcd host, the last master (a 1-master view of
#      the inventory), a removal while the other member is down (1 of 2: no quorum); each
#      leaves etcd and the API as they were;
#   6. site.yml with the shrunk inventory must report changed=0 on every host.
# Not part of `make test` (two site.yml runs, about 15 minutes); run it by hand:
#   make e2e-shrink      env SHRINK_LAB=shrink, SHRINK_E2E_KEEP=1 keeps the lab
set -euo pipefail
cd "$(dirname "$0")/../.."
export KUBEBIN_LAB_NAME=${SHRINK_LAB:-shrink}
lab="python3 hack/lab/lab.py"
logs=build/e2e/shrink-$KUBEBIN_LAB_NAME
mkdir -p "$logs"
. tests/e2e/lib.sh   # run, recap
L=$KUBEBIN_LAB_NAME
die() { echo "shrink e2e: FAIL: $*"; exit 1; }
ok() { echo "shrink e2e: ok: $*"; }
on() { local h=$1; shift; $lab ssh "$L-$h" "$@"; }
etcdctl_on() {
  local h=$1; shift
  on "$h" "etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/etcd/pki/ca.pem \
    --cert=/etc/etcd/pki/healthcheck-client.pem --key=/etc/etcd/pki/healthcheck-client-key.pem $*"
}
kubectl_on() { local h=$1; shift; on "$h" "kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig $*"; }
# refused LOG MESSAGE ARGS...: remove_master.yml must fail, its output naming MESSAGE.
refused() {
  local log=$1 msg=$2 start; shift 2
  start=$(date +%s)
  if ap -i "$inv" remove_master.yml "$@" > "$logs/$log.log" 2>&1 < /dev/null; then
    die "remove_master.yml $* was not refused (log: $logs/$log.log)"
  fi
  grep -q -- "$msg" "$logs/$log.log" || { tail -n 30 "$logs/$log.log"; die "remove_master.yml $* failed without '$msg'"; }
  echo "shrink e2e: refused in $(( $(date +%s) - start ))s: $* -> $(grep -o -m1 -- "$msg[^\"]\{0,100\}" "$logs/$log.log")"
  refusals=$((refusals + 1))
}
members() { etcdctl_on "$1" member list | grep -c ', started, ' || true; }
unchanged() {  # etcd members $1 and the API on every master of $2..
  local n=$1 m; shift
  [ "$(members "$1")" = "$n" ] || die "etcd no longer has $n started members after a refused run"
  for m in "$@"; do
    [ "$(on "$m" systemctl is-active kube-apiserver etcd | sort -u)" = active ] || die "$m: kube-apiserver or etcd not active after a refused run"
  done
}
cleanup() { [ "${SHRINK_E2E_KEEP:-0}" = 1 ] || $lab down > /dev/null; }
trap cleanup EXIT
t0=$(date +%s)
refusals=0

# 1. three masters
if [ "${SHRINK_E2E_REUSE:-0}" = 1 ]; then
  inv=$($lab inventory); deploy=0   # a lab of this script, deployed (development)
else
  $lab down > /dev/null
  $lab up --masters 3 --nodes 1 --etcd-on-masters
  inv=$($lab inventory)
  run deploy site.yml; deploy=$took
  recap deploy
fi
[ "$(members master1)" = 3 ] || die "etcd has not 3 started members after site.yml"
marker="shrunk-$(date +%s)"
etcdctl_on master1 put /kubebin-shrink-test "$marker" > /dev/null
# member ID of master3, and the endpoint and ID of the leader (endpoint status -w json)
read -r id3 leader_ep leader_id < <(etcdctl_on master1 endpoint status --cluster -w json | python3 -c '
import json, sys
s = json.load(sys.stdin)
me = [e for e in s if e["Endpoint"].startswith("https://" + sys.argv[1] + ":")][0]
lead = [e for e in s if e["Status"]["header"]["member_id"] == e["Status"]["leader"]][0]
print("%x %s %x" % (me["Status"]["header"]["member_id"], lead["Endpoint"], lead["Status"]["leader"]))' "$(awk '/^    '"$L"'-master3:/{f=1} f && /ansible_host/{print $2; exit}' "$inv")")
[ "$leader_id" = "$id3" ] || etcdctl_on master1 --endpoints="$leader_ep" move-leader "$id3" > /dev/null
on master3 "curl -s http://127.0.0.1:2381/metrics | grep -q '^etcd_server_is_leader 1'" || die "could not make master3 the etcd leader"
ok "marker key written, master3 ($id3) leads etcd"

# 2. refused before anything changes
refused even "an even number" -e remove_master="$L-master3"
on master2 systemctl stop etcd
refused member-down "members that would stay are not healthy: $L-master2" -e remove_master="$L-master3" -e etcd_allow_even_members=true
on master2 systemctl start etcd
etcdctl_on master1 endpoint health --cluster > /dev/null || die "etcd not healthy again after master2's restart"
unchanged 3 master1 master2 master3
ok "nothing changed by the refused runs"

# 3. the removal
run remove remove_master.yml -e remove_master="$L-master3" -e etcd_allow_even_members=true; remove=$took
recap remove
grep -q 'move leadership away from' "$logs/remove.log" && grep -A3 'move leadership away from' "$logs/remove.log" | grep -q changed \
  || die "leadership was not moved away from master3 first"

# 4. checks
echo "$(etcdctl_on master1 member list)"
[ "$(members master1)" = 2 ] || die "etcd has not 2 started members"
etcdctl_on master1 member list | grep -q "$L-master3" && die "master3 is still an etcd member"
etcdctl_on master1 endpoint health --cluster || die "an etcd member is unhealthy"
for m in master1 master2; do
  [ "$(etcdctl_on "$m" get --print-value-only /kubebin-shrink-test)" = "$marker" ] || die "the marker key is not on $m"
done
on master3 "! systemctl is-active -q etcd kube-apiserver kube-controller-manager kube-scheduler kubelet haproxy kubebin-lb-agent && [ ! -e /var/lib/etcd/member ] && [ ! -e /etc/kubernetes/pki ]" \
  || die "master3 still runs a component or keeps etcd data or the control-plane PKI"
on master3 "[ ! -e /etc/haproxy/kubebin-ca.pem ] && [ ! -e /etc/systemd/system/kube-apiserver.service.d/50-kubebin-lb-drain.conf ] && [ ! -e /usr/local/lib/kubebin-lb-agent ]" \
  || die "master3 keeps the balancer's CA copy, the drain drop-in or the drain agent (loadbalancer reset)"
kubectl_on master1 get nodes -o wide
kubectl_on master1 get node "$L-master3" > /dev/null 2>&1 && die "the Node $L-master3 still exists"
kubectl_on master1 wait --for=condition=Ready "node/$L-node1" --timeout=60s > /dev/null || die "node1 is not Ready"
r=$(on node1 "curl -s --cacert /etc/kubernetes/pki/ca.pem https://127.0.0.1:8443/readyz" || true)
[ "$r" = ok ] || die "the API through node1's balancer answered '$r'"
lb=$(on node1 "echo 'show servers state kube-apiserver' | socat - UNIX:/run/haproxy-kubebin.sock" \
  | awk 'NF > 6 && $1 ~ /^[0-9]+$/ && $4 !~ /-fallback$/ {printf "%s=%s ", $4, ($6 == 2 ? "UP" : "DOWN")} END {print ""}')
echo "node1's balancer: $lb"
[ "$(echo "$lb" | grep -o '=UP' | wc -l)" = 2 ] && ! echo "$lb" | grep -q master3 || die "node1's balancer has not exactly the 2 masters that stay, UP: $lb"
eps=$(kubectl_on master1 get endpointslices -n default -l kubernetes.io/service-name=kubernetes -o jsonpath='{.items[*].endpoints[*].addresses[*]}')
[ "$(echo "$eps" | wc -w)" = 2 ] || die "the kubernetes Service has endpoints '$eps', not 2"
for l in kube-controller-manager kube-scheduler; do
  h=$(kubectl_on master1 get lease -n kube-system "$l" -o jsonpath='{.spec.holderIdentity}')
  case $h in "$L-master3"*) die "$l's lease is still held by master3 ($h)";; esac
done
ok "2 healthy members, marker kept, node1 Ready through its balancer (2 backends UP), 2 apiserver endpoints, leases elsewhere"

# 5. the lab and the inventory without master3; refusals on the smaller cluster
$lab up --masters 2 --nodes 1 --etcd-on-masters > /dev/null
inv=$($lab inventory)
grep -q master3 "$inv" && die "the lab inventory still names master3"
refused not-master "name ONE inventory host of the masters group" -e remove_master="$L-node1"
one=$(dirname "$inv")/one-master.yml
python3 - "$inv" "$one" "$L-master1" <<'EOF'
import sys, yaml
inv, out, keep = sys.argv[1:]
d = yaml.safe_load(open(inv))
for g in ('etcd', 'masters'):
    d['all']['children'][g]['hosts'] = {keep: None}
for h in list(d['all']['hosts']):
    if h not in (keep,) and h not in d['all']['children']['nodes']['hosts']:
        del d['all']['hosts'][h]
yaml.safe_dump(d, open(out, 'w'))
EOF
full=$inv; inv=$one
refused last-master "it is the last master" -e remove_master="$L-master1"
inv=$full
on master2 systemctl stop etcd
# 1 of 2 members up is no majority: the member list itself gets no answer
refused no-quorum "no quorum" -e remove_master="$L-master1" -e kubebin_apiserver_lb_enabled=true
on master2 systemctl start etcd
etcdctl_on master1 endpoint health --cluster > /dev/null || die "etcd not healthy again after master2's restart"
unchanged 2 master1 master2
ok "nothing changed by the refused runs"

# 6. site.yml on the shrunk inventory: nothing to do
run again site.yml -e etcd_allow_even_members=true; again=$took
recap again
if recap again | grep -qE 'changed=[1-9]|failed=[1-9]'; then die "site.yml after the removal changed something (must be changed=0)"; fi
etcdctl_on master1 del /kubebin-shrink-test > /dev/null
echo "shrink e2e figures: deploy 3 masters + 1 node ${deploy}s, remove_master.yml ${remove}s, $refusals refusals (nothing changed)," \
  "site.yml afterwards (changed=0) ${again}s, total $(( $(date +%s) - t0 ))s"
