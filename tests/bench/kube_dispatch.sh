#!/usr/bin/env bash
# kube_dispatch: the kubernetes executor's cost against the fake API server
# (tests/kube/fake_apiserver.py), whose simulated node runs every pod as the
# real binary. Prints
#   - dispatch latency: LPUSH returning to the Job create request arriving
#     at the API server (the fake's requests.log stamps each arrival);
#   - API requests per job attempt: writes other than Events and the
#     leader Lease, and LIST requests made after the watches started;
#   - the pod-per-job executor's overhead: the controller's own CPU per
#     attempt (its watches, Job creates, status and record), the model's
#     work in the pods aside.
# Run by `make bench` (hack/bench.sh); it reports and never fails the build.
# Knobs: KUBE_BENCH_JOBS (default 300), KUBE_BENCH_RATE (pushes per second,
# default 5, paced so the figure is latency, not queueing),
# KUBE_BENCH_BURST (default 100, pushed at once to show the backlog rate).
. "$(dirname "$0")/../e2e/lib.sh"
N=${KUBE_BENCH_JOBS:-300}
RATE=${KUBE_BENCH_RATE:-5}
BURST=${KUBE_BENCH_BURST:-100}

# the simulated node's pods run at nice 19: on a cluster they run on other
# machines, not on the controller's cores
export EASEL_REDIS_AOF=0 # as hack/bench.sh runs Redis for the queue figures
kube_setup --node-nice 19 --node-cpus 1 >/dev/null
"$ROOT/hack/sample-images.sh" "$WORK/small" 320 240 >/dev/null || { echo "sample images failed"; exit 1; }
kube_registry "$WORK/models.yaml"
start_controller ctl --executor kubernetes --registry-configmap default/easel-models \
  --concurrency 64 --job-ttl 1h --leader-elect >/dev/null || exit 1

# warm up: the watches are established and the first Jobs have run
for i in 1 2 3; do
  push "{\"image_id\":\"warm-$i\",\"original_url\":\"file://$WORK/small/room-1.jpg\",\"room_type\":\"den\",\"style\":\"modern\",\"seed\":$i}"
done
wait_for 60 'all_terminal 3' || { echo "warm-up jobs did not finish"; tail -20 "$WORK/ctl.log"; exit 1; }
sleep 1
mark=$(wc -l <"$API_DIR/requests.log")
# the controller's own CPU (its threads; the pods run under the fake node)
ctl_cpu() { awk '{print $14 + $15}' "/proc/$CTL_PID/stat"; }
cpu0=$(ctl_cpu)

# push_jobs PHASE COUNT INTERVAL_S: envelopes with known ids, over RESP on a
# plain socket so each push's timestamp is taken the moment Redis replies
push_jobs() {
  python3 - "$REDIS_PORT" "$EASEL_QUEUE" "$WORK/small/room-2.jpg" "$WORK/push-$1.tsv" "$2" "$3" <<'PY'
import json, socket, sys, time, uuid
port, queue, img, out, n, every = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
s = socket.create_connection(("127.0.0.1", int(port)))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def cmd(*args):
    b = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        b += b"$%d\r\n%s\r\n" % (len(a), a)
    s.sendall(b)
    r = b""
    while not r.endswith(b"\r\n"):
        r += s.recv(64)
    return r
with open(out, "w") as f:
    start = time.monotonic()
    for i in range(n):
        time.sleep(max(0.0, start + i * every - time.monotonic()))
        jid = str(uuid.uuid4())
        env = {"id": jid, "model": "local/vips-stage",
               "payload": {"images": ["file://" + img], "style": "modern", "seed": i, "room_type": "den"}}
        r = cmd("LPUSH", queue, json.dumps(env))
        f.write("%s\t%.6f\n" % (jid, time.time()))
        if not r.startswith(b":"):
            sys.exit("LPUSH failed: %r" % r)
PY
}

push_jobs paced "$N" "$(python3 -c "print(1/$RATE)")" || exit 1
wait_for 300 "all_terminal $((N + 3))" || echo "(paced jobs still running)"
sleep 2
mid=$(wc -l <"$API_DIR/requests.log")
push_jobs burst "$BURST" 0 || exit 1
wait_for 300 "all_terminal $((N + BURST + 3))" || echo "(burst jobs still running)"
sleep 3  # steady state: idle watches and lease renewals only
cpu1=$(ctl_cpu)

