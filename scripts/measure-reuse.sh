#!/usr/bin/env bash
# A fresh CI runner with the default branch's target dir restored (issue 22): units compiled
# and wall time of `cargo build` (dev) for
#   b2  the whole target dir restored as it was (new checkout mtimes: every workspace unit)
#   c   the same, then `cargo xtask cache restore` (files as built get their mtimes back)
#   d   the same change on the warm checkout (a laptop)
# for: no change, and a one-line edit of each FILE given (a comment line appended).
#
#   scripts/measure-reuse.sh GIT_DIR WORK_DIR [FILE...]
#
# GIT_DIR: the repository to clone (a bare one from `fetch`, or a checkout), at its HEAD;
# WORK_DIR: where the "runner" checks out (always the same path); XTASK: the tool's binary
# (default: this checkout's target/debug/xtask, built first). Needs cargo and git.
set -euo pipefail
origin=${1:?usage: $0 GIT_DIR WORK_DIR [FILE...]} work=${2:?}
shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${XTASK:-} ]]; then
  (cd "$here" && cargo build -q -p xtask-fastbuild)
  XTASK=$here/target/debug/xtask
fi
saved=$work.saved-target laptop=$work.laptop
now() { date +%s.%N; }
# `cargo build` in $1 (default $work): "<units compiled> <seconds>"
build() {
  local t out
  t=$(now)
  out=$(cd "${1:-$work}" && cargo build --message-format=json 2>/dev/null)
  printf '%s %.1f\n' "$(grep -c '"reason":"compiler-artifact".*"fresh":false' <<<"$out" || true)" "$(echo "$(now) - $t" | bc)"
}
clone() { rm -rf "$work"; git clone -q "$origin" "$work"; }
edit() { [[ -z ${1:-} ]] || printf '\n// measure-reuse edit\n' >>"${2:-$work}/$1"; }

echo "cold build and save (the default branch's cache)"
clone
read -r units secs < <(build)
echo "  a  no cache: $units units, $secs s"
(cd "$work" && "$XTASK" cache save >/dev/null)
rm -rf "$saved"; cp -a "$work/target" "$saved"
echo "  target dir saved: $(du -sh "$saved" | cut -f1)"
rm -rf "$laptop"; git clone -q "$origin" "$laptop"; build "$laptop" >/dev/null
for file in "" "$@"; do
  what=${file:-no change}
  clone; cp -a "$saved" "$work/target"; edit "$file"
  read -r b2u b2s < <(build)
  clone; cp -a "$saved" "$work/target"; edit "$file"
  (cd "$work" && "$XTASK" cache restore 2>/dev/null)
  read -r cu cs < <(build)
  # The laptop: its own warm checkout, the same change, then put back.
  edit "$file" "$laptop"
  read -r du ds < <(build "$laptop")
  git -C "$laptop" checkout -q -- .; build "$laptop" >/dev/null
  printf '%-28s b2 %3s units %6s s | c %3s units %6s s | d %3s units %6s s | c/d %s\n' \
    "$what" "$b2u" "$b2s" "$cu" "$cs" "$du" "$ds" "$(echo "scale=2; $cs / $ds" | bc 2>/dev/null || echo -)"
done
rm -rf "$saved" "$laptop"
