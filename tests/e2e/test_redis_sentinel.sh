#!/usr/bin/env bash
# Redis behind Sentinel, failing over mid-run, with real servers from
# Debian's package: a master, a replica and three Sentinels on loopback.
# The controller is given only the Sentinels (redis-sentinel://.../mymaster).
#   1. Jobs run; the master is SIGKILLed; Sentinel promotes the replica; the
#      controller finds the new master and every job ends exactly once.
#   2. The old master comes back as a replica: a client pointed straight at
#      it gets READONLY, which easel reports as a failover, not as data.
#   3. What Redis's asynchronous replication can lose, measured: entries
#      the master acknowledged while its replica was stopped, then the
#      master dies. What survived becomes exactly one job each; the lost
#      count is printed.
. "$(dirname "$0")/lib.sh"
setup_services
samples
export EASEL_REGISTRY=$ROOT/tests/e2e/registry.yaml

S=$WORK/sentinel
mkdir -p "$S"
# Redis rewrites its process title over its environment, so the scenario's
# tag cannot find these servers: they are stopped by their pid files, as
# hack/services.sh stops its own, before the usual cleanup.
stop_nodes() {
  local f p
  for f in "$S"/*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    [[ "$(cat "/proc/$p/cmdline" 2>/dev/null | tr '\0' ' ')" == redis-server* ]] || continue
    kill -CONT "$p" 2>/dev/null
    kill -9 "$p" 2>/dev/null
  done
}
trap 'stop_nodes; cleanup' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
M=$(port); R=$(port)
while [ "$R" = "$M" ]; do R=$(port); done
node() { # NAME PORT [args...]: a Redis server for this scenario
  local name=$1 p=$2; shift 2
  redis-server --port "$p" --bind 127.0.0.1 --dir "$S" --dbfilename "$name.rdb" \
    --daemonize yes --pidfile "$S/$name.pid" --logfile "$S/$name.log" \
    --save '' --appendonly no "$@" >/dev/null
  wait_until 10 redis-cli -p "$p" ping >/dev/null 2>&1
}
node master "$M"
node replica "$R" --replicaof 127.0.0.1 "$M"
SENT=()
for i in 1 2 3; do
  p=$(port)
  cat >"$S/sentinel-$i.conf" <<CONF
port $p
bind 127.0.0.1
daemonize yes
pidfile $S/sentinel-$i.pid
logfile $S/sentinel-$i.log
dir $S
sentinel monitor mymaster 127.0.0.1 $M 2
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 4000
sentinel parallel-syncs mymaster 1
CONF
  redis-server "$S/sentinel-$i.conf" --sentinel >/dev/null
  SENT+=("$p")
done
master_port() { redis-cli -p "${SENT[0]}" SENTINEL get-master-addr-by-name mymaster 2>/dev/null | sed -n 2p; }
# each Sentinel knows the replica and the two other Sentinels (they find
# each other through the master's hello channel every 2 s)
ready() {
  local p
  for p in "${SENT[@]}"; do
    redis-cli -p "$p" SENTINEL master mymaster 2>/dev/null | grep -A1 -x num-other-sentinels | tail -1 | grep -qx 2 || return 1
    redis-cli -p "$p" SENTINEL replicas mymaster 2>/dev/null | grep -qx "$R" || return 1
  done
}
wait_until 30 ready
check "three Sentinels watch the master and its replica" ready
export EASEL_REDIS_URL="redis-sentinel://127.0.0.1:${SENT[0]},127.0.0.1:${SENT[1]},127.0.0.1:${SENT[2]}/mymaster"
mcli() { redis-cli -p "$1" "${@:2}"; }
entry() { echo "{\"image_id\":\"$1\",\"original_url\":\"file://$SAMPLES/room-1.jpg\",\"style\":\"coastal\",\"seed\":7,\"latency_ms\":$2}"; }

# --- 1. a failover in the middle of a run
N=24
for i in $(seq 1 $N); do mcli "$M" LPUSH "$EASEL_QUEUE" "$(entry "a-$i" 500)" >/dev/null; done
check "the pushes reached the replica before the test goes on (WAIT)" eq "$(mcli "$M" WAIT 1 5000)" 1
start_controller ctl --concurrency 4 --lease 3s --heartbeat 300ms || { fail "start"; exit 1; }
check "the controller found the master through Sentinel" grep -q "controller started" "$WORK/ctl.log"
wait_for 60 'test "$(count_jobs "'\''succeeded'\''")" -ge 4'
done_before=$(count_jobs "'succeeded'")
t0=$(date +%s.%N)
kill -9 "$(cat "$S/master.pid")"
wait_for 30 'test "$(master_port)" = "$R"'
t1=$(date +%s.%N)
check "Sentinel promoted the replica" eq "$(master_port)" "$R"
echo "failover: master killed with $done_before of $N done; Sentinel named the new master after $(python3 -c "print(round($t1 - $t0, 1))") s" >&2
# more work after the failover, pushed to the new master
N2=6
for i in $(seq 1 $N2); do mcli "$R" LPUSH "$EASEL_QUEUE" "$(entry "b-$i" 100)" >/dev/null; done
T=$((N + N2))
wait_for 120 "all_terminal $T"
check "all $T jobs ended" all_terminal $T
check "as $T rows: none lost, none made twice" eq "$(sql "select count(*) from jobs")" $T
check "each image id is one job" eq "$(sql "select count(distinct payload->>'image_id') from jobs")" $T
check "all succeeded" eq "$(count_jobs "'succeeded'")" $T
check "one terminal event each" eq "$(sql "select count(*) from job_events where to_status in ('succeeded','failed','dead','canceled')")" $T
check "the controller reconnected to the new master" grep -q ":$R re-established, master of mymaster" "$WORK/ctl.log"
check "the controller is still running" kill -0 "$CTL_PID"
wait_for 10 'test "$(mcli "$R" ZCARD easel:jobs:leases)" = 0'
check "no leases left on the new master" eq "$(mcli "$R" ZCARD easel:jobs:leases)" 0
check "nothing pending on the new master" eq "$(mcli "$R" LLEN easel:jobs)" 0

# --- 2. the old master returns; Sentinel makes it a replica
node master "$M"
wait_for 30 'mcli "$M" ROLE | head -1 | grep -qx slave'
check "the old master came back as a replica" eq "$(mcli "$M" ROLE | head -1)" slave
out=$(EASEL_REDIS_URL=redis://127.0.0.1:$M "$EASEL" submit --input '{"style":"x"}' --image "file://$SAMPLES/room-1.jpg" 2>&1)
echo "$out" | head -3 >&2
check "a write to a replica is reported as a failover (READONLY)" grep -q "read-only replica now (a failover)" <<<"$out"
check "and refused: nothing was queued there" eq "$(mcli "$R" LLEN easel:jobs)" 0

# --- 3. what asynchronous replication can lose, measured
# The master acknowledges a write before its replica has it. To show that
# window on purpose, the replica (the old master) is stopped and its link
# cut while K entries are pushed, the master is SIGKILLed, and the replica
# resumes and is promoted without them. The controller is stopped meanwhile, so none of
# its own writes fall into the window.
wait_for 30 'test "$(mcli "$R" INFO replication | grep -c "^slave0:.*state=online")" = 1'
kill -STOP "$CTL_PID" "$(cat "$S/master.pid")"
# the link is cut first: what the master already sent would still sit in
# the stopped replica's socket and reach it when it resumes
check "the replication link is cut" eq "$(mcli "$R" CLIENT KILL TYPE replica)" 1
K=40
for i in $(seq 1 $K); do echo "LPUSH $EASEL_QUEUE '$(entry "c-$i" 0)'"; done | mcli "$R" >"$WORK/acks" 2>&1
acked=$(grep -cx '[0-9]*' "$WORK/acks")
check "the master acknowledged all $K pushes" eq "$acked" $K
kill -9 "$(cat "$S/replica.pid")"
kill -CONT "$(cat "$S/master.pid")"
wait_for 30 'test "$(master_port)" = "$M"'
check "Sentinel promoted the old master back" eq "$(master_port)" "$M"
kill -CONT "$CTL_PID"
survived=$(mcli "$M" LLEN "$EASEL_QUEUE")
wait_for 90 "all_terminal $((T + survived))"
made=$(sql "select count(*) from jobs where payload->>'image_id' like 'c-%'")
echo "asynchronous replication: of $acked entries the master acknowledged but its replica did not have, $((acked - made)) were lost in the failover; $made survived" >&2
check "what survived, and only that, became jobs" eq "$made" "$survived"
check "each one job" eq \
  "$(sql "select count(distinct payload->>'image_id') from jobs where payload->>'image_id' like 'c-%'")" "$made"
check "and they all ended" all_terminal $((T + made))
check "nothing from before the second failover was lost or repeated" eq \
  "$(sql "select count(*) from jobs where payload->>'image_id' not like 'c-%'")" $T
check "the controller followed the second failover" grep -q ":$M re-established, master of mymaster" "$WORK/ctl.log"
finish