attempts=$(sql "select coalesce(sum(attempts),0) from jobs where id::text in ($(cut -f1 "$WORK"/push-*.tsv | sed "s/.*/'&'/" | paste -sd,))")
succeeded=$(sql "select count(*) from jobs where status='succeeded' and id::text in ($(cut -f1 "$WORK"/push-*.tsv | sed "s/.*/'&'/" | paste -sd,))")

python3 - "$API_DIR/requests.log" "$mark" "$mid" "$WORK/push-paced.tsv" "$WORK/push-burst.tsv" \
  "$attempts" "$succeeded" "$N" "$BURST" "$RATE" <<'PY'
import re, sys
log, mark, mid, paced, burst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
attempts, succeeded, n, nb, rate = (int(x) for x in sys.argv[6:11])
lines = open(log).read().splitlines()
run = lines[mark:]
line_re = re.compile(r"^(\S+) (\S+) (\d+).*?(?: name=(\S+))? at=([0-9.]+) took=([0-9.]+)$")
created = {}
writes = {}
lists = 0
for ln in run:
    m = line_re.match(ln)
    if not m:
        continue
    method, path, code, name, at = m.group(1), m.group(2), int(m.group(3)), m.group(4), float(m.group(5))
    base = path.split("?")[0]
    kind = base.rstrip("/").split("/")
    if method == "GET" and "watch=" not in path and re.search(r"/(jobs|pods|configmaps)$", base):
        lists += 1
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        res = "events" if "/events" in base else "leases" if "/leases" in base else \
              "jobs" if "/jobs" in base else "pods" if "/pods" in base else base
        key = "%s %s" % (method, res)
        writes[key] = writes.get(key, 0) + 1
        if method == "POST" and res == "jobs" and code == 201 and name:
            created[name] = at

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]

def latencies(path):
    out = []
    for ln in open(path):
        jid, t = ln.split()
        at = created.get("easel-%s-1" % jid)
        if at is not None:
            out.append((at - float(t)) * 1000.0)
    return out

lp = latencies(paced)
lb = latencies(burst)
ok = lambda c: "PASS" if c else "MISS"
print("jobs: %d paced at %d/s, then %d in one burst; %d succeeded, %d attempts" % (n, rate, nb, succeeded, attempts))
if lp:
    p99 = pct(lp, 99)
    print("dispatch latency, LPUSH -> Job create request arriving (paced, %d samples):" % len(lp))
    print("  p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms  (target p99 <= 10 ms: %s)"
          % (pct(lp, 50), pct(lp, 90), p99, max(lp), ok(p99 <= 10)))
    print("BENCH kube_dispatch_p50_ms=%.2f" % pct(lp, 50))
    print("BENCH kube_dispatch_p99_ms=%.2f" % p99)
if lb:
    print("burst of %d (queueing behind the controller's concurrency included): p50 %.1f ms, p99 %.1f ms;"
          " last Job created %.0f ms after its push" % (len(lb), pct(lb, 50), pct(lb, 99), max(lb)))
job_writes = sum(v for k, v in writes.items() if not k.endswith(("events", "leases")))
ev = sum(v for k, v in writes.items() if k.endswith("events"))
per = job_writes / max(1, attempts)
print("API writes per attempt, Events and the Lease aside: %.2f (%s)  (target <= 2: %s)"
      % (per, ", ".join("%s %d" % kv for kv in sorted(writes.items()) if not kv[0].endswith(("events", "leases"))),
         ok(per <= 2)))
print("Events per attempt: %.2f; Lease renewals: %d" % (ev / max(1, attempts), sum(v for k, v in writes.items() if k.endswith("leases"))))
print("LIST requests after the watches started: %d  (target 0, no periodic listing: %s)" % (lists, ok(lists == 0)))
print("BENCH kube_writes_per_attempt=%.2f" % per)
print("BENCH kube_lists_steady=%d" % lists)
PY
python3 -c "
t = ($cpu1 - $cpu0) / $(getconf CLK_TCK) * 1000.0 / max(1, $attempts)
print('pod-per-job overhead: the controller\'s own CPU per attempt (watches, Job create, status, record), the model aside: %.2f ms' % t)
print('BENCH kube_controller_cpu_ms_per_attempt=%.2f' % t)"
