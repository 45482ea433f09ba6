# Build in the official Rust image, ship the binary on distroless as a non-root user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so that they are cached while only the sources change.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
ARG ADS_EXPORTER_REVISION=unknown
ENV ADS_EXPORTER_REVISION=${ADS_EXPORTER_REVISION}
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="ads_exporter" \
      org.opencontainers.image.description="Prometheus exporter for AWS Application Discovery Service export tasks" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /src/target/release/ads_exporter /usr/local/bin/ads_exporter
USER nonroot:nonroot
EXPOSE 10237
ENTRYPOINT ["/usr/local/bin/ads_exporter"]
