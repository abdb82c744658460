#!/usr/bin/env bash
# kube-proxy modes on one lab (docs/testing.md, "kube-proxy modes"; `make e2e-proxy-modes`):
#   1. site.yml with kubebin_kube_proxy_mode=nftables (a deploy on a fresh lab);
#      tests/e2e/verify_proxy_mode.yml (kube-proxy reports nftables, table ip kube-proxy
#      holds the service rules, no kube-proxy chain in iptables) and tests/e2e/verify.yml
#      (pod IP across nodes, ClusterIP, NodePort on every node, DNS, logs, exec);
#   2. switch to iptables (site.yml -e kubebin_kube_proxy_mode=iptables): the same checks,
#      KUBE-SERVICES / KUBE-SVC- in iptables and no nft table kube-proxy left;
#   3. back to nftables: the same checks, no kube-proxy chain left in iptables;
#   4. site.yml again: changed=0 on every host;
#   5. kubebin_kube_proxy_mode=ipvs is refused (the lab's kernel has no IPVS), with --check
#      and without, naming the host and the missing kernel support; kube-proxy still runs
#      nftables afterwards.
# Prints the figures. Re-runnable on a deployed lab (step 1 then converges it).
#   KUBEBIN_LAB_NAME=nf tests/e2e/proxy_modes_e2e.sh        (LAB_ARGS for `lab.py up`)
set -euo pipefail
cd "$(dirname "$0")/../.."
export KUBEBIN_LAB_NAME=${KUBEBIN_LAB_NAME:-nf}
python3 hack/lab/lab.py up ${LAB_ARGS:-}
inv=$(python3 hack/lab/lab.py inventory)
logs=${LOGDIR:-build/e2e/proxy-modes-$KUBEBIN_LAB_NAME}
mkdir -p "$logs"
. tests/e2e/lib.sh   # run, recap

fail() { echo "proxy_modes_e2e: FAIL: $*"; exit 1; }
figures=()

# mode STEP MODE: converge the cluster to MODE, then check it.
mode() {
  local step=$1 m=$2
  run "$step-site" site.yml -e kubebin_kube_proxy_mode="$m"; local t_site=$took
  run "$step-mode" tests/e2e/verify_proxy_mode.yml -e kubebin_kube_proxy_mode="$m"; local t_mode=$took
  run "$step-verify" tests/e2e/verify.yml; local t_verify=$took
  grep -h '"msg": ".* '"$m"': ' "$logs/$step-mode.log" | sed 's/^ *"msg": //' || true
  figures+=("$step ($m): site.yml ${t_site}s, changed hosts: $(recap "$step-site" | grep -c 'changed=[1-9]' || true), verify_proxy_mode ${t_mode}s, verify ${t_verify}s")
}

mode 1-deploy nftables
mode 2-switch iptables
mode 3-switch nftables

run 4-noop site.yml -e kubebin_kube_proxy_mode=nftables; t_noop=$took
recap 4-noop
if recap 4-noop | grep -qE 'changed=[1-9]|failed=[1-9]'; then
  fail "the second site.yml run in nftables mode changed something (must be changed=0)"
fi
figures+=("4 no-op: site.yml ${t_noop}s, changed=0")

# ipvs: refused before any host is touched, in check mode and for real.
for how in check real; do
  args=(site.yml -e kubebin_kube_proxy_mode=ipvs)
  [ "$how" = check ] && args+=(--check)
  s=$(date +%s)
  if ap -i "$inv" "${args[@]}" > "$logs/5-ipvs-$how.log" 2>&1 < /dev/null; then
    fail "site.yml with kubebin_kube_proxy_mode=ipvs ($how) was not refused (log: $logs/5-ipvs-$how.log)"
  fi
  t=$(( $(date +%s) - s ))
  grep -q 'kubebin_kube_proxy_mode=ipvs needs IPVS' "$logs/5-ipvs-$how.log" \
    || fail "the ipvs refusal ($how) does not say why (log: $logs/5-ipvs-$how.log)"
  grep -o '"msg": "[^"]*kubebin_kube_proxy_mode=ipvs needs[^"]*"' "$logs/5-ipvs-$how.log" | head -n 1 || true
  recap "5-ipvs-$how" | grep -qE 'changed=[1-9]' && fail "the refused ipvs run ($how) changed something"
  figures+=("5 ipvs refused ($how): ${t}s, $(grep -c 'kubebin_kube_proxy_mode=ipvs needs' "$logs/5-ipvs-$how.log") refusal message(s), changed=0")
done
run 5-after-ipvs tests/e2e/verify_proxy_mode.yml -e kubebin_kube_proxy_mode=nftables

echo "proxy_modes_e2e figures (lab $KUBEBIN_LAB_NAME, logs in $logs):"
printf '  %s\n' "${figures[@]}"
