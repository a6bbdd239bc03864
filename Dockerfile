# switchboard container image: `switchboard serve` as a non-root user, its database on a volume.
# How to build and run it: README.md, "Install". .ci/run lints this file (.ci/dockerfile-lint),
# builds the same release binary (same toolchain, lockfile and .cargo/config.toml), and runs it
# with this image's environment and HEALTHCHECK command (.ci/image-smoke).

# ---- build ------------------------------------------------------------------------------------
# The toolchain .ci/run builds with, on the same Debian release as the runtime image (the
# binary links the runtime's glibc).
FROM rust:1.95.0-bookworm AS build
WORKDIR /src

# The dependencies, in a layer of their own: rebuilt when the manifest, the lockfile or the
# bundled SQLite's build flags (.cargo/config.toml) change, not on every source edit. An empty
# library and main stand in for the sources, so cargo compiles every dependency and nothing else.
COPY Cargo.toml Cargo.lock ./
COPY .cargo/ .cargo/
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

# The sources, and what they compile in: migrations (sqlx::migrate!), the default config and
# examples, the phone time-zone map. No sqlx query macros (no .sqlx/ data), so no database and
# no SQLX_OFFLINE at build time. The copies keep their mtimes, older than the stand-ins' build:
# touch them, or cargo would take that build for current.
COPY src/ src/
COPY migrations/ migrations/
COPY config/ config/
COPY data/ data/
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && install -m 0755 target/release/switchboard /usr/local/bin/switchboard

# ---- runtime ----------------------------------------------------------------------------------
# Bump the point release for security updates.
FROM debian:12.11-slim

# The Bland client (reqwest with rustls) trusts the system's CA store. Not version-pinned: a
# Debian point release replaces old versions, and the base tag above pins the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid (10001), so a bind-mounted host directory can be given to it:
# `chown 10001:10001 DIR`. The state directory is the volume: the database, its -wal/-shm
# files and the daemon lock.
RUN groupadd --system --gid 10001 switchboard \
    && useradd --system --uid 10001 --gid switchboard --home-dir /var/lib/switchboard \
        --shell /usr/sbin/nologin switchboard \
    && install -d -o switchboard -g switchboard -m 0700 /var/lib/switchboard

COPY --from=build /usr/local/bin/switchboard /usr/local/bin/switchboard

# The database on the volume; listening on every interface, as a container must to be reached
# through `-p`. On a non-loopback address the daemon refuses unsigned webhooks: give it
# BLAND_WEBHOOK_SECRET (or a mounted file named by SWITCHBOARD_BLAND__WEBHOOK_SECRET_FILE)
# whenever [http] public_url is set, and it refuses to start without a control API token:
# give it SWITCHBOARD_API_TOKEN (or a mounted file named by SWITCHBOARD_HTTP__API_TOKEN_FILE).
# NO_COLOR: plain log lines in `docker logs`.
# A config file mounted at /etc/switchboard/switchboard.toml is read when present; these
# variables override it.
ENV SWITCHBOARD_DB=/var/lib/switchboard/switchboard.db \
    SWITCHBOARD_HTTP__LISTEN=0.0.0.0:8080 \
    NO_COLOR=1
VOLUME ["/var/lib/switchboard"]
WORKDIR /var/lib/switchboard
USER 10001:10001
EXPOSE 8080

# GET /healthz over bash's /dev/tcp: the image has no curl or wget, and this needs neither.
# The port follows SWITCHBOARD_HTTP__LISTEN. start-period: the daemon answers once the
# attempts a previous run left in flight are reconciled.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["bash", "-c", "exec 3<>\"/dev/tcp/127.0.0.1/${SWITCHBOARD_HTTP__LISTEN##*:}\" && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

# The daemon stops gracefully on SIGTERM (finishing the sends in flight, up to ~30s): give it
# time with `docker run --stop-timeout 120` (Docker's default is 10s).
ENTRYPOINT ["switchboard"]
CMD ["serve"]
