#!/usr/bin/env bash
# Replicate models through `easel job`, against the Replicate emulator
# (tests/providers/replicate_emulator.py) over real HTTP: qwen-image-edit
# and flux-kontext-max end to end, a pinned version, each fault class
# ending where it should (retried, honouring Retry-After, or failed with
# Replicate's own message), cancel and timeout reaching Replicate, and the
# API token never written anywhere.
. "$(dirname "$0")/lib.sh"
setup_services
samples
TOKEN=r8_emuTestToken_7f3a9c2e51
start_emulator replicate "$TOKEN" --start-ms 100 --run-ms 300 || { fail "emulator start"; exit 1; }
BASE=$EMU_URL
provider_registry "$WORK/models.yaml"
cat >>"$WORK/models.yaml" <<YAML
  - id: qwen/qwen-image-edit
    provider: replicate
    endpoint: $BASE
    credential_env: REPLICATE_API_TOKEN
    timeout: 30s
    retry: {max_attempts: 3, initial: 200ms, factor: 2, max: 1s}
    input:
      image: "{{images.0|data_uri}}"
      prompt: "Stage this {{room_type}} in {{style}} style {{marker}}"
      output_format: png
      go_fast: true
      seed: "{{seed}}"
  - id: black-forest-labs/flux-kontext-max
    provider: replicate
    endpoint: $BASE
    credential_env: REPLICATE_API_TOKEN
    timeout: 30s
    retry: {max_attempts: 2, initial: 200ms, factor: 2, max: 1s}
    input:
      prompt: "{{style}} makeover"
      input_image: "{{image|data_uri}}"
      aspect_ratio: match_input_image
      output_format: jpg
      safety_tolerance: 2
  - id: pinned/qwen
    provider: replicate
    endpoint: $BASE
    version: qwen/qwen-image-edit:$(printf 'a%.0s' $(seq 64))
    credential_env: REPLICATE_API_TOKEN
    input: {image: "{{image|data_uri}}", prompt: "pinned"}
  - id: broken/qwen-template
    provider: replicate
    endpoint: $BASE
    version: qwen/qwen-image-edit
    credential_env: REPLICATE_API_TOKEN
    input: {image: "{{image|data_uri}}", prompt: "x", output_format: gif}
  - id: short/qwen
    provider: replicate
    endpoint: $BASE
    version: qwen/qwen-image-edit
    credential_env: REPLICATE_API_TOKEN
    timeout: 3s
    retry: {max_attempts: 1}
    input: {image: "{{image|data_uri}}", prompt: "slow {{marker}}"}
  - id: checked/qwen
    provider: replicate
    endpoint: $BASE
    version: qwen/qwen-image-edit
    credential_env: REPLICATE_API_TOKEN
    timeout: 30s
    retry: {max_attempts: 2, initial: 100ms, factor: 2, max: 200ms}
    checks: {aspect: match_input, blank: 3}
    input: {image: "{{image|data_uri}}", prompt: "x {{marker}}", seed: "{{seed}}"}
    fallback: [local/vips-stage]
  - id: small/qwen
    provider: replicate
    endpoint: $BASE
    version: qwen/qwen-image-edit
    credential_env: REPLICATE_API_TOKEN
    input_size: 512
    input: {image: "{{image|data_uri}}", prompt: "x"}
  - id: stall/qwen
    provider: replicate
    endpoint: $BASE
    version: qwen/qwen-image-edit
    credential_env: REPLICATE_API_TOKEN
    timeout: 5s
    retry: {max_attempts: 2, initial: 100ms, factor: 2, max: 200ms}
    input: {image: "{{image|data_uri}}", prompt: "x {{marker}}"}
  - id: nokey/qwen
    provider: replicate
    endpoint: $BASE
    version: qwen/qwen-image-edit
    credential_env: EASEL_TEST_UNSET_KEY
    input: {image: "{{image|data_uri}}", prompt: "x"}
YAML
export EASEL_REGISTRY=$WORK/models.yaml REPLICATE_API_TOKEN=$TOKEN
start_controller ctl --concurrency 4 --lease 3s --heartbeat 500ms || { fail "controller start"; exit 1; }
submit() { # MODEL FIELDS_JSON -> job id
  "$EASEL" submit --model "$1" --input "$2" --image "file://$SAMPLES/room-1.jpg"
}

