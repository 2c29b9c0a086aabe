#!/usr/bin/env bash
# Build-time history (issue 23): POINTS cold dev builds of the same commit (`cargo xtask
# timings`, each appended to one history file: the A/A points), each held against the points
# before it; then, each alone and on a runner of its own (a new clone, the history file handed
# over as the workflow's cache would), one change of MEMBER held against the A/A history:
#   dep     a heavy new dependency (DEP, default regex: `cargo add`, so Cargo.lock changes)
#   script  a slow build script (its build.rs, new or not, sleeps SLEEP seconds first, default 6)
#   big     the member's crate made much larger (FUNCTIONS generic functions, default 1500)
#
#   scripts/measure-history.sh GIT_DIR WORK_DIR MEMBER_DIR [POINTS]
#
# GIT_DIR: the repository to clone (a bare one from `fetch`, or a checkout), at REV (default its
# HEAD); WORK_DIR: scratch (emptied); MEMBER_DIR: the member's folder in the workspace ("." for
# a root package). XTASK: the tool's binary (default: this checkout's target/debug/xtask, built
# first). Writes WORK_DIR/out: the histories, each comparison as text, JSON and markdown, and the
# charts. Needs cargo, git, jq.
set -euo pipefail
origin=${1:?usage: $0 GIT_DIR WORK_DIR MEMBER_DIR [POINTS]} work=${2:?} member=${3:?}
points=${4:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${XTASK:-} ]]; then
  (cd "$here" && cargo build -q -p xtask-fastbuild)
  XTASK=$here/target/debug/xtask
fi
out=$work/out
rm -rf "$work"
mkdir -p "$out"
history=$out/history.jsonl
clone() {
  git clone -q "$origin" "$1"
  [[ -z ${REV:-} ]] || git -C "$1" checkout -q "$REV"
}
timings() { (cd "$1" && "$XTASK" timings --variant dev --history "$2" --source "$3" --json >/dev/null 2>>"$out/timings.log"); }
# "<verdict of the total> <units flagged> <earlier points>" of the last point of FILE.
verdict() {
  cd "$work/runner-1" && "$XTASK" history --file "$1" --chart "$1.svg" --json 2>/dev/null |
    jq -r '.comparison | "\(.total.verdict) total, \(.units | length) units flagged, against \(.earlier_points) points"'
}

echo "A/A: $points cold dev builds of the same commit"
clone "$work/runner-1"
for i in $(seq "$points"); do
  timings "$work/runner-1" "$history" aa
  head -n "$i" "$history" >"$out/aa-$i.jsonl"
  printf '  point %2s: %s\n' "$i" "$(verdict "$out/aa-$i.jsonl")"
done
rm -f "$out"/aa-*.jsonl*
(cd "$work/runner-1" && "$XTASK" history --file "$history" --chart "$out/aa.svg" >"$out/aa.txt")

crate_source() {
  for f in src/lib.rs src/main.rs lib.rs main.rs; do
    [[ -f $1/$f ]] && { echo "$1/$f"; return; }
  done
  echo "no src/lib.rs or src/main.rs in $1" >&2
  return 1
}
change() {
  local dir=$1/$member
  case $2 in
    dep) cargo add -q "${DEP:-regex}" --manifest-path "$dir/Cargo.toml" ;;
    script)
      local sleep="std::thread::sleep(std::time::Duration::from_secs(${SLEEP:-6}));"
      if [[ -e $dir/build.rs ]]; then
        grep -q '^fn main() {' "$dir/build.rs" || { echo "no 'fn main() {' line in $dir/build.rs" >&2; return 1; }
        sed -i "s|^fn main() {|fn main() {\n    $sleep|" "$dir/build.rs"
      else
        printf 'fn main() {\n    %s\n}\n' "$sleep" >"$dir/build.rs"
      fi
      ;;
    big)
      local src
      src=$(crate_source "$dir")
      for i in $(seq "${FUNCTIONS:-1500}"); do
        printf '#[allow(dead_code)] pub fn measure_history_%s(x: u64) -> u64 { let v: Vec<(u64, String)> = (0..x).map(|y| (y * %s, format!("{y}"))).collect(); v.iter().map(|(a, s)| a + s.len() as u64).sum() }\n' "$i" "$i"
      done >>"$src"
      ;;
  esac
  git -C "$1" add -A
  git -C "$1" -c user.name=measure -c user.email=measure@localhost commit -qm "measure-history: $2"
}

for what in dep script big; do
  runner=$work/runner-$what
  clone "$runner"
  change "$runner" "$what"
  cp "$history" "$out/history-$what.jsonl"
  timings "$runner" "$out/history-$what.jsonl" "$what"
  (cd "$runner" && "$XTASK" history --file "$out/history-$what.jsonl" --chart "$out/$what.svg" >"$out/$what.txt" &&
    "$XTASK" history --file "$out/history-$what.jsonl" --chart "$out/$what.svg" --json >"$out/$what.json" &&
    "$XTASK" history --file "$out/history-$what.jsonl" --chart "$out/$what.svg" --format markdown >"$out/$what.md")
  echo "$what: $(jq -r '.comparison | "\(.total.verdict) total \(.total.before // 0 | . * 10 | round / 10) → \(.total.after | . * 10 | round / 10) s"' "$out/$what.json")"
  jq -r '.comparison.units[:4][] | "  \(.metric) (\(.kind)): \(.verdict) \((.before // 0) | . * 100 | round / 100) → \((.after // 0) | . * 100 | round / 100) s; \(.why | join("; "))"' "$out/$what.json"
done
echo "outputs: $out"
