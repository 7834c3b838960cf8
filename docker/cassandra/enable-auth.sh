#!/bin/sh
# Turns on password authentication and role-based authorization in the cassandra image's
# configuration, then starts Cassandra through the image's own entrypoint with the arguments
# given. The image has no variable for these settings, so each key is removed from
# cassandra.yaml with the lines indented under it (the one-line form and 5.0's `class_name:`
# block alike) and the pipeline's settings are appended: the same as the native stack's, and
# the same file again when a restarted container runs this once more.
#
#   CASSANDRA_YAML (default $CASSANDRA_CONF/cassandra.yaml; the image sets CASSANDRA_CONF)
set -eu
yaml="${CASSANDRA_YAML:-${CASSANDRA_CONF:-/etc/cassandra}/cassandra.yaml}"
edited=$(mktemp)
awk '
    /^(authenticator|authorizer|role_manager):/ { removing = 1; next }
    removing && /^[ \t]/ { next }
    { removing = 0; print }
' "$yaml" > "$edited"
cat >> "$edited" <<'YAML'
authenticator: PasswordAuthenticator
authorizer: CassandraAuthorizer
role_manager: CassandraRoleManager
YAML
# Written in place, as the image's entrypoint edits it, so its owner and mode stay.
cat "$edited" > "$yaml"
rm -f "$edited"
if [ "$#" -gt 0 ]; then
    exec docker-entrypoint.sh "$@"
fi
