#!/bin/sh
# Registers debezium/postgres-connector.json with Kafka Connect once Connect answers: the same
# file the native stack registers. Created (201) or already there (409) are both fine.
set -eu
url="${CONNECT_URL:-http://connect-1:8083}"
until curl -fsS "$url/connectors" >/dev/null; do
    echo "waiting for Kafka Connect at $url"
    sleep 3
done
code=$(curl -sS -o /tmp/response -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data @/debezium/postgres-connector.json "$url/connectors")
case "$code" in
    201) echo "registered the connector" ;;
    409) echo "the connector is already registered" ;;
    *) echo "registering the connector failed with HTTP $code:"; cat /tmp/response; exit 1 ;;
esac
