#!/usr/bin/env bash
# Starts and stops the real Redis and PostgreSQL servers that tests, the demo
# and the benchmarks use: on loopback, on free ports, in a directory of the
# caller's choosing, so that nothing on the machine is touched.
#
#   hack/services.sh start DIR     start both; writes DIR/env (source it)
#   hack/services.sh stop DIR      stop both (idempotent)
#   hack/services.sh restart-redis DIR   stop and start Redis on the same port
#   hack/services.sh stop-redis DIR | start-redis DIR
#   hack/services.sh restart-pg DIR     PostgreSQL stopped (fast: every session cut) and started again
#   hack/services.sh stop-pg DIR | start-pg DIR
#   hack/services.sh start-app-pg DIR   a second PostgreSQL, the app's (database
#                                       "app"); writes DIR/app-env
#   hack/services.sh stop-app-pg DIR | restart-app-pg DIR
#
# DIR/env defines EASEL_TEST_REDIS_URL, EASEL_TEST_DATABASE_URL, REDIS_PORT,
# PG_PORT; DIR/app-env EASEL_TEST_APP_DATABASE_URL and APP_PG_PORT. Set EASEL_REDIS_AOF=0 to run Redis without its append-only file
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
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|restart-redis|stop-redis|start-redis|stop-pg|start-pg|restart-pg|start-app-pg|stop-app-pg|restart-app-pg DIR" >&2; exit 2; }

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

# start_pg SUBDIR PORT: a PostgreSQL server with its data in DIR/SUBDIR
# (made by initdb the first time), on loopback
start_pg() {
  local sub=$1 port=$2 b
  b=$(pgbin)
  mkdir -p "$dir/$sub"
  [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$dir/$sub"
  if [ ! -f "$dir/$sub/data/PG_VERSION" ]; then
    as_pg "$b/initdb" -D "$dir/$sub/data" -A trust -U postgres -E UTF8 --no-locale >"$dir/$sub/initdb.log" 2>&1 \
      || { cat "$dir/$sub/initdb.log" >&2; exit 1; }
  fi
  as_pg "$b/pg_ctl" -D "$dir/$sub/data" -l "$dir/$sub/postgres.log" -w -t 60 \
    -o "-p $port -k $dir/$sub -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { cat "$dir/$sub/postgres.log" >&2; exit 1; }
  record "$(head -1 "$dir/$sub/data/postmaster.pid")" "postgres $dir/$sub"
}

# stop_pg SUBDIR MODE: pg_ctl stop (immediate: a crash, as a killed pod)
stop_pg() {
  if [ -f "$dir/$1/data/postmaster.pid" ]; then
    as_pg "$(pgbin)/pg_ctl" -D "$dir/$1/data" -m "$2" -w stop >/dev/null 2>&1 || true
  fi
}

case "$cmd" in
start)
  mkdir -p "$dir/redis" "$dir/pg"
  chmod 755 "$dir"
  rport=$(free_port); pport=$(free_port)
  while [ "$pport" = "$rport" ]; do pport=$(free_port); done
  start_redis "$rport"
  start_pg pg "$pport"
  as_pg "$(pgbin)/createdb" -h 127.0.0.1 -p "$pport" -U postgres easel
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
  stop_pg pg immediate
  stop_pg apppg immediate
  kill_recorded postgres
  ;;
# fast, not immediate: with synchronous_commit off (above) an immediate stop
# may drop the last commits, which no production server would
stop-pg) stop_pg pg fast ;;
start-pg) start_pg pg "$(sed -n 's/^PG_PORT=//p' "$dir/env")" ;;
restart-pg)
  stop_pg pg fast
  start_pg pg "$(sed -n 's/^PG_PORT=//p' "$dir/env")"
  ;;
start-app-pg)
  if [ -f "$dir/app-env" ]; then
    start_pg apppg "$(sed -n 's/^APP_PG_PORT=//p' "$dir/app-env")"
  else
    aport=$(free_port)
    start_pg apppg "$aport"
    as_pg "$(pgbin)/createdb" -h 127.0.0.1 -p "$aport" -U postgres app
    cat >"$dir/app-env" <<ENV
APP_PG_PORT=$aport
EASEL_TEST_APP_DATABASE_URL=postgresql://postgres@127.0.0.1:$aport/app
export APP_PG_PORT EASEL_TEST_APP_DATABASE_URL
ENV
  fi
  ;;
stop-app-pg) stop_pg apppg fast ;;
restart-app-pg)
  stop_pg apppg fast
  start_pg apppg "$(sed -n 's/^APP_PG_PORT=//p' "$dir/app-env")"
  ;;
stop-redis) stop_redis ;;
start-redis) start_redis "$(sed -n 's/^REDIS_PORT=//p' "$dir/env")" ;;
restart-redis)
  stop_redis
  start_redis "$(sed -n 's/^REDIS_PORT=//p' "$dir/env")"
  ;;
*) echo "services: unknown command $cmd" >&2; exit 2 ;;
esac
