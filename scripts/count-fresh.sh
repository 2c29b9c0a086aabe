#!/usr/bin/env bash
# The independent count behind the README's coverage rows on real workspaces: plain cargo, not
# the xtask's own report. In a fresh target dir, build the workspace's ci_optims/ with a cargo
# command, then the real workspace with the same command, and count the third-party (non-member)
# `compiler-artifact` messages of the second run that are `fresh`.
#
#   scripts/count-fresh.sh DIR CARGO_ARGS...
#   e.g. scripts/count-fresh.sh ../helix build --profile production \
#          --target x86_64-unknown-linux-gnu --target aarch64-unknown-linux-gnu
#        scripts/count-fresh.sh ../helix test --no-run --workspace --exclude xtask-build
#
# (Workspace-wide modes name the tool's own package in --exclude: it is no member of ci_optims.)
# Prints "fresh/total" and the units that were compiled again. Removes its target dir after,
# unless KEEP_TARGET names a new directory to build in and keep (to time an edit rebuild in it).
set -euo pipefail
dir=${1:?usage: $0 DIR CARGO_ARGS...}
shift
[[ -f $dir/ci_optims/Cargo.toml ]] || { echo "$dir has no ci_optims/ (cargo xtask ci-optims sync)" >&2; exit 2; }
if [[ -n ${KEEP_TARGET:-} ]]; then
  # The count is only honest in an empty target dir.
  [[ ! -e $KEEP_TARGET ]] || { echo "KEEP_TARGET=$KEEP_TARGET exists; name a new directory" >&2; exit 2; }
  mkdir -p "$KEEP_TARGET"
  target=$(cd "$KEEP_TARGET" && pwd)
else
  target=$(mktemp -d)
  trap 'rm -rf "$target"' EXIT
fi
cd "$dir"
# The mirror has no tool package to exclude.
mirror_args=()
skip=false
for arg in "$@"; do
  if $skip; then skip=false; continue; fi
  if [[ $arg == --exclude ]]; then skip=true; continue; fi
  mirror_args+=("$arg")
done
cargo "${mirror_args[@]}" --manifest-path ci_optims/Cargo.toml --target-dir "$target" \
  --message-format=json >/dev/null
members=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["workspace_members"]))')
cargo "$@" --target-dir "$target" --message-format=json | MEMBERS=$members python3 -c '
import json, os, sys
members = set(os.environ["MEMBERS"].split("\n"))
total = fresh = 0
again = []
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") != "compiler-artifact" or m["package_id"] in members:
        continue
    total += 1
    if m["fresh"]:
        fresh += 1
    else:
        again.append(m["package_id"] + " " + m["target"]["name"])
print(f"{fresh}/{total} third-party units fresh")
for unit in again:
    print("  compiled again:", unit)
'
