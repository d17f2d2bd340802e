#!/usr/bin/env bash
# make demo: real jobs end to end on this machine. Starts Redis and
# PostgreSQL on loopback, migrates, runs `easel controller` with the local
# executor and the built-in local model, pushes jobs in both producer shapes
# (a staging app's stage:run payloads and a try-on app's generation tasks)
# plus one `easel submit` (whose event stream it then reads) and one job
# through the HTTP API (curl, waiting
# for the result in the same request), shows their progress and the final table, and
# exits 0 only if every job succeeded. Results stay in .demo/results.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
EASEL=$PWD/$BUILD/easel
DEMO=$PWD/.demo
rm -rf "$DEMO"; mkdir -p "$DEMO/results"; chmod 755 "$DEMO"
ctl=""
cleanup() {
  [ -n "$ctl" ] && kill -TERM "$ctl" 2>/dev/null && wait "$ctl" 2>/dev/null
  [ "${EASEL_DEMO_KEEP:-0}" = 1 ] || ./hack/services.sh stop "$DEMO/svc" >/dev/null 2>&1
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting Redis and PostgreSQL on loopback"
./hack/services.sh start "$DEMO/svc" || exit 1
. "$DEMO/svc/env"
export EASEL_REDIS_URL=$EASEL_TEST_REDIS_URL EASEL_DATABASE_URL=$EASEL_TEST_DATABASE_URL
export EASEL_STORAGE=file://$DEMO/results EASEL_QUEUE=easel:jobs
echo "redis      $EASEL_REDIS_URL"
echo "postgres   $EASEL_DATABASE_URL"

say "generating sample images"
./hack/sample-images.sh "$DEMO/samples" 1600 1200 && ls "$DEMO/samples"

say "easel migrate"
"$EASEL" migrate || exit 1

say "easel controller (local executor, built-in registry: local/vips-stage)"
# file:// sources are refused unless --file-root names where they may be read
# the HTTP API on a free loopback port (no tokens file: loopback only)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
API=http://127.0.0.1:$port
"$EASEL" controller --concurrency 3 --file-root "$DEMO/samples" --http-addr "127.0.0.1:$port" \
  >"$DEMO/controller.log" 2>&1 &
ctl=$!
for _ in $(seq 1 50); do grep -q 'controller started' "$DEMO/controller.log" && break; sleep 0.1; done
grep -q 'controller started' "$DEMO/controller.log" || { cat "$DEMO/controller.log"; exit 1; }
echo "running as pid $ctl, logs in .demo/controller.log, HTTP API on $API"

say "pushing jobs the way existing apps do (LPUSH easel:jobs)"
styles=(scandinavian industrial coastal)
rooms=("living room" bedroom kitchen)
for i in 1 2 3; do
  p="{\"image_id\":\"img-$i\",\"original_url\":\"file://$DEMO/samples/room-$i.jpg\",\"room_type\":\"${rooms[$((i-1))]}\",\"style\":\"${styles[$((i-1))]}\",\"seed\":$((100 + i))}"
  redis-cli -p "$REDIS_PORT" LPUSH easel:jobs "$p" >/dev/null; echo "stage:run  $p"
done
for ch in b2b b2c; do
  owner=$([ $ch = b2b ] && echo '"store_id":"store-42"' || echo '"user_id":"user-7"')
  p="{\"task_id\":\"task-$ch\",\"channel\":\"$ch\",$owner,\"person_image_url\":\"file://$DEMO/samples/person.jpg\",\"garment_image_url\":\"file://$DEMO/samples/garment.png\",\"category\":\"upper_body\"}"
  redis-cli -p "$REDIS_PORT" LPUSH easel:jobs "$p" >/dev/null; echo "try-on     $p"
done
id=$("$EASEL" submit --model local/vips-stage --input '{"style":"bohemian","seed":9,"room_type":"studio"}' --image "file://$DEMO/samples/room-2.jpg")
echo "easel submit -> $id"

say "one job through the HTTP API (Prefer: wait holds the answer until it is done)"
echo "curl -X POST $API/v1/jobs -H 'Prefer: wait=60' -d '{\"images\":[...],\"input\":{...}}'"
curl -s -X POST "$API/v1/jobs" -H 'Content-Type: application/json' -H 'Prefer: wait=60' \
  -d "{\"images\":[\"file://$DEMO/samples/room-3.jpg\"],\"input\":{\"room_type\":\"kitchen\",\"style\":\"modern\",\"seed\":3}}" \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print("  -> %s %s, variants: %s" % (d["id"], d["status"], ", ".join("%s %dx%d" % (v["name"], v["width"], v["height"]) for v in (d["output"] or {}).get("variants", []))))'

say "progress"
total=7; deadline=$((SECONDS + 120))
while :; do
  line=$(psql "$EASEL_DATABASE_URL" -At -c "select coalesce(string_agg(status || '=' || n, '  ' order by status), 'none yet') from (select status, count(*) n from jobs group by status) s")
  done_n=$(psql "$EASEL_DATABASE_URL" -At -c "select count(*) from jobs where status in ('succeeded','failed','dead','canceled')")
  printf '  %3ds  %s\n' "$SECONDS" "$line"
  [ "$done_n" -ge "$total" ] && break
  [ $SECONDS -ge $deadline ] && { echo "timed out"; break; }
  sleep 0.5
done

say "its events, live: curl -N $API/v1/jobs/$id/stream (Server-Sent Events: its history, then live until done)"
curl -sN -m 20 "$API/v1/jobs/$id/stream" | python3 -c '
import json, sys
ev = None
for line in sys.stdin:
    line = line.rstrip("\n")
    if line.startswith("event: "):
        ev = line[7:]
    elif line.startswith("data: ") and ev:
        d = json.loads(line[6:])
        if ev == "done":
            print("  done       %s" % d["status"])
        elif ev == "status":
            print("  status     %s -> %s" % (d["from"] or "", d["to"]))
        else:
            print("  %-10s %s" % (ev, d["message"] or ""))
'
say "easel list"
"$EASEL" list
say "easel get $id --server $API"
"$EASEL" get "$id" --server "$API"
say "outputs (.demo/results)"
find "$DEMO/results" -type f | sort | sed "s|$PWD/||"

ok=$(psql "$EASEL_DATABASE_URL" -At -c "select count(*) from jobs where status='succeeded'")
if [ "$ok" -eq "$total" ]; then
  say "demo passed: $ok of $total jobs succeeded"
  exit 0
fi
say "demo FAILED: $ok of $total jobs succeeded (see .demo/controller.log)"
exit 1
