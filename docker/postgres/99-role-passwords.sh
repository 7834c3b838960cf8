#!/usr/bin/env bash
# Runs once, when the postgres image initialises an empty data directory, after the SQL files
# in sql/postgres have created the roles: sets their passwords from the environment (no secret
# lives in the repository) and lets the debezium role open replication connections from the
# compose network, with SCRAM like every other connection.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v ingester="$INGESTER_PASSWORD" -v debezium="$DEBEZIUM_PASSWORD" -v grafana="$GRAFANA_PG_PASSWORD" <<'SQL'
ALTER ROLE ingester PASSWORD :'ingester';
ALTER ROLE debezium PASSWORD :'debezium';
ALTER ROLE grafana PASSWORD :'grafana';
SQL
echo "host replication debezium all scram-sha-256" >> "$PGDATA/pg_hba.conf"
