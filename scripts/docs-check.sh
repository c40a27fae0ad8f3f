#!/usr/bin/env bash
# Fails when a generated doc differs from what the binary's property tables produce.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/sluice}
"$bin" config-docs | diff -u docs/CONFIGURATION.md - ||
  { echo "docs/CONFIGURATION.md is stale: run 'make docs' and commit it"; exit 1; }
{ cat docs/connectors/postgres.in.md; "$bin" config-docs postgres; } | diff -u docs/connectors/postgres.md - ||
  { echo "docs/connectors/postgres.md is stale: run 'make docs' and commit it"; exit 1; }
{ cat docs/connectors/mysql.in.md; "$bin" config-docs mysql; } | diff -u docs/connectors/mysql.md - ||
  { echo "docs/connectors/mysql.md is stale: run 'make docs' and commit it"; exit 1; }
echo "generated docs are current"
