#!/usr/bin/env bash
# The CLI through a controller's HTTP API (--server, --token): submit (and
# --wait), get and list in every output, cancel and retry with their 409s,
# logs and logs -f, a refused token and a server that is down. The CLI
# runs with Redis and PostgreSQL URLs that lead nowhere, so every answer it
# prints has come through the API; the direct road is checked to print the
# same history.
. "$(dirname "$0")/lib.sh"
setup_services
samples
export EASEL_REGISTRY=$ROOT/tests/e2e/registry.yaml

unused_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(unused_port)
DEAD_PORT=$(unused_port) # bound and released: nothing listens there
WRITER=cli-writer-0123456789abcdef
READER=cli-reader-0123456789abcdef
cat >"$WORK/tokens.yaml" <<YAML
tokens:
  - name: cli-writer
    token: "$WRITER"
    scopes: [read, write]
  - name: cli-reader
    token: "$READER"
    scopes: [read]
YAML
start_controller ctl --concurrency 4 --lease 3s --heartbeat 500ms \
  --http-addr "127.0.0.1:$PORT" --api-tokens-file "$WORK/tokens.yaml" \
  || { fail "controller start"; exit 1; }
wait_until 10 curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null ||
  { fail "the API answers /healthz"; exit 1; }

SERVER=http://127.0.0.1:$PORT
OUT=$WORK/cli.out # every stdout and stderr of the CLI, searched for the token at the end
# cli ARGS...: the CLI through the server, unable to reach Redis or PostgreSQL itself
cli() {
  EASEL_SERVER=$SERVER EASEL_TOKEN=${TOKEN:-$WRITER} EASEL_REDIS_URL=redis://127.0.0.1:1/0 \
    EASEL_DATABASE_URL=postgresql://127.0.0.1:1/none "$EASEL" "$@" 2> >(tee -a "$OUT" >&2) |
    tee -a "$OUT"
  return "${PIPESTATUS[0]}"
}
# the same environment as a command prefix, for timeout(1)
clienv=(env EASEL_SERVER="$SERVER" EASEL_TOKEN="$WRITER" EASEL_REDIS_URL=redis://127.0.0.1:1/0
        EASEL_DATABASE_URL=postgresql://127.0.0.1:1/none)
api() { curl -s -H "Authorization: Bearer $WRITER" "$SERVER$1"; } # api PATH: the API's own answer
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; } # jq_ PYEXPR (d: the document)
is_uuid() { [[ $1 =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]; }

# --- submit --wait, through the API, to the end
out=$(cli submit --model local/vips-stage --input '{"style":"industrial","seed":7}' \
  --image "file://$SAMPLES/room-2.jpg" --wait --timeout 60s)
check "submit --wait through the server exits 0 for a succeeded job" eq "$?" 0
sid=$(jq_ 'd["id"]' <<<"$out")
check "submit --wait prints the API's job, succeeded" eq "$(jq_ 'd["status"]' <<<"$out")" succeeded
check "submit --wait's job has its variants" test "$(jq_ 'len(d["output"]["variants"])' <<<"$out")" -ge 1
check "the job is in PostgreSQL, succeeded" eq "$(status_of "$sid")" succeeded

# --- submit without --wait prints the id, as the direct road does
qid=$(cli submit --input '{"style":"modern","seed":3}' --image "file://$SAMPLES/room-1.jpg" --priority 5 \
  --type stage --idempotency-key cli-key-1)
check "submit prints a job id" is_uuid "$qid"
again=$(cli submit --input '{"style":"modern","seed":3}' --image "file://$SAMPLES/room-1.jpg" \
  --idempotency-key cli-key-1)
check "a repeated idempotency key gives the first job" eq "$again" "$qid"
wait_for 30 'test "$(status_of "$qid")" = succeeded'
check "the flags reach the API's body (priority, type, key)" \
  eq "$(sql "select priority||'/'||type||'/'||idempotency_key from jobs where id='$qid'")" "5/stage/cli-key-1"

# --- get in three outputs
api "/v1/jobs/$sid" >"$WORK/get.api.json"
cli get "$sid" -o json >"$WORK/get.cli.json"
check "get -o json is the API's job object" python3 - "$WORK/get.api.json" "$WORK/get.cli.json" <<'PY'
import json, sys
a, c = (json.load(open(p)) for p in sys.argv[1:])
assert a == c, (a, c)
assert list(a) == list(c), "key order"
assert c["attempts"]["count"] == 1 and c["urls"]["get"].endswith(c["id"])
PY
cli get "$sid" -o yaml >"$WORK/get.cli.yaml"
check "get -o yaml is the same object as YAML" python3 - "$WORK/get.api.json" "$WORK/get.cli.yaml" <<'PY'
import json, sys, yaml
a = json.load(open(sys.argv[1]))
y = yaml.safe_load(open(sys.argv[2]))
assert a == y, (a, y)
PY
table=$(cli get "$sid")
check "get prints a table with the status" grep -q "^Status: *succeeded$" <<<"$table"
check "get's table lists the variants" grep -q "^  normal " <<<"$table"
check "get's table names the job" grep -q "^ID: *$sid$" <<<"$table"

# --- list with filters, and paging past the API's 1000 a page
cli list --status succeeded -o json >"$WORK/list.json"
check "list --status succeeded: only succeeded jobs, ours among them" python3 - "$WORK/list.json" "$sid" "$qid" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ids = [j["id"] for j in d["items"]]
assert all(j["status"] == "succeeded" for j in d["items"]), d
assert sys.argv[2] in ids and sys.argv[3] in ids, ids
assert "next_cursor" in d
PY
rc=0; cli list --status nonsense >/dev/null 2>"$WORK/err" || rc=$?
check "list --status nonsense: exit 2 and the API's message" eq "$rc/$(grep -c 'HTTP 400 invalid_query' "$WORK/err")" "2/1"
# a job of an owner, made through the API itself (the CLI's submit has no owner)
oid=$(curl -s -H "Authorization: Bearer $WRITER" -H 'Content-Type: application/json' \
  -d "{\"input\":{\"style\":\"modern\"},\"images\":[\"file://$SAMPLES/room-3.jpg\"],\"owner\":\"u-7\",\"channel\":\"b2c\"}" \
  "$SERVER/v1/jobs" | jq_ 'd["id"]')
check "list --owner CHANNEL:ID finds only that owner's job" \
  eq "$(cli list --owner b2c:u-7 -o json | jq_ '",".join(j["id"] for j in d["items"])')" "$oid"
check "list --owner ID finds it in any channel" \
  eq "$(cli list --owner u-7 -o json | jq_ '",".join(j["id"] for j in d["items"])')" "$oid"
sql "insert into jobs (id, model, status, payload, max_attempts, created_at, finished_at)
     select gen_random_uuid(), 'bulk/rows', 'succeeded', '{}', 1,
            now() - make_interval(secs => g / 1000.0), now()
     from generate_series(1, 1005) g" >/dev/null
cli list --model bulk/rows --limit 1003 -o json >"$WORK/page.json"
check "list --limit 1003 follows the cursor past one page: 1003 jobs, none twice, more to come" \
  python3 - "$WORK/page.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ids = [j["id"] for j in d["items"]]
assert len(ids) == 1003 and len(set(ids)) == 1003, len(ids)
assert all(j["model"] == "bulk/rows" for j in d["items"])
assert d["next_cursor"], d["next_cursor"]
created = [j["created_at"] for j in d["items"]]
assert created == sorted(created, reverse=True), "newest first"
PY
check "list --limit 5000 --model gathers every page and stops: 1005 jobs" \
  eq "$(cli list --model bulk/rows --limit 5000 -o json | jq_ 'str(len(d["items"])) + "/" + str(d["next_cursor"])')" "1005/None"
check "list -o yaml parses to the same items as -o json" python3 - \
  "$(cli list --model local/vips-stage --limit 3 -o yaml)" "$(cli list --model local/vips-stage --limit 3 -o json)" <<'PY'
import json, sys, yaml
y, j = yaml.safe_load(sys.argv[1]), json.loads(sys.argv[2])
assert [x["id"] for x in y["items"]] == [x["id"] for x in j["items"]] and len(j["items"]) == 3
PY
ltab=$(cli list --model local/vips-stage --limit 3)
check "list prints a table: a header and a line a job" eq "$(head -1 <<<"$ltab" | awk '{print $1, $2}')/$(wc -l <<<"$ltab")" "ID STATUS/4"

# --- cancel, and its 409 for a job that already ended
run=$(cli submit --input '{"latency_ms":20000}' --image "file://$SAMPLES/room-1.jpg")
wait_for 20 'test "$(status_of "$run")" = running'
check "cancel of a running job through the server" eq "$(cli cancel "$run")" "$run canceled"
check "the job is canceled" eq "$(status_of "$run")" canceled
rc=0; cli cancel "$sid" >/dev/null 2>"$WORK/err" || rc=$?
check "cancel of a finished job exits 5 (conflict)" eq "$rc" 5
check "and says why, with the HTTP status and code" \
  grep -qx "error: job $sid already ended as succeeded (HTTP 409 conflict)" "$WORK/err"

# --- retry a failed job; a succeeded one is refused
missing=$WORK/samples/later.jpg
late=$(cli submit --input '{"style":"coastal"}' --image "file://$missing")
wait_for 20 'test "$(status_of "$late")" = failed'
cp "$SAMPLES/room-3.jpg" "$missing"
check "retry of a failed job through the server" eq "$(cli retry "$late")" "$late queued again"
wait_for 30 'test "$(status_of "$late")" = succeeded'
check "the retried job succeeds" eq "$(sql "select status||'/'||attempts from jobs where id='$late'")" "succeeded/1"
rc=0; cli retry "$sid" >/dev/null 2>"$WORK/err" || rc=$?
check "retry of a succeeded job exits 5 with the API's message" \
  eq "$rc/$(grep -c 'only failed or dead jobs can be retried (HTTP 409 conflict)' "$WORK/err")" "5/1"

# --- scheduled jobs
did=$(cli submit --input '{"style":"modern"}' --image "file://$SAMPLES/room-1.jpg" --delay 1h)
check "submit --delay makes a job that waits, with its run_at" \
  eq "$(cli get "$did" -o json | jq_ 'd["status"] + "/" + str(d["run_at"] is not None)')" "queued/True"
rid=$(cli submit --input '{"style":"modern"}' --image "file://$SAMPLES/room-1.jpg" --run-at 2099-01-01T00:00:00Z)
check "submit --run-at passes the time on" eq "$(cli get "$rid" -o json | jq_ 'd["run_at"][:10]')" 2099-01-01
check "a scheduled job can be canceled" eq "$(cli cancel "$did")" "$did canceled"
rc=0; "$EASEL" submit --delay 5s --image "file://$SAMPLES/room-1.jpg" 2>/dev/null || rc=$?
check "--delay without a server is refused (exit 2)" eq "$rc" 2

# --- logs
logs=$(cli logs "$sid")
check "logs prints one line an event, from creation to success" \
  eq "$(awk '$2 != "..." {print $2 $3 $4}' <<<"$logs" | tr '\n' ' ')" "-->queued queued->dispatched dispatched->running running->succeeded "
check "... and the running attempt's stages between, then its two stored variants" \
  eq "$(awk '$2 == "..." {print $3}' <<<"$logs" | tr '\n' ' ')" "fetching model checking variants storing output output "
check "each line carries the attempt and the reason" grep -qE ' running +-> succeeded +1  Succeeded ' <<<"$logs"
api "/v1/jobs/$sid/events" >"$WORK/ev.api.json"
check "logs -o json is the API's events document" python3 - "$WORK/ev.api.json" "$(cli logs "$sid" -o json)" <<'PY'
import json, sys
assert json.load(open(sys.argv[1])) == json.loads(sys.argv[2])
PY
check "logs without a server prints the same lines from PostgreSQL" \
  eq "$(env -u EASEL_SERVER "$EASEL" logs "$sid")" "$logs"
check "logs -o yaml without a server is the API's document too" python3 - "$WORK/ev.api.json" \
  "$(env -u EASEL_SERVER "$EASEL" logs "$sid" -o yaml)" <<'PY'
import json, sys, yaml
assert json.load(open(sys.argv[1])) == yaml.safe_load(sys.argv[2])
PY
rc=0; cli logs 00000000-0000-4000-8000-000000000000 >/dev/null 2>"$WORK/err" || rc=$?
check "logs of an unknown job exits 3 (HTTP 404 not_found)" eq "$rc/$(grep -c 'HTTP 404 not_found' "$WORK/err")" "3/1"

# logs -f: started while the job waits, it prints every event once, as it
# happens, and returns by itself when the job ends
fid=$(cli submit --input '{"latency_ms":2500}' --image "file://$SAMPLES/room-2.jpg")
timeout 60 "${clienv[@]}" "$EASEL" logs -f -o json "$fid" >"$WORK/follow.jsonl" 2>>"$OUT"
rc=$?
check "logs -f returns 0 by itself once the job ends" eq "$rc" 0
check "logs -f -o json: JSON lines, each event once and in order, ending in success" \
  python3 - "$WORK/follow.jsonl" "$(api "/v1/jobs/$fid/events")" <<'PY'
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
want = json.loads(sys.argv[2])["items"]
assert got == want, (got, want)
assert got[-1]["to"] == "succeeded" and len(got) >= 4
PY
check "logs -f of a job that has ended prints its history and returns" \
  eq "$(timeout 20 "${clienv[@]}" "$EASEL" logs -f "$fid")" "$(cli logs "$fid")"
# following a running job in the table format: the first line comes before the end
fid2=$(cli submit --input '{"latency_ms":3000}' --image "file://$SAMPLES/room-3.jpg")
timeout 60 "${clienv[@]}" "$EASEL" logs -f "$fid2" 2>>"$OUT" |
  while IFS= read -r line; do echo "$(status_of "$fid2") $line"; done >"$WORK/follow.txt"
check "logs -f prints lines while the job is still going" \
  grep -qE '^(queued|dispatched|running) .*-> queued' "$WORK/follow.txt"
check "logs -f ends with the success line" grep -qE -- '-> succeeded +1  Succeeded' <<<"$(tail -1 "$WORK/follow.txt")"

# --- tokens
rc=0; TOKEN=not-a-token-of-this-server cli get "$sid" >/dev/null 2>"$WORK/err" || rc=$?
check "a wrong token exits 4" eq "$rc" 4
check "and prints the API's 401" grep -q '(HTTP 401 unauthorized)$' "$WORK/err"
rc=0; TOKEN=$READER cli submit --image "file://$SAMPLES/room-1.jpg" >/dev/null 2>"$WORK/err" || rc=$?
check "a read-only token cannot submit: exit 4, HTTP 403" eq "$rc/$(grep -c 'HTTP 403' "$WORK/err")" "4/1"
check "a read-only token can read" eq "$(TOKEN=$READER cli get "$sid" -o json | jq_ 'd["id"]')" "$sid"
rc=0; EASEL_SERVER=$SERVER "$EASEL" get "$sid" >/dev/null 2>"$WORK/err" || rc=$?
check "no token at all: exit 4" eq "$rc" 4
check "the token appears in nothing the CLI printed" bash -c "test -s '$OUT' && ! grep -qE '$WRITER|$READER' '$OUT'"
check "nor in the controller's log" bash -c "! grep -qE '$WRITER|$READER' '$WORK/ctl.log'"
check "--help shows the token setting, never a value" \
  bash -c "EASEL_TOKEN=$WRITER '$EASEL' get --help | grep -q EASEL_TOKEN && ! EASEL_TOKEN=$WRITER '$EASEL' get --help | grep -q $WRITER"

# --- a server that is down, and other refusals
rc=0; EASEL_SERVER=http://127.0.0.1:$DEAD_PORT "$EASEL" get "$sid" >/dev/null 2>"$WORK/err" || rc=$?
check "a server that is down: exit 6" eq "$rc" 6
check "and a sentence naming the server" grep -q "cannot connect to the easel server at http://127.0.0.1:$DEAD_PORT" "$WORK/err"
rc=0; cli submit --model nope/none --image "file://$SAMPLES/room-1.jpg" >/dev/null 2>"$WORK/err" || rc=$?
check "an unknown model: exit 2 with the API's 422" eq "$rc/$(grep -c 'HTTP 422 unknown_model' "$WORK/err")" "2/1"
rc=0; cli submit --id "$sid" >/dev/null 2>&1 || rc=$?
check "--id with a server is refused (exit 2)" eq "$rc" 2
rc=0; EASEL_SERVER=ftp://127.0.0.1:$PORT "$EASEL" get "$sid" >/dev/null 2>&1 || rc=$?
check "a server that is not http(s) is refused (exit 2)" eq "$rc" 2

# --- the direct road is as it was
check "without a server, get -o json still reads PostgreSQL" \
  eq "$(env -u EASEL_SERVER "$EASEL" get "$sid" -o json | jq_ 'd["status"] + "/" + str(d["max_attempts"])')" "succeeded/3"
check "without a server, list --model works on PostgreSQL too" \
  eq "$(env -u EASEL_SERVER "$EASEL" list --model bulk/rows --limit 1200 -o json | jq_ 'len(d)')" 1005
finish
