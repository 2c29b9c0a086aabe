#!/usr/bin/env bash
# Reproduces the Docker figures of the README. Needs an engine ($DOCKER / DOCKER_HOST; on this
# project's machines: eval "$(../shared/tools/container-engine env)") and, for fresh-engine, a
# registry on 127.0.0.1:5000 and root (it starts a second dockerd).
#
#   scripts/measure-docker.sh rebuild [N]   one-line edit, then: our image rebuild vs the naive
#                                           Dockerfile (docker/naive.Dockerfile; NAIVE_PROFILE=
#                                           production for our profile) vs the native build
#   scripts/measure-docker.sh cold          cold production images, amd64 + arm64: phases, sizes
#   scripts/measure-docker.sh parallel      cold production images: amd64 alone, arm64 alone,
#                                           then both at once (the build cache pruned before
#                                           each); prints both / (amd64 + arm64) and the phases
#   scripts/measure-docker.sh libc [ROUNDS [DIR BIN FILE]]
#                                           glibc vs static musl production images, both
#                                           architectures: cold (build cache pruned), a
#                                           one-line edit of FILE (a line appended), image
#                                           sizes, `file` of each BIN; gnu then musl, ROUNDS
#                                           times (2); DIR: another workspace (adopted)
#   scripts/measure-docker.sh fresh-engine  a second, empty engine building with --cache-from the
#                                           registry: is the deps stage reused, is anything compiled?
#   scripts/measure-docker.sh edit-ratio [N [DIR BIN FILE]]
#                                           the build stage's own cost: N rounds (5) of a
#                                           one-line edit of FILE (a comment line on top),
#                                           then the development image rebuilt vs the same
#                                           edit built natively (`cargo build --bin BIN`, dev);
#                                           prints each pair and image/native of the medians.
#                                           Default: this repository's service; DIR: another
#                                           workspace (adopted)
#                                           ENGINE=none: the image without an engine
#                                           (`--engine none`), which shares the native build's
#                                           units: each round edits twice, timing the native
#                                           build (`cargo build`) after one edit and the image
#                                           after the other
#   scripts/measure-docker.sh compare DIR BIN FILE [VARIANT]
#                                           another workspace (adopted with `cargo xtask init`):
#                                           append a comment line to FILE, then rebuild our image
#                                           (phase table) and the naive one (same profile; its
#                                           steps), restore FILE; prints naive/ours.
#                                           NAIVE_APT_PACKAGES: what the naive image must install
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER=${DOCKER:-docker}
FLAGS=${DOCKER_BUILD_FLAGS:---network host}
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { echo "scale=2; $1 / $2" | bc; }

EDIT_FILE=crates/pulse-server/src/main.rs
restore_edit() { [[ -f $EDIT_FILE.measure-orig ]] && mv -f "$EDIT_FILE.measure-orig" "$EDIT_FILE"; true; }

ours() { cargo xtask docker build --variant production --platforms linux/amd64 --docker-flags="$FLAGS" "$@"; }
# NAIVE_PROFILE=production builds the naive image with this repo's profile instead of --release.
# shellcheck disable=SC2086 # FLAGS is a list of flags
naive() {
  DOCKER_BUILDKIT=1 "$DOCKER" build $FLAGS -q -f docker/naive.Dockerfile \
    --build-arg "PROFILE=${NAIVE_PROFILE:-release}" -t pulse-naive .
}
native() { cargo build --profile production --target x86_64-unknown-linux-gnu --bin pulse-server; }

