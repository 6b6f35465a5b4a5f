#!/usr/bin/env bash
# Start a local PostgreSQL for ragbot's tests, idempotently, and print its URL.
#
#   export "$(.ci/start-postgres.sh)"     # sets RAGBOT_TEST_POSTGRES_URL
#
# Installs Debian's postgresql package when the server is missing, creates (once) a dedicated
# cluster "ragbot" listening on 127.0.0.1 only (port 5432 unless taken, then the next free one),
# starts it, creates role "ragbot" (with CREATEDB: tests make a database each) and database
# "ragbot_test", waits until it accepts connections, and prints the one line
#   RAGBOT_TEST_POSTGRES_URL=postgresql+psycopg://ragbot:PASSWORD@127.0.0.1:PORT/ragbot_test
# on stdout; progress goes to stderr. Needs root (or sudo). Other clusters are left alone.
#
# Environment: RAGBOT_PG_CLUSTER (default ragbot), RAGBOT_PG_PASSWORD (default ragbot-test),
# RAGBOT_PG_PORT (default: 5432 or the next free port, chosen when the cluster is created).
set -euo pipefail

CLUSTER="${RAGBOT_PG_CLUSTER:-ragbot}"
PASSWORD="${RAGBOT_PG_PASSWORD:-ragbot-test}"
ROLE=ragbot
DATABASE=ragbot_test

say() { echo "start-postgres: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "run as root or install sudo"
  SUDO=(sudo)
fi
as_postgres() { "${SUDO[@]}" runuser -u postgres -- "$@"; }

if ! command -v pg_ctlcluster >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  say "installing Debian's postgresql package"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    postgresql postgresql-client >&2
fi
VERSION="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
[ -n "$VERSION" ] || die "no PostgreSQL server under /usr/lib/postgresql"

port_in_use() {
  # Something listens there, or another cluster is configured for it.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
  pg_lsclusters -h 2>/dev/null | awk -v c="$CLUSTER" -v p="$1" '$2 != c && $3 == p {found=1} END {exit !found}'
}

if ! pg_lsclusters -h 2>/dev/null | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {found=1} END {exit !found}'; then
  PORT="${RAGBOT_PG_PORT:-5432}"
  while port_in_use "$PORT"; do PORT=$((PORT + 1)); done
  say "creating cluster $VERSION/$CLUSTER on 127.0.0.1:$PORT"
  "${SUDO[@]}" pg_createcluster "$VERSION" "$CLUSTER" -p "$PORT" \
    -- --auth-local=peer --auth-host=scram-sha-256 >&2
fi
PORT="$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $3}')"

if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c && $4 == "online" {found=1} END {exit !found}'; then
  # A throwaway test server: local connections only, and no fsync (tests do not need durability).
  # Debian's postgresql.conf reads conf.d/ last, so these win.
  "${SUDO[@]}" tee "/etc/postgresql/$VERSION/$CLUSTER/conf.d/ragbot-test.conf" >/dev/null <<'CONF'
listen_addresses = '127.0.0.1'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  say "starting cluster $VERSION/$CLUSTER"
  "${SUDO[@]}" pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi

for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p "$PORT" && break
  sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p "$PORT" || die "cluster $VERSION/$CLUSTER does not accept connections on port $PORT"

psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" "$@"; }
psql_admin -d postgres -v role="$ROLE" -v password="$PASSWORD" >&2 <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'password') \gexec
SQL
if [ -z "$(psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" ]; then
  say "creating database $DATABASE"
  psql_admin -d postgres -c "CREATE DATABASE $DATABASE OWNER $ROLE" >&2
fi

URL="postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"
PGPASSWORD="$PASSWORD" psql -X -q -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d "$DATABASE" -c "SELECT 1" >/dev/null \
  || die "cannot log in as $ROLE over TCP"
say "ready: cluster $VERSION/$CLUSTER on 127.0.0.1:$PORT"
echo "RAGBOT_TEST_POSTGRES_URL=$URL"
