#!/usr/bin/env bash
# The README's test command, N times, while another build keeps every core busy: the state of a
# shared CI runner. Prints each run's result and the count that passed; exit 1 unless all did.
#
#   scripts/test-under-load.sh [N]      (default 5)
#
# The load is a loop of cold builds of this repository's xtask in a scratch target dir of its
# own (outside the checkout), so it competes for the cores without touching the tests' files.
set -euo pipefail

cd "$(dirname "$0")/.."
runs=${1:-5}
scratch=$(mktemp -d)
log_dir=$scratch/logs
mkdir -p "$log_dir"

# In a session of its own, so that the whole loop (cargo, rustc, the linker) stops at the end.
# shellcheck disable=SC2016 # $1 expands in the inner shell
setsid bash -c 'while :; do
    rm -rf "$1/load-target"
    cargo build --quiet --offline -p xtask-fastbuild --target-dir "$1/load-target" >/dev/null 2>&1 || sleep 1
  done' load "$scratch" &
load_pid=$!
cleanup() {
  kill -- "-$load_pid" 2>/dev/null || true
  wait "$load_pid" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

passed=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  if cargo test --workspace >"$log_dir/run-$i.log" 2>&1; then
    passed=$((passed + 1))
    result=passed
  else
    result="FAILED (the failing tests:)"
  fi
  printf 'run %d/%d: %s in %d s, load: %s\n' "$i" "$runs" "$result" "$(($(date +%s) - start))" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
  if [[ $result != passed ]]; then
    grep -E '^test .* FAILED|^failures:|panicked at' "$log_dir/run-$i.log" | head -20 || true
  fi
done
printf '%d of %d runs passed with another build running\n' "$passed" "$runs"
[[ $passed == "$runs" ]]
