# The naive Dockerfile, kept only as the comparison point of scripts/measure-docker.sh: every
# source change invalidates `COPY . .`, so every rebuild compiles every dependency again.
# PROFILE=release is the textbook version; PROFILE=production (or dev) compares at our profile.
# BIN picks the binary (another workspace: `scripts/measure-docker.sh compare`).
ARG RUST_IMAGE=rust:1.95.0-slim-bookworm
FROM ${RUST_IMAGE}
ARG PROFILE=release
ARG BIN=pulse-server
# The Debian packages the build needs (the workspace's system-packages), as any Dockerfile must.
ARG APT_PACKAGES=""
# hadolint ignore=DL3008 # the names come from the workspace's config; Debian pins the release
RUN if [ -n "$APT_PACKAGES" ]; then apt-get update -qq && \
      apt-get install -y -qq --no-install-recommends $APT_PACKAGES && rm -rf /var/lib/apt/lists/*; fi
WORKDIR /app
COPY . .
RUN cargo build --profile "$PROFILE" --locked --bin "$BIN"
