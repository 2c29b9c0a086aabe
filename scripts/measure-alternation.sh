#!/usr/bin/env bash
# What each switch between `cargo xtask` and the user's own `cargo` costs on a workspace that
# adopted the tool (issue 31): units compiled (fingerprint files cargo rewrote in the target
# dir's profile dirs: it leaves a fresh unit's alone) and wall seconds of each command, run
# from a clean shell (`env -i` with PATH, HOME and the variables named in KEEP_ENV).
#
#   KEEP_ENV="SQLX_OFFLINE" scripts/measure-alternation.sh WORKSPACE
#
# First every kind of command runs once (its first build may compile), and the target dir is
# saved for `cache restore`; then the alternations, each printed as a markdown row:
# command | after | units | seconds. Needs cargo, python3.
set -euo pipefail
ws=$(cd "${1:?usage: $0 WORKSPACE}" && pwd)
cd "$ws"
shell=(env -i "PATH=$PATH" "HOME=$HOME")
for name in ${KEEP_ENV:-}; do shell+=("$name=${!name}"); done

fingerprints() {
  python3 - "$ws/target" <<'PY'
import os, sys
target = sys.argv[1]
def dirs(d):
    try: return [os.path.join(d, e) for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))]
    except OSError: return []
for top in dirs(target):
    for profile in [top] + dirs(top):
        for unit in dirs(os.path.join(profile, ".fingerprint")):
            for f in os.listdir(unit):
                if f.endswith(".json") or f.startswith(("dep-", "output-")) or f == "invoked.timestamp":
                    continue
                p = os.path.join(unit, f)
                print(f"{p} {os.stat(p).st_mtime_ns}")
PY
}

# run LABEL AFTER COMMAND...: one row.
run() {
  local label=$1 after=$2
  shift 2
  local before log start end units
  before=$(mktemp) log=$(mktemp)
  fingerprints | sort >"$before"
  start=$(date +%s.%N)
  "${shell[@]}" bash -c "$*" >/dev/null 2>"$log" || {
    cat "$log" >&2
    exit 1
  }
  end=$(date +%s.%N)
  units=$(fingerprints | sort | comm -13 "$before" - | wc -l)
  rm -f "$before" "$log"
  # shellcheck disable=SC2016 # the backquotes are markdown's
  printf '| `%s` | `%s` | %s | %.1f |\n' "$label" "$after" "$units" "$(echo "$end - $start" | bc)"
}

echo "warming each kind once" >&2
for warm in "cargo xtask build --variant dev" "cargo build" "cargo test --no-run" \
  "cargo xtask timings --warm" 'cargo xtask cache save --keep build --keep "test --no-run"'; do
  echo "  $warm" >&2
  log=$(mktemp)
  "${shell[@]}" bash -c "$warm" >/dev/null 2>"$log" || { cat "$log" >&2; exit 1; }
  rm -f "$log"
done

echo "| command | after | units compiled | seconds |"
echo "| --- | --- | --- | --- |"
run "cargo build" "cargo xtask build --variant dev" cargo build
run "cargo xtask build --variant dev" "cargo build" cargo xtask build --variant dev
run "cargo test --no-run" "cargo xtask build --variant dev" cargo test --no-run
run "cargo xtask build --variant dev" "cargo test --no-run" cargo xtask build --variant dev
run "cargo xtask timings --warm" "cargo xtask build --variant dev" cargo xtask timings --warm
run "cargo build" "cargo xtask timings --warm" cargo build
run "cargo xtask timings --warm" "cargo build" cargo xtask timings --warm
run "cargo xtask cache restore; cargo build" "cargo xtask timings --warm" "cargo xtask cache restore && cargo build"
run "cargo xtask build --variant dev" "cargo build" cargo xtask build --variant dev
