#!/usr/bin/env bash
# The API server VIP proof on the local lab (kubebin_apiserver_vip: keepalived on the masters;
# docs/ha.md "The API server VIP", figures in docs/testing.md). Not part of `make test`:
# `make e2e-vip` (about 20 min on the 2-core VM).
#
#   1. lab up with 3 masters (etcd on them) and VIP_NODES nodes (default 1); the VIP is the
#      address VIP_OFFSET (default 250) of the lab subnet, which lab.py never gives to a host
#      (hosts are .11-.99, docs/lab.md). Bad VIPs first: each run must fail in the preflight
#      naming the input, with nothing changed (not an IPv4 address, a master's address, the
#      local balancers turned off, only one master; after the deploy, a VIP outside the
#      masters' subnet, which each master checks against its facts).
#   2. site.yml with the VIP (timed). On the controller, the admin kubeconfig's server is
#      https://VIP:6443 and `kubectl get nodes` with it works (the API server certificate
#      carries the VIP); exactly one master holds the VIP.
#   3. A probe on the controller GETs https://VIP:6443/readyz every 0.2 s, a new connection
#      each time (tests/e2e/probe_report.py). The VIP holder is powered off (`podman stop
#      --time 0`); prints the time until the VIP answered again (from another master), the
#      failed requests and the longest gap; kubectl through the VIP works; the VIP is on a
#      surviving master.
#   4. The holder is started again: it rejoins (its node Ready, its kube-apiserver ready, its
#      keepalived back as a BACKUP: the VIP stays where it is, equal priorities); the probe's figures
#      while it came back are printed (not asserted: on a loaded machine a request may time
#      out while the master's etcd member catches up).
#   5. site.yml again: changed=0 on every host (and the VIP did not move); the one change
#      allowed is os_prep putting its /etc/hosts block back on the restarted master (podman
#      rewrites /etc/hosts of a container it starts: a lab artifact).
#   6. The VIP switched off: site.yml without kubebin_apiserver_vip stops and disables
#      keepalived and removes keepalived.conf and its check script on every master, the VIP is
#      on no master (`ip -4 addr`) and answers no more, the admin kubeconfig points at the
#      first master again; then site.yml again: changed=0 on every host.
#
# Usage: tests/e2e/vip_e2e.sh [--skip-deploy]
#   --skip-deploy   skip lab up and the first site.yml (the cluster exists)
#   env VIP_LAB=vp  lab instance name (default $KUBEBIN_LAB_NAME, else vp)
#       VIP_OFFSET=250  VIP_NODES=1  VIP_WINDOW=30 (seconds of probe after the power-off)
#       VIP_SKIP_BAD=1 (skip the bad-input runs, for a re-run)  VIP_MAX_OUTAGE=30 (seconds: the run fails when the VIP answers later than this)
set -euo pipefail
cd "$(dirname "$0")/../.."

LAB=${VIP_LAB:-${KUBEBIN_LAB_NAME:-vp}}
export KUBEBIN_LAB_NAME=$LAB
SKIP_DEPLOY=false
[ "${1:-}" = "--skip-deploy" ] && SKIP_DEPLOY=true
lab() { python3 hack/lab/lab.py --name "$LAB" "$@"; }
logs=build/e2e-vip
mkdir -p "$logs"
t0=$(date +%s)
say() { printf '[vip %4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }
die() { say "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$2"; }

if ! $SKIP_DEPLOY; then
  lab up --masters 3 --nodes "${VIP_NODES:-1}" --etcd-on-masters
fi
inv=$(lab inventory)
[ -f "$inv" ] || die "no inventory $inv (run without --skip-deploy)"

# Hosts, addresses and the VIP from the lab inventory and its network.
eval "$(python3 - "$inv" "$LAB" "${VIP_OFFSET:-250}" <<'EOF'
import ipaddress, json, subprocess, sys, yaml
sys.path.insert(0, "hack/lab")
from kubebin_lab.inventory import instance_names
inv = yaml.safe_load(open(sys.argv[1]))
hosts = inv["all"]["hosts"]
net = json.loads(subprocess.run(["podman", "network", "inspect", instance_names(sys.argv[2])["network"]],
                                check=True, capture_output=True, text=True).stdout)[0]["subnets"][0]["subnet"]
net = ipaddress.ip_network(net)
vip = str(net.network_address + int(sys.argv[3]))
assert vip not in [h["ansible_host"] for h in hosts.values()], f"VIP {vip} is a lab host's address"
print(f"SUBNET={net} VIP={vip}")
print("MASTERS=(" + " ".join(inv["all"]["children"]["masters"]["hosts"]) + ")")
print("declare -A IP=(" + " ".join(f"[{h}]={v['ansible_host']}" for h, v in hosts.items()) + ")")
print("KEY=" + next(iter(hosts.values()))["ansible_ssh_private_key_file"])
EOF
)"
[ "${#MASTERS[@]}" -ge 3 ] || die "the lab has ${#MASTERS[@]} master(s); this proof needs 3"
hs() {  # hs HOST CMD...: run CMD on a lab host as root
  local h=$1; shift
  ssh -i "$KEY" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
      -o LogLevel=ERROR -o ConnectTimeout=5 "root@${IP[$h]}" -- "$@"
}
say "lab $LAB: subnet $SUBNET, masters ${MASTERS[*]}, VIP $VIP"
. tests/e2e/lib.sh   # run, recap, wait_until
VIPARG=(-e "kubebin_apiserver_vip=$VIP")