rebuild() {
  local n=${1:-3} a=() b=() c=()
  ours >/dev/null 2>&1; naive >/dev/null 2>&1; native >/dev/null 2>&1   # warm
  cp "$EDIT_FILE" "$EDIT_FILE.measure-orig"
  trap restore_edit EXIT INT TERM
  for i in $(seq "$n"); do
    sed -i "0,/\"ok\\\\n\"/s//\"ok $i\\\\n\"/" "$EDIT_FILE"
    local t
    t=$(now); ours >/dev/null 2>&1; a+=("$(elapsed "$t")")
    t=$(now); naive >/dev/null 2>&1; b+=("$(elapsed "$t")")
    t=$(now); native >/dev/null 2>&1; c+=("$(elapsed "$t")")
    echo "run $i: ours ${a[-1]} s, naive ${b[-1]} s, native ${c[-1]} s"
    cp "$EDIT_FILE.measure-orig" "$EDIT_FILE"
  done
  restore_edit
  local o v x
  o=$(printf '%s\n' "${a[@]}" | median); v=$(printf '%s\n' "${b[@]}" | median); x=$(printf '%s\n' "${c[@]}" | median)
  echo "rebuild after a one-line edit (median of $n, production, amd64): ours $o s," \
       "naive (${NAIVE_PROFILE:-release} profile) $v s, native $x s;" \
       "ours/native $(ratio "$o" "$x"), naive/ours $(ratio "$v" "$o")"
}

prune() {
  "$DOCKER" builder prune -af >/dev/null
  "$DOCKER" image rm -f pulse-server:production-amd64 pulse-server:production-arm64 \
    pulse-server:production pulse-server:deps-production-amd64 pulse-server:deps-production-arm64 \
    pulse-server:deps-production-musl-amd64 pulse-server:deps-production-musl-arm64 \
    >/dev/null 2>&1 || true
}

cold() {
  prune
  cargo xtask docker build --variant production --docker-flags="$FLAGS" 2>/dev/null
  for arch in amd64 arm64; do
    echo "pulse-server:production-$arch: $("$DOCKER" image inspect --format '{{.Size}}' "pulse-server:production-$arch") bytes"
  done
}

parallel() {
  local out t amd arm both
  out=$(mktemp)
  for platforms in linux/amd64 linux/arm64 linux/amd64,linux/arm64; do
    prune
    t=$(now)
    cargo xtask docker build --variant production --platforms "$platforms" --docker-flags="$FLAGS" \
      >"$out" 2>/dev/null || { cat "$out"; echo "the $platforms build failed" >&2; exit 1; }
    local s
    s=$(elapsed "$t")
    echo "$platforms, cold: $s s"
    grep -E '^│ linux/' "$out" || true
    case $platforms in
      linux/amd64) amd=$s ;;
      linux/arm64) arm=$s ;;
      *) both=$s ;;
    esac
  done
  rm -f "$out"
  echo "both at once $both s; amd64 alone $amd s + arm64 alone $arm s = $(echo "$amd + $arm" | bc) s;" \
       "both / sum $(ratio "$both" "$(echo "$amd + $arm" | bc)")"
}

# One line per platform of a docker build's phase table (seconds, crates, third-party crates).
phases() { grep -E '^│ linux/' "$1" | awk -F'┆' '{gsub(/[│ ]/, "", $1); gsub(/ /, "", $2); gsub(/^ +| +$/, "", $3); gsub(/^ +| +$/, "", $5); printf "    %s %s %s s, third-party %s\n", $1, $2, $3, $5}'; }

