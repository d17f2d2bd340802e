#!/usr/bin/env bash
# The core loop end to end: both seed payload shapes and the CLI through a
# real controller, then every kind of bad input, each ending in exactly one
# terminal state with its reason, while the controller keeps working.
. "$(dirname "$0")/lib.sh"
setup_services
samples
python3 "$ROOT/tests/e2e/hostile.py" "$SAMPLES/room-1.jpg" "$SAMPLES"
export EASEL_REGISTRY=$ROOT/tests/e2e/registry.yaml
# 127.0.0.2 stands for an internal host the operator lets through the SSRF
# guard; 127.0.0.1 stays refused like any other loopback address
start_controller ctl --concurrency 4 --lease 3s --heartbeat 500ms --source-allow 127.0.0.2 \
  || { fail "controller start"; exit 1; }

# --- happy path: a virtual-staging app's stage:run payloads
for i in 1 2 3; do
  push "{\"image_id\":\"img-$i\",\"original_url\":\"file://$SAMPLES/room-$i.jpg\",\"room_type\":\"living room\",\"style\":\"scandinavian\",\"seed\":$((41 + i))}"
done
# a try-on app's generation tasks, b2b and b2c
push "{\"task_id\":\"t-b2b\",\"channel\":\"b2b\",\"store_id\":\"store-9\",\"person_image_url\":\"file://$SAMPLES/person.jpg\",\"garment_image_url\":\"file://$SAMPLES/garment.png\",\"category\":\"upper_body\"}"
push "{\"task_id\":\"t-b2c\",\"channel\":\"b2c\",\"user_id\":\"user-7\",\"person_image_url\":\"file://$SAMPLES/person.jpg\",\"garment_image_url\":\"file://$SAMPLES/garment.png\",\"category\":\"upper_body\"}"

out=$("$EASEL" submit --model local/vips-stage --input '{"style":"industrial","seed":7,"room_type":"kitchen"}' --image "file://$SAMPLES/room-2.jpg" --wait --timeout 60s)
rc=$?
check "submit --wait exits 0 for a succeeded job" eq "$rc" 0
sid=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
check "submit --wait prints the finished job" eq "$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" succeeded

wait_until 60 all_terminal 6
check "all six good jobs succeeded" eq "$(count_jobs "'succeeded'")" 6
check "stage:run jobs got type stage" eq "$(sql "select count(*) from jobs where type='stage' and status='succeeded'")" 3
check "b2b owner is the store" eq "$(sql "select owner from jobs where channel='b2b'")" store-9
check "b2c owner is the user" eq "$(sql "select owner from jobs where channel='b2c'")" user-7
b2b=$(sql "select id from jobs where channel='b2b'"); b2c=$(sql "select id from jobs where channel='b2c'")
check "a b2b job's results go under the store: stores/{owner}/generated/" \
  test -s "$WORK/results/stores/store-9/generated/$b2b/normal.jpg"
check "a b2c job's results go under the user: generated/{owner}/" \
  test -s "$WORK/results/generated/user-7/$b2c/hq.webp"
check "the image metrics are recorded with the result" python3 - "$(sql "select result from jobs where id='$b2b'")" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); m = r["image_metrics"]
assert m["tool"] == "libvips" and 0 < m["processing_seconds"] < 60, m
assert m["original_size_bytes"] == r["source"]["bytes"] > 0, m
for o in r["outputs"]:
    assert m["compressed_size_bytes"][o["variant"]] == o["bytes"], (m, o)
total = sum(o["bytes"] for o in r["outputs"])
assert abs(m["compression_ratio"] - r["source"]["bytes"] / total) < 1e-6, m
PY
check "and the record points at them" eq "$(sql "select result->'outputs'->0->>'url' from jobs where id='$b2b'")" \
  "file://$WORK/results/stores/store-9/generated/$b2b/normal.jpg"

