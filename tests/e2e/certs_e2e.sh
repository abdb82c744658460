#!/usr/bin/env bash
# Certificate-lifecycle proof on a deployed lab (docs/operations.md, "Certificate lifecycle").
# Run after site.yml, from the repository root, with the collection on the collections path:
#   tests/e2e/certs_e2e.sh                 # the default lab instance
#   LAB_NAME=ops tests/e2e/certs_e2e.sh    # another instance
#   SKIP_SITE=1 ...                         # skip the (slow) final site.yml changed=0 run
#   STEPS="4 5" ...                         # run only some of the steps below
# Proves, printing the figures:
#   1. cert_report.yml prints every certificate (hosts + controller) and is read-only (changed=0,
#      also in --check); no key material in its output;
#   2. renew_certs.yml refuses an unknown name, naming it;
#   3. renew_certs.yml -e renew=kube-apiserver: the serial and notBefore of the apiserver
#      certificate on the master change, ONLY kube-apiserver restarts (ActiveEnterTimestamp of
#      etcd, kube-controller-manager, kube-scheduler, kubelet, kube-proxy unchanged on every
#      host), and every node is Ready afterwards;
#   4. kubebin-csr-approver: a forced kubelet serving-certificate rotation on the first node is
#      approved by the timer (condition reason KubebinPolicyApproved, the journal line, the
#      audit event of user kubebin:csr-approver), and a serving CSR forged with that node's own
#      kubelet credentials but a foreign IP SAN stays pending;
#   5. tests/e2e/verify.yml still passes; a last site.yml run reports changed=0.
set -euo pipefail
cd "$(dirname "$0")/../.."
lab=(python3 hack/lab/lab.py)
[ -n "${LAB_NAME:-}" ] && lab+=(--name "$LAB_NAME")
inv=$("${lab[@]}" inventory)
logs=${LOGS:-build/e2e-certs}
mkdir -p "$logs"
cluster_dir=$(dirname "$inv")/.kubebin/kubebin
kc=(kubectl --kubeconfig "$cluster_dir/admin.kubeconfig")
master=$(awk '/^    masters:/{m=1} m && /^        [a-z0-9-]+:$/{gsub(/[ :]/,""); print; exit}' "$inv")
node1=$(awk '/^    nodes:/{m=1} m && /^        [a-z0-9-]+:$/{gsub(/[ :]/,""); print; exit}' "$inv")
hosts=$(awk '/^  hosts:/{m=1;next} /^  [a-z]/{m=0} m && /^    [a-z0-9-]+:$/{gsub(/[ :]/,""); print}' "$inv")
ssh_() { "${lab[@]}" ssh "$@"; }
fail() { echo "certs e2e: FAILED: $*"; exit 1; }
want() { case " ${STEPS:-1 2 3 4 5} " in *" $1 "*) return 0 ;; esac; return 1; }

. tests/e2e/lib.sh   # run, recap
recap_ok() {  # recap_ok LOG: changed=0 and failed=0 on every host
  ! recap "$1" | grep -qE 'changed=[1-9]|failed=[1-9]'
}
units_ts() {  # one line per host:unit with its ActiveEnterTimestamp
  for h in $hosts; do
    ssh_ "$h" 'for u in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
                 systemctl list-unit-files "$u.service" >/dev/null 2>&1 &&
                 systemctl is-enabled "$u" >/dev/null 2>&1 &&
                 echo "$u $(systemctl show -p ActiveEnterTimestamp --value "$u")"; done' | sed "s/^/$h /"
  done
}

