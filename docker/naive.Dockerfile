# The naive Dockerfile, kept only as the comparison point of scripts/measure-docker.sh: every
# source change invalidates `COPY . .`, so every rebuild compiles every dependency again.
# PROFILE=release is the textbook version; PROFILE=production compares at our profile.
FROM rust:1.95.0-slim-bookworm
ARG PROFILE=release
WORKDIR /app
COPY . .
RUN cargo build --profile "$PROFILE" --locked --bin pulse-server
