#!/usr/bin/env bash
# worker_pool: end-to-end jobs per second with full records (claim ->
# record -> attempt -> terminal -> ack) for no-op work (a `provider: noop`
# model: the attempt fetches, makes and stores nothing, as the peer does),
#   - through the local executor: `easel controller --concurrency 8`, a
#     process per attempt;
#   - through the warm pool: the controller takes the jobs in and hands
#     them to `easel worker --concurrency 8`, which runs them in-process;
#   - beside the peer a team would otherwise write, in the same run: a
#     BullMQ worker at concurrency 8 (tests/bench/peer_bullmq.js, npm
#     bullmq and pg pinned in tests/bench/package.json) writing the same job
#     row and history rows to the same PostgreSQL per job;
#   - and, for scale, the warm pool running the local stand-in model on
#     64x48 images (decode, colour grade, one JPEG variant, file sink).
# Also easel's own CPU per job (controller and worker processes, from
# /proc), and the figure a kube dispatch costs comes from kube_dispatch.
# Run by `make bench` (hack/bench.sh); it reports and never fails the build.
# Knobs: POOL_BENCH_LOCAL_JOBS (default 200), POOL_BENCH_JOBS (default
# 2000), POOL_BENCH_CONCURRENCY (default 8), POOL_BENCH_ROUNDS (default 3:
# the pool and the peer alternate, each reported as its median).
. "$(dirname "$0")/../e2e/lib.sh"
NL=${POOL_BENCH_LOCAL_JOBS:-200}
NP=${POOL_BENCH_JOBS:-2000}
C=${POOL_BENCH_CONCURRENCY:-8}
R=${POOL_BENCH_ROUNDS:-3}
export EASEL_REDIS_AOF=0 # as hack/bench.sh runs Redis for the queue figures
export EASEL_LOG_LEVEL=info # as deployed: a line per job
setup_services
"$ROOT/hack/sample-images.sh" "$WORK/img" 64 48 >/dev/null || { echo "sample images failed"; exit 1; }
# noop: the attempt fetches, makes and stores nothing (the peer's work);
# image: the local stand-in model on a 64x48 source, one 64 px variant
cat >"$WORK/models.yaml" <<'YAML'
version: 1
default_model: bench/local
presets:
  tiny:
    - {name: normal, format: jpeg, width: 64, height: 64, quality: 80}
models:
  - id: bench/local
    provider: noop
  - id: bench/pool
    provider: noop
    executor: pool
  - id: bench/pool-image
    provider: local
    executor: pool
    preset: tiny
    input: {style: "{{style}}"}
YAML
export EASEL_REGISTRY=$WORK/models.yaml

# push MODEL N: the entries in one redis-cli pipeline
push_many() {
  local i
  for ((i = 0; i < $2; i++)); do
    printf 'LPUSH %s "{\\"model\\":\\"%s\\",\\"payload\\":{\\"images\\":[\\"file://%s\\"],\\"style\\":\\"modern\\"}}"\n' \
      "$EASEL_QUEUE" "$1" "$WORK/img/room-1.jpg"
  done | rcli >/dev/null
}
ticks() { # PID...: utime+stime of the processes and their reaped children
  local p t=0
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$t"
}
HZ=$(getconf CLK_TCK) # ticks of the process and its reaped children: the local executor's job processes count
# rate MODEL N: jobs/s from the first row's creation to the last finish
rate() {
  sql "select round(count(*) / extract(epoch from max(finished_at) - min(created_at))::numeric, 1)
       from jobs where model = '$1' and status = 'succeeded'"
}

start_controller ctl --concurrency "$C" --controller-id bench >/dev/null || exit 1
# warm up the caches and connections
push_many bench/local 8
wait_for 60 'all_terminal 8' >/dev/null
sql "delete from jobs" >/dev/null
c0=$(ticks "$CTL_PID")
push_many bench/local "$NL"
wait_for 600 "all_terminal $NL" >/dev/null || echo "(local jobs still running)"
c1=$(ticks "$CTL_PID")
local_rate=$(rate bench/local)
local_ok=$(count_jobs "'succeeded'")
local_cpu=$(python3 -c "print(round(($c1 - $c0) / $HZ * 1000 / max(1, $NL), 2))")

