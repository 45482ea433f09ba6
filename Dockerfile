# syntax=docker/dockerfile:1
# ads_exporter: a static (musl) binary on distroless/static, run as a non-root user, for the
# platform being built: the host's, or each of several with buildx.
#   docker build -t ads_exporter .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ads_exporter .
#   docker run --rm -p 10237:10237 ads_exporter --demo

FROM rust:1.95-bookworm AS build
# The platform being built (amd64 or arm64), as BuildKit sets it; without BuildKit, the host's.
ARG TARGETARCH
# musl-gcc builds ring's C and assembly for the static target of that platform.
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools=1.2.3-1 \
    && rm -rf /var/lib/apt/lists/* \
    && arch="${TARGETARCH:-$(dpkg --print-architecture)}" \
    && case "${arch}" in \
         amd64) target=x86_64-unknown-linux-musl ;; \
         arm64) target=aarch64-unknown-linux-musl ;; \
         *) echo "unsupported architecture ${arch}: build for amd64 or arm64" >&2; exit 1 ;; \
       esac \
    && rustup target add "${target}" \
    && echo "${target}" > /rust-target
WORKDIR /src
# Dependencies first, in a layer of their own: it is rebuilt only when Cargo.toml or Cargo.lock
# change, not when the sources do.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --target "$(cat /rust-target)" \
    && rm -rf src
COPY src ./src
# The git revision for ads_exporter_build_info (.git is not copied into the build).
ARG REVISION=unknown
ENV ADS_EXPORTER_REVISION=${REVISION}
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --target "$(cat /rust-target)" \
    && cp "target/$(cat /rust-target)/release/ads_exporter" /ads_exporter

FROM gcr.io/distroless/static-debian12:nonroot
ARG REVISION=unknown
LABEL org.opencontainers.image.title="ads_exporter" \
      org.opencontainers.image.description="Prometheus exporter for AWS Application Discovery Service: export tasks, continuous exports, imports, agents and collectors" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.documentation="https://github.com/ads-exporter/ads_exporter#readme" \
      org.opencontainers.image.source="https://github.com/ads-exporter/ads_exporter"
COPY --from=build /ads_exporter /usr/local/bin/ads_exporter
# distroless' nonroot user (65532); the exporter needs no file system writes.
USER 65532:65532
EXPOSE 10237
ENTRYPOINT ["/usr/local/bin/ads_exporter"]
