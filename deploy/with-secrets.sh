#!/bin/sh
# with-secrets: load secret files into environment variables, then exec the command.
#
# For every variable FILE__NAME=PATH, set NAME to the contents of the file PATH:
# its non-empty lines joined with commas (every list setting of the ledger and the
# counter is comma-separated, so a file may hold one token or key per line). A missing or
# empty file is an error: the service never starts with a secret silently unset. The
# FILE__ variables are removed before the command runs, and nothing is printed but the
# names of the variables that were set.
#
#   FILE__PGPASSWORD=/run/secrets/ledger_db_password \
#   FILE__BALLOT_ADMIN_TOKENS=/run/secrets/admin_tokens \
#   with-secrets ballot ledger serve
#
# Used as the compose entrypoint (deploy/compose.yaml) and in the systemd units, where PATH
# is a systemd credential (%d/NAME). See deploy/README.md.
set -eu

if [ "$#" -eq 0 ]; then
    echo "usage: with-secrets COMMAND [ARG...]" >&2
    exit 64
fi

names=$(env | sed -n 's/^FILE__\([A-Za-z_][A-Za-z0-9_]*\)=.*$/\1/p')
loaded=""
for name in $names; do
    path=$(printenv "FILE__$name")
    if [ ! -r "$path" ]; then
        echo "with-secrets: $name: cannot read $path" >&2
        exit 66
    fi
    value=$(grep -v '^[[:space:]]*$' "$path" | tr -d '\r' | paste -s -d, -) || value=""
    if [ -z "$value" ]; then
        echo "with-secrets: $name: $path is empty" >&2
        exit 65
    fi
    export "$name=$value"
    unset "FILE__$name"
    loaded="$loaded $name"
done
if [ -n "$loaded" ]; then
    echo "with-secrets: set$loaded" >&2
fi
exec "$@"
