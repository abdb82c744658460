#!/usr/bin/env bash
# The scaling proof on the local lab (docs/operations.md#scaling): on a deployed cluster,
# add a host to the lab, join it with add_node.yml (the existing hosts must report
# changed=0, except one file on each master: the CSR approver's node list; the new Node must
# be Ready), re-run add_node.yml (changed=0 everywhere), then
# remove it with remove_node.yml (Node deleted, kubelet gone from the host) and drop the
# host from the lab. Prints the figures; exits non-zero when a check fails.
#
#   tests/e2e/scale_e2e.sh          # deploys with site.yml first when the lab has no cluster
# Environment: KUBEBIN_LAB_NAME (lab instance), SCALE_NODES (nodes before the test, default 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
lab="python3 hack/lab/lab.py"
nodes=${SCALE_NODES:-2}
logs=build/e2e/scale${KUBEBIN_LAB_NAME:+-$KUBEBIN_LAB_NAME}
mkdir -p "$logs"

. tests/e2e/lib.sh   # run, recap, e2e_inventory
group() { ansible-inventory -i "$inv" --list | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin).get(sys.argv[1], {}).get("hosts", [])))' "$1"; }

$lab up --nodes "$nodes"
inv=$(e2e_inventory)
admin="$(dirname "$inv")/.kubebin/kubebin/admin.kubeconfig"
kc() { kubectl --kubeconfig "$admin" "$@"; }
if ! kc get nodes > /dev/null 2>&1; then run deploy site.yml; fi
before=$(group nodes)

$lab up --nodes $((nodes + 1))
inv=$(e2e_inventory)
new=$(for h in $(group nodes); do case " $before " in *" $h "*) ;; *) echo "$h";; esac; done)
[ -n "$new" ] || { echo "scale e2e: lab.py up --nodes $((nodes + 1)) added no host"; exit 1; }
echo "adding $new"

run add add_node.yml -e "add_nodes=$new"; add=$took
recap add
# Existing hosts: nothing changes, except on each master the CSR approver's node list
# (one file, nothing restarted).
masters=$(group masters)
existing=$(recap add | grep -vE "^($new) " | grep -E 'changed=' || true)
for h in $(echo "$existing" | awk '{print $1}'); do
  allowed=0; case " $masters " in *" $h "*) allowed=1;; esac
  c=$(echo "$existing" | grep -E "^$h " | grep -oE 'changed=[0-9]+' | cut -d= -f2)
  if [ "$c" -gt "$allowed" ] || echo "$existing" | grep -E "^$h " | grep -qE 'failed=[1-9]'; then
    echo "scale e2e: add_node.yml changed the existing host $h (changed=$c, at most $allowed allowed)"; exit 1
  fi
done
approver_knows() {
  $lab ssh "$1" cat /etc/kubernetes/csr-approver/config.json \
    | python3 -c 'import json,sys; print(" ".join(n["name"] for n in json.load(sys.stdin)["nodes"]))'
}
for m in $masters; do
  known=$(approver_knows "$m")
  case " $known " in *" $new "*) ;; *) echo "scale e2e: the CSR approver on $m does not know $new (knows: $known)"; exit 1;; esac
done
recap add | grep -E "^$new .*changed=[1-9]" > /dev/null || { echo "scale e2e: nothing was done on $new"; exit 1; }
ready=$(kc get node "$new" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')
[ "$ready" = True ] || { echo "scale e2e: $new is not Ready ($ready)"; exit 1; }
tokens=$(kc -n kube-system get secrets --field-selector type=bootstrap.kubernetes.io/token -o json \
  | python3 -c 'import base64,json,sys; print(sum(1 for s in json.load(sys.stdin)["items"] if "add_node" in base64.b64decode(s["data"].get("description","")).decode()))')
[ "$tokens" = 0 ] || { echo "scale e2e: $tokens add_node bootstrap token(s) left behind"; exit 1; }
kc get nodes -o wide

run add-again add_node.yml -e "add_nodes=$new"; again=$took
recap add-again
if recap add-again | grep -qE 'changed=[1-9]|failed=[1-9]'; then
  echo "scale e2e: the second add_node.yml run changed something"; exit 1
fi

run remove remove_node.yml -e "remove_nodes=$new"; remove=$took
recap remove
if kc get node "$new" > /dev/null 2>&1; then echo "scale e2e: the Node $new still exists"; exit 1; fi
state=$($lab ssh "$new" 'systemctl is-active kubelet kube-proxy; echo "kubelet-dir-entries=$(ls -A /var/lib/kubelet 2>/dev/null | wc -l)"; test -e /etc/kubernetes/kubelet.kubeconfig && echo kubeconfig-left' || true)
echo "$new after remove_node: $(echo "$state" | paste -sd' ' -)"
echo "$state" | grep -qx active && { echo "scale e2e: a node service still runs on $new"; exit 1; }
echo "$state" | grep -qx 'kubelet-dir-entries=0' || { echo "scale e2e: /var/lib/kubelet not emptied on $new"; exit 1; }
echo "$state" | grep -qx kubeconfig-left && { echo "scale e2e: kubelet.kubeconfig left on $new"; exit 1; }
for m in $masters; do
  known=$(approver_knows "$m")
  case " $known " in *" $new "*) echo "scale e2e: the CSR approver on $m still knows $new"; exit 1;; esac
done
run remove-again remove_node.yml -e "remove_nodes=$new"; remove_again=$took
recap remove-again
if recap remove-again | grep -qE 'changed=[1-9]|failed=[1-9]'; then
  echo "scale e2e: the second remove_node.yml run changed something"; exit 1
fi
$lab up --nodes "$nodes"
inv=$(e2e_inventory)
kc get nodes
echo "scale e2e figures: add_node ${add}s (existing nodes changed=0, masters only the approver list), re-run ${again}s (changed=0), remove_node ${remove}s, re-run ${remove_again}s (changed=0)"
