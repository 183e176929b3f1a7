#!/bin/sh
# Creates the compose file's secrets once (random values, owner-only files); keeps existing ones.
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
[ -s secrets/postgres_password ] || head -c 24 /dev/urandom | base64 | tr -d '/+=\n' > secrets/postgres_password
[ -s secrets/server_secret ] || head -c 32 /dev/urandom | base64 | tr -d '\n' > secrets/server_secret
[ -s secrets/hsm_pin ] || head -c 12 /dev/urandom | base64 | tr -d '/+=\n' > secrets/hsm_pin
[ -s secrets/database_url ] || printf 'postgresql+psycopg://idproof:%s@postgres:5432/idproof' \
  "$(cat secrets/postgres_password)" > secrets/database_url
# The key store lives apart from the data tables (its own schema; a separate server is better).
[ -s secrets/key_database_url ] || printf '%s?schema=idproof_keys' "$(cat secrets/database_url)" \
  > secrets/key_database_url
echo "secrets in $(pwd)/secrets"
