# stakha-lever container image.
#
#   docker build -t stakha-lever .            (from the repository root)
#   docker run -e DATABASE_URL=... -e SL_API_TOKEN=... -p 8080:8080 stakha-lever
#
# The runtime image has no PostgreSQL server, so the embedded-cluster default
# of `serve` does not apply here: set DATABASE_URL (docker/compose.yaml does).
# Migrations are compiled into the binary; `serve` applies them at start and
# `docker run ... stakha-lever migrate` applies them and exits.

# ---- build ----
FROM debian:12 AS build

# The same list is passed to make as APT_PKGS below: the Makefile's `deps`
# step (an order-only prerequisite of every object) checks its whole APT_PKGS,
# which also names development tools (postgresql, wrk, clang-format, ...) that
# the binary does not need; narrowing it keeps `deps` from installing them.
ARG BUILD_PKGS="build-essential pkg-config libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libpq-dev libssl-dev"

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $BUILD_PKGS \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Only what the binary is built from: a stale host build/ directory must not
# reach the image (make would take its objects as up to date), nor var/.
COPY Makefile ./
COPY server/ server/
COPY handlers/ handlers/
COPY migrations/ migrations/

RUN make APT_PKGS="$BUILD_PKGS" build/stakha-lever \
 && ./build/stakha-lever --version

# ---- runtime ----
FROM debian:12-slim

# Runtime libraries only, plus curl for the HEALTHCHECK: libcurl4 is in the
# image anyway (the Lever client), so the curl CLI adds a few hundred KB, and
# unlike a bash /dev/tcp one-liner it speaks real HTTP (status, timeouts).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libmicrohttpd12 libcurl4 libjansson4 libpq5 libssl3 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 10001 stakha \
 && useradd --uid 10001 --gid stakha --no-log-init --create-home \
        --home-dir /var/lib/stakha-lever --shell /usr/sbin/nologin stakha

COPY --from=build /src/build/stakha-lever /usr/local/bin/stakha-lever

ENV SL_HTTP_ADDR=0.0.0.0:8080 \
    SL_DATA_DIR=/var/lib/stakha-lever
WORKDIR /var/lib/stakha-lever
# Numeric, so that orchestrators can verify runAsNonRoot.
USER 10001:10001
EXPOSE 8080

# /health answers without touching the database (SPEC section 8). Shell form
# so that the port follows SL_HTTP_ADDR when it is overridden.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:${SL_HTTP_ADDR##*:}/health" || exit 1

ENTRYPOINT ["stakha-lever"]
CMD ["serve"]
