#!/bin/sh
# build-env: the environment of every cargo command in the Dockerfile's build stages.
#
#   build-env setup            install the C cross toolchain for TARGETPLATFORM (once, in a layer)
#   build-env cargo ARGS...    run `cargo ARGS --profile P` with target, linker, credentials set
#   build-env stage BIN DIR    put BIN, the shared libraries it needs and a non-root user in DIR
#
# Inputs (build args): TARGETPLATFORM (linux/amd64 | linux/arm64), BUILDPLATFORM,
# BUILD_VARIANT (production | development), optional SCCACHE=true. Credentials come only from
# the BuildKit secret `git_token` (RUN --mount=type=secret), never from ARG or ENV.
set -eu

die() { echo "build-env: $*" >&2; exit 1; }

case "${TARGETPLATFORM:-linux/amd64}" in
  linux/amd64) triple=x86_64-unknown-linux-gnu gnu_arch=x86_64 deb_arch=x86-64 ;;
  linux/arm64) triple=aarch64-unknown-linux-gnu gnu_arch=aarch64 deb_arch=aarch64 ;;
  *) die "unsupported TARGETPLATFORM=${TARGETPLATFORM}; supported: linux/amd64, linux/arm64" ;;
esac
case "${BUILDPLATFORM:-linux/amd64}" in
  linux/amd64) build_arch=x86_64 ;;
  linux/arm64) build_arch=aarch64 ;;
  *) die "unsupported BUILDPLATFORM=${BUILDPLATFORM}" ;;
esac
case "${BUILD_VARIANT:-production}" in
  production) profile=production profile_dir=production ;;
  development | dev) profile=dev profile_dir=debug ;;
  *) die "unknown BUILD_VARIANT=${BUILD_VARIANT}; valid: production, development" ;;
esac
cross=false
[ "$gnu_arch" = "$build_arch" ] || cross=true
sysroot_lib=/lib/$gnu_arch-linux-gnu
[ "$cross" = false ] || sysroot_lib=/usr/$gnu_arch-linux-gnu/lib

setup() {
  if [ "$cross" = true ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "gcc-$deb_arch-linux-gnu" "libc6-dev-$(echo "$deb_arch" | sed 's/x86-64/amd64/;s/aarch64/arm64/')-cross"
    rm -rf /var/lib/apt/lists/*
  fi
  if ! rustup target list --installed | grep -qx "$triple"; then
    rustup target add "$triple"
  fi
  if [ "${SCCACHE:-false}" = true ] && ! command -v sccache >/dev/null; then
    cargo install --locked sccache
  fi
}

run_cargo() {
  export CARGO_BUILD_TARGET="$triple" APP_BUILD_VARIANT="$profile"
  # Build info for the binaries (declared only in the build stage, so the deps layer never
  # depends on a version or commit).
  if [ -n "${VERSION:-}" ]; then export APP_VERSION="$VERSION"; fi
  if [ -n "${COMMIT_SHA:-}" ]; then export APP_COMMIT_SHA="$COMMIT_SHA"; fi
  # Read by `cargo xtask docker build`: proves a foreign target was cross-compiled, not emulated.
  echo "build-env: cargo for $triple on $(uname -m)" >&2
  if [ "$cross" = true ]; then
    upper=$(echo "$triple" | tr 'a-z-' 'A-Z_')
    export "CARGO_TARGET_${upper}_LINKER=$gnu_arch-linux-gnu-gcc"
  fi
  if [ "${SCCACHE:-false}" = true ]; then
    export RUSTC_WRAPPER=sccache SCCACHE_DIR=/root/.cache/sccache
  fi
  if [ -s /run/secrets/git_token ]; then
    # A git config in a throwaway HOME that dies with this command: the token never lands
    # in a layer, an image config or the build log.
    home=$(mktemp -d)
    trap 'rm -rf "$home"' EXIT
    printf '[url "https://x-access-token:%s@github.com/"]\n\tinsteadOf = https://github.com/\n' \
      "$(cat /run/secrets/git_token)" >"$home/.gitconfig"
    HOME=$home cargo "$@" --profile "$profile"
  else
    cargo "$@" --profile "$profile"
  fi
}

stage() {
  bin=$1 dir=$2
  exe=target/$triple/$profile_dir/$bin
  [ -x "$exe" ] || die "no binary $exe (is BIN=$bin a binary of the workspace?)"
  mkdir -p "$dir/usr/local/bin" "$dir/etc" "$dir/tmp"
  cp "$exe" "$dir/usr/local/bin/$bin"
  ln -sf "/usr/local/bin/$bin" "$dir/entrypoint"
  # The C runtime the binary links to (readelf: NEEDED entries and the program interpreter).
  interp=$(readelf -l "$exe" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
  if [ -n "$interp" ]; then
    mkdir -p "$dir$(dirname "$interp")"
    cp -L "$sysroot_lib/$(basename "$interp")" "$dir$interp"
  fi
  for lib in $(readelf -d "$exe" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    mkdir -p "$dir/lib/$gnu_arch-linux-gnu"
    cp -L "$sysroot_lib/$lib" "$dir/lib/$gnu_arch-linux-gnu/$lib"
  done
  printf 'root:x:0:0:root:/root:/sbin/nologin\napp:x:10001:10001:app:/nonexistent:/sbin/nologin\n' >"$dir/etc/passwd"
  printf 'root:x:0:\napp:x:10001:\n' >"$dir/etc/group"
  chmod 1777 "$dir/tmp"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  cargo) run_cargo "$@" ;;
  stage) stage "$@" ;;
  *) die "usage: build-env setup | cargo ARGS... | stage BIN DIR" ;;
esac
