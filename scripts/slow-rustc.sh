#!/bin/sh
# A RUSTC_WRAPPER that makes every rustc invocation SLOWDOWN_PERCENT (default 20) percent
# slower: the injected regression of `scripts/bench-trust.sh ab`.
start=$(date +%s%N)
"$@"
status=$?
end=$(date +%s%N)
ns=$(((end - start) * ${SLOWDOWN_PERCENT:-20} / 100))
sleep "$(printf '%d.%09d' $((ns / 1000000000)) $((ns % 1000000000)))"
exit "$status"