libc_compare() {
  local rounds=${1:-2} dir=${2:-.} bin=${3:-pulse-server} file=${4:-$EDIT_FILE}
  local t cold edit libc arch size out edited
  out=$(mktemp)
  cd "$dir"
  [[ -f $file ]] || { echo "no $file in $dir" >&2; exit 2; }
  edited=$(pwd)/$file
  cp "$edited" "$edited.measure-orig"
  # shellcheck disable=SC2064 # the names now: the locals are gone when the trap runs
  trap "mv -f '$edited.measure-orig' '$edited'; rm -f '$out'" EXIT
  trap 'exit 130' INT TERM
  local image=measure-libc rows=()
  build() {
    cargo xtask docker build --variant production --libc "$1" --image "$image" \
      --docker-flags="$FLAGS" >"$out" 2>/dev/null \
      || { cat "$out"; echo "the $1 build ($2) failed" >&2; exit 1; }
  }
  for round in $(seq "$rounds"); do
    for libc in gnu musl; do
      prune
      "$DOCKER" image rm -f "$image:production-amd64" "$image:production-arm64" \
        "$image:production" >/dev/null 2>&1 || true
      t=$(now); build "$libc" cold; cold=$(printf '%.1f' "$(elapsed "$t")")
      echo "round $round, $libc, cold (both architectures): $cold s"
      phases "$out"
      printf '\nconst _: &str = "measure-%s-%s-%s";\n' "$libc" "$round" "$(date +%s%N)" >>"$edited"
      t=$(now); build "$libc" edit; edit=$(printf '%.1f' "$(elapsed "$t")")
      cp "$edited.measure-orig" "$edited"
      echo "round $round, $libc, one-line edit: $edit s"
      phases "$out"
      local sizes=()
      for arch in amd64 arm64; do
        size=$("$DOCKER" image inspect --format '{{.Size}}' "$image:production-$arch")
        sizes+=("$arch $size bytes")
        if [[ $round == 1 ]]; then
          local id root
          id=$("$DOCKER" create --platform "linux/$arch" "$image:production-$arch")
          root=$(mktemp -d)
          "$DOCKER" export "$id" | tar -x -C "$root"
          "$DOCKER" rm "$id" >/dev/null
          echo "  $libc $arch: $(file -b "$root/usr/local/bin/$bin")"
          echo "  $libc $arch image files: $(cd "$root" && find . -type f ! -path './etc/host*' ! -path './etc/resolv.conf' ! -path './etc/mtab' ! -path './dev/*' ! -name .dockerenv | sort | tr '\n' ' ')"
          rm -rf "$root"
        fi
      done
      echo "  $libc image sizes: ${sizes[*]}"
      rows+=("| $round | $libc | $cold | $edit | ${sizes[*]} |")
    done
  done
  echo
  echo "| round | libc | cold, both architectures (s) | one-line edit (s) | image sizes |"
  echo "| --- | --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
}

engine_pid=
fresh_engine() {
  local dir=/tmp/xtask-engine2
  local sock=unix://$dir/docker.sock
  mkdir -p "$dir"
  echo "pushing the deps cache from the first engine"
  ours --registry 127.0.0.1:5000 --tag cache-demo >/dev/null 2>&1
  echo "starting a second engine with an empty data root ($dir)"
  dockerd --data-root "$dir/data" --exec-root "$dir/exec" -H "$sock" --pidfile "$dir/dockerd.pid" \
    --bridge=none --iptables=false --ip-forward=false --ip-masq=false >"$dir/dockerd.log" 2>&1 &
  engine_pid=$!
  trap '[[ -z $engine_pid ]] || kill "$engine_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 60); do DOCKER_HOST=$sock "$DOCKER" info >/dev/null 2>&1 && break; sleep 1; done
  # The base image only (no compiled code): this machine cannot pull it.
  "$DOCKER" save rust:1.95.0-slim-bookworm | DOCKER_HOST=$sock "$DOCKER" load -q
  echo "images in the new engine: $(DOCKER_HOST=$sock "$DOCKER" images --format '{{.Repository}}:{{.Tag}}' | tr '\n' ' ')"
  DOCKER_HOST=$sock ours --registry 127.0.0.1:5000 --tag cache-demo 2>/dev/null
  kill "$engine_pid"; wait "$engine_pid" 2>/dev/null || true
  engine_pid=
  rm -rf "$dir"
}

# The naive build's steps from its --progress=plain log: seconds per Dockerfile step, crates compiled.
naive_steps() {
  awk '/^#[0-9]+ \[[0-9]+\/[0-9]+\]/ { id=$1; sub(/^#[0-9]+ /, ""); name[id]=substr($0, 1, 60) }
       / Compiling / { crates++ }
       /^#[0-9]+ DONE / { if ($1 in name) printf "  %-60s %7.1f s\n", name[$1], $3 }
       END { printf "  crates compiled: %d\n", crates }' "$1"
}

