#!/usr/bin/env bash
# Can `cargo xtask bench` be trusted? Reproduces the checks quoted in the README:
#
#   scripts/bench-trust.sh aa [N]      one baseline, then N compares with nothing changed:
#                                      how many scenarios were flagged (want 0)
#   scripts/bench-trust.sh ab [N]      one baseline, then N compares with every rustc made ~20%
#                                      slower (scripts/slow-rustc.sh): in how many was it flagged
#   scripts/bench-trust.sh sigint [N]  N times: start an edit scenario, SIGINT it at a random
#                                      moment; is `git status` clean and the baseline intact?
#   scripts/bench-trust.sh drift       is an A/A miss the tool's state or the machine's? Compare
#                                      right after a baseline, after 150 s idle, then 3 times
#                                      back to back (state would grow with builds, not time)
#   scripts/bench-trust.sh control [N] does the speed control follow the machine? N runs of
#                                      incr-core (dev), each with its control: their correlation,
#                                      and the slowest vs fastest run of 10 for both
#
# Scenarios: the dev edit-build loop (SCENARIOS to change), where regressions hurt daily.
set -euo pipefail
cd "$(dirname "$0")/.."

SCENARIOS=${SCENARIOS:-noop/dev incr-leaf/dev incr-core/dev test-build/dev}
scenario_args() { for s in $SCENARIOS; do printf -- '--scenario\n%s\n' "$s"; done; }
mapfile -t SARGS < <(scenario_args)
XTASK=$PWD/target/debug/xtask
cargo build -q -p xtask-fastbuild

flagged() { # JSON comparison on stdin -> "scenario:verdict" of the flagged rows
  python3 -c 'import json,sys; print(" ".join(r["scenario"]+":"+r["verdict"] for r in json.load(sys.stdin)["rows"] if r["verdict"] not in ("no-change", None)))'
}

deltas() { # JSON comparison on stdin -> one line of median changes (scaled, raw) and the speed
  python3 -c '
import json, sys
c = json.load(sys.stdin)
pct = lambda now, then: 100 * (now["median"] / then["median"] - 1)
rows = ", ".join("%s %+.1f%% (raw %+.1f%%)" % (r["scenario"], pct(r["current"], r["baseline"]),
                 pct(r["current_raw"], r["baseline_raw"])) for r in c["rows"])
s = c["speed"]
print("  %s; speed control %+.1f%%" % (rows, 100 * (s["current_control"] / s["baseline_control"] - 1)))'
}

aa() {
  local n=${1:-5} hits=0
  "$XTASK" bench --baseline trust "${SARGS[@]}" >/dev/null
  for i in $(seq "$n"); do
    local out status=0
    out=$("$XTASK" bench --compare trust --format json 2>/dev/null) || status=$?
    local f; f=$(flagged <<<"$out")
    deltas <<<"$out"
    echo "A/A compare $i: exit $status, flagged: ${f:-none}"
    [[ -z $f ]] || hits=$((hits + 1))
  done
  echo "A/A: $hits of $n compares flagged a scenario"
}

ab() {
  local n=${1:-5} hits=0
  "$XTASK" bench --baseline trust "${SARGS[@]}" >/dev/null
  for i in $(seq "$n"); do
    local out status=0
    out=$(RUSTC_WRAPPER=$PWD/scripts/slow-rustc.sh "$XTASK" bench --compare trust --format json 2>/dev/null) || status=$?
    local f; f=$(flagged <<<"$out")
    deltas <<<"$out"
    echo "A/B compare $i: exit $status, flagged: ${f:-none}"
    [[ $status == 1 && $f == *slower* ]] && hits=$((hits + 1))
  done
  echo "A/B: slowdown flagged (exit 1) in $hits of $n compares"
}

sigint() {
  local n=${1:-10} ok=0 base=target/xtask/bench/trust.json
  [[ -f $base ]] || "$XTASK" bench --baseline trust --scenario noop/dev >/dev/null
  local before; before=$(sha256sum "$base")
  [[ -z $(git status --porcelain --untracked-files=no) ]] || { echo "commit or stash first: the tree must start clean"; exit 2; }
  for i in $(seq "$n"); do
    local scenario=incr-leaf/dev
    (( i % 2 )) || scenario=incr-core/dev
    "$XTASK" bench --baseline trust --scenario "$scenario" --runs 30 >/dev/null 2>&1 &
    local pid=$! delay
    delay=$(python3 -c 'import random; print(round(random.uniform(0.3, 8.0), 2))')
    sleep "$delay"
    kill -INT "$pid" 2>/dev/null || true
    local status=0; wait "$pid" || status=$?
    local clean=yes intact=yes
    [[ -z $(git status --porcelain --untracked-files=no) ]] || clean=no
    [[ $(sha256sum "$base") == "$before" ]] || intact=no
    echo "SIGINT $i: $scenario after ${delay}s, exit $status, git status clean: $clean, baseline intact: $intact"
    [[ $clean == yes && $intact == yes ]] && ok=$((ok + 1))
    git checkout -q -- . 2>/dev/null || true
  done
  echo "SIGINT: tree clean and baseline intact in $ok of $n"
}

drift() {
  local args=(--scenario incr-core/dev --scenario test-build/dev)
  "$XTASK" bench --baseline drift "${args[@]}" >/dev/null 2>&1
  echo "right after the baseline: $("$XTASK" bench --compare drift --format json 2>/dev/null | deltas)"
  sleep 150
  echo "after 150 s idle: $("$XTASK" bench --compare drift --format json 2>/dev/null | deltas)"
  for i in 1 2 3; do
    echo "back to back $i: $("$XTASK" bench --compare drift --format json 2>/dev/null | deltas)"
  done
}

control() {
  local n=${1:-150} file=target/xtask/bench/control-probe.json
  "$XTASK" bench --baseline probe --file "$file" --scenario incr-core/dev --runs "$n" >/dev/null
  python3 - "$file" <<'PY'
import json, statistics as st, sys
r = json.load(open(sys.argv[1]))["results"][0]
runs, ctl = r["samples"], r["controls"]
medians = lambda xs: [st.median(xs[i:i + 10]) for i in range(0, len(xs) - 9, 10)]
swing = lambda xs: 100 * (max(medians(xs)) / min(medians(xs)) - 1)
cv = lambda xs: 100 * st.pstdev(xs) / st.mean(xs)
scaled = [t / c for t, c in zip(runs, ctl)]
print(f"{len(runs)} runs: correlation of build and control {st.correlation(runs, ctl):.2f}")
print(f"slowest vs fastest 10 runs (median): build +{swing(runs):.0f}%, control +{swing(ctl):.0f}%")
print(f"variation (CV): build {cv(runs):.1f}%, scaled by the control {cv(scaled):.1f}%")
PY
}

case ${1:-} in
  control) control "${2:-150}" ;;
  drift) drift ;;
  aa) aa "${2:-5}" ;;
  ab) ab "${2:-5}" ;;
  sigint) sigint "${2:-10}" ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
