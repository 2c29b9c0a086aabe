#!/usr/bin/env bash
# One row of measure-reuse.sh, `cargo test --no-run` after a one-line edit of FILE, taken
# REPEAT times on the warm checkout (d) and on fresh runners with the saved target dir and
# `cargo xtask cache restore` (c), each with `--timings`: the wall time and, for every unit
# compiled, when it started and how long it took. It tells whether c and d differ in the units'
# own times or in the order cargo started them.
#
#   PROFILE=release-lto REV=e89fff89 scripts/measure-reuse-order.sh GIT_DIR WORK_DIR FILE
#
# XTASK: the tool's binary (default: this checkout's target/debug/xtask, built first). Needs
# cargo, git, python3.
set -euo pipefail
origin=${1:?usage: $0 GIT_DIR WORK_DIR FILE} work=${2:?} file=${3:?}
profile=${PROFILE:-dev}
repeat=${REPEAT:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${XTASK:-} ]]; then
  (cd "$here" && cargo build -q -p xtask-fastbuild)
  XTASK=$here/target/debug/xtask
fi
saved=$work.saved-target
clone() {
  rm -rf "$work"
  git clone -q "$origin" "$work"
  [[ -z ${REV:-} ]] || git -C "$work" checkout -q "$REV"
}
edit() { printf '\n// measure-reuse edit\n' >>"$work/$file"; }
builds() { (cd "$work" && cargo build -q --profile "$profile" && cargo test -q --no-run --profile "$profile" 2>/dev/null); }
# `cargo test --no-run --timings`: "<label> <seconds> | unit start+duration ..."
timed() {
  local t secs
  sync
  t=$(date +%s.%N)
  (cd "$work" && cargo test -q --no-run --profile "$profile" --timings >/dev/null 2>&1)
  secs=$(echo "$(date +%s.%N) - $t" | bc)
  python3 - "$1" "$secs" "$work/target/cargo-timings/cargo-timing.html" <<'PY'
import json, re, sys
label, secs, html = sys.argv[1], float(sys.argv[2]), open(sys.argv[3]).read()
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", html, re.S).group(1))
busy = [u for u in units if u["duration"] >= 0.5]
print(f"{label} {secs:.1f} s |", "  ".join(f"{u['name']}{u['target']}: {u['start']:.1f}+{u['duration']:.1f}" for u in busy))
PY
}

clone
builds
(cd "$work" && "$XTASK" cache save --keep "build --profile $profile" --keep "test --no-run --profile $profile" 2>&1 | tail -1)
rm -rf "$saved"
cp -a "$work/target" "$saved"
for i in $(seq "$repeat"); do
  edit
  timed "d$i"
  git -C "$work" checkout -q -- .
  builds
done
for i in $(seq "$repeat"); do
  clone
  cp -a "$saved" "$work/target"
  edit
  (cd "$work" && "$XTASK" cache restore 2>/dev/null)
  timed "c$i"
done
rm -rf "$saved"
