#!/usr/bin/env bash
# The README's shared-cache figure for images: a production image whose deps layer is not in
# the builder's cache (`--no-cache`: a pruned builder, a fresh CI runner), built three ways:
#   none   no sccache
#   cold   through sccache into an empty Redis (the endpoint only as the BuildKit secret)
#   warm   through sccache again, from the Redis the cold build filled
# Prints each deps stage's time and sccache's hits/misses (from the image build's phase table).
#
#   scripts/measure-sccache-image.sh [PLATFORM]      (default linux/amd64)
#
# Needs an engine ($DOCKER; on this project's machines: eval "$(../shared/tools/container-engine
# env)"), sccache and redis-server on PATH. Starts its own Redis on 127.0.0.1 (stopped by pid).
set -euo pipefail
cd "$(dirname "$0")/.."
platform=${1:-linux/amd64}
flags=${DOCKER_BUILD_FLAGS:---network host}
for tool in redis-server python3 bc; do
  command -v "$tool" >/dev/null || { echo "needs $tool on PATH (apt-get install redis-server)" >&2; exit 2; }
done
scratch=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$scratch" >/dev/null &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null || true; rm -rf "$scratch"' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

now() { date +%s.%N; }
# One image with no layer cache; prints "seconds deps_seconds hits misses".
image() {
  local t out
  t=$(now)
  out=$(cargo xtask docker build --json --variant production --platforms "$platform" \
    --image measure-sccache --docker-flags="$flags --no-cache" "$@" 2>/dev/null)
  printf '%s %s\n' "$(echo "$(now) - $t" | bc)" "$(echo "$out" | python3 -c '
import json, sys
deps = next(p for p in json.load(sys.stdin)["phases"] if p["phase"] == "deps")
print(deps["seconds"], deps.get("cache_hits", "-"), deps.get("cache_misses", "-"))')"
}

read -r none none_deps _ _ <<<"$(image)"
echo "no sccache: image ${none}s, deps stage ${none_deps}s"
export SCCACHE_REDIS_ENDPOINT=redis://127.0.0.1:$port/
read -r cold cold_deps ch cm <<<"$(image --cache sccache)"
echo "empty Redis: image ${cold}s, deps stage ${cold_deps}s, ${ch} hits, ${cm} misses"
read -r warm warm_deps wh wm <<<"$(image --cache sccache)"
echo "warm Redis: image ${warm}s, deps stage ${warm_deps}s, ${wh} hits, ${wm} misses"
echo "deps stage warm/none $(echo "scale=2; $warm_deps / $none_deps" | bc), cold/none $(echo "scale=2; $cold_deps / $none_deps" | bc)"
