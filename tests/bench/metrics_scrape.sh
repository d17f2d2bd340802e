#!/usr/bin/env bash
# metrics_scrape: what /metrics costs, and what the controller weighs.
#   - scrape time and size with 1,000 jobs in flight: 1,000 jobs running in
#     Postgres across 50 models, their 1,000 attempt rows and 3,000 status
#     rows waiting in the metric outbox (what the first scrape after a busy
#     minute folds), 10 label values per model family; then the steady
#     state (outbox empty, every series present). p50/p99 over 200 scrapes
#     with curl, beside a peer in the same run: a real Prometheus server's
#     own /metrics (Go client_golang) on the same machine;
#   - the controller's RSS (VmRSS) idle, and with 10,000 jobs queued in
#     Redis while it runs (concurrency 8, no-op local jobs), and its peak
#     (VmHWM). Targets (issue #14): <= 20 MB idle, <= 40 MB with 10,000.
# Reports; never fails the build.
. "$(dirname "$0")/../e2e/lib.sh"
"$ROOT/hack/install-deps.sh" prometheus >/dev/null 2>&1 || { echo "prometheus unavailable"; exit 1; }
setup_services
"$ROOT/hack/sample-images.sh" "$WORK/img" 64 48 >/dev/null || { echo "sample images failed"; exit 1; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
anon_kb() { awk '/^RssAnon/{print $2}' "/proc/$1/status"; }
pss_kb() { awk '/^Pss:/{print $2}' "/proc/$1/smaps_rollup"; }
# VmRSS, then what of it is the process's own (anonymous) and its
# proportional share (PSS): libvips maps ~150 shared libraries, whose
# touched pages count in VmRSS although every process shares them
mem() { echo "VmRSS $(mb "$(rss_kb "$1")") (own anonymous $(mb "$(anon_kb "$1")"), PSS $(mb "$(pss_kb "$1")"))"; }
hwm_kb() { awk '/^VmHWM/{print $2}' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN{printf "%.1f MB", k/1024}'; }

# --- RSS idle
PORT=$(free_port)
start_api ctl "$PORT" --concurrency 8 >/dev/null || exit 1
sleep 2
curl -s "$API/metrics" >/dev/null
idle=$(mem "$CTL_PID")

# --- scrape cost with 1,000 jobs in flight
sql "
insert into jobs (id, model, status, payload, max_attempts, attempts, created_at, dispatched_at, started_at)
select gen_random_uuid(), 'bench/model-' || (i % 50), 'running', '{}'::jsonb, 3, 1,
       now() - interval '30 seconds', now() - interval '20 seconds', now() - interval '10 seconds'
  from generate_series(1, 1000) i;
insert into metric_outbox (kind, job_id, model, data)
select 'status', j.id, j.model, jsonb_build_object('to', s, 'seconds', 12.5, 'reason', 'provider_timeout')
  from jobs j, unnest(array['dispatched', 'retrying', 'succeeded']) s where j.model like 'bench/%';
insert into metric_outbox (kind, job_id, model, data)
select 'attempt', j.id, j.model, jsonb_build_object(
  'image', jsonb_build_array(jsonb_build_object('tool', 'libvips', 'seconds', 0.05, 'ok', true)),
  'sources', jsonb_build_array(jsonb_build_object('tool', 'libvips', 'bytes', 250000)),
  'output', jsonb_build_object('tool', 'libvips', 'compression_ratio', 3.2,
                               'variants', jsonb_build_object('normal', 80000, 'hq', 200000)),
  'calls', jsonb_build_array(jsonb_build_object('provider', 'replicate', 'model', j.model,
                                                 'seconds', 4.2)),
  'generation', 'success')
  from jobs j where j.model like 'bench/%';" >/dev/null
first=$(curl -s -o "$WORK/first.prom" -w '%{time_total}' "$API/metrics")
folded=$(python3 "$ROOT/tests/e2e/promq.py" "$WORK/first.prom" easel_job_attempts_total)
timings() { # URL N -> "p50 p99 bytes"
  local i
  for i in $(seq 1 "$2"); do curl -s -o "$WORK/s.out" -w '%{time_total}\n' "$1"; done |
    sort -n | awk '{a[NR]=$1} END {printf "%.2f %.2f ", a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000}'
  wc -c <"$WORK/s.out"
}
read -r p50 p99 bytes <<<"$(timings "$API/metrics" 200)"
series=$(grep -vc '^#' "$WORK/s.out")

PPORT=$(free_port)
printf 'global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: self\n    static_configs: [{targets: ["127.0.0.1:%s"]}]\n' \
  "$PPORT" >"$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PPORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=("$!")
wait_until 20 curl -sf "http://127.0.0.1:$PPORT/-/ready" >/dev/null
sleep 3
read -r pp50 pp99 pbytes <<<"$(timings "http://127.0.0.1:$PPORT/metrics" 200)"
pseries=$(grep -vc '^#' "$WORK/s.out")

echo "/metrics with 1,000 jobs running over 50 models:"
printf '  first scrape, folding 4,000 outbox rows: %.1f ms (%s attempts counted)\n' \
  "$(echo "$first" | awk '{print $1*1000}')" "$folded"
printf '  %-34s p50 %6.2f ms  p99 %6.2f ms  %7d bytes  %5d samples\n' "easel controller" "$p50" "$p99" "$bytes" "$series"
printf '  %-34s p50 %6.2f ms  p99 %6.2f ms  %7d bytes  %5d samples\n' "peer: Prometheus's own /metrics" "$pp50" "$pp99" "$pbytes" "$pseries"

# --- RSS with 10,000 queued
sql "delete from jobs where model like 'bench/%'" >/dev/null
python3 - "$REDIS_PORT" "$EASEL_QUEUE" "file://$WORK/img/room-1.jpg" <<'PY'
import socket, sys, json
port, q, img = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
def cmd(*a):
    out = b"*%d\r\n" % len(a)
    for x in a:
        x = x.encode() if isinstance(x, str) else x
        out += b"$%d\r\n%s\r\n" % (len(x), x)
    return out
buf = b"".join(cmd("LPUSH", q, json.dumps({"image_id": "b%d" % i, "original_url": img, "seed": i}))
               for i in range(10000))
s.sendall(buf)
got = 0
f = s.makefile("rb")
while got < 10000:
    f.readline(); got += 1
PY
sleep 30
busy=$(mem "$CTL_PID")
peak=$(hwm_kb "$CTL_PID")
done_jobs=$(count_jobs "'succeeded'")
left=$(rcli LLEN "$EASEL_QUEUE")
echo "controller memory:"
echo "  idle:                          $idle   (target <= 20 MB)"
echo "  10,000 queued, after 30 s:     $busy, peak VmHWM $(mb "$peak")   (target <= 40 MB; $done_jobs done, $left still queued)"
