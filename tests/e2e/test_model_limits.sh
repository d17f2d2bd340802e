#!/usr/bin/env bash
# A model's concurrency and rate limit hold across controller replicas:
# two controllers share one Redis, and neither the number of attempts of a
# model running at once nor the dispatches per interval ever exceed what
# the registry allows, while every job still succeeds.
. "$(dirname "$0")/lib.sh"
setup_services
samples
# the keyless first model of chain/nokey-to-solo points at an OpenAI
# emulator, so the scenario can show it never sends it anything
start_emulator openai sk-limitsTest-1a2b3c || { fail "emulator start"; exit 1; }
OAI=$EMU_URL
sed '/^models:/,$d' "$ROOT/tests/e2e/registry.yaml" >"$WORK/models.yaml"
cat >>"$WORK/models.yaml" <<YAML
models:
  - id: local/vips-stage
    provider: local
  - id: local/limited
    provider: local
    concurrency: 2
    input: {style: "{{style}}", latency_ms: "{{latency_ms}}"}
  - id: local/solo
    provider: local
    concurrency: 1
    input: {style: "{{style}}", latency_ms: "{{latency_ms}}"}
  - id: chain/nokey-to-solo
    provider: openai
    endpoint: $OAI
    credential_env: EASEL_TEST_UNSET_KEY
    input: {prompt: "x"}
    fallback: [local/solo]
  - id: local/rated
    provider: local
    rate_limit: {requests: 3, per: 2s}
    input: {style: "{{style}}"}
YAML
export EASEL_REGISTRY=$WORK/models.yaml
FLAGS=(--concurrency 8 --lease 3s --heartbeat 500ms)
start_controller c1 "${FLAGS[@]}" --controller-id c1 || { fail "start c1"; exit 1; }
start_controller c2 "${FLAGS[@]}" --controller-id c2 || { fail "start c2"; exit 1; }
push_model() { # MODEL N [LATENCY_MS]
  local i
  for i in $(seq 1 "$2"); do
    push "{\"model\":\"$1\",\"payload\":{\"images\":[\"file://$SAMPLES/room-1.jpg\"],\"style\":\"modern\",\"latency_ms\":${3:-0}}}"
  done
}
push_model local/limited 8 1200
push_model local/rated 9
push_model chain/nokey-to-solo 3 1200
wait_for 90 'all_terminal 20'
check "every job succeeded" eq "$(count_jobs "'succeeded'")" 20
check "both controllers dispatched" eq "$(sql "select count(distinct split_part(message, ' by ', 2)) from job_events where to_status='dispatched'")" 2
# the most attempts of local/limited ever running at once, from the record
peak=$(peak_running local/limited)
echo "local/limited peak concurrency: $peak" >&2
check "local/limited never ran more than 2 at once across both controllers" test "$peak" -le 2
check "and did run 2 at once" test "$peak" -eq 2
# The limiter holds when a controller takes the rate token (3 in any 2 s);
# the dispatch is recorded a moment later, after the main loop's other
# work on a loaded machine. Windows of 1.5 s of the recorded times allow
# that delay up to 0.5 s and still catch a fourth dispatch let through.
most=$(most_dispatches local/rated 1.5)
span=$(sql "select extract(epoch from max(e.at) - min(e.at)) from job_events e join jobs j on j.id = e.job_id
  where j.model = 'local/rated' and e.to_status = 'dispatched'")
echo "local/rated: at most $most dispatches in any 1.5 s; 9 dispatches over ${span}s" >&2
check "local/rated never had more than 3 dispatches in 1.5 s across both controllers (limit 3 per 2 s)" test "$most" -le 3
check "its 9 dispatches were spread over at least 4 s" python3 -c "import sys; sys.exit(0 if float('$span') >= 4.0 else 1)"
# local/solo is reached only by failover inside an attempt (the first
# model has no key), so no dispatch gated it: the worker takes its place
gaps=$(sql "select string_agg(round(extract(epoch from g)::numeric, 2)::text, ' ') from (
  select e.at - lag(e.at) over (order by e.at) g from job_events e join jobs j on j.id = e.job_id
  where j.model = 'chain/nokey-to-solo' and e.to_status = 'succeeded') x where g is not null")
echo "chain/nokey-to-solo: seconds between successes: $gaps" >&2
check "the failover model's concurrency of 1 holds: its 1.2 s runs never overlapped" python3 -c "
import sys; g = [float(x) for x in '$gaps'.split()]; sys.exit(0 if len(g) == 2 and min(g) >= 1.1 else 1)"
check "the result says local/solo produced them" eq \
  "$(sql "select count(*) from jobs where model = 'chain/nokey-to-solo' and result_model = 'local/solo'")" 3
check "no concurrency slot is left behind" eq "$(rcli ZCARD easel:jobs:running:local/limited)" 0
check "nor one taken by a worker for a failover model" eq "$(rcli ZCARD easel:jobs:running:local/solo)" 0
check "a model without its key sends the provider nothing (and nothing non-conformant)" eq \
  "$(emu_stat "$OAI" checked)/$(emu_stat "$OAI" violations)" 0/0
finish