json=$("$EASEL" get "$sid" -o json)
check "get -o json has the contract fields" python3 - "$json" <<'PY'
import json, sys
j = json.loads(sys.argv[1])
for k in ("id", "model", "status", "attempts", "error", "created_at", "started_at", "finished_at", "result"):
    assert k in j, k
assert j["attempts"] == 1 and j["error"] is None
outs = j["result"]["outputs"]
assert [o["variant"] for o in outs] == ["normal", "hq"], outs
for o in outs:
    for k in ("url", "format", "width", "height", "bytes"):
        assert k in o, k
PY
# the files exist and have the preset's geometry (1600x1200 source)
norm=$(sql "select result->'outputs'->0->>'url' from jobs where id='$sid'" | sed 's|^file://||')
hq=$(sql "select result->'outputs'->1->>'url' from jobs where id='$sid'" | sed 's|^file://||')
check "normal variant is a 1024x768 JPEG" eq "$(vipsheader -f width "$norm")x$(vipsheader -f height "$norm") $(head -c 3 "$norm" | od -An -tx1 | tr -d ' ')" "1024x768 ffd8ff"
check "hq variant is a 1600x1200 WebP (never enlarged)" eq "$(vipsheader -f width "$hq")x$(vipsheader -f height "$hq") $(head -c 12 "$hq" | tail -c 4)" "1600x1200 WEBP"
check "events record the lifecycle" eq "$(sql "select string_agg(coalesce(to_status,'-'), ',' order by seq) from job_events where job_id='$sid' and kind is null")" "queued,dispatched,running,succeeded"
check "no leases left after success" eq "$(rcli ZCARD easel:jobs:leases)" 0
list=$("$EASEL" list --status succeeded)
check "list shows succeeded jobs" eq "$(echo "$list" | grep -c succeeded)" 6

# --- malformed entries: dead-lettered with a reason, never a crash
push 'this is not json'
push '[1,2,3]'
push '{"hello":"world"}'
push '{"model":"nope/missing","payload":{"images":["file:///x.jpg"]}}'
wait_for 10 'test "$(rcli LLEN easel:jobs:dead)" -ge 4'
dead=$(rcli LRANGE easel:jobs:dead 0 -1)
check "not-JSON entry dead-lettered as malformed_json" grep -q malformed_json <<<"$dead"
check "entry without usable fields dead-lettered" grep -q no_usable_fields <<<"$dead"
check "unknown model dead-lettered" grep -q unknown_model <<<"$dead"
check "unknown model recorded dead in the store" eq "$(sql "select status||'/'||error_reason from jobs where model='nope/missing'")" "dead/unknown_model"

# --- hostile and unreachable sources
bomb=$("$EASEL" submit --input '{"style":"modern"}' --image "file://$SAMPLES/bomb.png")
trunc=$("$EASEL" submit --input '{"style":"modern"}' --image "file://$SAMPLES/truncated.jpg")
text=$("$EASEL" submit --input '{"style":"modern"}' --image "file://$SAMPLES/notanimage.jpg")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
unreach=$("$EASEL" submit --input '{"style":"modern"}' --image "http://127.0.0.2:$port/room.jpg")
ssrf=$("$EASEL" submit --input '{"style":"modern"}' --image "http://localhost:$port/room.jpg")
slow=$("$EASEL" submit --model local/short-timeout --input '{"latency_ms":5000}' --image "file://$SAMPLES/room-1.jpg")
wait_until 60 all_terminal 14
check "decompression bomb fails permanently at once" eq "$(sql "select status||'/'||error_class||'/'||attempts||'/'||error_reason from jobs where id='$bomb'")" "failed/permanent/1/image_too_large"
check "truncated JPEG fails permanently" eq "$(sql "select status||'/'||error_class||'/'||error_reason from jobs where id='$trunc'")" "failed/permanent/corrupt_image"
check "a text file named .jpg is refused" eq "$(sql "select status||'/'||error_reason from jobs where id='$text'")" "failed/unsupported_format"
check "unreachable URL is retried, then dead-lettered" eq "$(sql "select status||'/'||error_class||'/'||attempts||'/'||error_reason from jobs where id='$unreach'")" "dead/retryable/3/source_unreachable"
check "a source on loopback is refused by the SSRF guard, at once" eq \
  "$(sql "select status||'/'||attempts||'/'||error_reason from jobs where id='$ssrf'")" failed/1/source_blocked
