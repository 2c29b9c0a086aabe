#!/usr/bin/env bash
# A fresh CI runner's image job vs a laptop's incremental build of the same one-line edit
# (issue 34):
#   runner  a new clone at WORK_DIR (always the same path), the default branch's target dir put
#           back (as actions/cache restores it), `cargo xtask cache restore`, a comment line on
#           top of FILE, then both platforms' production images built without an engine and
#           pushed: `docker build --engine none --variant production --platforms
#           linux/amd64,linux/arm64 --registry REGISTRY`, DOCKER_HOST at a socket nobody serves
#   laptop  a warm clone beside it, the same edit, `cargo xtask build --variant production`
#           (the same targets, native)
# REPEAT rounds (3); prints each pair, then runner/laptop of the medians, with and without the
# restore's own time.
#
#   scripts/measure-fresh-runner-image.sh [GIT_DIR [WORK_DIR [FILE]]]
#
# Defaults: this checkout, a scratch folder under the system's temp dir, this repository's
# service (crates/pulse-server/src/main.rs). REGISTRY: 127.0.0.1:5000. XTASK: the tool's binary
# (default: this checkout's target/debug/xtask, built first). Needs git, skopeo, the cross
# targets (shared/tools/cross-env up) and a registry.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
origin=${1:-$here} work=${2:-${TMPDIR:-/tmp}/xtask-fresh-runner} file=${3:-crates/pulse-server/src/main.rs}
registry=${REGISTRY:-127.0.0.1:5000}
repeat=${REPEAT:-3}
laptop=$work.laptop saved=$work.saved-target
if [[ -z ${XTASK:-} ]]; then
  (cd "$here" && cargo build -q -p xtask-fastbuild --bin xtask)
  XTASK=$here/target/debug/xtask
fi
export DOCKER_HOST=unix:///nonexistent/docker.sock
now() { date +%s.%N; }
since() { printf '%.2f' "$(echo "$(now) - $1" | bc)"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
clone() { rm -rf "$1"; git clone -q "$origin" "$1"; }
edit() { sed -i "1i // fresh-runner edit $2" "$1/$file"; }
# Each prints the units cargo compiled (its JSON summary).
image() { (cd "$1" && "$XTASK" docker build --engine none --variant production --platforms linux/amd64,linux/arm64 --registry "$registry" --json 2>/dev/null | jq -r .units_compiled); }
laptop_build() { (cd "$laptop" && "$XTASK" build --variant production --json 2>/dev/null | jq -r .units_compiled); }

echo "the default branch's job: cold images of both platforms, pushed; the target dir saved"
clone "$work"
t=$(now); units=$(image "$work"); echo "  cold: $(since "$t") s, $units units"
(cd "$work" && "$XTASK" cache save --no-prune 2>&1 | tail -1)
rm -rf "$saved"; cp -a "$work/target" "$saved"
echo "the laptop: a clone with that target dir, built once"
clone "$laptop"; cp -a "$saved" "$laptop/target"
(cd "$laptop" && "$XTASK" cache restore >/dev/null 2>&1)
laptop_build >/dev/null

runners=() bare=() laptops=()
for i in $(seq "$repeat"); do
  clone "$work"; cp -a "$saved" "$work/target"; edit "$work" "$i"; sync
  t=$(now); (cd "$work" && "$XTASK" cache restore >/dev/null 2>&1); restore=$(since "$t")
  t=$(now); runner_units=$(image "$work"); built=$(since "$t")
  runners+=("$(echo "$restore + $built" | bc)"); bare+=("$built")
  edit "$laptop" "$i"; sync
  t=$(now); laptop_units=$(laptop_build); laptops+=("$(since "$t")")
  echo "round $i: runner ${runners[-1]} s (restore $restore s, images built and pushed $built s, $runner_units units compiled), laptop ${laptops[-1]} s ($laptop_units units)"
done
r=$(printf '%s\n' "${runners[@]}" | median); b=$(printf '%s\n' "${bare[@]}" | median); l=$(printf '%s\n' "${laptops[@]}" | median)
echo "medians of $repeat: runner $r s (without the restore $b s), laptop $l s; runner/laptop $(echo "scale=2; $r / $l" | bc) ($(echo "scale=2; $b / $l" | bc) without the restore)"
rm -rf "$saved"
