#!/usr/bin/env bash
# How operators really run kubebin.cluster, checked on a deployed lab cluster (part of the CI
# lab scenario, tests/e2e/ci_e2e.sh, after the day-2 steps):
#
#   bad-input     as the operator (KUBEBIN_E2E_OPERATOR, tests/e2e/operator_setup.sh), each
#                 of these stops site.yml early with a message naming the problem, and
#                 changes nothing: a host reached as a user without sudo; an inventory
#                 without an etcd group; a controller Python without the `kubernetes` package.
#   controller-files  what the operator's runs wrote on the controller (cluster directory,
#                 download cache) is the operator's; keys, kubeconfigs, tokens 0600.
#   own-playbook  as the operator, docs/examples/own-playbook.yml (the roles imported one by
#                 one, `become: true` per play, an inventory WITHOUT ansible_become) converges
#                 the cluster site.yml made: changed=0 on every host.
#   plain-clone   as root, from a copy of this checkout's files (what `git clone` gives: the
#                 root ansible.cfg and collections/ symlink, nothing on
#                 ANSIBLE_COLLECTIONS_PATH, a fresh HOME), the sample inventory/ with its
#                 hosts.yml pointed at the lab (root SSH) and the cluster directory copied from
#                 the operator's: bare `ansible-playbook site.yml` reports changed=0.
#
#   KUBEBIN_LAB_NAME=ci KUBEBIN_E2E_OPERATOR=kubebin-op tests/e2e/posture_e2e.sh bad-input own-playbook plain-clone
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${KUBEBIN_E2E_OPERATOR:?set KUBEBIN_E2E_OPERATOR (tests/e2e/operator_setup.sh)}"
logs=build/e2e/posture${KUBEBIN_LAB_NAME:+-$KUBEBIN_LAB_NAME}
mkdir -p "$logs"
. tests/e2e/lib.sh   # run, recap, ap, e2e_inventory
home=$(e2e_operator_home)
inv=$(e2e_inventory)
cdir=$(dirname "$inv")/.kubebin/kubebin
fail() { echo "posture e2e: FAIL: $*"; exit 1; }
no_changes() {  # no_changes LOG: every host of the recap changed=0 failed=0 unreachable=0
  recap "$1"
  recap "$1" | grep -q 'ok=' || fail "$1: no PLAY RECAP"
  if recap "$1" | grep -qE 'changed=[1-9]|failed=[1-9]|unreachable=[1-9]'; then fail "$1: not changed=0"; fi
}
# refused LOG MESSAGE ARGS...: ansible-playbook ARGS must fail, its log must contain MESSAGE
refused() {
  local log=$1 msg=$2; shift 2
  if ap "$@" > "$logs/$log.log" 2>&1 < /dev/null; then fail "$log: the run did not stop"; fi
  grep -qF -- "$msg" "$logs/$log.log" || { tail -n 25 "$logs/$log.log"; fail "$log: no '$msg' in the output"; }
  grep -oE -- "$msg[^\"]{0,160}" "$logs/$log.log" | head -n 1 | sed "s/^/  $log: /"
  if grep -E '^(changed|ok): \[' "$logs/$log.log" | grep -q '^changed'; then fail "$log: something changed before the stop"; fi
}

bad_input() {
  local nosudo=$home/inventory-nosudo nogroups=$home/inventory-nogroups
  # 1. a host user without sudo
  python3 hack/lab/lab.py inventory --out "$nosudo" --ssh-user kubebin-nosudo --owner "$KUBEBIN_E2E_OPERATOR" > /dev/null
  refused nosudo "but cannot act as root there" -i "$nosudo/hosts.yml" site.yml
  # 2. an inventory without the etcd group (the hosts of the lab, the etcd group left out)
  python3 hack/lab/lab.py inventory --out "$nogroups" --owner "$KUBEBIN_E2E_OPERATOR" > /dev/null
  python3 - "$nogroups/hosts.yml" <<'PY'
import sys, yaml
path = sys.argv[1]
inv = yaml.safe_load(open(path))
inv["all"]["children"].pop("etcd")
yaml.safe_dump(inv, open(path, "w"), sort_keys=False)
PY
  refused nogroups "The inventory needs hosts in the groups 'etcd'" -i "$nogroups/hosts.yml" site.yml
  # 3. a controller Python without `kubernetes`: a second venv with ansible-core only
  runuser -u "$KUBEBIN_E2E_OPERATOR" -- env -i "HOME=$home" PATH=/usr/bin:/bin $(env | grep -E '^PIP_' || true) \
    bash -c "cd && { [ -x venv-min/bin/ansible-playbook ] || { /usr/bin/python3 -m venv venv-min && venv-min/bin/pip install -q -c constraints.txt ansible-core; }; }"
  KUBEBIN_E2E_VENV=venv-min refused nokubernetes "is missing kubernetes" -i "$inv" site.yml
}

