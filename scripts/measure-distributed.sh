#!/usr/bin/env bash
# Distributed compilation on a loopback cluster (issue 35): a cold build of VARIANT (dev) with
# no cache, then through `cargo xtask sccache-dist up --servers N` (2): once with the toolchain
# not yet on the servers, once more (it is), and once more with --verify 10; each in a scratch
# target dir and an empty sccache cache. Prints each time and the build's own sccache-dist line.
# On one machine the cluster shares its cores: the figures are the cost of distribution
# (toolchain upload, sandbox, the trip), not a speed-up.
#
#   scripts/measure-distributed.sh [DIR [VARIANT [SERVERS]]]
#
# DIR: the workspace (default: this checkout); XTASK: the tool's binary (default: this
# checkout's target/debug/xtask, built first). Needs root, bubblewrap, sccache and sccache-dist.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$here} variant=${2:-dev} servers=${3:-2}
if [[ -z ${XTASK:-} ]]; then
  (cd "$here" && cargo build -q -p xtask-fastbuild --bin xtask)
  XTASK=$here/target/debug/xtask
fi
scratch=$(mktemp -d)
SCCACHE_DIST_TOKEN=$(head -c 24 /dev/urandom | base64)
export SCCACHE_DIST_TOKEN
cd "$dir"
trap '"$XTASK" sccache-dist down >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }
build() { # LABEL TARGET_DIR ARGS...
  local label=$1 target=$2 t
  shift 2
  sync
  t=$(now)
  CARGO_TARGET_DIR=$scratch/$target SCCACHE_DIR=$scratch/sccache-$target "$XTASK" build --variant "$variant" "$@" >"$scratch/out" 2>"$scratch/err" ||
    { tail -20 "$scratch/err"; exit 1; }
  echo "$label: $(since "$t") s; $(grep -E '^(Dev|Production) build' "$scratch/out" | sed 's/ (.*) in / in /')"
  grep '^sccache-dist:' "$scratch/out" || true
}
"$XTASK" sccache-dist up --servers "$servers"
build "local, no cache" local --cache none
build "cluster, first (the toolchain sent)" first --cache sccache-dist
build "cluster, again" again --cache sccache-dist
build "cluster, --verify 10" verify --cache sccache-dist --verify 10
