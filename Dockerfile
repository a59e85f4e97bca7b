# syntax=docker/dockerfile:1
# The cartd container image: docs/DEPLOY.md ("Container image") says how to build and run it.
#
#   docker build -t cartd .
#   docker run --rm -p 8080:8080 -v cartd-data:/data cartd
#
# Two stages: the official Rust image compiles the release binary, and distroless's `cc` image
# (glibc, libgcc, CA certificates, no shell, no package manager) runs it. The binary links glibc
# dynamically, so the runtime must be a glibc image; both stages are Debian 12 (bookworm), so the
# glibc the binary was linked against is the one it runs on.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The whole workspace is copied (.dockerignore keeps out target/, .git and local state):
# `--locked` needs every member's manifest, .cargo/config.toml carries the SQLite compile flags
# the release build is measured with, and vendor/ holds a patched dependency.
COPY . .
# Cache mounts keep the crates.io downloads and the target directory between builds (BuildKit,
# or podman/buildah). The binary is copied out in the same step: a cache mount is not part of
# the image. aws-lc-sys and the bundled SQLite build with the image's cc; no cmake is needed.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p cartd \
 && install -D -m 0755 target/release/cartd /out/usr/local/bin/cartd \
 && install -d -m 0755 /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="cartd" \
      org.opencontainers.image.description="Shopping-cart service: REST and GraphQL API, transactional outbox, order worker" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/cartd/cartd" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=build /out/usr/local/bin/cartd /usr/local/bin/cartd
# /data holds the SQLite database and the default event file. It is created owned by the
# image's non-root user (65532, "nonroot"), so a fresh named volume mounted there inherits
# that owner and the process can write to it.
COPY --from=build --chown=65532:65532 /out/data /data
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
WORKDIR /data
# A container must listen on every interface to be reachable; the store defaults to a file in
# the volume (set CARTD_STORE to a PostgreSQL, Redis or DynamoDB URL for more than one replica).
ENV CARTD_LISTEN=0.0.0.0:8080 \
    CARTD_STORE=sqlite:///data/cartd.db
# Without a mount, Docker gives /data an anonymous volume, so the database outlives the
# container's writable layer. Kubernetes ignores this and uses the pod's volumes.
VOLUME ["/data"]
EXPOSE 8080
# Exec form: the image has no shell. `cartd health` asks GET /health on CARTD_LISTEN (0.0.0.0 is
# asked on 127.0.0.1) and exits 0 on 200. Kept to the liveness endpoint: /ready turns 503 while
# the store is unreachable, and restarting cartd would not bring the store back.
# (Docker honours HEALTHCHECK; podman only in `--format docker` images; Kubernetes ignores it.)
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/cartd", "health"]
# SIGTERM (docker stop, Kubernetes) drains in-flight requests for CARTD_SHUTDOWN_GRACE (30s);
# give `docker stop` a longer timeout than that (`-t 40`) to let it finish.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/cartd"]
CMD ["serve"]
