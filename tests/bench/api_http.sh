#!/usr/bin/env bash
# api_http: the HTTP API of one `easel controller` under wrk (Debian's
# package) at 64 connections, beside a peer measured in the same run.
# Prints
#   - GET /v1/jobs/{id} requests/s, p50 and p99, over 200 finished jobs'
#     ids taken in turn; once without tokens (loopback) and once with a
#     tokens file and a bearer token, as a deployment runs;
#   - the same load against a small Node.js server (node:http and the pg
#     package, tests/bench/peer_api.js) that reads the same columns of the
#     same row from the same PostgreSQL with as many connections as easel
#     has API threads;
#   - POST /v1/jobs requests/s and p99, with this replica's claiming
#     paused (POST /worker/stop) so the jobs it creates do not run on the
#     cores the API needs, and the jobs counted in PostgreSQL against
#     wrk's count of 201 answers;
#   - pickup latency of the claim path (created_at to dispatched_at of
#     jobs created through the API one at a time) without load, then while
#     a paced GET load (about API_BENCH_PACED_RPS) runs, then while the full
#     one does.
# Run by `make bench` (hack/bench.sh); it reports and never fails the build.
# wrk and the client run on the same cores as the server and PostgreSQL.
# Knobs: API_BENCH_SECONDS (per wrk run, default 10), API_BENCH_CONNS
# (default 64), API_BENCH_IDS (default 200), API_BENCH_PICKUP_JOBS (default
# 40) and API_BENCH_PICKUP_GAP_MS (default 250), API_BENCH_THREADS
# (--api-threads, default 0: the controller's own choice), API_BENCH_PACED_RPS
# (the paced GET load's rate, default 4000).
. "$(dirname "$0")/../e2e/lib.sh"
SECS=${API_BENCH_SECONDS:-10}
CONNS=${API_BENCH_CONNS:-64}
NIDS=${API_BENCH_IDS:-200}
NPICK=${API_BENCH_PICKUP_JOBS:-40}
GAP_MS=${API_BENCH_PICKUP_GAP_MS:-250}
THREADS=${API_BENCH_THREADS:-0}
# The clients of a real deployment run on other machines. Here wrk shares
# the 2 cores, so it runs at the nice value the API's own threads take (+5,
# pkg/api/server.c): it competes with the API it loads, not with the claim
# path or PostgreSQL (as kube_dispatch runs the simulated node's pods at
# nice 19). The peer is loaded by the same wrk.
WRK=(nice -n "${API_BENCH_WRK_NICE:-5}" wrk)
PACED_RPS=${API_BENCH_PACED_RPS:-4000}
LUA=$ROOT/tests/bench/api_http.lua

if ! command -v wrk >/dev/null; then
  echo "wrk is not installed; installing Debian's package (hack/install-deps.sh wrk)"
  "$ROOT/hack/install-deps.sh" wrk >&2 || { echo "wrk unavailable: api_http skipped"; exit 1; }
fi
peer=1
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node/npm not installed: no peer figures"; peer=0
elif [ ! -d "$ROOT/tests/bench/node_modules/pg" ]; then
  (cd "$ROOT/tests/bench" && npm install --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null 2>&1) \
    || { echo "npm install pg failed: no peer figures"; peer=0; }
fi

# Redis without its append-only file, as hack/bench.sh runs it for the queue
# figures (PostgreSQL runs without fsync in every test setup): with
# appendfsync always, each create's LPUSH waits for a disk flush
export EASEL_REDIS_AOF=${EASEL_REDIS_AOF:-0}
setup_services
"$ROOT/hack/sample-images.sh" "$WORK/img" 320 240 >/dev/null || { echo "sample images failed"; exit 1; }
PORT=$(free_port)
# concurrency well above what the paced pickup jobs need (each job is an
# `easel job` process of a few hundred ms here), so their pickup never
# waits for a free slot: the figure is the claim path's
start_api ctl "$PORT" --api-threads "$THREADS" --concurrency 16 >/dev/null || exit 1
CTL=$CTL_PID
pool=$THREADS
[ "$pool" -gt 0 ] || pool=$(( $(nproc) > 2 ? $(nproc) : 2 ))