q=$(submit qwen/qwen-image-edit '{"room_type":"loft","style":"modern","seed":7}')
f=$(submit black-forest-labs/flux-kontext-max '{"style":"coastal"}')
p=$(submit pinned/qwen '{}')
wait_for 60 "finished $q $f $p"
check "qwen-image-edit succeeds through Replicate" eq "$(status_of "$q")" succeeded
check "flux-kontext-max succeeds (a single output URL)" eq "$(status_of "$f")" succeeded
check "a pinned version goes through POST /v1/predictions" eq "$(status_of "$p")" succeeded
res=$(field "$q" result)
check "the result names Replicate and the prediction" python3 -c '
import json, sys
r = json.loads(sys.argv[1])
assert r["provider"]["name"] == "replicate" and len(r["provider"]["ref"]) > 10, r
assert r["model"] == "qwen/qwen-image-edit" and len(r["outputs"]) >= 2, r' "$res"
check "the stored output is the provider's image (inverted), not the source" python3 - \
  "$WORK/results/jobs/$q/normal.jpg" "$SAMPLES/room-1.jpg" <<'PY'
import subprocess, sys
def mean(p):
    return float(subprocess.run(["vips", "avg", p], capture_output=True, text=True, check=True).stdout)
a, b = mean(sys.argv[1]), mean(sys.argv[2])
print("output mean %.1f, source mean %.1f" % (a, b), file=sys.stderr)
sys.exit(0 if abs((255 - b) - a) < 12 else 1)
PY
check "the job record says which model produced the result" eq "$(field "$q" result_model)" qwen/qwen-image-edit

# --- live progress: the prediction's status, logs and percent reach the
# job's events while it runs, each stored variant is announced, and a
# chatty model stays within the budget of about two events a second
events() { # ID -> the job's events as one JSON array, oldest first
  sql "select coalesce(json_agg(json_build_object('seq', seq, 'at', extract(epoch from at),
       'kind', kind, 'to', to_status, 'attempt', attempt, 'data', data) order by seq), '[]')
       from job_events where job_id='$1'"
}
lg=$(submit qwen/qwen-image-edit '{"room_type":"den","style":"boho","seed":12,"marker":"[[emu:logs]]"}')
ch=$(submit qwen/qwen-image-edit '{"room_type":"den","style":"boho","seed":13,"marker":"[[emu:chatty]]"}')
wait_for 60 "finished $lg $ch"
check "a job whose model logs as it runs succeeds" eq "$(status_of "$lg")/$(status_of "$ch")" succeeded/succeeded
check "the model stage carries Replicate's status and prediction id, and a percent from its tqdm bar" \
  python3 - "$(events "$lg")" "$(field "$lg" result)" <<'PY'
import json, sys
ev, res = json.loads(sys.argv[1]), json.loads(sys.argv[2])
model = [e["data"] for e in ev if e["kind"] == "progress" and e["data"]["stage"] == "model"
         and "provider" in e["data"]]
assert model, ev
assert all(d["provider"] == "replicate" and d["prediction_id"] == res["provider"]["ref"]
           for d in model), model
assert any(d["provider_status"] == "processing" for d in model), model
pcts = [d["provider_percent"] for d in model if "provider_percent" in d]
assert any(0 < p < 100 for p in pcts), pcts
# the job's percent moves through the model's share (10..80) with it
assert all(10 <= d["percent"] <= 80 for d in model if "provider_percent" in d), model
assert pcts == sorted(pcts), pcts
PY
check "the logs events carry the model's lines, each once, in order" python3 - "$(events "$lg")" <<'PY'
import json, re, sys
ev = json.loads(sys.argv[1])
lines = [l for e in ev if e["kind"] == "logs" for l in e["data"]["lines"]]
assert lines and lines[0] == "Using seed: 12", lines
bars = [l for l in lines if re.match(r"^\s*\d+%\|.*\| \d+/20 \[", l)]
assert len(bars) >= 10 and bars[-1].startswith("100%|"), lines
assert len(set(bars)) == len(bars), bars
assert lines[-1] == "Saved output to /tmp/out-0.png", lines
assert all(e["data"]["provider"] == "replicate" for e in ev if e["kind"] == "logs")
PY
check "one output event per stored variant, with the URL the result lists" python3 - \
  "$(events "$lg")" "$(field "$lg" result)" <<'PY'
