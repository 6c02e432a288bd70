# Throwaway PostgreSQL 15 cluster for tests, run as the postgres user.
# Source this file; it defines pg_cluster_start DIR PORT and pg_cluster_stop DIR.
# Settings: the extension preloaded with pg_cron, loopback only, a private port and
# socket directory, fsync off (tests only; PG_DURABLE=1 keeps PostgreSQL's durable
# defaults, as the benchmarks do, so producers pay for their commits as in production;
# PG_EXTRA_CONF adds settings).

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

pg_as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

# pg_cluster_start DIR PORT [DATABASE]: initdb + start; DATABASE is the database the
# securitylake worker and pg_cron serve (created here).
pg_cluster_start() {
  local dir=$1 port=$2 db=${3:-securitylake_test}
  mkdir -p "$dir"
  chown postgres: "$dir"
  pg_as_postgres "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust --no-locale -E UTF8 >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log"; return 1; }
  cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
shared_preload_libraries = 'securitylake, pg_cron, pg_stat_statements'
# The trust tests (test/e2e/trust-escalation.test.mjs) list every statement the workers
# and flush() run from pg_stat_statements: nested ones too, DML only.
pg_stat_statements.track = all
pg_stat_statements.track_utility = off
cron.database_name = '$db'
cron.host = '127.0.0.1'
securitylake.database = '$db'
# The gate and the tests' local stubs: plain http on loopback, any port.
securitylake.allowed_endpoints = 'http://127.0.0.1, https://127.0.0.1, http://localhost'
max_worker_processes = 32
log_line_prefix = '%m [%p] %q%a '
CONF
  if [ "${PG_DURABLE:-0}" != 1 ]; then
    printf 'fsync = off\nfull_page_writes = off\n' >>"$dir/data/postgresql.conf"
  fi
  # PG_EXTRA_CONF: more settings, a line each (the benchmarks size shared_buffers).
  if [ -n "${PG_EXTRA_CONF:-}" ]; then
    printf '%s\n' "$PG_EXTRA_CONF" >>"$dir/data/postgresql.conf"
  fi
  # Tests never reach the EC2 metadata service (169.254.169.254) by accident.
  AWS_EC2_METADATA_DISABLED=true pg_as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null || {
    cat "$dir/server.log"; return 1; }
  pg_as_postgres "$PG_BIN/psql" -h "$dir" -p "$port" -U postgres -d postgres -qAt \
    -c "CREATE DATABASE $db" >/dev/null
}

pg_cluster_stop() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] || return 0
  pg_as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
    pg_as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
}
