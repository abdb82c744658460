#!/usr/bin/env bash
# CIS Kubernetes Benchmark (kube-bench, CIS 1.12) on every host of a deployed lab; docs/security.md
# ("CIS Kubernetes Benchmark") lists our setting for each check and explains the remaining WARNs.
# Run after site.yml, from anywhere:
#   KUBEBIN_LAB_NAME=cis bash tests/e2e/cis_e2e.sh      # or: make cis
# Environment:
#   KUBEBIN_LAB_NAME      the lab instance (lab.py's default when unset)
#   KUBE_BENCH_TARBALL    the prebuilt scanner (default below; see /work/shared/tools/kube-bench)
#   LOGS                  where the JSON results are kept (default build/e2e-cis)
# Each host gets the kube-bench binary and a generated copy of its cfg/ in which the candidate
# paths of our layout come first (kube-bench probes a list per component and takes the first
# that exists; kubeadm's paths come first upstream): unit files under /etc/systemd/system,
# kubeconfigs and configuration files under /etc/kubernetes, etcd's data directory
# /var/lib/etcd; and checks 1.1.13/1.1.14, whose audit names kubeadm's admin.conf literally,
# also stat our admin kubeconfig. Nothing is marked as passed by hand: every check still reads
# the real file or process.
# Masters run the targets master, controlplane, node, policies (+ etcd where etcd runs),
# separate etcd hosts etcd, nodes node. Prints PASS/FAIL/WARN per host and target, then every
# FAIL with its text; exits 1 on any FAIL (or when the scanner cannot run).
set -euo pipefail
cd "$(dirname "$0")/../.."

tarball=${KUBE_BENCH_TARBALL:-/work/shared/tools/kube-bench/kube-bench-a73ce378-cis-1.12.tar.xz}
benchmark=cis-1.12
logs=${LOGS:-build/e2e-cis}
fail() { echo "cis e2e: FAILED: $*" >&2; exit 1; }

[ -f "$tarball" ] || fail "kube-bench tarball $tarball not found (set KUBE_BENCH_TARBALL to the kube-bench-*-cis-1.12.tar.xz, see /work/shared/tools/kube-bench/README.md)"
command -v podman > /dev/null || fail "podman not found (the lab runs on podman)"

