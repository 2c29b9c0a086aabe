#!/usr/bin/env bash
# Reproduces the build-speed figures of the README ("Measured"). Run from the workspace root on
# an otherwise idle machine; each prints its raw times and the ratio.
#
#   scripts/measure-foundation.sh parallel [N]  production, cold: 2 targets in one run vs one after the other
#   scripts/measure-foundation.sh edit [N]      one-line edit of the service crate, dev rebuild:
#                                               this repo's dev profile vs cargo's default dev profile
#   scripts/measure-foundation.sh overhead [N]  no-op `cargo xtask build --variant dev` vs `cargo build`
#   scripts/measure-foundation.sh opt-level     production binary size and ingest speed per opt-level
#
# `cargo xtask bench` (see README) measures the same scenarios with baselines; this script is
# the one-off comparison of alternatives that the bench does not keep.
set -euo pipefail
cd "$(dirname "$0")/.."

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { echo "scale=3; $1 / $2" | bc; }
# XTASK_BIN=path pins the xtask binary (so editing xtask sources meanwhile changes nothing).
xtask_bin() { if [[ -n ${XTASK_BIN:-} ]]; then echo "$XTASK_BIN"; else cargo build -q -p xtask-fastbuild && echo "$PWD/target/debug/xtask"; fi; }

EDIT_FILE=crates/pulse-server/src/main.rs
restore_edit() { [[ -f $EDIT_FILE.measure-orig ]] && mv -f "$EDIT_FILE.measure-orig" "$EDIT_FILE"; true; }

parallel() {
  local n=${1:-1} xtask par=() seq=()
  xtask=$(xtask_bin)
  local clean="rm -rf target/production target/x86_64-unknown-linux-gnu/production target/aarch64-unknown-linux-gnu/production"
  for i in $(seq "$n"); do
    $clean; local t; t=$(now)
    "$xtask" build --variant production >/dev/null 2>&1
    par+=("$(elapsed "$t")")
    $clean; t=$(now)
    "$xtask" build --variant production --target x86_64-unknown-linux-gnu >/dev/null 2>&1
    "$xtask" build --variant production --target aarch64-unknown-linux-gnu >/dev/null 2>&1
    seq+=("$(elapsed "$t")")
    echo "run $i: parallel ${par[-1]} s, sequential ${seq[-1]} s"
  done
  local p s; p=$(printf '%s\n' "${par[@]}" | median); s=$(printf '%s\n' "${seq[@]}" | median)
  echo "production x86_64+aarch64, cold: parallel (one run) $p s, one after the other $s s, ratio $(ratio "$p" "$s")"
}

# One-line edits of the service crate, each rebuilt under both profiles in turn (interleaved,
# so drift of the machine hits both alike); each profile has its own target dir.
edit() {
  local n=${1:-7} ours=() theirs=()
  # Cargo's default dev profile: undo this repo's [profile.dev] settings through --config.
  local default=(--config 'profile.dev.debug=true' --config 'profile.dev.package."*".debug=true')
  local a=(env CARGO_TARGET_DIR=target/measure-dev-ours cargo build)
  local b=(env CARGO_TARGET_DIR=target/measure-dev-default cargo build "${default[@]}")
  "${a[@]}" >/dev/null 2>&1; "${b[@]}" >/dev/null 2>&1   # warm
  cp "$EDIT_FILE" "$EDIT_FILE.measure-orig"
  trap restore_edit EXIT INT TERM
  for i in $(seq "$n"); do
    # A real one-line code change: the body of the health handler.
    sed -i "0,/\"ok\\\\n\"/s//\"ok $i\\\\n\"/" "$EDIT_FILE"
    local t; t=$(now); "${a[@]}" >/dev/null 2>&1; ours+=("$(elapsed "$t")")
    t=$(now); "${b[@]}" >/dev/null 2>&1; theirs+=("$(elapsed "$t")")
    cp "$EDIT_FILE.measure-orig" "$EDIT_FILE"
  done
  restore_edit
  echo "ours: ${ours[*]}"; echo "cargo default: ${theirs[*]}"
  local o d; o=$(printf '%s\n' "${ours[@]}" | median); d=$(printf '%s\n' "${theirs[@]}" | median)
  echo "one-line edit of $EDIT_FILE, dev rebuild (median of $n): ours $o s, cargo default $d s, ratio $(ratio "$o" "$d")"
}

overhead() {
  local n=${1:-10} xtask plain=() ours=()
  xtask=$(xtask_bin)
  cargo build >/dev/null 2>&1
  for _ in $(seq "$n"); do local t; t=$(now); cargo build >/dev/null 2>&1; plain+=("$(elapsed "$t")"); done
  cargo xtask build --variant dev >/dev/null 2>&1
  for _ in $(seq "$n"); do local t; t=$(now); cargo xtask build --variant dev >/dev/null 2>&1; ours+=("$(elapsed "$t")"); done
  local p o; p=$(printf '%s\n' "${plain[@]}" | median); o=$(printf '%s\n' "${ours[@]}" | median)
  echo "no-op dev build (median of $n): cargo build $p s, cargo xtask build --variant dev $o s, overhead $(echo "$o - $p" | bc) s"
}

opt_level() {
  local data=target/measure-ingest.txt
  cargo run -q --bin pulse -- generate --count 1000000 >"$data"
  for level in 2 3 s; do
    CARGO_PROFILE_PRODUCTION_OPT_LEVEL=$level CARGO_TARGET_DIR=target/measure-opt-$level \
      cargo build -q --profile production --bin pulse-server --bin pulse
    local dir=target/measure-opt-$level/production times=()
    for _ in 1 2 3 4 5; do
      local t; t=$(now); "$dir/pulse" ingest --db :memory: "$data" >/dev/null; times+=("$(elapsed "$t")")
    done
    echo "opt-level $level: pulse-server $(stat -c %s "$dir/pulse-server") bytes, pulse $(stat -c %s "$dir/pulse") bytes, ingest of 1M lines median $(printf '%s\n' "${times[@]}" | median) s"
  done
}

case ${1:-} in
  parallel) parallel "${2:-1}" ;;
  edit) edit "${2:-7}" ;;
  overhead) overhead "${2:-10}" ;;
  opt-level) opt_level ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
