#!/usr/bin/env bash
# reset.yml proof on a deployed lab (docs/operations.md "Reset"):
#   1. reset.yml without a terminal and without kubebin_reset_confirm refuses, changes nothing;
#   2. a census of what the collection installed on every host (units, active services,
#      binaries, configuration and data directories, mounts, CNI devices, KUBE-*/FLANNEL-*
#      iptables chains, the etcd user): many items before;
#   3. reset.yml -e kubebin_reset_confirm=true on every host: the census finds 0 items;
#   4. reset.yml again: changed=0 on every host (idempotent);
#   5. site.yml on the same hosts: every Node Ready, kube-system pods Ready, a pod runs on a
#      worker and answers kubectl logs/exec.
# Prints the figures. DESTRUCTIVE for the lab's cluster (that is the point).
#   KUBEBIN_LAB_NAME=ops tests/e2e/reset_e2e.sh
# SITE_TWICE=1 also runs site.yml a second time and requires changed=0.
set -euo pipefail
cd "$(dirname "$0")/../.."
lab=${KUBEBIN_LAB_NAME:-kb}
inv=$(python3 hack/lab/lab.py --name "$lab" inventory)
cluster=${KUBEBIN_CLUSTER_NAME:-kubebin}
export KUBECONFIG=${KUBECONFIG:-$(dirname "$inv")/.kubebin/$cluster/admin.kubeconfig}
logs=${LOGDIR:-build/e2e-reset}
mkdir -p "$logs"

fail() { echo "reset_e2e: FAIL: $*"; exit 1; }
. tests/e2e/lib.sh   # run, recap
recap_changed() {  # hosts with changed>0 or failed>0 in a log's PLAY RECAP
  sed -n '/^PLAY RECAP/,$p' "$1" | grep -cE 'changed=[1-9]|failed=[1-9]|unreachable=[1-9]' || true
}

# What the roles install, by the roles' default paths (roles/*/defaults/main.yml).
census='
for u in kubelet kube-proxy kube-apiserver kube-controller-manager kube-scheduler etcd containerd docker kubebin-pod-routes; do
  [ -e /etc/systemd/system/$u.service ] && echo "unit $u"
  systemctl is-active -q $u 2>/dev/null && echo "active $u"
done
for f in /usr/local/bin/kubelet /usr/local/bin/kube-proxy /usr/local/bin/kube-apiserver /usr/local/bin/kube-controller-manager \
  /usr/local/bin/kube-scheduler /usr/local/bin/kubectl /usr/local/bin/etcd /usr/local/bin/etcdctl /usr/local/bin/etcdutl \
  /usr/local/bin/containerd /usr/local/bin/containerd-shim-runc-v2 /usr/local/bin/ctr /usr/local/bin/crictl /usr/local/sbin/runc \
  /usr/local/sbin/kubebin-pod-routes /opt/kubebin /opt/cni/bin /etc/kubernetes /etc/etcd /etc/containerd /etc/crictl.yaml \
  /etc/cni/net.d /var/lib/cni /run/flannel /var/lib/etcd /run/containerd /var/cache/kubebin; do
  [ -e $f ] || [ -L $f ] && echo "path $f"
done
for d in /var/lib/kubelet /var/lib/containerd; do
  [ -n "$(ls -A $d 2>/dev/null)" ] && echo "non-empty $d"
done
findmnt -rn -o TARGET | grep -E "^/var/lib/kubelet/|^/run/containerd/|^/var/lib/containerd/|^/run/netns/cni-" | sed "s/^/mount /"
for l in cni0 flannel.1 kube-ipvs0; do [ -e /sys/class/net/$l ] && echo "link $l"; done
iptables-save 2>/dev/null | grep -E "^:(KUBE-|FLANNEL-)" | sed "s/^:\([^ ]*\).*/chain \1/"
getent passwd etcd >/dev/null && echo "user etcd"
true'
count() {  # count LOG: items per host and in total, from an ad-hoc run of the census
  ansible -i "$inv" 'etcd:masters:nodes' -m ansible.builtin.shell -a "$census" > "$logs/$1.log" 2>&1 < /dev/null \
    || { tail -n 20 "$logs/$1.log"; fail "census $1"; }
  python3 - "$logs/$1.log" <<'PY'
import re, sys
host, per = None, {}
for line in open(sys.argv[1]):
    m = re.match(r'^(\S+) \| \w+ \| rc=\d+ >>', line)
    if m:
        host = m.group(1); per[host] = 0
    elif host and line.strip() and not line.startswith('['):
        per[host] += 1
print(' '.join('%s=%d' % kv for kv in sorted(per.items())), 'total=%d' % sum(per.values()))
PY
}

