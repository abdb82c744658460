# Helpers shared by the e2e scripts of tests/e2e (sourced, after `cd` to the repository
# root). They use the caller's $inv (inventory path) and $logs (log directory).

# run LOG PLAYBOOK [ARGS...]: ansible-playbook into $logs/LOG.log (stdin closed: a playbook
# that would prompt refuses instead), its duration in seconds in $took. On failure it prints
# the log's tail and returns 1, which stops a `set -e` script unless the caller handles it.
run() {
  local log=$1 start; shift
  start=$(date +%s)
  ansible-playbook -i "$inv" "$@" > "$logs/$log.log" 2>&1 < /dev/null || {
    tail -n 40 "$logs/$log.log"
    echo "$(basename "$0"): ansible-playbook $* failed (log: $logs/$log.log)"
    return 1
  }
  took=$(( $(date +%s) - start ))
}

# recap LOG: the PLAY RECAP of $logs/LOG.log
recap() { sed -n '/^PLAY RECAP/,$p' "$logs/$1.log"; }
