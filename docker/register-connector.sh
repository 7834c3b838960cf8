#!/bin/sh
# Registers the connector of debezium/postgres-connector.json (the file the native stack
# registers too) with Kafka Connect, idempotently: PUT /connectors/<name>/config creates it or
# leaves it as the file says. Connect answers 409 while its workers rebalance (two start together
# in compose) and fails while it is still starting, so every failure is retried after a pause;
# success is the connector and its task RUNNING, not an HTTP status.
#
#   CONNECT_URL (http://connect-1:8083), CONNECTOR_FILE (/debezium/postgres-connector.json),
#   REGISTER_ATTEMPTS (100), REGISTER_PAUSE_SECS (3)
set -eu
url="${CONNECT_URL:-http://connect-1:8083}"
file="${CONNECTOR_FILE:-/debezium/postgres-connector.json}"
attempts="${REGISTER_ATTEMPTS:-100}"
pause="${REGISTER_PAUSE_SECS:-3}"

# The file is {"name": …, "config": {…}} laid out one key per line; the curl image has no JSON
# tool, so the name and the config object are cut out by line (the repository's tests check that
# what is cut out is the file's config, exactly).
name=$(sed -n 's/^  "name": "\(.*\)",$/\1/p' "$file")
config=$(sed -n '/^  "config": {$/,/^  }$/p' "$file" | sed '1s/.*/{/')
if [ -z "$name" ] || [ -z "$config" ]; then
    echo "cannot read the connector's name and config from $file" >&2
    exit 1
fi

attempt=1
while :; do
    code=$(curl -sS -o /tmp/response -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
        -H 'Expect:' --data "$config" "$url/connectors/$name/config" 2>/tmp/curl-error || true)
    case "$code" in
        200|201)
            status=$(curl -fsS "$url/connectors/$name/status" 2>/dev/null || true)
            running=$(printf '%s' "$status" | grep -o '"state":"RUNNING"' | wc -l)
            if [ "$running" -ge 2 ] && ! printf '%s' "$status" | grep -q '"state":"FAILED"'; then
                echo "connector $name is registered and RUNNING"
                exit 0
            fi
            echo "connector $name is registered, not running yet: $status"
            ;;
        *)
            echo "registering $name answered HTTP $code (attempt $attempt of $attempts): $(cat /tmp/response /tmp/curl-error 2>/dev/null)"
            ;;
    esac
    if [ "$attempt" -ge "$attempts" ]; then
        echo "connector $name is not RUNNING after $attempts attempts" >&2
        exit 1
    fi
    attempt=$((attempt + 1))
    sleep "$pause"
done
