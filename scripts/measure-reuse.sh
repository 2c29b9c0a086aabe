#!/usr/bin/env bash
# A fresh CI runner with the default branch's target dir restored (issue 22): units compiled
# and wall time of `cargo build --profile $PROFILE` (the test row: `cargo test --no-run`) for
#   a   no cache (the cold build)
#   b   only dependencies cached: the saved target dir without the workspace's units
#       (`cargo clean -p` of each member: what rust-cache keeps by default)
#   b2  the whole target dir restored as it was (new checkout mtimes: every workspace unit)
#   c   the same, then `cargo xtask cache restore` (files as built get their mtimes back)
#   d   the same change on the warm checkout (a laptop)
# for: no change; a one-line edit of each FILE (a comment line appended); and
# `cargo test --no-run` after the first FILE's edit. (c) and (d) are taken REPEAT times (default
# 3; a new runner each time) and the median printed with the range (min-max): they are the
# sub-second figures. "restore" is the time `cargo xtask cache restore` took (in the median run), not
# counted in c.
#
#   PROFILE=dev scripts/measure-reuse.sh GIT_DIR WORK_DIR [FILE...]
#
# GIT_DIR: the repository to clone (a bare one from `fetch`, or a checkout), at REV (default its
# HEAD); WORK_DIR: where the "runner" checks out (always the same path); XTASK: the tool's
# binary (default: this checkout's target/debug/xtask, built first). The warm checkout (d) is
# the first clone, measured before the fresh runners. Needs cargo, git, jq.
set -euo pipefail
origin=${1:?usage: $0 GIT_DIR WORK_DIR [FILE...]} work=${2:?}
shift 2
profile=${PROFILE:-dev}
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${XTASK:-} ]]; then
  (cd "$here" && cargo build -q -p xtask-fastbuild)
  XTASK=$here/target/debug/xtask
fi
saved=$work.saved-target
repeat=${REPEAT:-3}
now() { date +%s.%N; }
# The median of "units seconds [restore]" lines (by seconds), with the range:
# "units median min-max restore" (restore: the median run's, "-" when none)
median() {
  sort -k2 -n | awk -v m="$(((repeat + 1) / 2))" '{ s[NR] = $2 } NR == m { u = $1; med = $2; r = ($3 == "" ? "-" : $3) }
    END { printf "%s %s %s-%s %s\n", u, med, s[1], s[NR], r }'
}
# `cargo build` (or `cargo test --no-run` with $2 = test): "<units compiled> <seconds>"
build() {
  local t out what=(build)
  [[ ${2:-} != test ]] || what=(test --no-run)
  sync # what the restore or the clone wrote is on disk before the clock starts
  t=$(now)
  out=$(cd "${1:-$work}" && cargo "${what[@]}" --profile "$profile" --message-format=json 2>/dev/null)
  printf '%s %.1f\n' "$(grep -c '"reason":"compiler-artifact".*"fresh":false' <<<"$out" || true)" "$(echo "$(now) - $t" | bc)"
}
clone() {
  rm -rf "$work"
  git clone -q "$origin" "$work"
  [[ -z ${REV:-} ]] || git -C "$work" checkout -q "$REV"
}
edit() { [[ -z ${1:-} ]] || printf '\n// measure-reuse edit\n' >>"$work/$1"; }
members() { (cd "$work" && cargo metadata --no-deps --format-version 1 | jq -r '.packages[].name'); }
# The changes: "label|file|command"
changes=("no change||build")
for file in "$@"; do changes+=("$file|$file|build"); done
[[ $# -eq 0 ]] || changes+=("test --no-run after $1|$1|test")

echo "profile $profile; cold build and save (the default branch's cache)"
clone
read -r units secs < <(build)
read -r tunits tsecs < <(build "$work" test)
echo "  a  no cache: $units units, $secs s; then cargo test --no-run: $tunits units, $tsecs s"
(cd "$work" && "$XTASK" cache save --keep "build --profile $profile" --keep "test --no-run --profile $profile" 2>&1 | tail -1)
rm -rf "$saved"
cp -a "$work/target" "$saved"
echo "  target dir saved: $(du -sh "$saved" | cut -f1)"

declare -A warm
for change in "${changes[@]}"; do
  IFS='|' read -r label file what <<<"$change"
  warm[$label]=$(for _ in $(seq "$repeat"); do
    edit "$file"
    build "$work" "$what"
    git -C "$work" checkout -q -- .
    build "$work" >/dev/null
    build "$work" test >/dev/null
  done | median)
done

for change in "${changes[@]}"; do
  IFS='|' read -r label file what <<<"$change"
  clone
  cp -a "$saved" "$work/target"
  mapfile -t names < <(members)
  (cd "$work" && cargo clean -q --profile "$profile" "${names[@]/#/-p}" 2>/dev/null)
  edit "$file"
  read -r bu bs < <(build "$work" "$what")
  clone
  cp -a "$saved" "$work/target"
  edit "$file"
  read -r b2u b2s < <(build "$work" "$what")
  read -r cu cs crange rs < <(for _ in $(seq "$repeat"); do
    clone
    cp -a "$saved" "$work/target"
    edit "$file"
    sync
    t=$(now)
    (cd "$work" && "$XTASK" cache restore 2>/dev/null)
    r=$(printf '%.1f' "$(echo "$(now) - $t" | bc)")
    echo "$(build "$work" "$what") $r"
  done | median)
  read -r du ds drange _ <<<"${warm[$label]}"
  printf '%-36s b %3s units %6s s | b2 %3s units %6s s | c %3s units %6s s (%s; restore %s s) | d %3s units %6s s (%s) | c/d %s\n' \
    "$label" "$bu" "$bs" "$b2u" "$b2s" "$cu" "$cs" "$crange" "$rs" "$du" "$ds" "$drange" "$(echo "scale=2; $cs / $ds" | bc 2>/dev/null || echo -)"
done
rm -rf "$saved"