check "the refusal names the address and why" grep -q 'refused by the SSRF guard: .* is loopback' \
  <<<"$(sql "select error_message from jobs where id='$ssrf'")"
check "a job over its timeout is stopped and retried, then dead" eq "$(sql "select status||'/'||attempts||'/'||error_reason from jobs where id='$slow'")" "dead/2/timeout"
check "retry history shows backoff waits" eq "$(sql "select count(*) from job_events where job_id='$unreach' and to_status='retrying'")" 2
check "failed jobs are in the dead-letter list" grep -q "$bomb" <<<"$(rcli LRANGE easel:jobs:dead 0 -1)"
check "get shows the error" grep -q "image_too_large" <<<"$("$EASEL" get "$bomb")"

# --- a format the registry enables (tests/e2e/registry.yaml: formats: [gif])
vips copy "$SAMPLES/room-1.jpg" "$SAMPLES/room-1.gif"
gif=$("$EASEL" submit --input '{"style":"modern"}' --image "file://$SAMPLES/room-1.gif")
wait_for 30 "finished $gif"
check "a GIF source runs when the registry's formats enable it" eq "$(status_of "$gif")" succeeded

# --- idempotency: the same try-on task twice makes one job
push "{\"task_id\":\"t-dup\",\"channel\":\"b2c\",\"user_id\":\"u1\",\"person_image_url\":\"file://$SAMPLES/person.jpg\",\"garment_image_url\":\"file://$SAMPLES/garment.png\"}"
push "{\"task_id\":\"t-dup\",\"channel\":\"b2c\",\"user_id\":\"u1\",\"person_image_url\":\"file://$SAMPLES/person.jpg\",\"garment_image_url\":\"file://$SAMPLES/garment.png\"}"
wait_until 30 all_terminal 16
sleep 0.5
check "idempotency key: one job for two pushes" eq "$(sql "select count(*) from jobs where idempotency_key='t-dup'")" 1

# --- cancel a running job, cancel a queued one, retry a failed one
run=$("$EASEL" submit --input '{"latency_ms":20000}' --image "file://$SAMPLES/room-1.jpg")
wait_for 20 'test "$(status_of "$run")" = running'
check "cancel of a running job succeeds" "$EASEL" cancel "$run"
wait_for 10 'test "$(rcli ZSCORE easel:jobs:leases "$run")" = ""'
check "canceled job stays canceled" eq "$(status_of "$run")" canceled
wait_until 10 worker_gone "$run"
check "its worker process was stopped" worker_gone "$run"
check "cancel of a finished job is refused" bash -c "! '$EASEL' cancel '$sid' 2>/dev/null"

missing=$WORK/samples/later.jpg
late=$("$EASEL" submit --input '{"style":"coastal"}' --image "file://$missing")
wait_for 20 'test "$(status_of "$late")" = failed'
check "missing file fails as source_not_found" eq "$(sql "select error_reason from jobs where id='$late'")" source_not_found
cp "$SAMPLES/room-3.jpg" "$missing"
check "retry of a failed job is accepted" "$EASEL" retry "$late"
wait_for 30 'test "$(status_of "$late")" = succeeded'
check "retried job succeeds with a fresh budget" eq "$(sql "select status||'/'||attempts from jobs where id='$late'")" "succeeded/1"
check "its dead letter is gone" bash -c "! redis-cli -p $REDIS_PORT LRANGE easel:jobs:dead 0 -1 | grep -q $late"

