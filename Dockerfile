# The pipeline's three binaries (ingester, cdc-consumer, market-sim) in one image; compose picks
# the binary with `command`. Versions come from .env through compose's build args.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
# rdkafka builds librdkafka statically with cmake; it needs libcurl's headers even unused.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake libcurl4-openssl-dev g++ pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p ingester -p cdc-consumer -p market-sim \
 && cp target/release/ingester target/release/cdc-consumer target/release/market-sim /usr/local/bin/

FROM debian:${DEBIAN_RELEASE}-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libcurl4 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 pipeline
COPY --from=build /usr/local/bin/ingester /usr/local/bin/cdc-consumer /usr/local/bin/market-sim /usr/local/bin/
USER pipeline
