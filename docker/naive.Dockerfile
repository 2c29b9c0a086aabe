# The naive Dockerfile, kept only as the comparison point of scripts/measure-docker.sh: every
# source change invalidates `COPY . .`, so every rebuild compiles every dependency again.
FROM rust:1.95.0-slim-bookworm
WORKDIR /app
COPY . .
RUN cargo build --release --locked --bin pulse-server
CMD ["/app/target/release/pulse-server"]