# mkjobs BASE PHASE COUNT GAP_MS OUT [TOKEN]: COUNT jobs created through
# POST BASE/v1/jobs on one keep-alive connection, GAP_MS apart, tagged
# metadata.phase=PHASE; their ids go to OUT
mkjobs() {
  python3 - "$1" "$2" "$3" "$4" "$5" "file://$WORK/img/room-1.jpg" "${6:-}" <<'PY'
import http.client, json, sys, time, urllib.parse
base, phase, n, gap, out, img, tok = sys.argv[1:8]
n, gap = int(n), float(gap) / 1000.0
u = urllib.parse.urlparse(base)
c = http.client.HTTPConnection(u.hostname, u.port)
h = {"Content-Type": "application/json"}
if tok:
    h["Authorization"] = "Bearer " + tok
ids = []
start = time.monotonic()
for i in range(n):
    time.sleep(max(0.0, start + i * gap - time.monotonic()))
    body = {"model": "local/vips-stage", "images": [img],
            "input": {"style": "modern", "seed": i}, "metadata": {"phase": phase}}
    c.request("POST", "/v1/jobs", json.dumps(body), h)
    r = c.getresponse()
    d = r.read()
    if r.status != 201:
        sys.exit("POST /v1/jobs: %d %s" % (r.status, d[:200]))
    ids.append(json.loads(d)["id"])
open(out, "w").write("\n".join(ids) + "\n")
PY
}
phase_done() { [ "$(sql "select count(*) from jobs where metadata->>'phase' = '$1' and status in ('succeeded','failed','dead','canceled')")" -ge "$2" ]; }
# pickup PHASE: count, p50, p99 and max of created_at -> dispatched_at, in
# ms, and the p50 of a job's run (started_at -> finished_at)
pickup() {
  sql "select count(*), round(percentile_cont(0.5) within group (order by ms)::numeric, 2),
              round(percentile_cont(0.99) within group (order by ms)::numeric, 2), round(max(ms)::numeric, 2),
              round(percentile_cont(0.5) within group (order by run)::numeric, 0)
       from (select extract(epoch from dispatched_at - created_at) * 1000 as ms,
                    extract(epoch from finished_at - started_at) * 1000 as run from jobs
             where metadata->>'phase' = '$1' and dispatched_at is not null) t" | tr '|' ' '
}
# cpu_ms PID: user+system CPU time the process has used, in ms
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$1/stat"; }
# bench NAME PID URL SECONDS ARGS...: one wrk run; its WRK line, with the
# server's CPU per 1000 requests appended, is kept in $WORK/NAME.wrk
bench() {
  local name=$1 pid=$2 url=$3 secs=$4; shift 4
  local c0 c1
  c0=$(cpu_ms "$pid")
  "${WRK[@]}" -t 2 -c "$CONNS" -d "${secs}s" --timeout 5s -s "$LUA" "$url" -- "$@" >"$WORK/$name.out" 2>&1
  c1=$(cpu_ms "$pid")
  local line
  line=$(grep '^WRK ' "$WORK/$name.out") || { echo "wrk $name failed:"; cat "$WORK/$name.out"; return 1; }
  echo "$line cpu_ms=$((c1 - c0))" >"$WORK/$name.wrk"
}

# --- the jobs the GETs read: NIDS of them, finished ----------------------
mkjobs "$API" ids "$NIDS" 0 "$WORK/ids" || exit 1
wait_for 180 "phase_done ids $NIDS" || echo "(some of the $NIDS jobs are still running)"
sleep 1

# --- GET /v1/jobs/{id}, no tokens ------------------------------------------
"${WRK[@]}" -t 2 -c "$CONNS" -d 2s -s "$LUA" "$API" -- get "$WORK/ids" /v1/jobs/ >/dev/null 2>&1 # warm-up
bench get "$CTL" "$API" "$SECS" get "$WORK/ids" /v1/jobs/ || exit 1

# --- the same with a tokens file and a bearer token -------------------------
TOK=bench-read-token-0123456789abcdef
cat >"$WORK/tokens.yaml" <<YAML
tokens:
  - name: ops
    token: bench-ops-token-0123456789abcdef
    scopes: [admin]
  - name: web-app
    token: bench-web-token-0123456789abcdef
    scopes: [read, write]
  - name: dashboard
    token: $TOK
    scopes: [read]
YAML
PORT2=$(free_port)
start_controller ctl2 --http-addr "127.0.0.1:$PORT2" --api-tokens-file "$WORK/tokens.yaml" \
  --api-threads "$THREADS" --concurrency 1 >/dev/null || exit 1
CTL2=$CTL_PID
API2=http://127.0.0.1:$PORT2
curl -sf -X POST -H "Authorization: Bearer bench-ops-token-0123456789abcdef" "$API2/worker/stop" >/dev/null \
  || echo "(could not pause the second replica)"