import json, sys
ev, res = json.loads(sys.argv[1]), json.loads(sys.argv[2])
outs = [e for e in ev if e["kind"] == "output"]
want = {o["variant"]: o for o in res["outputs"]}
assert sorted(e["data"]["variant"] for e in outs) == sorted(want), (outs, want)
for e in outs:
    d, o = e["data"], want[e["data"]["variant"]]
    assert d["url"] == o["url"] and d["width"] == o["width"] and d["bytes"] == o["bytes"], (d, o)
    assert d["content_type"].startswith("image/"), d
done = [e["seq"] for e in ev if e["to"] == "succeeded"]
assert done and all(e["seq"] < done[0] for e in outs), ev
PY
check "a chatty model writes at most about two progress and logs events a second" \
  python3 - "$(events "$ch")" <<'PY'
import json, sys
ev = json.loads(sys.argv[1])
busy = [e for e in ev if e["kind"] == "logs" or
        (e["kind"] == "progress" and e["data"]["stage"] == "model")]
span = busy[-1]["at"] - busy[0]["at"]
lines = [l for e in ev if e["kind"] == "logs" for l in e["data"]["lines"]]
print("%d events in %.1f s, %d lines" % (len(busy), span, len(lines)), file=sys.stderr)
# the budget: 2 a second after a burst of 2, plus the call's last report
# (status and lines) and the stage's own first event
assert span > 5 and len(busy) <= 2 * span + 6, (len(busy), span)
assert any("earlier lines not shown" in l for l in lines), "no event was full"
assert all(len(e["data"]["lines"]) <= 50 for e in ev if e["kind"] == "logs")
assert lines[-1] == "Saved output to /tmp/out-0.png", lines[-3:]
PY
check "easel logs shows the provider's lines, the stage and the outputs" python3 - \
  "$("$EASEL" logs "$lg")" <<'PY'
import re, sys
out = sys.argv[1]
assert re.search(r"logs\s+1\s+replicate\s+\| Using seed: 12", out), out
assert re.search(r"model\s+1\s+\d+%\s+replicate processing", out), out
assert re.search(r"output\s+1\s+\S+\s+file://\S+ \(\d+x\d+, \d+ bytes\)", out), out
PY

# --- faults
r500=$(submit qwen/qwen-image-edit '{"room_type":"den","style":"boho","seed":1,"marker":"[[emu:500once]]"}')
r429=$(submit qwen/qwen-image-edit '{"room_type":"den","style":"boho","seed":2,"marker":"[[emu:429once]]"}')
rto=$(submit qwen/qwen-image-edit '{"room_type":"den","style":"boho","seed":3,"marker":"[[emu:failonce]]"}')
bad=$(submit broken/qwen-template '{}')
nsfw=$(submit qwen/qwen-image-edit '{"room_type":"den","style":"boho","seed":4,"marker":"[[emu:nsfw]]"}')
nokey=$(submit nokey/qwen '{}')
trunc=$(submit qwen/qwen-image-edit '{"room_type":"den","style":"boho","seed":6,"marker":"[[emu:truncateonce]]"}')
slowb=$(submit qwen/qwen-image-edit '{"room_type":"den","style":"boho","seed":7,"marker":"[[emu:slowbody]]"}')
stall=$(submit stall/qwen '{"marker":"[[emu:stallbodyonce]]"}')
wait_for 60 "finished $r500 $r429 $rto $bad $nsfw $nokey $trunc $slowb $stall"
check "a 500 on create is retried and the job succeeds" eq "$(field "$r500" "status||'/'||attempts")" succeeded/2
check "a 429 is retried and the job succeeds" eq "$(field "$r429" "status||'/'||attempts")" succeeded/2
check "the retry after a 429 waited as Retry-After asked" grep -q 'as the server asked' \
  <<<"$(sql "select message from job_events where job_id='$r429'")"