# ---- 1. bad input: a clear preflight error, nothing changed ---------------------------------
bad() {  # bad NAME 'EXPECTED TEXT' ARGS...: site.yml ARGS must fail in the preflight with that text
  local name=$1 want=$2; shift 2
  if ap -i "$inv" site.yml "$@" > "$logs/bad-$name.log" 2>&1 < /dev/null; then
    die "site.yml with a bad VIP ($name) succeeded"
  fi
  grep -q -- "$want" "$logs/bad-$name.log" || { tail -n 30 "$logs/bad-$name.log"; die "bad VIP ($name): no '$want' in the error"; }
  recap_bad=$(sed -n '/^PLAY RECAP/,$p' "$logs/bad-$name.log")
  echo "$recap_bad" | grep -qE 'changed=[1-9]' && { echo "$recap_bad"; die "bad VIP ($name): something was changed before the error"; }
  say "ok: bad VIP ($name) refused: $(grep -o -- "$want[^\"]*" "$logs/bad-$name.log" | head -n 1 | cut -c1-150)"
}
if [ -z "${VIP_SKIP_BAD:-}" ]; then
outside=$(python3 -c "import ipaddress, sys; print(ipaddress.ip_network(sys.argv[1]).broadcast_address + 1)" "$SUBNET")
printf 'all:\n  children:\n    vipone:\n      hosts:\n        %s:\n' "${MASTERS[0]}" > "$logs/one-master.yml"
bad not-ipv4 "must be an IPv4 address (it is not)" -e kubebin_apiserver_vip=10.89.1 --tags preflight
bad host-address "it is the address of ${MASTERS[1]}" -e "kubebin_apiserver_vip=${IP[${MASTERS[1]}]}" --tags preflight
bad no-balancer "kubebin_apiserver_lb_enabled=true (got" "${VIPARG[@]}" -e kubebin_apiserver_lb_enabled=false --tags preflight
bad one-master "two or more hosts in 'vipone' (got 1)" -i "$logs/one-master.yml" -e kubebin_masters_group=vipone "${VIPARG[@]}" --tags preflight
fi

# ---- 2. deploy with the VIP ------------------------------------------------------------------
if ! $SKIP_DEPLOY; then
  run site-1 site.yml "${VIPARG[@]}"; first=$took
  say "site.yml with the VIP: ${first}s"
fi
# The subnet is checked on each master against its facts, in the loadbalancer play (on the
# converged cluster: nothing before the check changes).
[ -n "${VIP_SKIP_BAD:-}" ] || bad outside-subnet "must be a host address of the network" -e "kubebin_apiserver_vip=$outside" --tags loadbalancer --check
admin="$(dirname "$inv")/.kubebin/kubebin/admin.kubeconfig"
[ -f "$admin" ] || die "no admin kubeconfig $admin on the controller"
server=$(sed -n 's/^ *server: //p' "$admin")
[ "$server" = "https://$VIP:6443" ] || die "the admin kubeconfig's server is $server, not https://$VIP:6443"
ca="$(dirname "$inv")/.kubebin/kubebin/pki/ca.pem"
k() { kubectl --kubeconfig "$admin" "$@"; }
holders() {  # the masters that hold the VIP now (ssh to each; a powered-off one is skipped)
  local m out=()
  for m in "${MASTERS[@]}"; do
    if podman container inspect -f '{{.State.Running}}' "$m" 2>/dev/null | grep -qx true \
       && hs "$m" "ip -4 -o addr show" 2>/dev/null | grep -qw "inet $VIP/32"; then out+=("$m"); fi
  done
  echo "${out[*]}"
}
one_holder() { [ "$(holders | wc -w)" -eq 1 ]; }
node_ready() { k get node "$1" -o "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}" | grep -qx True; }
all_nodes_ready() {
  local n r; n=$(k get nodes --no-headers | wc -l); r=$(k get nodes --no-headers | awk '$2 == "Ready"' | wc -l)
  [ "$n" -gt 0 ] && [ "$n" -eq "$r" ]
}
wait_until 120 "exactly one master holds the VIP" one_holder
HOLDER=$(holders)
say "the VIP $VIP is on $HOLDER"
k get nodes -o wide || die "kubectl get nodes through the VIP (admin kubeconfig on the controller) failed"
wait_until 300 "every node Ready (kubectl through the VIP)" all_nodes_ready
sans=$(echo | openssl s_client -connect "$VIP:6443" -CAfile "$ca" 2>/dev/null | openssl x509 -noout -ext subjectAltName)
echo "$sans" | grep -q "IP Address:$VIP" || die "the certificate served on the VIP has no IP SAN $VIP: $sans"
say "ok: the API server certificate served on the VIP names it; admin kubeconfig server $server"
for m in "${MASTERS[@]}"; do
  mode=$(hs "$m" "stat -c %a /etc/keepalived/keepalived.conf")
  [ "$mode" = 600 ] || die "$m: /etc/keepalived/keepalived.conf is mode $mode, not 600 (it holds the VRRP password)"
