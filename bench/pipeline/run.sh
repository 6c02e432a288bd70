#!/usr/bin/env bash
# Pipeline benchmark (not a test): end-to-end drain (queue → objects on the local gate →
# rows deleted) against one producer session's COPY and autocommit INSERT rates on the
# same events, producers' insert rate with and without the worker draining, worker peak
# RSS against batch_data_size, and drain cost per event with few vs many rows queued.
# Prints ratios measured in the same run.
#
#   bash bench/pipeline/run.sh              # defaults: 200k events, 1M rows for the "many queued" case
#   EVENTS=500000 MANY=5000000 bash bench/pipeline/run.sh
#   PARTS=queued bash bench/pipeline/run.sh   # only the few-vs-many part ("rates": parts 1-4; "large": ~1.5 KB events)
#   SHARED_BUFFERS=128MB bash bench/pipeline/run.sh   # PostgreSQL's default (the bench's: 1GB)
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
GATE_PID=
cleanup() {
  [ -n "$GATE_PID" ] && kill "$GATE_PID" 2>/dev/null && wait "$GATE_PID" 2>/dev/null
  pg_cluster_stop "$TMP/pg"
  rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(free_port)
# Like a production server, not the test defaults: fsync and full-page writes on, for
# both sides alike (producers pay for their commits, the worker for its own).
# shared_buffers as a production server sizes it (PostgreSQL's default is 128 MB, for
# machines with little memory): the drained queue (200k events, ~130 MB of heap) then fits
# it, as a production queue fits a production server's. SHARED_BUFFERS=128MB measures the
# default (README, "Measured", gives both).
export SHARED_BUFFERS=${SHARED_BUFFERS:-1GB}
PG_DURABLE=1 PG_EXTRA_CONF="shared_buffers = $SHARED_BUFFERS" pg_cluster_start "$TMP/pg" "$PORT" bench >/dev/null
export PGHOST=$TMP/pg PGPORT=$PORT PGUSER=postgres PGDATABASE=bench
node demo/gate.mjs "$TMP/gate" >"$TMP/gate.out" 2>&1 &
GATE_PID=$!
for _ in $(seq 100); do grep -q '^gate listening' "$TMP/gate.out" && break; sleep 0.1; done
export GATE_URL=$(sed -n 's/^gate listening //p' "$TMP/gate.out")
export BENCH_TMP=$TMP
node bench/pipeline/bench.mjs