"${WRK[@]}" -t 2 -c "$CONNS" -d 2s -s "$LUA" "$API2" -- get "$WORK/ids" /v1/jobs/ "$TOK" >/dev/null 2>&1
bench get_token "$CTL2" "$API2" "$SECS" get "$WORK/ids" /v1/jobs/ "$TOK" || exit 1
kill "$CTL2" 2>/dev/null
wait_until 10 gone "$CTL2" >/dev/null

# --- the peer: node:http + pg ------------------------------------------------
if [ "$peer" = 1 ]; then
  PPORT=$(free_port)
  DATABASE_URL=$EASEL_DATABASE_URL node "$ROOT/tests/bench/peer_api.js" "$PPORT" "$pool" >"$WORK/peer.log" 2>&1 &
  PEER=$!
  PIDS+=("$PEER")
  wait_until 10 grep -q listening "$WORK/peer.log" >/dev/null || { echo "peer did not start:"; cat "$WORK/peer.log"; peer=0; }
  probe=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PPORT/jobs/$(head -1 "$WORK/ids")")
  [ "$probe" = 200 ] || { echo "peer answered $probe"; peer=0; }
fi
if [ "$peer" = 1 ]; then
  "${WRK[@]}" -t 2 -c "$CONNS" -d 2s -s "$LUA" "http://127.0.0.1:$PPORT" -- get "$WORK/ids" /jobs/ >/dev/null 2>&1
  bench peer "$PEER" "http://127.0.0.1:$PPORT" "$SECS" get "$WORK/ids" /jobs/ || peer=0
  kill "$PEER" 2>/dev/null
  wait_until 10 gone "$PEER" >/dev/null
fi

# --- pickup latency: without load, under a paced GET load, under the full one ---
# PACED_RPS: the paced load's target rate; each of the CONNS connections
# waits CONNS/PACED_RPS s after each answer
mkjobs "$API" pick-idle "$NPICK" "$GAP_MS" "$WORK/pick-idle" || exit 1
wait_for 120 "phase_done pick-idle $NPICK" || echo "(pickup jobs still running)"
span=$(( (NPICK * GAP_MS + 999) / 1000 ))
# pickup_under PHASE [DELAY_MS]: the pickup jobs while wrk GETs
pickup_under() {
  "${WRK[@]}" -t 2 -c "$CONNS" -d "$((span + 4))s" --timeout 5s -s "$LUA" "$API" -- get "$WORK/ids" /v1/jobs/ "" "${2:-}" \
    >"$WORK/$1.out" 2>&1 &
  local w=$!
  PIDS+=("$w")
  sleep 2
  mkjobs "$API" "$1" "$NPICK" "$GAP_MS" "$WORK/$1" || return 1
  wait "$w" 2>/dev/null
  wait_for 120 "phase_done $1 $NPICK" || echo "(pickup jobs still running)"
}
pickup_under pick-paced "$(( CONNS * 1000 / PACED_RPS ))" || exit 1
pickup_under pick-load || exit 1
read -r pi_n pi_50 pi_99 pi_max pi_run <<<"$(pickup pick-idle)"
read -r pp_n pp_50 pp_99 pp_max pp_run <<<"$(pickup pick-paced)"
read -r pl_n pl_50 pl_99 pl_max pl_run <<<"$(pickup pick-load)"
pl_rps=$(sed -n 's/^WRK .* rps=\([0-9]*\).*/\1/p' "$WORK/pick-load.out")
pp_rps=$(sed -n 's/^WRK .* rps=\([0-9]*\).*/\1/p' "$WORK/pick-paced.out")

# --- POST /v1/jobs, this replica's claiming paused ----------------------------
curl -sf -X POST "$API/worker/stop" >/dev/null || echo "(could not pause the replica)"
printf '{"model":"local/vips-stage","images":["file://%s/img/room-1.jpg"],"input":{"style":"modern"},"metadata":{"phase":"post"}}' \
  "$WORK" >"$WORK/post.json"
bench post "$CTL" "$API" "$SECS" post "$WORK/post.json" /v1/jobs || exit 1
posted=$(sql "select count(*) from jobs where metadata->>'phase' = 'post'")

python3 - "$WORK" "$peer" "$pool" "$CONNS" "$NIDS" "$posted" \
  "$pi_n" "$pi_50" "$pi_99" "$pi_max" "$pl_n" "$pl_50" "$pl_99" "$pl_max" "${pl_rps:-0}" "$NPICK" "$GAP_MS" \
  "${pi_run:-0}" "${pl_run:-0}" "$pp_n" "$pp_50" "$pp_99" "$pp_max" "${pp_run:-0}" "${pp_rps:-0}" <<'PY'
