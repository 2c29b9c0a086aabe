#!/usr/bin/env bash
# The xtask's own cold build time (paid on every fresh clone and CI job), two commits side by
# side in worktrees of this repository, N rounds, alternating:
#   scripts/measure-xtask-cold.sh BEFORE_COMMIT AFTER_COMMIT [N]
# Prints, per round and side: the full cold build (`rm -rf target; cargo build -p xtask-fastbuild`) and the
# xtask crate alone (`cargo clean -p xtask-fastbuild; cargo build -p xtask-fastbuild`). Compare rounds pairwise: a
# shared VM drifts by tens of percent over minutes.
set -euo pipefail
before=${1:?usage: $0 BEFORE_COMMIT AFTER_COMMIT [N]} after=${2:?} rounds=${3:-3}
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
    cargo clean -q -p xtask-fastbuild
    own=$(seconds cargo build -q -p xtask-fastbuild)
    printf 'round %s %-6s full cold %6.1f s, xtask crate alone %5.1f s\n' "$round" "$side" "$full" "$own"
  done
done