done

# ---- 3. power off the holder -------------------------------------------------------------
probe_pid=""
cleanup() { [ -n "$probe_pid" ] && kill "$probe_pid" 2> /dev/null || true; }
trap cleanup EXIT
# every 0.2 s: <epoch when the answer came> <http code, 000 = none> <seconds taken>
(
  while :; do
    r=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --connect-timeout 2 --max-time 3 --cacert "$ca" \
        "https://$VIP:6443/readyz" || true)
    echo "$(date +%s.%N) $r"
    sleep 0.2
  done
) > "$logs/probe.log" 2>&1 &
probe_pid=$!
sleep 5
VICTIM=$HOLDER
stop_at=$(now)
say "power off the VIP holder $VICTIM (podman stop --time 0)"
podman stop --time 0 "$VICTIM" > /dev/null
window=${VIP_WINDOW:-30}
sleep "$window"
after=$(holders)
[ -n "$after" ] && [ "$after" != "$VICTIM" ] || die "the VIP is not on a surviving master (holders: '$after')"
say "the VIP moved to $after"
k get nodes > /dev/null || die "kubectl through the VIP failed with $VICTIM powered off"
say "ok: kubectl get nodes through the VIP with $VICTIM powered off"
# The first request that failed after the power-off, and the first good answer after it (a
# request answered in the few milliseconds the power-off takes does not count).
fail1=$(awk -v s="$stop_at" '$1 > s && $2 != "200" {print $1; exit}' "$logs/probe.log")
[ -n "$fail1" ] || fail1=$stop_at
back=$(awk -v s="$fail1" '$1 > s && $2 == "200" {print $1; exit}' "$logs/probe.log")
[ -n "$back" ] || die "the VIP never answered after the power-off (see $logs/probe.log)"
outage=$(since "$stop_at" "$back")
say "the VIP answered again ${outage}s after the power-off (from $after)"
python3 -c "import sys; sys.exit(float(sys.argv[1]) > float(sys.argv[2]))" "$outage" "${VIP_MAX_OUTAGE:-30}" \
  || die "the VIP came back after ${outage}s, more than VIP_MAX_OUTAGE=${VIP_MAX_OUTAGE:-30}s"

# ---- 4. the holder comes back --------------------------------------------------------------
start_at=$(now)
say "power on $VICTIM"
podman start "$VICTIM" > /dev/null
# Ready with a heartbeat after the power-on (the Node object still says Ready for ~40 s
# after a power-off).
ready_again() {
  local hb; hb=$(k get node "$1" -o "jsonpath={.status.conditions[?(@.type==\"Ready\")].lastHeartbeatTime}")
  node_ready "$1" && [ "$(date -d "$hb" +%s)" -gt "${start_at%.*}" ]
}
wait_until 600 "node $VICTIM Ready again (heartbeat after the power-on)" ready_again "$VICTIM"
ready_on() { hs "$1" "curl -sf -o /dev/null --cacert /etc/haproxy/kubebin-ca.pem https://${IP[$1]}:6443/readyz"; }
wait_until 300 "kube-apiserver on $VICTIM ready" ready_on "$VICTIM"
backup_on() { hs "$1" "systemctl is-active keepalived && journalctl -u keepalived --since @${start_at%.*} --no-pager | grep -q 'Entering BACKUP STATE'"; }
wait_until 120 "keepalived on $VICTIM is back as a BACKUP" backup_on "$VICTIM"
sleep 5
[ "$(holders)" = "$after" ] || die "the VIP moved when $VICTIM came back (holders: $(holders)); equal priorities should keep it on $after"
say "ok: the VIP stayed on $after while $VICTIM rejoined (no preemption between healthy masters)"
rejoined_at=$(now)
kill "$probe_pid"; probe_pid=""
probe_start=$(head -n 1 "$logs/probe.log" | cut -d' ' -f1)
python3 tests/e2e/probe_report.py "$logs/probe.log" \
  "before:$probe_start:$stop_at" \
  "power-off:$stop_at:$(python3 -c "print($stop_at + $window)")" \
  "rejoin:$start_at:$rejoined_at" \
  --assert-zero before | tee "$logs/probe-report.txt" \
  || die "the probe lost requests before the power-off ($logs/probe-report.txt)"

