# Helpers shared by the e2e scripts of tests/e2e (sourced, after `cd` to the repository
# root). They use the caller's $inv (inventory path) and $logs (log directory).

# run LOG PLAYBOOK [ARGS...]: ansible-playbook into $logs/LOG.log (stdin closed: a playbook
# that would prompt refuses instead), its duration in seconds in $took. On failure it prints
# the log's tail and returns 1, which stops a `set -e` script unless the caller handles it.
run() {
  local log=$1 start; shift
  start=$(date +%s)
  ap -i "$inv" "$@" > "$logs/$log.log" 2>&1 < /dev/null || {
    tail -n 40 "$logs/$log.log"
    echo "$(basename "$0"): ansible-playbook $* failed${KUBEBIN_E2E_OPERATOR:+ (as $KUBEBIN_E2E_OPERATOR)} (log: $logs/$log.log)"
    return 1
  }
  took=$(( $(date +%s) - start ))
}

# recap LOG: the PLAY RECAP of $logs/LOG.log
recap() { sed -n '/^PLAY RECAP/,$p' "$logs/$1.log"; }

# wait_until SECONDS DESCRIPTION CMD...: run CMD every 2 s until it succeeds; then the
# caller's `say` prints how long it took, or after SECONDS its `die` stops the script.
wait_until() {  # wait_until SECONDS DESCRIPTION CMD...: poll every 2 s
  local limit=$1 what=$2 start; shift 2; start=$(date +%s)
  until "$@" > /dev/null 2>&1; do
    [ $(( $(date +%s) - start )) -ge "$limit" ] && die "timed out after ${limit}s: $what"
    sleep 2
  done
  say "ok: $what ($(( $(date +%s) - start ))s)"
}

# --- The controller posture ---------------------------------------------------------------
# KUBEBIN_E2E_OPERATOR=<user> (set up by tests/e2e/operator_setup.sh): ansible-playbook runs
# as that ordinary user (no sudo), with ONLY its own virtualenv (the root requirements.txt)
# on PATH (no kubectl), the collection installed there from the built tarball, the root
# playbooks by FQCN (site.yml -> kubebin.cluster.site), from its home directory (so this
# checkout's ansible.cfg is not read), against its own inventory directory that reaches the
# hosts as the lab's non-root sudo account with ansible_become. Unset: the caller's user,
# this checkout, the lab inventory. KUBEBIN_E2E_VENV: another virtualenv of that user's home
# (default venv).
e2e_operator_home() { getent passwd "$KUBEBIN_E2E_OPERATOR" | cut -d: -f6; }

# e2e_inventory: the inventory path for this posture; in operator mode (re)written from the
# lab's current topology (after `lab.py up` added a host, call it again).
e2e_inventory() {
  if [ -n "${KUBEBIN_E2E_OPERATOR:-}" ]; then
    python3 hack/lab/lab.py inventory --out "$(e2e_operator_home)/inventory" \
      --ssh-user "${KUBEBIN_E2E_SSH_USER:-kubebin}" --owner "$KUBEBIN_E2E_OPERATOR"
  else
    python3 hack/lab/lab.py inventory
  fi
}

# ap_argv ARGS...: the ansible-playbook command line of this posture in AP_ARGV, to run
# from the directory AP_DIR. Operator mode: a root wrapper playbook (site.yml, upgrade.yml,
# ...) becomes kubebin.cluster.<name>; another relative *.yml (a test playbook) is taken
# from the operator's copy of tests/e2e.
ap_argv() {
  AP_DIR=$PWD
  if [ -z "${KUBEBIN_E2E_OPERATOR:-}" ]; then AP_ARGV=(ansible-playbook "$@"); return; fi
  local home a; home=$(e2e_operator_home)
  AP_DIR=$home
  AP_ARGV=(runuser -u "$KUBEBIN_E2E_OPERATOR" -- env -i "HOME=$home" "USER=$KUBEBIN_E2E_OPERATOR"
           "PATH=$home/${KUBEBIN_E2E_VENV:-venv}/bin:$home/sysbin" LANG=C.UTF-8 ansible-playbook)
  for a in "$@"; do
    case $a in
      /*) ;;
      *.yml)
        if [ -f "$a" ] && [ "$(dirname "$a")" = . ]; then a="kubebin.cluster.${a%.yml}"
        elif [ -f "$a" ]; then a="$home/e2e/$(basename "$a")"; fi ;;
    esac
    AP_ARGV+=("$a")
  done
}

# ap ARGS...: ansible-playbook in this posture.
ap() { ap_argv "$@"; (cd "$AP_DIR" && "${AP_ARGV[@]}"); }
