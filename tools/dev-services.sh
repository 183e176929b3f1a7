#!/usr/bin/env bash
# Provides what the test suite needs on this machine, idempotently and quickly when it is all
# there: Debian packages (chromium, fonts-ocr-b, fonts-dejavu-core, softhsm2), PostgreSQL and
# Redis started when installed but down, the `test` database. `make test` and `.ci/run` both
# call it. It writes .cache/test-services.env (sourced by `make test`) with the URLs of the
# services it found; a variable already set in the environment wins.
#
# Where something cannot be provided (not root, not Debian, no such package), it prints one
# line saying what to install, and the tests that need it are skipped (outside CI).
set -uo pipefail
cd "$(dirname "$0")/.."

PG_HOST="${IDPROOF_DEV_PG_HOST:-127.0.0.1}"
PG_PORT="${IDPROOF_DEV_PG_PORT:-5432}"
REDIS_PORT="${IDPROOF_DEV_REDIS_PORT:-6379}"
ENV_FILE=".cache/test-services.env"
mkdir -p .cache
: >"$ENV_FILE.tmp"

say() { echo "dev-services: $*" >&2; }
is_root() { [ "$(id -u)" -eq 0 ]; }
has_apt() { command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

install_packages() {
  # chromium: the hosted-flow end-to-end tests drive a real headless browser (Playwright).
  # fonts-ocr-b / fonts-dejavu-core: synthetic documents print their MRZ in real OCR-B.
  # softhsm2: the PKCS#11 key backend is tested against a real PKCS#11 token.
  # nginx, libnginx-mod-http-modsecurity, modsecurity-crs: the gateway (deploy/gateway) tests.
  local wanted=(chromium fonts-ocr-b fonts-dejavu-core softhsm2 nginx libnginx-mod-http-modsecurity modsecurity-crs) missing=() p
  if ! has_apt; then
    say "not a Debian machine: install Chromium, the OCR-B and DejaVu fonts and SoftHSM2" \
        "yourself, or the tests that need them are skipped"
    return 0
  fi
  for p in "${wanted[@]}"; do pkg_installed "$p" || missing+=("$p"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if ! is_root; then
    say "missing ${missing[*]}: run 'sudo apt-get install -y ${missing[*]}'" \
        "(the tests that need them are skipped until then)"
    return 0
  fi
  say "installing ${missing[*]}"
  # The package lists may be stale on a fresh machine: update once, then install.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || say "could not install ${missing[*]} (the tests that need them are skipped)"
  fi
}

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }

start_postgres() {
  if ! command -v pg_isready >/dev/null 2>&1; then
    say "PostgreSQL is not installed: 'apt-get install -y postgresql' and a 'test' database" \
        "with trust auth on $PG_HOST:$PG_PORT, or set IDPROOF_TEST_DATABASE_URL" \
        "(PostgreSQL tests are skipped)"
    return 1
  fi
  if ! pg_up && is_root && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    local version
    version="$(ls /etc/postgresql | sort -V | tail -n1)"
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
    for _ in $(seq 1 60); do pg_up && break; sleep 1; done
  fi
  if ! pg_up; then
    say "PostgreSQL is not running on $PG_HOST:$PG_PORT: start it" \
        "(pg_ctlcluster VERSION main start) or set IDPROOF_TEST_DATABASE_URL" \
        "(PostgreSQL tests are skipped)"
    return 1
  fi
  if ! psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'test'" 2>/dev/null | grep -q 1; then
    psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -qc 'CREATE DATABASE test' \
      >/dev/null 2>&1 || { say "cannot create the PostgreSQL database 'test' as postgres" \
        "(PostgreSQL tests are skipped)"; return 1; }
  fi
  echo "postgresql+psycopg://postgres@$PG_HOST:$PG_PORT/test"
}

redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

start_redis() {
  if ! command -v redis-cli >/dev/null 2>&1; then
    say "Redis is not installed: 'apt-get install -y redis-server', or set" \
        "IDPROOF_TEST_REDIS_URL (Redis tests are skipped)"
    return 1
  fi
  if ! redis_up && command -v redis-server >/dev/null 2>&1 && is_root; then
    say "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || true
    for _ in $(seq 1 30); do redis_up && break; sleep 1; done
  fi
  if ! redis_up; then
    say "Redis is not running on 127.0.0.1:$REDIS_PORT: start redis-server, or set" \
        "IDPROOF_TEST_REDIS_URL (Redis tests are skipped)"
    return 1
  fi
  echo "redis://127.0.0.1:$REDIS_PORT/0"
}

install_packages
if [ -z "${IDPROOF_TEST_DATABASE_URL:-}" ] && pg_url="$(start_postgres)"; then
  echo "IDPROOF_TEST_DATABASE_URL=$pg_url" >>"$ENV_FILE.tmp"
fi
if [ -z "${IDPROOF_TEST_REDIS_URL:-}" ] && redis_url="$(start_redis)"; then
  echo "IDPROOF_TEST_REDIS_URL=$redis_url" >>"$ENV_FILE.tmp"
fi
mv "$ENV_FILE.tmp" "$ENV_FILE"
exit 0
