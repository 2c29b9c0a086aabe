#!/usr/bin/env bash
# The xtask's own cold build time (paid on every fresh clone and CI job), two commits side by
# side in worktrees of this repository, N rounds, alternating:
#   scripts/measure-xtask-cold.sh BEFORE_COMMIT AFTER_COMMIT [N]
# Prints, per round and side: the full cold build (`rm -rf target; cargo build -p
# xtask-fastbuild`) and the tool's own crates alone (each `cargo clean -p` of them, then the
# build again). Compare rounds pairwise: a shared VM drifts by tens of percent over minutes.
# Then, for AFTER, each unit's share of one more cold build (`cargo build --timings`): the
# units over half a second, and when the tool's crates start (needs python3).
set -euo pipefail
before=${1:?usage: $0 BEFORE_COMMIT AFTER_COMMIT [N]} after=${2:?} rounds=${3:-3}
tool=(xtask-fastbuild xtask-fastbuild-ops xtask-fastbuild-core)
scratch=$(mktemp -d)
trap 'git worktree remove --force "$scratch/before" 2>/dev/null; git worktree remove --force "$scratch/after" 2>/dev/null; rm -rf "$scratch"' EXIT
git worktree add -q --detach "$scratch/before" "$before"
git worktree add -q --detach "$scratch/after" "$after"
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
for round in $(seq "$rounds"); do
  for side in before after; do
    cd "$scratch/$side"
    rm -rf target
    full=$(seconds cargo build -q -p xtask-fastbuild)
    # A commit from before the split has only the first of them.
    for package in "${tool[@]}"; do cargo clean -q -p "$package" 2>/dev/null || true; done
    own=$(seconds cargo build -q -p xtask-fastbuild)
    printf 'round %s %-6s full cold %6.1f s, the tool'\''s crates alone %5.1f s\n' "$round" "$side" "$full" "$own"
  done
done
cd "$scratch/after"
rm -rf target
cargo build -q -p xtask-fastbuild --timings >/dev/null 2>&1
python3 - target/cargo-timings/cargo-timing.html <<'PY'
import json, re, sys
html = open(sys.argv[1]).read()
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", html, re.S).group(1))
total = sum(u["duration"] for u in units)
wall = max(u["start"] + u["duration"] for u in units)
print(f"\none cold build of the tool: {len(units)} units, {wall:.1f} s wall, {total:.1f} s of unit time")
print(f"{'unit':32} {'starts':>7} {'takes':>6}")
for u in sorted(units, key=lambda u: -u["duration"]):
    if u["duration"] >= 0.5 or u["name"].startswith("xtask-fastbuild"):
        name = u["name"] + (" (" + u["target"].strip() + ")" if u["target"].strip() else "")
        print(f"{name:32} {u['start']:6.1f}s {u['duration']:5.1f}s")
PY