# ------------------------------------------------------------------ 1. cert_report
if want 1; then
run report cert_report.yml;                 t_report=$took
recap_ok report || fail "cert_report.yml changed something"
run report-check cert_report.yml --check;    t_report_check=$took
recap_ok report-check || fail "cert_report.yml --check changed something"
sed -n '/Certificate report | table/,/^$/p' "$logs/report.log" | sed -n '3,500p' | grep -vE '^ *(\}|\]|"msg")' | tr -d '",' | sed 's/^ *//' > "$logs/report.txt"
rows=$(grep -cE ' (ok|RENEW|EXPIRED)$' "$logs/report.txt" || true)
ctl_rows=$(grep -cE '^controller .* (ok|RENEW|EXPIRED)$' "$logs/report.txt" || true)
grep -qE 'PRIVATE KEY|BEGIN ' "$logs/report.log" && fail "cert_report.yml output contains PEM material"
head -n 4 "$logs/report.txt"; echo "   ..."; tail -n 2 "$logs/report.txt"
for f in /etc/etcd/pki/peer.pem /etc/kubernetes/pki/kube-apiserver.pem /var/lib/kubelet/pki/kubelet-server-current.pem; do
  grep -q "$f" "$logs/report.txt" || fail "cert_report.yml does not list $f"
done
echo "cert_report: $rows certificates ($ctl_rows on the controller), changed=0, ${t_report}s (--check ${t_report_check}s)"
fi

# ------------------------------------------------------------------ 2. a bad name
if want 2; then
if ansible-playbook -i "$inv" renew_certs.yml -e renew=kube-apiserver,no-such-cert > "$logs/renew-bad.log" 2>&1; then
  fail "renew_certs.yml accepted an unknown name"
fi
grep -q 'unknown certificate name(s) no-such-cert' "$logs/renew-bad.log" || fail "renew_certs.yml error does not name the bad name"
echo "renew_certs: an unknown name is refused: $(grep -o 'unknown certificate name(s) no-such-cert' "$logs/renew-bad.log" | head -1)"
fi