compare() {
  local dir=${1:?usage: compare DIR BIN FILE [VARIANT]} bin=${2:?} file=${3:?} variant=${4:-development}
  local repo profile log t ours_s naive_s
  repo=$(pwd)
  log=$(mktemp)
  profile=dev
  [[ $variant == production ]] && profile=production
  cd "$dir"
  [[ -f $file ]] || { echo "no $file in $dir" >&2; exit 2; }
  our_image() { cargo xtask docker build --variant "$variant" --platforms linux/amd64 --image measure-ours --docker-flags="$FLAGS"; }
  # shellcheck disable=SC2086 # FLAGS is a list of flags
  naive_image() {
    "$DOCKER" build $FLAGS --progress=plain -f "$repo/docker/naive.Dockerfile" \
      --build-arg "PROFILE=$profile" --build-arg "BIN=$bin" \
      --build-arg "APT_PACKAGES=${NAIVE_APT_PACKAGES:-}" -t measure-naive . >"$log" 2>&1 \
      || { tail -30 "$log" >&2; echo "the naive build failed (log above)" >&2; return 1; }
  }
  echo "warming both (a cold build of each, unless cached)"
  our_image >/dev/null 2>&1
  t=$(now); naive_image; echo "naive, warm-up: $(elapsed "$t") s"
  cp "$file" "$file.measure-orig"
  edited=$(pwd)/$file
  trap 'mv -f "$edited.measure-orig" "$edited"' EXIT
  trap 'exit 130' INT TERM
  printf '\n// measure-docker edit %s\n' "$(date +%s%N)" >>"$file"
  echo "one-line edit of $file; ours ($variant):"
  t=$(now); our_image 2>/dev/null; ours_s=$(elapsed "$t")
  t=$(now); naive_image; naive_s=$(elapsed "$t")
  echo "naive ($profile profile): $naive_s s"
  naive_steps "$log"
  echo "edit rebuild: ours $ours_s s, naive $naive_s s; naive/ours $(ratio "$naive_s" "$ours_s")"
  rm -f "$log"
}

edit_ratio() {
  local n=${1:-5} dir=${2:-.} bin=${3:-pulse-server} file=${4:-crates/pulse-server/src/main.rs}
  local images=() natives=() t i
  cd "$dir"
  [[ -f $file ]] || { echo "no $file in $dir" >&2; exit 2; }
  local engine=${ENGINE:-docker}
  image() { cargo xtask docker build --engine "$engine" --variant development --platforms linux/amd64 --bin "$bin" --docker-flags="$FLAGS" >/dev/null 2>&1; }
  native() { cargo build -q --bin "$bin"; }
  # Without an engine the image builds the native units: the native build is the whole of
  # what `cargo build` (and so the image's build) compiles.
  [[ $engine == none ]] && native() { cargo build -q; }
  edit() { sed -i "1i // measure-docker edit $(date +%s%N)" "$file"; }
  echo "warming both"
  image; native
  cp "$file" "$file.measure-orig"
  edited=$(pwd)/$file
  trap 'mv -f "$edited.measure-orig" "$edited"' EXIT
  trap 'exit 130' INT TERM
  for i in $(seq "$n"); do
    # A comment line on top: every line below it moves, so the binary (its debug info) changes
    # and the image's runtime layer is rebuilt too, as after a real edit.
    edit
    t=$(now); image; images+=("$(elapsed "$t")")
    [[ $engine == none ]] && edit
    t=$(now); native; natives+=("$(elapsed "$t")")
    echo "round $i: image ${images[-1]} s, native ${natives[-1]} s"
  done
  local im na
  im=$(printf '%s\n' "${images[@]}" | median); na=$(printf '%s\n' "${natives[@]}" | median)
  echo "one-line edit, development image (engine: $engine) vs native dev build of $bin (median of $n): $im s vs $na s; image/native $(ratio "$im" "$na")"
}

case ${1:-} in
  rebuild) rebuild "${2:-3}" ;;
  edit-ratio) shift; edit_ratio "$@" ;;
  compare) shift; compare "$@" ;;
  cold) cold ;;
  parallel) parallel ;;
  libc) shift; libc_compare "$@" ;;
  fresh-engine) fresh_engine ;;
  *) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