lab=(python3 hack/lab/lab.py)
[ -n "${KUBEBIN_LAB_NAME:-}" ] && lab+=(--name "$KUBEBIN_LAB_NAME")
# HOST ROLE of the running lab hosts (not the mirror).
# The columns are found by their header (lab.py status gained a SUITE column before STATE).
mapfile -t hosts < <("${lab[@]}" status | awk 'NR == 1 {for (i = 1; i <= NF; i++) col[$i] = i; next}
  col["STATE"] && NF >= col["STATE"] && $col["STATE"] == "running" && $col["ROLE"] != "mirror" {print $col["NAME"], $col["ROLE"]}')
[ "${#hosts[@]}" -gt 0 ] || fail "no running lab hosts (${KUBEBIN_LAB_NAME:-default} lab: run lab.py up and site.yml first)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xJf "$tarball" || fail "cannot unpack $tarball"
[ -x "$work/kube-bench" ] && [ -f "$work/cfg/config.yaml" ] && [ -d "$work/cfg/$benchmark" ] \
  || fail "$tarball does not hold kube-bench, cfg/config.yaml and cfg/$benchmark/"

# The generated cfg: our paths first.
python3 - "$work/cfg" "$benchmark" <<'EOF'
import sys, yaml

cfg, bench = sys.argv[1], sys.argv[2]
K, S = "/etc/kubernetes", "/etc/systemd/system"
ours = {
    ("master", "apiserver", "confs"): [f"{S}/kube-apiserver.service"],
    ("master", "scheduler", "confs"): [f"{S}/kube-scheduler.service"],
    ("master", "scheduler", "kubeconfig"): [f"{K}/kube-scheduler.kubeconfig"],
    ("master", "controllermanager", "confs"): [f"{S}/kube-controller-manager.service"],
    ("master", "controllermanager", "kubeconfig"): [f"{K}/kube-controller-manager.kubeconfig"],
    ("master", "etcd", "confs"): [f"{S}/etcd.service"],
    ("master", "etcd", "datadirs"): ["/var/lib/etcd"],
    ("node", "kubelet", "svc"): [f"{S}/kubelet.service"],
    ("node", "kubelet", "confs"): [f"{K}/kubelet-config.yaml", f"{S}/kubelet.service"],
    ("node", "kubelet", "kubeconfig"): [f"{K}/kubelet.kubeconfig"],
    ("node", "kubelet", "cafile"): [f"{K}/pki/ca.pem"],
    ("node", "proxy", "svc"): [f"{S}/kube-proxy.service"],
    ("node", "proxy", "confs"): [f"{K}/kube-proxy-config.yaml"],
    ("node", "proxy", "kubeconfig"): [f"{K}/kube-proxy.kubeconfig"],
}
path = f"{cfg}/config.yaml"
with open(path) as f:
    doc = yaml.safe_load(f)
for (section, comp, key), paths in ours.items():
    c = doc[section].setdefault(comp, {})
    old = c.get(key) or []
    c[key] = paths + [p for p in old if p not in paths]
with open(path, "w") as f:
    yaml.safe_dump(doc, f, sort_keys=False)

# 1.1.13 / 1.1.14 stat kubeadm's admin.conf by name: let them stat our admin kubeconfig too.
path = f"{cfg}/{bench}/master.yaml"
text = open(path).read()
old = "for adminconf in /etc/kubernetes/admin.conf "
if text.count(old) != 2:
    sys.exit(f"{path}: the audit of 1.1.13/1.1.14 changed upstream ({old!r} not found twice)")
open(path, "w").write(text.replace(old, f"for adminconf in {K}/admin.kubeconfig /etc/kubernetes/admin.conf "))
EOF

mkdir -p "$logs"
rows=() fails=() err=0
for hr in "${hosts[@]}"; do
  read -r host role <<< "$hr"
  c=$host   # lab.py status prints the container names
  has_etcd=0
  podman exec "$c" pgrep -x etcd > /dev/null 2>&1 && has_etcd=1
  case $role in
    master) targets=(master controlplane node policies); [ $has_etcd = 1 ] && targets=(master etcd controlplane node policies) ;;
    etcd)   targets=(etcd) ;;
    *)      targets=(node) ;;
  esac
  podman exec "$c" rm -rf /opt/kube-bench-cfg
  podman cp "$work/kube-bench" "$c:/usr/local/bin/kube-bench"
  podman cp "$work/cfg" "$c:/opt/kube-bench-cfg"
  for t in "${targets[@]}"; do
    out=$logs/$host-$t.json
    if ! podman exec "$c" kube-bench run --config-dir /opt/kube-bench-cfg --benchmark "$benchmark" \
           --targets "$t" --noremediations --json > "$out" 2> "$logs/$host-$t.err"; then
      echo "cis e2e: kube-bench --targets $t failed on $host:"; tail -n 5 "$logs/$host-$t.err"; err=1; continue
    fi
    line=$(python3 - "$out" "$host" "$t" <<'EOF'
import json, sys
out, host, target = sys.argv[1:]
d = json.load(open(out))
tot = d.get("Totals", {})
print("ROW", host, target, tot.get("total_pass", 0), tot.get("total_fail", 0), tot.get("total_warn", 0), tot.get("total_info", 0))
for c in d.get("Controls", []):
    for s in c.get("tests", []):
        for r in s.get("results", []):
            if r.get("status") == "FAIL":
                print("FAIL", host, target, r.get("test_number"), r.get("test_desc"))
EOF
) || { echo "cis e2e: unreadable result $out"; err=1; continue; }
    while IFS= read -r l; do
      case $l in
        ROW\ *)  rows+=("${l#ROW }") ;;
        FAIL\ *) fails+=("${l#FAIL }") ;;
      esac
    done <<< "$line"
  done
  podman exec "$c" rm -rf /usr/local/bin/kube-bench /opt/kube-bench-cfg   # leave the host as it was
done

echo
printf '%-16s %-13s %5s %5s %5s %5s\n' HOST TARGET PASS FAIL WARN INFO
printf '%s\n' "${rows[@]}" | awk '{printf "%-16s %-13s %5s %5s %5s %5s\n", $1, $2, $3, $4, $5, $6; p+=$3; f+=$4; w+=$5; i+=$6}
  END {printf "%-16s %-13s %5d %5d %5d %5d\n", "total", "", p, f, w, i}'
echo "(JSON results in $logs/)"
if [ "${#fails[@]}" -gt 0 ]; then
  echo
  echo "FAIL:"
  printf '  %s\n' "${fails[@]}"
  echo "cis e2e: ${#fails[@]} FAIL"
  exit 1
fi
[ $err = 0 ] || fail "the scanner did not run everywhere (see above)"
echo "cis e2e: 0 FAIL on ${#hosts[@]} host(s)"