# Everything the operator's runs wrote on the controller belongs to the operator, and the
# secrets (keys, kubeconfigs, tokens) are 0600 in 0700 directories.
controller_files() {
  local d=$home/inventory/.kubebin bad
  [ -d "$d" ] || fail "controller-files: no $d"
  bad=$(find "$d" "$home/.cache/kubebin" ! -user "$KUBEBIN_E2E_OPERATOR" -printf '%u %p\n' | head -n 5)
  [ -z "$bad" ] || fail "controller-files: not owned by $KUBEBIN_E2E_OPERATOR: $bad"
  bad=$(find "$d" -type f \( -name '*key*' -o -name '*.kubeconfig' -o -name '*token*' -o -name '*.db' \) ! -perm 0600 -printf '%m %p\n' | head -n 5)
  [ -z "$bad" ] || fail "controller-files: secrets not 0600: $bad"
  bad=$(find "$d/kubebin/pki" -type d ! -perm 0700 -printf '%m %p\n' | head -n 5)
  [ -z "$bad" ] || fail "controller-files: PKI directories not 0700: $bad"
  echo "controller-files: $(find "$d" -type f | wc -l) files under $d, all $KUBEBIN_E2E_OPERATOR's; $(find "$d" -type f \( -name '*key*' -o -name '*.kubeconfig' -o -name '*token*' -o -name '*.db' \) | wc -l) secrets, all 0600"
}

own_playbook() {
  local nob=$home/inventory-nobecome
  python3 hack/lab/lab.py inventory --out "$nob" --ssh-user kubebin --no-become --owner "$KUBEBIN_E2E_OPERATOR" > /dev/null
  grep -q ansible_become "$nob/hosts.yml" && fail "the own-playbook inventory sets ansible_become"
  run own-playbook -i "$nob/hosts.yml" docs/examples/own-playbook.yml -e "kubebin_pki_dir=$cdir/pki"
  no_changes own-playbook
  echo "own-playbook: changed=0 in ${took}s"
}

plain_clone() {
  local dir fresh
  dir=$(mktemp -d /tmp/kubebin-plain.XXXXXX)
  fresh=$dir/home
  mkdir -p "$fresh/.cache" "$dir/kubebin"
  # what `git clone` gives: the tracked files (and, before a commit, the untracked ones)
  git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$dir/kubebin"
  [ -L "$dir/kubebin/collections/ansible_collections/kubebin/cluster" ] || fail "the clone has no collections/ symlink"
  python3 hack/lab/lab.py inventory --out "$dir/kubebin/inventory" --ssh-user root > /dev/null
  mkdir -p "$dir/kubebin/inventory/.kubebin"
  cp -a "$cdir" "$dir/kubebin/inventory/.kubebin/"
  chown -R root:root "$dir/kubebin/inventory/.kubebin"
  [ ! -d "$home/.cache/kubebin" ] || cp -a "$home/.cache/kubebin" "$fresh/.cache/"
  local venv; venv=$(dirname "$(command -v ansible-playbook)")
  # every root wrapper resolves kubebin.cluster.* from the clone (bare form: inventory/)
  local w
  local wrappers; wrappers=$(cd "$dir/kubebin" && grep -l 'import_playbook: playbooks/' -- *.yml)
  for w in $wrappers; do
    (cd "$dir/kubebin" && env -i "HOME=$fresh" "PATH=$venv:/usr/bin:/bin" LANG=C.UTF-8 \
       ansible-playbook --syntax-check "$w") > "$logs/plain-clone-syntax.log" 2>&1 \
      || { tail -n 20 "$logs/plain-clone-syntax.log"; fail "plain-clone: $w does not load from a plain clone"; }
  done
  echo "plain-clone: $(echo "$wrappers" | wc -w) root playbooks load: $(echo $wrappers)"
  local start; start=$(date +%s)
  (cd "$dir/kubebin" && env -i "HOME=$fresh" "PATH=$venv:/usr/bin:/bin" LANG=C.UTF-8 \
     ansible-playbook site.yml) > "$logs/plain-clone.log" 2>&1 < /dev/null \
    || { tail -n 40 "$logs/plain-clone.log"; fail "plain-clone: site.yml failed"; }
  no_changes plain-clone
  echo "plain-clone: bare 'ansible-playbook site.yml' changed=0 in $(( $(date +%s) - start ))s"
  rm -rf "$dir"
}

for what in "$@"; do
  case $what in
    bad-input) bad_input ;;
    controller-files) controller_files ;;
    own-playbook) own_playbook ;;
    plain-clone) plain_clone ;;
    *) echo "posture_e2e: unknown step $what (bad-input, controller-files, own-playbook, plain-clone)"; exit 2 ;;
  esac
done
echo "posture e2e: PASS ($*)"