"$EASEL" worker --concurrency "$C" --worker-id bench-w --health-addr "" >"$WORK/worker.log" 2>&1 &
WPID=$!; PIDS+=("$WPID")
wait_until 10 grep -q "worker started" "$WORK/worker.log" >/dev/null
push_many bench/pool 8
wait_for 60 "[ \"\$(sql \"select count(*) from jobs where model='bench/pool' and status='succeeded'\")\" -ge 8 ]" >/dev/null
sql "delete from jobs" >/dev/null
# pool_run MODEL: jobs/s, succeeded, history rows per job, easel CPU ms per job
pool_run() {
  local c0 w0 c1 w1
  c0=$(ticks "$CTL_PID"); w0=$(ticks "$WPID")
  push_many "$1" "$NP"
  wait_for 600 "all_terminal $NP" >/dev/null || echo "($1 jobs still running)" >&2
  c1=$(ticks "$CTL_PID"); w1=$(ticks "$WPID")
  sql "select '  ($1: ' || count(*) || ' ' || status || coalesce(' ' || error_reason, '') || ')' from jobs
       where status <> 'succeeded' group by status, error_reason" >&2
  local out
  out="$(rate "$1") $(count_jobs "'succeeded'") $(sql "select round(count(*)::numeric / $NP, 1) from job_events")"
  out+=" $(python3 -c "print(round(($c1 - $c0 + $w1 - $w0) / $HZ * 1000 / max(1, $NP), 2))")"
  # before answering: the caller goes on as soon as it has the line
  sql "delete from jobs" >/dev/null
  echo "$out"
}
# peer_run: one run of the peer; "jobs/s succeeded history-rows/job"
have_peer=0
if command -v node >/dev/null && { [ -d "$ROOT/tests/bench/node_modules/bullmq" ] ||
   (cd "$ROOT/tests/bench" && npm install --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null 2>&1); }; then
  have_peer=1
fi
peer_run() {
  local out rate ok ev
  out=$(node "$ROOT/tests/bench/peer_bullmq.js" "$EASEL_REDIS_URL" "$EASEL_DATABASE_URL" "$NP" "$C" "$1" 2>>"$WORK/peer.log")
  rate=$(python3 -c "import json,sys; print(round(json.loads(sys.argv[1])['jobs_per_s'], 1))" "$out" 2>/dev/null || echo "n/a")
  ok=$(sql "select count(*) from jobs where model='peer/noop' and status='succeeded'")
  ev=$(sql "select round(count(*)::numeric / greatest(1, $ok), 1) from job_events")
  sql "delete from jobs" >/dev/null
  echo "$rate $ok $ev"
}
# Rounds, easel then the peer in each, on the same servers. A run's figure
# moves by 10-20% from one run to the next on a shared 2-core machine, so
# each side's figure is its median over the rounds, and both see the same
# conditions in turn.
pool_rates=() peer_rates=()
for ((r = 1; r <= R; r++)); do
  read -r pool_rate pool_ok pool_events pool_cpu < <(pool_run bench/pool)
  pool_rates+=("$pool_rate")
  # the peer records the same history: queued, dispatched, running, its
  # progress rows, succeeded
  prog=$(python3 -c "print(max(0, round(float('$pool_events') - 4)))")
  if [ "$have_peer" = 1 ]; then
    read -r peer peer_ok peer_events < <(peer_run "$prog")
    peer_rates+=("$peer")
  fi
done
read -r img_rate img_ok img_events img_cpu < <(pool_run bench/pool-image)
kill -TERM "$WPID" "$CTL_PID"; wait "$WPID" "$CTL_PID" 2>/dev/null
median() { python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:] if x!='n/a']; print(round(statistics.median(v),1) if v else 'n/a')" "$@"; }
pool_rate=$(median "${pool_rates[@]}")
peer=$( [ "$have_peer" = 1 ] && median "${peer_rates[@]}" || echo n/a)

echo "no-op jobs (provider: noop) on ${C}-way concurrency, full records in PostgreSQL:"
printf '  %-44s %8s jobs/s  (%s of %s succeeded; easel CPU %s ms/job)\n' \
  "local executor (a process per attempt)" "$local_rate" "$local_ok" "$NL" "$local_cpu"
printf '  %-44s %8s jobs/s  (%s of %s succeeded; %s history rows/job; easel CPU %s ms/job)\n' \
  "easel worker (warm pool, in-process)" "$pool_rate" "$pool_ok" "$NP" "$pool_events" "$pool_cpu"
echo "      (median of $R rounds: ${pool_rates[*]})"
printf '  %-44s %8s jobs/s  (%s of %s succeeded; %s history rows/job; easel CPU %s ms/job)\n' \
  "easel worker, local model on 64x48 images" "$img_rate" "$img_ok" "$NP" "$img_events" "$img_cpu"
printf '  %-44s %8s jobs/s  (%s of %s succeeded; %s history rows/job)\n' \
  "peer: BullMQ worker + pg (npm)" "$peer" "${peer_ok:-0}" "$NP" "${peer_events:-0}"
[ "$have_peer" = 1 ] && echo "      (median of $R rounds: ${peer_rates[*]})"
python3 -c "
p, q = '$pool_rate', '$peer'
try: print('  easel pool / peer: %.2fx (target >= 1.5x)' % (float(p) / float(q)))
except Exception: print('  easel pool / peer: n/a')"
finish >/dev/null
