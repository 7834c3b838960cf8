#!/bin/sh
# Sets up Cassandra's roles and schema once it serves CQL, idempotently, at every
# `docker compose up` (a one-shot service; the consumer and Grafana wait for it to succeed):
#
# 1. log in as the admin role `cdc_admin`; on a new volume, where it does not exist yet, create
#    it first as the default superuser `cassandra` (the only use of that role);
# 2. as the admin: take `cassandra`'s superuser status and login away, apply
#    sql/cassandra/schema.cql, create the consumer's role `cdc_consumer` (SELECT and MODIFY on
#    crypto_data) and Grafana's role `grafana` (SELECT only).
#
# Each password applies when its role is created, on a new volume, as the postgres image's do;
# later changes are an `ALTER ROLE` (README). Passwords never reach a command line: cqlsh reads
# them from a credentials file, and the statements from a file, both readable by root only.
#
#   CASSANDRA_HOST (cassandra), CASSANDRA_PORT (9042), SCHEMA_FILE (/schema.cql),
#   CASSANDRA_ADMIN_PASSWORD, CASSANDRA_CONSUMER_PASSWORD, GRAFANA_CASSANDRA_PASSWORD,
#   INIT_ATTEMPTS (60), INIT_PAUSE_SECS (3)
set -eu
host="${CASSANDRA_HOST:-cassandra}"
port="${CASSANDRA_PORT:-9042}"
schema="${SCHEMA_FILE:-/schema.cql}"
attempts="${INIT_ATTEMPTS:-60}"
pause="${INIT_PAUSE_SECS:-3}"
: "${CASSANDRA_ADMIN_PASSWORD:?}" "${CASSANDRA_CONSUMER_PASSWORD:?}" "${GRAFANA_CASSANDRA_PASSWORD:?}"

umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A CQL string literal.
quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"
}

# credentials FILE ROLE PASSWORD: cqlsh's credentials file for a role.
credentials() {
    printf '[plain_text_auth]\nusername = %s\npassword = %s\n' "$2" "$3" > "$1"
}

# cql CREDENTIALS [cqlsh arguments]: cqlsh on the node as that role.
cql() {
    creds="$1"
    shift
    cqlsh --credentials "$creds" "$@" "$host" "$port"
}

credentials "$work/admin" cdc_admin "$CASSANDRA_ADMIN_PASSWORD"
credentials "$work/default" cassandra cassandra
printf 'CREATE ROLE IF NOT EXISTS cdc_admin WITH SUPERUSER = true AND LOGIN = true AND PASSWORD = %s;\n' \
    "$(quote "$CASSANDRA_ADMIN_PASSWORD")" > "$work/create-admin.cql"

attempt=1
until cql "$work/admin" -e 'SELECT release_version FROM system.local' >/dev/null 2>"$work/error"; do
    # On a new volume the admin does not exist yet: the default superuser creates it. Right
    # after Cassandra starts, neither may log in yet; with a wrong admin password, never.
    if cql "$work/default" -f "$work/create-admin.cql" 2>>"$work/error"; then
        echo "created the cdc_admin role"
        continue
    fi
    if [ "$attempt" -ge "$attempts" ]; then
        cat "$work/error" >&2
        echo "cannot log in to Cassandra as cdc_admin, nor as the default superuser to create it;" \
             "if cdc_admin exists with another password, set CASSANDRA_ADMIN_PASSWORD to it" >&2
        exit 1
    fi
    attempt=$((attempt + 1))
    sleep "$pause"
done

cat > "$work/access.cql" <<CQL
ALTER ROLE cassandra WITH SUPERUSER = false AND LOGIN = false;
CREATE ROLE IF NOT EXISTS cdc_consumer WITH LOGIN = true AND SUPERUSER = false AND PASSWORD = $(quote "$CASSANDRA_CONSUMER_PASSWORD");
CREATE ROLE IF NOT EXISTS grafana WITH LOGIN = true AND SUPERUSER = false AND PASSWORD = $(quote "$GRAFANA_CASSANDRA_PASSWORD");
GRANT SELECT ON KEYSPACE crypto_data TO cdc_consumer;
GRANT MODIFY ON KEYSPACE crypto_data TO cdc_consumer;
GRANT SELECT ON KEYSPACE crypto_data TO grafana;
CQL
cql "$work/admin" -f "$schema"
cql "$work/admin" -f "$work/access.cql"
echo "Cassandra's roles and schema are in place"
