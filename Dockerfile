# The authstore server image: `docker build -t authstore .`
#
#   docker run --rm -p 8080:8080 -e AUTHSTORE_ISSUER=http://localhost:8080 authstore
#
# The image runs `authstore serve` as the unprivileged user `authstore`
# (uid 10001), listening on 0.0.0.0:8080. Configure it with the AUTHSTORE_*
# environment variables or a config file (`serve --config FILE`); see
# docs/operations.md, "Running in a container or as a service".

# ---- build ----------------------------------------------------------------
FROM rust:1-slim-trixie AS builder
WORKDIR /src
COPY . .
# The registry and target directories are build caches: a rebuild after a
# source change recompiles only authstore's own crates.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CARGO_PROFILE_RELEASE_DEBUG=0 \
    cargo build --release --locked -p authstore-server --bin authstore \
 && install -m 0755 target/release/authstore /usr/local/bin/authstore

# ---- runtime --------------------------------------------------------------
FROM debian:trixie-slim
# ca-certificates: TLS to rediss:// and postgres:// stores and to client
# metadata documents. curl: the HEALTHCHECK below (authstore has no HTTP probe
# command; `authstore health` checks the store, not the server).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 authstore \
 && useradd --system --uid 10001 --gid authstore --home-dir /var/lib/authstore \
      --no-create-home --shell /usr/sbin/nologin authstore \
 && install -d -o authstore -g authstore -m 0700 /var/lib/authstore \
 && install -d -m 0755 /etc/authstore
COPY --from=builder /usr/local/bin/authstore /usr/local/bin/authstore

# /var/lib/authstore: the working directory, owned by `authstore`; mount a
# volume here for a sqlite:///var/lib/authstore/auth.db store.
WORKDIR /var/lib/authstore
USER authstore:authstore
ENV AUTHSTORE_LISTEN=0.0.0.0:8080
EXPOSE 8080
# /health answers 200 when the server is up and its store answers, 503 while
# the store is down.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["curl", "--fail", "--silent", "--show-error", "--max-time", "4", "--output", "/dev/null", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["authstore"]
CMD ["serve"]