# ---- 5. converged: a second site.yml changes nothing ---------------------------------------
# podman rewrites /etc/hosts of a container it starts (the lab's power-on), so os_prep puts
# its block back on the restarted master: the only change allowed, and only there.
run site-2 site.yml "${VIPARG[@]}"; second=$took
recap=$(recap site-2); echo "$recap"
echo "$recap" | grep -qE 'failed=[1-9]|unreachable=[1-9]' && die "the second site.yml failed"
changes=$(awk '/^TASK \[/ {t=$0} /^changed: \[/ {h=$2; gsub(/[\[\]]/, "", h); print h " " t}' "$logs/site-2.log")
echo "${changes:-no change}"
other=$(echo "$changes" | grep -v "^$VICTIM TASK \[kubebin.cluster.os_prep : Names | cluster hosts in /etc/hosts\]" | grep . || true)
[ -z "$other" ] || die "the second site.yml changed something (must be changed=0; only the restarted $VICTIM's /etc/hosts block may be put back): $other"
say "ok: the second site.yml changed nothing$([ -n "$changes" ] && echo " but the /etc/hosts block podman removed from the restarted $VICTIM")"
[ "$(holders)" = "$after" ] || die "the second site.yml moved the VIP (holders: $(holders))"

# ---- 6. the VIP switched off: keepalived stopped everywhere, the VIP gone, then changed=0 ----
# site.yml without kubebin_apiserver_vip on the cluster that had it: the loadbalancer role
# stops and disables keepalived and removes keepalived.conf and its check script on every
# master; the admin kubeconfig points at the first master again (the API server certificate
# loses the VIP: re-issued, the API servers restarted one at a time).
run site-off site.yml; off=$took
recap site-off
off_changes=$(awk '/^TASK \[/ {t=$0} /^changed: \[/ {h=$2; gsub(/[\[\]]/, "", h); print h " " t}' "$logs/site-off.log")
echo "$off_changes" | grep -c "VIP off | keepalived stopped and disabled" | grep -qx "${#MASTERS[@]}" \
  || die "site.yml without the VIP did not stop keepalived on every master: $(echo "$off_changes" | grep 'VIP off' || echo none)"
for m in "${MASTERS[@]}"; do
  st=$(hs "$m" "systemctl is-active keepalived; systemctl is-enabled keepalived; test -e /etc/keepalived/keepalived.conf && echo conf; test -e /usr/local/lib/kubebin-vip && echo script; true" | tr '\n' ' ')
  case "$st" in
    *" conf "*|*" script "*|active*|*" enabled "*) die "$m after the VIP was switched off: keepalived state '$st' (must be inactive, disabled, no keepalived.conf, no check script)" ;;
  esac
  if hs "$m" "ip -4 -o addr show" | grep -qw "inet $VIP/32"; then die "$m still holds the VIP $VIP after keepalived stopped"; fi
  say "ok: $m: keepalived $st; the VIP $VIP not on any interface (ip -4 addr)"
done
[ -z "$(holders)" ] || die "the VIP is still held by $(holders)"
server_off=$(sed -n 's/^ *server: //p' "$admin")
[ "$server_off" = "https://${IP[${MASTERS[0]}]}:6443" ] || die "the admin kubeconfig's server is $server_off, not the first master's"
k get nodes > /dev/null || die "kubectl with the admin kubeconfig ($server_off) failed after the VIP was switched off"
curl -s -o /dev/null --connect-timeout 2 --max-time 3 --cacert "$ca" "https://$VIP:6443/readyz" \
  && die "https://$VIP:6443 still answers after the VIP was switched off"
say "ok: the VIP switched off in ${off}s: keepalived stopped and disabled on ${#MASTERS[@]} masters, the VIP on none, admin kubeconfig $server_off"
run site-off-2 site.yml; off2=$took
recap=$(recap site-off-2); echo "$recap"
echo "$recap" | grep -qE 'changed=[1-9]|failed=[1-9]|unreachable=[1-9]' && die "site.yml after the VIP was switched off is not changed=0"
say "ok: site.yml again without the VIP: changed=0 on every host (${off2}s)"

say "figures: VIP $VIP; first site.yml $([ -n "${first:-}" ] && echo "${first}s" || echo skipped); power-off of the holder: answered again ${outage}s after the stop command; second site.yml (changed=0) ${second}s; VIP switched off ${off}s, then changed=0 ${off2}s"
say "VIP proof passed"