# 1. refused without confirmation.
if ansible-playbook -i "$inv" reset.yml > "$logs/reset-unconfirmed.log" 2>&1 < /dev/null; then
  fail "reset.yml ran without confirmation"
fi
grep -q "Reset not confirmed" "$logs/reset-unconfirmed.log" || fail "no 'Reset not confirmed' message"
sed -n '/^PLAY RECAP/,$p' "$logs/reset-unconfirmed.log" | grep -qE 'changed=[1-9]' && fail "the refused reset changed something"
echo "refused without confirmation, changed=0"

# 2. census before.
before=$(count census-before)
echo "installed before reset: $before"

# 3. reset.
run reset-1 reset.yml -e kubebin_reset_confirm=true; reset1=$took
after=$(count census-after)
echo "left after reset:       $after"
echo "$after" | grep -q 'total=0$' || { grep -v '^\S* | ' "$logs/census-after.log" | head -n 30; fail "leftovers after reset"; }

# 4. reset again: changed=0.
run reset-2 reset.yml -e kubebin_reset_confirm=true; reset2=$took
sed -n '/^PLAY RECAP/,$p' "$logs/reset-2.log"
[ "$(recap_changed "$logs/reset-2.log")" = 0 ] || fail "the second reset changed something"

# 5. site.yml on the reset hosts.
run site-1 site.yml; site1=$took
kubectl wait --for=condition=Ready nodes --all --timeout=300s >/dev/null || fail "nodes not Ready"
nodes=$(kubectl get nodes --no-headers | wc -l)
ready=$(kubectl get nodes --no-headers | awk '$2 == "Ready"' | wc -l)
kubectl -n kube-system wait --for=condition=Ready pods --all --timeout=300s >/dev/null || fail "kube-system pods not Ready"
sys_pods=$(kubectl -n kube-system get pods --no-headers | wc -l)
worker=$(ansible-inventory -i "$inv" --graph nodes | sed -n 's/^ *|--//p' | head -n1)
kubectl delete pod kubebin-reset-e2e --ignore-not-found --wait=true >/dev/null
kubectl run kubebin-reset-e2e --image=docker.io/library/busybox:1.35.0 --image-pull-policy=IfNotPresent --restart=Never \
  --overrides="{\"spec\":{\"nodeName\":\"$worker\"}}" -- sh -c 'echo kubebin-reset-e2e-ok; sleep 300' >/dev/null
kubectl wait --for=condition=Ready pod/kubebin-reset-e2e --timeout=180s >/dev/null || fail "test pod not Ready on $worker"
kubectl logs kubebin-reset-e2e | grep -q kubebin-reset-e2e-ok || fail "kubectl logs"
kubectl exec kubebin-reset-e2e -- nslookup kubernetes.default.svc.cluster.local >/dev/null || fail "kubectl exec / cluster DNS"
kubectl delete pod kubebin-reset-e2e --wait=false >/dev/null
site2=skipped
if [ "${SITE_TWICE:-0}" = 1 ]; then
  run site-2 site.yml; site2=${took}s
  [ "$(recap_changed "$logs/site-2.log")" = 0 ] || fail "the second site.yml changed something"
fi

echo "reset_e2e figures: reset ${reset1}s (installed items before: ${before##*total=}, after: 0),"
echo "  second reset ${reset2}s changed=0, site.yml after reset ${site1}s, second site.yml ${site2},"
echo "  nodes ${ready}/${nodes} Ready, ${sys_pods} kube-system pods Ready, pod on ${worker}: logs, exec, DNS ok"
echo "reset_e2e: PASS"
