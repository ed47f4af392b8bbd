#!/bin/sh
# make-secrets: create the secret files deploy/compose.yaml mounts, once, with fresh values.
#
#   deploy/make-secrets.sh ORIGIN [DIR]
#
# ORIGIN names the keys (e.g. ballot.example.org: keys ORIGIN/ledger-YYYY, ORIGIN/counter-YYYY);
# DIR defaults to deploy/secrets. An existing file is never overwritten. Needs openssl and a
# Python that imports ledger (the project's venv: PYTHON=.venv/bin/python, or the image:
# PYTHON="docker run --rm -i --entrypoint python ballot-ledger:0.1.0").
#
# Compose bind-mounts secret files with their host owner and mode (uid/gid/mode apply to
# Swarm only), and the services run as uid 10001 and PostgreSQL as uid 999: so the files are
# 0444 inside a 0700 directory, which only its owner can enter on the host.
set -eu

if [ "$#" -lt 1 ]; then
    echo "usage: make-secrets.sh ORIGIN [DIR]" >&2
    exit 64
fi
origin=$1
dir=${2:-$(dirname "$0")/secrets}
python=${PYTHON:-python3}
year=$(date +%Y)

umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

new() { # new NAME: true if DIR/NAME is to be created
    if [ -e "$dir/$1" ]; then
        echo "make-secrets: $dir/$1 exists, kept" >&2
        return 1
    fi
}
hex() { openssl rand -hex 32; }
keypair() { # keypair FILE NAME: FILE (private) and FILE's .pub twin (verifier)
    # shellcheck disable=SC2086 # $python may be a command with arguments
    $python -c 'import sys; from ledger.format.keys import Signer
s = Signer.generate(sys.argv[1]); print(s.text()); print(s.verifier.text())' "$2" >"$dir/$1.tmp"
    head -n 1 "$dir/$1.tmp" >"$dir/$1.key"
    tail -n 1 "$dir/$1.tmp" >"$dir/$1.pub"
    rm -f "$dir/$1.tmp"
}

for name in postgres_password ledger_db_password counter_db_password admin_tokens; do
    if new "$name"; then hex >"$dir/$name"; fi
done
if new frontend_tokens; then printf '%s=*\n' "$(hex)" >"$dir/frontend_tokens"; fi
if new counter_token; then
    hex >"$dir/counter_token"
    printf '%s=*\n' "$(cat "$dir/counter_token")" >"$dir/ledger_counter_tokens"
fi
if new ledger.key; then keypair ledger "$origin/ledger-$year"; fi
if new counter.key; then keypair counter "$origin/counter-$year"; fi

chmod 0444 "$dir"/*
echo "make-secrets: secrets in $dir; publish $dir/ledger.pub and $dir/counter.pub out of band" >&2
