#!/usr/bin/env bash
# Head-of-line benchmark (issue 12.4; not a test): what another source's backlog costs
# source B, and what the queue's layout costs producers. On a durable cluster (fsync and
# full-page writes on, as in production), medians of several rounds, ratios measured in
# the same run:
#  1. B's per-event cost of claim + delivery + flush() with nothing else queued, with
#     10M rows of source A queued (A disabled), and with A enabled and failing every
#     attempt (its endpoint refuses connections) — target within 1.2x;
#  2. producers' INSERT (1 and 8 sessions, autocommit, one row each) and COPY rates into
#     the queue as it is (generated route_key, PRIMARY KEY (route_key, id)) and into a
#     table of the 0.1.0 layout (PRIMARY KEY (id), no route_key) — target within 5%.
#
#   eval "$(tools/private-pg /tmp/pg-mine)"    # optional: a private PostgreSQL copy
#   bash bench/isolation/run.sh                # defaults: OTHER=10000000 B_EVENTS=20000 ROUNDS=5
#   OTHER=1000000 ROUNDS=3 PARTS=hol bash bench/isolation/run.sh   # PARTS: hol, producers
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PG_BIN=$("$PG_CONFIG" --bindir)
export PG_BIN
. test/lib/pgcluster.sh
. test/lib/free-port.sh
bash test/setup.sh >/dev/null
make -s >/dev/null && make -s install >/dev/null

TMP=$(mktemp -d /tmp/securitylake-bench.XXXXXX)
chmod 755 "$TMP"
cleanup() {
  pg_cluster_stop "$TMP/pg"
  rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(free_port)
PG_DURABLE=1 pg_cluster_start "$TMP/pg" "$PORT" bench >/dev/null
export PGHOST=$TMP/pg PGPORT=$PORT PGUSER=postgres PGDATABASE=bench BENCH_TMP=$TMP
node bench/isolation/bench.mjs
