# One binary of this workspace as a minimal image. Driven by `cargo xtask docker build`
# (`make docker.build.dev`, `make docker.build.optimized`); plain `docker build` works too.
#
#   toolchain  Rust + the C cross toolchain for TARGETPLATFORM, on the BUILD platform
#   deps       every third-party crate, compiled from ci_optims/ alone: no app source is copied,
#              so this layer is reused until a dependency changes (and travels with
#              --cache-from, being an image layer rather than a cache mount)
#   build      the workspace's own crates, on top of the deps layer's target dir
#   runtime    the binary, the C runtime it links to, a non-root user: nothing else
#
# Multi-arch by cross-compiling: the build stages run on $BUILDPLATFORM and target
# $TARGETPLATFORM, so no RUN is ever emulated. Credentials (a token for private git
# dependencies) only through `--secret id=git_token,src=FILE`, never ARG or ENV.

ARG RUST_IMAGE=rust:1.95.0-slim-bookworm

FROM --platform=$BUILDPLATFORM ${RUST_IMAGE} AS toolchain
ARG TARGETPLATFORM
ARG BUILDPLATFORM
ARG BUILD_VARIANT=production
ARG SCCACHE=false
WORKDIR /app
COPY docker/build-env.sh /usr/local/bin/build-env
RUN build-env setup

FROM toolchain AS deps
# Only what building ci_optims needs: its standalone workspace root, its trimmed lockfile,
# the crate itself and the cargo config.
COPY .cargo/ .cargo/
COPY ci_optims/ ci_optims/
RUN cp ci_optims/standalone/Cargo.toml ci_optims/standalone/Cargo.lock ./
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/root/.cache/sccache,sharing=locked \
    --mount=type=secret,id=git_token,required=false \
    build-env cargo build --locked -p ci_optims

FROM deps AS build
ARG BIN
ARG VERSION=""
ARG COMMIT_SHA=""
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/root/.cache/sccache,sharing=locked \
    --mount=type=secret,id=git_token,required=false \
    test -n "$BIN" || { echo "set --build-arg BIN=<binary to ship>" >&2; exit 1; }; \
    build-env cargo build --locked --bin "$BIN" && build-env stage "$BIN" /runtime

FROM scratch AS runtime
ARG BIN
ARG VERSION=""
ARG COMMIT_SHA=""
ARG CREATED=""
ARG SOURCE=""
COPY --from=build /runtime/ /
USER 10001:10001
LABEL org.opencontainers.image.title="${BIN}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT_SHA}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}"
EXPOSE 8080
ENTRYPOINT ["/entrypoint"]
