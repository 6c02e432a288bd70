# The test harness shared by test/run (every suite) and test/one (a single test file).
# Source it from the project root; it defines:
#
#   harness_prepare   the machine ready (test/setup.sh), the extension built with warnings
#                     as errors (WERROR=1) and installed into PG_CONFIG's PostgreSQL
#   harness_start     a throwaway PostgreSQL 15 cluster (postgres user, temp dir, private
#                     port, extension preloaded with pg_cron) and the local S3/STS gate on
#                     127.0.0.1, with PG*, PG_BIN, GATE_URL and SECURITYLAKE_* exported for
#                     the tests
#   harness_cleanup   stops everything harness_start started (installed as the EXIT trap),
#                     keeps the server log in $LOGS
#
# Environment: PG_CONFIG (the PostgreSQL to build against, install into and run; see
# tools/private-pg), TEST_LOGS (where logs go, default build/test-logs).
. test/lib/pgcluster.sh
. test/lib/free-port.sh

export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
# Warnings are errors in our own builds (not in packagers' default builds: Makefile).
export WERROR=${WERROR:-1}
# Nothing started here may reach the EC2 metadata service (169.254.169.254).
export AWS_EC2_METADATA_DISABLED=true
LOGS=${TEST_LOGS:-$ROOT/build/test-logs}
TMP=$(mktemp -d /tmp/securitylake-test.XXXXXX)
chmod 755 "$TMP"
GATE_PID=

harness_cleanup() {
  [ -n "$GATE_PID" ] && kill "$GATE_PID" 2>/dev/null && wait "$GATE_PID" 2>/dev/null
  pg_cluster_stop "$TMP/pg"
  # Clusters a test started under $TMP itself (test/upgrade) and left running when it died.
  local d
  for d in "$TMP"/*/data "$TMP"/*/pg/data; do [ -f "$d/postmaster.pid" ] && pg_cluster_stop "${d%/data}"; done
  for d in "$TMP"/*/gate.pid; do [ -f "$d" ] && kill "$(cat "$d")" 2>/dev/null; done
  [ -f "$TMP/pg/server.log" ] && mkdir -p "$LOGS" && cp "$TMP/pg/server.log" "$LOGS/server.log"
  rm -rf "$TMP"
}
trap harness_cleanup EXIT
trap 'exit 130' INT TERM

harness_prepare() {
  bash test/setup.sh || return 1
  # The server binaries of that PostgreSQL (test/lib/pgcluster.sh and the node tests use them).
  PG_BIN=$("$PG_CONFIG" --bindir) || return 1
  export PG_BIN
  mkdir -p "$LOGS"
  # A test build: the crash tests' fault hook and test_connect_to are compiled in (TEST_HOOKS=1).
  if ! { make -s TEST_HOOKS=1 >"$LOGS/build.log" 2>&1 && make -s TEST_HOOKS=1 install >>"$LOGS/build.log" 2>&1; }; then
    tail -n 60 "$LOGS/build.log"; return 1
  fi
}

harness_start() {
  export PG_PORT; PG_PORT=$(free_port)
  pg_cluster_start "$TMP/pg" "$PG_PORT" securitylake_test || return 1
  export PGHOST=$TMP/pg PGPORT=$PG_PORT PGUSER=postgres PGDATABASE=securitylake_test
  export SECURITYLAKE_TEST_TMP=$TMP SECURITYLAKE_PG_DATA=$TMP/pg/data SECURITYLAKE_PG_LOG=$TMP/pg/server.log

  if [ -f test/gate/gate.mjs ]; then
    node test/gate/gate.mjs --port 0 --data-dir "$TMP/gate" >"$LOGS/gate.log" 2>&1 &
    GATE_PID=$!
    for _ in $(seq 100); do grep -q '^gate listening' "$LOGS/gate.log" && break; sleep 0.1; done
    GATE_URL=$(sed -n 's/^gate listening //p' "$LOGS/gate.log" | head -1)
    [ -n "$GATE_URL" ] || { cat "$LOGS/gate.log"; return 1; }
    export GATE_URL
  fi
}