# ------------------------------------------------------------------ 3. renew the apiserver certificate
if want 3; then
cert_id() { ssh_ "$master" 'openssl x509 -noout -serial -startdate -in /etc/kubernetes/pki/kube-apiserver.pem' | tr '\n' ' '; }
before_cert=$(cert_id); units_ts > "$logs/units-before.txt"
renew_since=$(ssh_ "$master" 'date "+%Y-%m-%d %H:%M:%S"')
run renew renew_certs.yml -e 'renew=["kube-apiserver"]'; t_renew=$took
after_cert=$(cert_id); units_ts > "$logs/units-after.txt"
echo "apiserver cert before: $before_cert"
echo "apiserver cert after:  $after_cert"
[ "$before_cert" != "$after_cert" ] || fail "the apiserver certificate did not change"
# What the playbook restarted: the restart handlers that reported "changed".
by_ansible=$(awk '/^RUNNING HANDLER .*: Restart /{h=$0; sub(/.*: Restart /, "", h); sub(/\].*/, "", h); next}
                  /^RUNNING HANDLER|^TASK/{h=""} h != "" && /^changed: \[/{x=$2; gsub(/[\[\]]/, "", x); print x":"h}' "$logs/renew.log" | sort -u | tr '\n' ' ')
echo "restarts by renew_certs.yml (handlers): ${by_ansible:-none}"
[ "$by_ansible" = "$master:kube-apiserver " ] || fail "expected renew_certs.yml to restart only $master:kube-apiserver, got: $by_ansible"
# What actually started again (ActiveEnterTimestamp moved). On a single master the leader
# kube-controller-manager and kube-scheduler lose their lease while THE apiserver restarts and
# exit on their own ("leaderelection lost"), and systemd restarts them: upstream behaviour,
# accepted only with that journal line. Everything else must be untouched.
moved=$( (diff <(sort "$logs/units-before.txt") <(sort "$logs/units-after.txt") || true) | awk '/^>/{print $2":"$3}' | sort -u)
echo "units whose ActiveEnterTimestamp moved: $(echo $moved)"
for hu in $moved; do
  h=${hu%%:*}; u=${hu#*:}
  [ "$hu" = "$master:kube-apiserver" ] && continue
  if [ "$h" = "$master" ] && { [ "$u" = kube-controller-manager ] || [ "$u" = kube-scheduler ]; } &&
     ssh_ "$h" "journalctl -u $u --since '$renew_since' --no-pager -o cat" | grep -qiE 'leaderelection lost|leader election lost'; then
    echo "  $hu: exited itself on 'leaderelection lost' while the only apiserver restarted (not restarted by the playbook)"
    continue
  fi
  fail "$hu restarted during renew_certs.yml"
done
echo "unchanged: $(comm -12 <(sort "$logs/units-before.txt") <(sort "$logs/units-after.txt") | awk '{print $1":"$2}' | tr '\n' ' ')"
"${kc[@]}" get --raw /readyz >/dev/null || fail "apiserver not ready after the renewal"
notready=$("${kc[@]}" get nodes --no-headers | awk '$2 != "Ready"' | wc -l)
[ "$notready" -eq 0 ] || fail "$notready node(s) not Ready after the renewal"
echo "renew_certs: ${t_renew}s; recap: $(sed -n '/^PLAY RECAP/,$p' "$logs/renew.log" | grep -oE '^[a-z0-9-]+ +: ok=[0-9]+ +changed=[0-9]+' | tr -s ' ' | tr '\n' ';')"
fi

# ------------------------------------------------------------------ 4. the CSR approver
if want 4; then
ssh_ "$master" 'systemctl is-active kubebin-csr-approver.timer' | grep -qx active || fail "kubebin-csr-approver.timer is not active"
since=$(ssh_ "$master" 'date "+%Y-%m-%d %H:%M:%S"')
start_rot=$(date +%s)
old_serial=$(ssh_ "$node1" 'openssl x509 -noout -serial -in /var/lib/kubelet/pki/kubelet-server-current.pem')
ssh_ "$node1" 'rm -f /var/lib/kubelet/pki/kubelet-server-*.pem && systemctl restart kubelet'
csr=""
for _ in $(seq 1 60); do
  csr=$("${kc[@]}" get csr -o json | python3 -c '
import json, sys
node = sys.argv[1]; cut = sys.argv[2]
items = [c for c in json.load(sys.stdin)["items"]
         if c["spec"]["signerName"] == "kubernetes.io/kubelet-serving"
         and c["spec"]["username"] == "system:node:" + node and c["metadata"]["creationTimestamp"] >= cut]
for c in sorted(items, key=lambda c: c["metadata"]["creationTimestamp"]):
    conds = {x["type"]: x for x in (c.get("status") or {}).get("conditions") or []}
    if "Approved" in conds:
        print(c["metadata"]["name"], conds["Approved"]["reason"], "|", conds["Approved"].get("message", ""))
' "$node1" "$(date -u -d "@$((start_rot - 5))" +%Y-%m-%dT%H:%M:%SZ)")
  [ -n "$csr" ] && break
  sleep 3
done
[ -n "$csr" ] || fail "no approved serving CSR of $node1 within 180s"
t_rot=$(( $(date +%s) - start_rot ))
name=${csr%% *}
echo "rotation: $node1 serving CSR $name approved after ${t_rot}s: ${csr#* }"
echo "$csr" | grep -q 'KubebinPolicyApproved | .*(kubebin-csr-approver)' || fail "$name was not approved by kubebin-csr-approver"
jline=$(ssh_ "$master" "journalctl -u kubebin-csr-approver --since '$since' --no-pager -o cat" | grep "approved $name" || true)
[ -n "$jline" ] || fail "no journal line for $name"
echo "journal ($master): $jline"
audit=$(ssh_ "$master" "grep '\"name\":\"$name\"' /var/log/kubernetes/audit/audit.log | grep '\"subresource\":\"approval\"'" \
        | python3 -c 'import json,sys
for l in sys.stdin:
    e = json.loads(l); print(e["verb"], e["objectRef"]["subresource"], "by", e["user"]["username"], e["responseStatus"]["code"])' | sort -u)
echo "audit: $audit"
echo "$audit" | grep -q 'update approval by kubebin:csr-approver 200' || fail "the audit log does not show kubebin:csr-approver approving $name"
for _ in $(seq 1 20); do
  new_serial=$(ssh_ "$node1" 'openssl x509 -noout -serial -in /var/lib/kubelet/pki/kubelet-server-current.pem 2>/dev/null' || true)
  [ -n "$new_serial" ] && break; sleep 3
done
echo "kubelet serving cert on $node1: $old_serial -> $new_serial"
[ -n "$new_serial" ] && [ "$new_serial" != "$old_serial" ] || fail "no new serving certificate on $node1"
pod=$("${kc[@]}" get pods -A --field-selector "spec.nodeName=$node1" --no-headers | awk '{print $1" "$2; exit}')
[ -n "$pod" ] || fail "no pod on $node1 to read logs from"
"${kc[@]}" logs -n ${pod%% *} ${pod#* } --all-containers --tail=1 >/dev/null || fail "kubectl logs through $node1's new serving certificate failed"
echo "kubectl logs via $node1's kubelet (new serving certificate): ok"

# A serving CSR forged with the node's OWN kubelet client credentials (a compromised node) for
# an IP that is not its address: the policy must leave it pending.
forged=kubebin-e2e-forged-$(date +%s)
master_ip=$(awk -v m="$master" '$1 == m":" {f=1} f && /ansible_host:/ {print $2; exit}' "$inv")
ssh_ "$node1" "set -e; cd /tmp
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout /dev/null -out forged.csr \
    -subj '/O=system:nodes/CN=system:node:$node1' -addext 'subjectAltName=DNS:$node1,IP:$master_ip' 2>/dev/null
  printf '{\"apiVersion\":\"certificates.k8s.io/v1\",\"kind\":\"CertificateSigningRequest\",\"metadata\":{\"name\":\"$forged\"},\"spec\":{\"signerName\":\"kubernetes.io/kubelet-serving\",\"usages\":[\"digital signature\",\"server auth\"],\"request\":\"%s\"}}' \"\$(base64 -w0 forged.csr)\" > forged.json
  server=\$(awk '/server:/{print \$2}' /etc/kubernetes/kubelet.kubeconfig)
  curl -sS --fail --cacert /etc/kubernetes/pki/ca.pem --cert /var/lib/kubelet/pki/kubelet-client-current.pem \
    -H 'Content-Type: application/json' -d @forged.json \$server/apis/certificates.k8s.io/v1/certificatesigningrequests >/dev/null
  rm -f forged.csr forged.json" || fail "could not submit the forged CSR as $node1"
echo "forged: $forged submitted by system:node:$node1 with IP SAN $master_ip (the master's); waiting 75s (> 1 timer period)"
sleep 75
cond=$("${kc[@]}" get csr "$forged" -o jsonpath='{.status.conditions[*].type}')
why=$(ssh_ "$master" "journalctl -u kubebin-csr-approver --since '$since' --no-pager -o cat" | grep "rejected $forged" || true)
"${kc[@]}" delete csr "$forged" >/dev/null
echo "forged: conditions '${cond}'; journal: $why"
[ -z "$cond" ] || fail "the forged CSR got conditions: $cond"
[ -n "$why" ] || fail "no journal line rejecting the forged CSR"
fi

# ------------------------------------------------------------------ 5. the cluster still verifies; idempotence
if want 5; then
run verify tests/e2e/verify.yml; t_verify=$took
grep -E '"msg": "(node|forged)' "$logs/verify.log" | sed 's/^ *//' || true
if [ -z "${SKIP_SITE:-}" ]; then
  run site-again site.yml; t_site=$took
  sed -n '/^PLAY RECAP/,$p' "$logs/site-again.log"
  recap_ok site-again || fail "site.yml after the renewal changed something"
  echo "site.yml after the renewal: changed=0 on every host, ${t_site}s"
fi
fi

echo "certs e2e: steps ${STEPS:-1 2 3 4 5} passed (report ${t_report:--}s, renew ${t_renew:--}s, rotation approved in ${t_rot:--}s, verify ${t_verify:--}s)"
