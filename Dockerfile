# syntax=docker/dockerfile:1
# The pipeline's three binaries (ingester, cdc-consumer, market-sim) in one image; compose picks
# the binary with `command`. Versions come from .env through compose's build args.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
# The rust image has the C toolchain and zlib's headers; librdkafka's bundled build (rdkafka's
# `cmake-build`, without curl or TLS) also needs cmake.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache mounts keep the crate downloads and the compiled dependencies between builds, so a change
# to the pipeline's own source rebuilds only its crates, not librdkafka and every dependency.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ingester -p cdc-consumer -p market-sim \
 && cp target/release/ingester target/release/cdc-consumer target/release/market-sim /usr/local/bin/

# The binaries load only libc, libm, libgcc_s and zlib, all in Debian's slim image; TLS uses
# rustls with its own root certificates. So the runtime image installs nothing.
FROM debian:${DEBIAN_RELEASE}-slim
RUN useradd --system --uid 10001 pipeline
COPY --from=build /usr/local/bin/ingester /usr/local/bin/cdc-consumer /usr/local/bin/market-sim /usr/local/bin/
USER pipeline
