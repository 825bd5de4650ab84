#!/bin/sh
# Entrypoint of the callmeter image: run `callmeter ARGS`.
#
# When AMI_SECRET_FILE names a file and CALLMETER_AMI__SECRET is unset, the
# AMI secret is read from that file first. The file has the line
# `secret = VALUE`, so Asterisk can #include the same file in the callmeter
# section of manager.conf and both sides use one copy of the secret.
# The variable deliberately has no CALLMETER_ prefix: callmeter reads every
# CALLMETER_* variable as a setting and rejects unknown ones.
set -eu

if [ -z "${CALLMETER_AMI__SECRET:-}" ] && [ -n "${AMI_SECRET_FILE:-}" ]; then
    if [ ! -r "$AMI_SECRET_FILE" ]; then
        echo "callmeter-entrypoint: AMI_SECRET_FILE $AMI_SECRET_FILE is missing or not readable; check the ami_secret secret in compose.yaml." >&2
        exit 2
    fi
    secret=$(sed -n 's/^[[:space:]]*secret[[:space:]]*=[[:space:]]*//p' "$AMI_SECRET_FILE" \
        | head -n 1 | sed 's/[[:space:]]*$//')
    if [ -z "$secret" ]; then
        echo "callmeter-entrypoint: no 'secret = ...' line in $AMI_SECRET_FILE; see docker/ami-secret.conf.example." >&2
        exit 2
    fi
    CALLMETER_AMI__SECRET=$secret
    export CALLMETER_AMI__SECRET
fi

exec callmeter "$@"
