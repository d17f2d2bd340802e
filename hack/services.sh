#!/usr/bin/env bash
# Starts and stops the real Redis and PostgreSQL servers that tests, the demo
# and the benchmarks use: on loopback, on free ports, in a directory of the
# caller's choosing, so that nothing on the machine is touched.
#
#   hack/services.sh start DIR     start both; writes DIR/env (source it)
#   hack/services.sh stop DIR      stop both (idempotent)
#   hack/services.sh restart-redis DIR   stop and start Redis on the same port
#   hack/services.sh stop-redis DIR | start-redis DIR
#
# DIR/env defines EASEL_TEST_REDIS_URL, EASEL_TEST_DATABASE_URL, REDIS_PORT,
# PG_PORT. Set EASEL_REDIS_AOF=0 to run Redis without its append-only file
# (benchmarks); by default every write is fsynced so a restart loses nothing.
# PostgreSQL refuses to run as root, so as root it runs as the postgres user.
#
# Redis (and PostgreSQL's backends) rewrite the memory /proc/PID/environ
# shows, so the test runs' environment tags (hack/test-procs.sh) cannot be
# relied on to find them: instead every server
# started is recorded as "PID STARTTIME WHAT" in DIR/service-pids, and also in
# $EASEL_TEST_RUN_DIR/services when hack/run-tests.sh set that, for its
# end-of-run check. stop kills what is recorded and still running.
set -euo pipefail
# shellcheck source=hack/test-procs.sh
. "$(dirname "$0")/test-procs.sh"

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|restart-redis|stop-redis|start-redis DIR" >&2; exit 2; }

pgbin() {
  local b
  for b in /usr/lib/postgresql/*/bin; do [ -x "$b/initdb" ] && { echo "$b"; return; }; done
  echo "services: PostgreSQL server binaries not found (run hack/install-deps.sh)" >&2; exit 1
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# record PID WHAT: a server this script started, for stop and for the run's check
record() {
  local line
  line="$1 $(tp_starttime "$1") $2"
  echo "$line" >>"$dir/service-pids"
  if [ -d "${EASEL_TEST_RUN_DIR:-/nonexistent}" ]; then echo "$line" >>"$EASEL_TEST_RUN_DIR/services"; fi
}

# kill_recorded NAME: SIGKILL the recorded servers of that name (redis-server,
# postgres) that still run (the same process: its start time matches)
kill_recorded() {
  local pid start what
  while read -r pid start what; do
    if [ "${what%% *}" = "$1" ]; then kill -9 "$pid" 2>/dev/null || true; fi
  done < <(tp_services_alive "$dir/service-pids")
}

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_redis() {
  local port=$1
  local aof=yes
  [ "${EASEL_REDIS_AOF:-1}" = 0 ] && aof=no
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/redis" \
    --daemonize yes --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log" \
    --save '' --appendonly "$aof" --appendfsync always >/dev/null
  for _ in $(seq 1 100); do
    if redis-cli -p "$port" ping >/dev/null 2>&1; then
      record "$(cat "$dir/redis/redis.pid")" "redis-server $dir"
      return 0
    fi
    sleep 0.05
  done
  echo "services: redis did not start on port $port" >&2; cat "$dir/redis/redis.log" >&2; return 1
}

stop_redis() {
  local port
  port=$(sed -n 's/^REDIS_PORT=//p' "$dir/env" 2>/dev/null || true)
  if [ -n "$port" ]; then
    redis-cli -p "$port" shutdown >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do
      [ -n "$(tp_services_alive "$dir/service-pids" | grep ' redis-server ')" ] || break
      sleep 0.05
    done
  fi
  # one that would not shut down, or whose env file is gone
  kill_recorded redis-server
}

case "$cmd" in
start)
  mkdir -p "$dir/redis" "$dir/pg"
  chmod 755 "$dir"
  rport=$(free_port); pport=$(free_port)
  while [ "$pport" = "$rport" ]; do pport=$(free_port); done
  start_redis "$rport"
  b=$(pgbin)
  [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$dir/pg"
  as_pg "$b/initdb" -D "$dir/pg/data" -A trust -U postgres -E UTF8 --no-locale >"$dir/pg/initdb.log" 2>&1 \
    || { cat "$dir/pg/initdb.log" >&2; exit 1; }
  as_pg "$b/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/postgres.log" -w -t 60 \
    -o "-p $pport -k $dir/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { cat "$dir/pg/postgres.log" >&2; exit 1; }
  record "$(head -1 "$dir/pg/data/postmaster.pid")" "postgres $dir"
  as_pg "$b/createdb" -h 127.0.0.1 -p "$pport" -U postgres easel
  cat >"$dir/env" <<ENV
REDIS_PORT=$rport
PG_PORT=$pport
EASEL_TEST_REDIS_URL=redis://127.0.0.1:$rport/0
EASEL_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$pport/easel
export REDIS_PORT PG_PORT EASEL_TEST_REDIS_URL EASEL_TEST_DATABASE_URL
ENV
  ;;
stop)
  stop_redis
  if [ -f "$dir/pg/data/postmaster.pid" ]; then
    as_pg "$(pgbin)/pg_ctl" -D "$dir/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  kill_recorded postgres
  ;;
stop-redis) stop_redis ;;
start-redis) start_redis "$(sed -n 's/^REDIS_PORT=//p' "$dir/env")" ;;
restart-redis)
  stop_redis
  start_redis "$(sed -n 's/^REDIS_PORT=//p' "$dir/env")"
  ;;
*) echo "services: unknown command $cmd" >&2; exit 2 ;;
esac