# --- an attempt that cannot store its second variant removes the first
# (a directory sits where hq.webp must go, so its rename fails)
half=$(cat /proc/sys/kernel/random/uuid)
mkdir -p "$WORK/results/jobs/$half/hq.webp"
"$EASEL" submit --id "$half" --input '{"style":"modern"}' --image "file://$SAMPLES/room-1.jpg" >/dev/null
wait_for 60 "finished $half"
check "a job whose hq variant cannot be written is retried, then dead, as sink_write_failed" eq \
  "$(field "$half" "status||'/'||attempts||'/'||error_reason")" dead/3/sink_write_failed
check "its normal variant, written first each time, was removed each time" bash -c \
  "! test -e '$WORK/results/jobs/$half/normal.jpg'"
rmdir "$WORK/results/jobs/$half/hq.webp"

# --- CLI usage errors are clear and non-zero
"$EASEL" submit --bogus 2>"$WORK/err.txt"; rc=$?
check "unknown flag exits 2 with a message" bash -c "[ $rc -eq 2 ] && grep -q 'unknown flag --bogus' '$WORK/err.txt'"
"$EASEL" controller --lease soon 2>"$WORK/err.txt"; rc=$?
check "bad duration exits 2 naming the flag" bash -c "[ $rc -eq 2 ] && grep -q -- '--lease' '$WORK/err.txt'"
"$EASEL" submit --input '{broken' 2>"$WORK/err.txt"; rc=$?
check "malformed --input is refused" bash -c "[ $rc -ne 0 ] && grep -qi 'json' '$WORK/err.txt'"
"$EASEL" job --id "$(cat /proc/sys/kernel/random/uuid)"; rc=$?
check "job mode on an unknown id exits 13" eq "$rc" 13
check "controller is still alive" kill -0 "$CTL_PID"
"$EASEL" controller --file-root relative/dir 2>"$WORK/err.txt"; rc=$?
check "a relative --file-root exits 2 naming the flag" bash -c "[ $rc -eq 2 ] && grep -q -- '--file-root must be an absolute' '$WORK/err.txt'"

# --- secure by default: with no --file-root, no file:// source is read
# (a controller of its own, on its own queue, without EASEL_FILE_ROOTS)
main_ctl=$CTL_PID
EASEL_FILE_ROOTS='' EASEL_QUEUE=easel:noroot start_controller noroot --concurrency 1 ||
  fail "controller without file roots start"
noroot=$(EASEL_QUEUE=easel:noroot "$EASEL" submit --input '{"style":"modern"}' --image "file://$SAMPLES/room-1.jpg")
outside=$("$EASEL" submit --input '{"style":"modern"}' --image "file:///etc/hostname")
wait_for 30 "finished $noroot $outside"
check "a file:// source with no --file-root fails at once, permanently" eq \
  "$(field "$noroot" "status||'/'||attempts||'/'||error_class||'/'||error_reason")" failed/1/permanent/file_root_unset
check "the message names the rule" grep -q 'file:// sources are refused: no --file-root is set' \
  <<<"$(field "$noroot" error_message)"
check "a file:// source outside the roots fails permanently" eq \
  "$(field "$outside" "status||'/'||error_class||'/'||error_reason")" failed/permanent/source_forbidden
check "... saying it is outside the --file-root directories" grep -q 'outside the --file-root directories' \
  <<<"$(field "$outside" error_message)"
kill "$CTL_PID" 2>/dev/null; wait "$CTL_PID" 2>/dev/null
CTL_PID=$main_ctl

# every job has exactly one terminal event per run (a manual retry starts a new run)
check "exactly one terminal event per job and run" eq "$(sql "select count(*) from (select job_id from job_events group by job_id having sum(case when to_status in ('succeeded','failed','dead','canceled') then 1 else 0 end) <> 1 + sum(case when reason='Requeued' then 1 else 0 end)) x")" 0
finish