check "a failed prediction is retried" eq "$(field "$rto" "status||'/'||attempts")" succeeded/2
check "the failed attempt's error event comes just before the retrying status, then the retry's events" \
  python3 - "$(events "$rto")" <<'PY'
import json, sys
ev = json.loads(sys.argv[1])
i = next(i for i, e in enumerate(ev) if e["kind"] == "error")
e, nxt = ev[i], ev[i + 1]
assert e["attempt"] == 1 and e["data"] == {"class": "retryable", "reason": "provider_failed",
    "message": e["data"]["message"], "attempt": 1, "will_retry": True}, e
assert "CUDA error" in e["data"]["message"], e
assert nxt["to"] == "retrying" and nxt["kind"] is None, nxt
assert [x for x in ev if x["kind"] == "error"] == [e], ev
PY
check "a permanent failure's error event says no retry, just before the failed status" \
  python3 - "$(events "$bad")" <<'PY'
import json, sys
ev = json.loads(sys.argv[1])
assert ev[-2]["kind"] == "error" and ev[-2]["data"]["will_retry"] is False, ev[-2:]
assert ev[-2]["data"]["class"] == "permanent" and ev[-1]["to"] == "failed", ev[-2:]
PY
check "invalid input (422) fails at once with Replicate's message" eq \
  "$(field "$bad" "status||'/'||attempts||'/'||error_class")" failed/1/permanent
check "the 422 message is Replicate's" grep -q 'Input validation failed.*output_format' <<<"$(field "$bad" error_message)"
check "an NSFW refusal is a permanent content-policy failure" eq \
  "$(field "$nsfw" "status||'/'||error_reason")" failed/content_policy
check "a truncated output download is retried and the job succeeds" eq "$(field "$trunc" "status||'/'||attempts")" succeeded/2
check "the first attempt says the output download failed" grep -q 'downloading the replicate output' \
  <<<"$(sql "select message from job_events where job_id='$trunc'")"
check "an output download that trickles in slowly is waited for" eq "$(field "$slowb" "status||'/'||attempts")" succeeded/1
check "the emulator did trickle it" test "$(emu_stat "$BASE" "body slowbody")" -ge 1
check "an output download that stalls half way ends at the call's deadline and is retried" eq \
  "$(field "$stall" "status||'/'||attempts")" succeeded/2
# the download's deadline is what is left of the attempt's 5 s, so on a
# loaded machine the controller's own timeout may stop the attempt first:
# either way the history must say time ran out
check "the stalled attempt says it timed out" grep -Eq 'timed out|exceeded its timeout' \
  <<<"$(sql "select message from job_events where job_id='$stall'")"
check "a missing API key fails clearly" grep -q 'EASEL_TEST_UNSET_KEY' <<<"$(field "$nokey" error_message)"

# --- output checks: a bad image is retried with a new seed, then falls back
same=$(submit qwen/qwen-image-edit '{"room_type":"den","style":"boho","seed":5,"marker":"[[emu:sameonce]]"}')
blank=$(submit checked/qwen '{"seed":9,"marker":"[[emu:blank]]"}')
square=$(submit checked/qwen '{"seed":11,"marker":"[[emu:squareonce]]"}')
small=$(submit small/qwen '{}')
wait_for 60 "finished $same $blank $square $small"
check "input_size: 512 sends the 1600x1200 source as 512x384 (the output, the edit of it, is that size)" eq \
  "$(field "$small" "status||'/'||(result->'outputs'->0->>'width')||'x'||(result->'outputs'->0->>'height')")" succeeded/512x384
check "the input handed back unchanged is caught and retried, and the retry succeeds" eq \
  "$(field "$same" "status||'/'||attempts")" succeeded/2
check "the first attempt failed the unchanged check" grep -q '(quality_unchanged)' \
  <<<"$(sql "select message from job_events where job_id='$same'")"
check "the retry asked Replicate with a new seed" grep -q 'failed its unchanged check: seed 5 -> ' "$WORK/ctl.log"
check "Replicate saw both seeds" test "$(curl -s "$BASE/_emu/stats" | python3 -c '
import json, sys; print(sum(1 for k in json.load(sys.stdin) if k.startswith("seed ")))')" -ge 2
check "a blank output, then the same blank again, falls back to the next model" eq \
  "$(field "$blank" "status||'/'||attempts||'/'||result_model")" succeeded/3/local/vips-stage