import os, sys
work, peer, pool, conns, nids, posted = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
pi = [float(x or 0) for x in sys.argv[7:11]]
pl = [float(x or 0) for x in sys.argv[11:15]]
pl_rps, npick, gap = float(sys.argv[15]), int(sys.argv[16]), sys.argv[17]
pi_run, pl_run = float(sys.argv[18] or 0), float(sys.argv[19] or 0)
pp = [float(x or 0) for x in sys.argv[20:24]]
pp_run, pp_rps = float(sys.argv[24] or 0), float(sys.argv[25] or 0)

def load(name):
    p = os.path.join(work, name + ".wrk")
    if not os.path.exists(p):
        return None
    return {k: float(v) for k, v in (f.split("=") for f in open(p).read().split()[1:])}

g, t, n, po = load("get"), load("get_token"), load("peer") if peer else None, load("post")
ok = lambda c: "PASS" if c else "MISS"
print("wrk (at nice +5, as the API's threads): 2 threads, %s connections, on the same 2 cores as the server and PostgreSQL;"
      " easel: 1 service thread + %d API threads; peer: node:http + pg, a Pool of %d" % (conns, pool, pool))
print("%-40s %9s %8s %8s %8s %10s %12s" % ("", "req/s", "p50 ms", "p99 ms", "max ms", "non-2xx", "CPU ms/1k req"))
def row(label, r):
    if r:
        print("%-40s %9.0f %8.2f %8.2f %8.1f %10d %12.0f" % (label, r["rps"], r["p50_ms"], r["p99_ms"],
              r["max_ms"], r["other"] + r["errors"], r["cpu_ms"] / max(1, r["requests"]) * 1000))
row("easel GET /v1/jobs/{id} (%s ids)" % nids, g)
row("easel GET, bearer token (tokens file)", t)
row("peer GET /jobs/:id (node:http + pg)", n)
row("easel POST /v1/jobs (replica paused)", po)
if g:
    print("%s GET target >= 10,000 req/s: %.0f" % (ok(g["rps"] >= 10000), g["rps"]))
    print("%s GET target p99 <= 10 ms: %.2f ms" % (ok(g["p99_ms"] <= 10), g["p99_ms"]))
    print("BENCH api_get_rps=%.0f" % g["rps"])
    print("BENCH api_get_p99_ms=%.2f" % g["p99_ms"])
if t:
    print("BENCH api_get_token_rps=%.0f" % t["rps"])
    print("BENCH api_get_token_p99_ms=%.2f" % t["p99_ms"])
if g and n:
    print("easel vs peer, GET: %.2fx the requests/s, p99 %.2f ms vs %.2f ms" % (g["rps"] / n["rps"], g["p99_ms"], n["p99_ms"]))
    print("BENCH api_get_vs_peer_ratio=%.3f" % (g["rps"] / n["rps"]))
if po:
    # wrk stops with up to one request per connection in flight: those
    # jobs are made but their answers are not counted
    extra = posted - int(po["s201"])
    print("POST: %d answered 201 by wrk's count, %d jobs in PostgreSQL (%d more: requests in flight"
          " when wrk stopped, at most %s): %s" % (po["s201"], posted, extra, conns,
          "match" if 0 <= extra <= int(conns) else "MISMATCH"))
    print("BENCH api_post_rps=%.0f" % po["rps"])
    print("BENCH api_post_p99_ms=%.2f" % po["p99_ms"])
print("pickup, created_at -> dispatched_at, %d jobs through the API %s ms apart:" % (npick, gap))
print("  without load: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d jobs; each ran p50 %.0f ms)"
      % (pi[1], pi[2], pi[3], pi[0], pi_run))
print("  under a paced GET load (%.0f req/s meanwhile): p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d jobs; ran p50 %.0f ms)"
      % (pp_rps, pp[1], pp[2], pp[3], pp[0], pp_run))
print("  under the full GET load (%.0f req/s meanwhile): p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d jobs; ran p50 %.0f ms)"
      % (pl_rps, pl[1], pl[2], pl[3], pl[0], pl_run))
if pi[2] > 0 and pl[0] > 0:
    r = pl[2] / pi[2]
    print("  p99 under load / without: %.2f" % r)
    print("%s pickup p99 under load no worse than without: %.2f ms vs %.2f ms" % (ok(pl[2] <= pi[2]), pl[2], pi[2]))
    print("BENCH api_pickup_p99_ms=%.2f" % pi[2])
    print("BENCH api_pickup_load_p99_ms=%.2f" % pl[2])
    print("BENCH api_pickup_paced_p99_ms=%.2f" % pp[2])
PY
