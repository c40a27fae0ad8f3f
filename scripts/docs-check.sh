#!/usr/bin/env bash
# Generated docs: docs/CONFIGURATION.md and docs/connectors/<name>.md, each
# from its hand-written <name>*.in.md parts plus the keys the binary's
# property tables print. Without options: fails when a committed doc differs
# from what would be generated (CI). With --write: regenerates them (make docs).
set -euo pipefail
cd "$(dirname "$0")/.."
write=0
if [ "${1:-}" = --write ]; then write=1; shift; fi
bin=${1:-build/sluice}
stale=0

# gen OUTPUT COMMAND...: compares (or writes) OUTPUT against COMMAND's output.
gen() {
    local out=$1
    shift
    if [ $write = 1 ]; then
        "$@" >"$out"
    elif ! "$@" | diff -u "$out" -; then
        echo "$out is stale: run 'make docs' and commit it"
        stale=1
    fi
}

# connector NAME PLUGIN: docs/connectors/NAME.md = NAME.in.md, NAME-*.in.md, then PLUGIN's keys.
connector() {
    cat "docs/connectors/$1.in.md"
    for part in docs/connectors/"$1"-*.in.md; do
        [ -e "$part" ] && { echo; cat "$part"; }
    done
    echo
    "$bin" config-docs "$2"
}

# transforms: docs/transforms.md = transforms.in.md, transforms-*.in.md, then every transform's keys.
transforms() {
    cat docs/transforms.in.md
    for part in docs/transforms-*.in.md; do
        [ -e "$part" ] && { echo; cat "$part"; }
    done
    echo
    "$bin" config-docs transforms
}

gen docs/CONFIGURATION.md "$bin" config-docs
gen docs/transforms.md transforms
gen docs/connectors/postgres.md connector postgres postgres
gen docs/connectors/mysql.md connector mysql mysql
gen docs/connectors/kafka.md connector kafka kafka
gen docs/connectors/mongodb.md connector mongodb mongodb
gen docs/connectors/sql.md connector sql jdbc
gen docs/connectors/redis.md connector redis redis
[ $stale = 0 ] || exit 1
[ $write = 1 ] && echo "generated docs written" || echo "generated docs are current"