check "the history says blank, then repeated" eq \
  "$(sql "select string_agg(substring(message from '\\((quality_[a-z]+)\\)'), ' ' order by seq) from job_events where job_id='$blank' and to_status='retrying'")" \
  "quality_blank quality_repeat"
check "a square output for a 4:3 input fails checks.aspect, and the retry passes" eq \
  "$(field "$square" "status||'/'||attempts")" succeeded/2
check "the result records the output's perceptual hash" grep -qE '^[0-9a-f]{16}$' <<<"$(field "$square" "result->>'phash'")"

# --- cancel and timeout reach Replicate
before=$(emu_stat "$BASE" cancel)
creates=$(emu_stat "$BASE" create)
c=$(submit qwen/qwen-image-edit '{"room_type":"den","style":"boho","seed":5,"marker":"[[emu:slow]]"}')
# cancel while the create is held by Prefer: wait, the hardest moment:
# the worker learns the prediction's id only when the wait ends
wait_for 30 'test "$(emu_stat "$BASE" create)" -gt "$creates"'
check "cancel of a running Replicate job" "$EASEL" cancel "$c"
wait_for 15 'test "$(emu_stat "$BASE" cancel)" -gt "$before"'
check "the prediction was canceled at Replicate" test "$(emu_stat "$BASE" cancel)" -gt "$before"
t=$(submit short/qwen '{"marker":"[[emu:slow]]"}')
wait_for 30 "finished $t"
check "a prediction past the model's timeout is canceled and the job says so" eq \
  "$(field "$t" "status||'/'||error_reason")" dead/provider_timeout

# --- a provider's output URL is outside input: the SSRF guard judges it
# (the model's own endpoint origin is trusted; nothing else is)
hostile() { # URL -> the id of a job whose prediction answers with it
  curl -sf -X POST "$BASE/_emu/output" -d "{\"url\": \"$1\"}" >/dev/null
  local id; id=$(submit pinned/qwen '{}')
  wait_for 30 "finished $id"
  echo "$id"
}
meta=$(hostile "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
check "an output URL at the cloud metadata address fails at once, permanently" eq \
  "$(field "$meta" "status||'/'||attempts||'/'||error_class||'/'||error_reason")" failed/1/permanent/output_url_blocked
check "the refusal names the address and the rule" grep -q \
  'downloading the replicate output: .* refused by the SSRF guard: 169.254.169.254 is link-local' \
  <<<"$(field "$meta" error_message)"
lo=$(hostile "${BASE/127.0.0.1/localhost}/files/x.png")
check "an output URL at another origin on loopback (localhost, not the endpoint) is refused" eq \
  "$(field "$lo" "status||'/'||error_reason")" failed/output_url_blocked
check "... because it is loopback" grep -q 'is loopback' <<<"$(field "$lo" error_message)"
fileout=$(hostile "file://$SAMPLES/room-1.jpg")
check "an output URL naming a file on the node is refused" eq \
  "$(field "$fileout" "status||'/'||error_reason")" failed/output_url_blocked
check "... with the schemes an output may use" grep -q 'only data:, http(s):// URLs are accepted' \
  <<<"$(field "$fileout" error_message)"
curl -sf -X POST "$BASE/_emu/output" -d '{"url": null}' >/dev/null

# --- the token is never written down
leaks=$(grep -l "$TOKEN" "$WORK"/*.log 2>/dev/null | grep -v emu.log; \
        sql "select count(*) from jobs where result::text like '%$TOKEN%' or coalesce(error_message,'') like '%$TOKEN%' or payload::text like '%$TOKEN%'" | grep -v '^0$'; \
        sql "select count(*) from job_events where coalesce(message,'') like '%$TOKEN%'" | grep -v '^0$')
check "the API token appears in no log, job record or event" eq "$leaks" ""

# --- every request easel sent is one Replicate's API definition allows
check "Replicate's emulator saw only requests its OpenAPI document allows (Prefer, Cancel-After, body, auth)" \
  emu_conformant "$BASE"
finish
