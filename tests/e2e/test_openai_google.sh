#!/usr/bin/env bash
# OpenAI image edits, Gemini and Imagen through `easel job`, against their
# emulators (tests/providers) over real HTTP: the happy path of each, and
# each fault class ending where it should: retried (5xx, 429 with
# retry-after-ms or RetryInfo), or failed with the provider's own reason
# (moderation, exhausted quota, a blocked prompt, a safety stop, no image).
# Neither key may appear in any log, job record or event, even when a
# server repeats a wrong key in its error message.
. "$(dirname "$0")/lib.sh"
setup_services
samples
OKEY=sk-emuTest-5b2d8e7f0a1c; GKEY=AIzaEmuTestKey0123456789
start_emulator openai "$OKEY" || { fail "openai emulator"; exit 1; }
OAI=$EMU_URL
start_emulator google "$GKEY" || { fail "google emulator"; exit 1; }
GOO=$EMU_URL
provider_registry "$WORK/models.yaml"
cat >>"$WORK/models.yaml" <<YAML
  - id: openai/gpt-image-1
    provider: openai
    endpoint: $OAI
    version: gpt-image-1
    credential_env: OPENAI_API_KEY
    timeout: 30s
    retry: {max_attempts: 3, initial: 200ms, factor: 2, max: 1s}
    input:
      image[]: "{{images|file}}"
      prompt: "Stage this {{room_type}} in {{style}} style {{marker}}"
      size: 1536x1024
      quality: high
      output_format: jpeg
      output_compression: 90
      input_fidelity: high
  - id: openai/wrong-key
    provider: openai
    endpoint: $OAI
    version: gpt-image-1
    credential_env: OPENAI_WRONG_KEY
    input: {prompt: "x"}
  - id: google/gemini-2.5-flash-image
    provider: gemini
    endpoint: $GOO
    version: gemini-2.5-flash-image
    credential_env: GEMINI_API_KEY
    timeout: 30s
    retry: {max_attempts: 3, initial: 200ms, factor: 2, max: 1s}
    input:
      prompt: "Restyle this {{room_type}} as {{style}} {{marker}}"
      generationConfig: {imageConfig: {aspectRatio: "4:3"}}
  - id: google/gemini-short
    provider: gemini
    endpoint: $GOO
    version: gemini-2.5-flash-image
    credential_env: GEMINI_API_KEY
    timeout: 5s
    retry: {max_attempts: 2, initial: 100ms, factor: 2, max: 200ms}
    input: {prompt: "Restyle this {{room_type}} as {{style}} {{marker}}"}
  - id: google/imagen-3
    provider: imagen
    endpoint: $GOO
    version: projects/emu-project/locations/us-central1/publishers/google/models/imagen-3.0-generate-002
    credential_env: GEMINI_API_KEY
    timeout: 30s
    retry: {max_attempts: 2, initial: 200ms, factor: 2, max: 1s}
    input:
      prompt: "A {{style}} {{room_type}} {{marker}}"
      parameters: {aspectRatio: "16:9"}
  - id: chain/no-key-first
    provider: openai
    endpoint: $OAI
    version: gpt-image-1
    credential_env: OPENAI_KEY_NOT_SET
    input: {prompt: "x"}
    fallback: [google/gemini-2.5-flash-image]
  - id: chain/flaky-first
    provider: openai
    endpoint: $OAI
    version: gpt-image-1
    credential_env: OPENAI_API_KEY
    retry: {max_attempts: 2, initial: 100ms, factor: 2, max: 200ms}
    input: {prompt: "always down [[emu:500]]"}
    fallback: [google/gemini-2.5-flash-image]
  - id: chain/to-local
    provider: openai
    endpoint: $OAI
    version: gpt-image-1
    credential_env: OPENAI_KEY_NOT_SET
    input: {prompt: "x"}
    fallback: [local/vips-stage]
YAML
export EASEL_REGISTRY=$WORK/models.yaml OPENAI_API_KEY=$OKEY GEMINI_API_KEY=$GKEY
export OPENAI_WRONG_KEY=sk-wrongKey-99887766
start_controller ctl --concurrency 4 --lease 3s --heartbeat 500ms || { fail "controller start"; exit 1; }
submit() { "$EASEL" submit --model "$1" --input "$2" --image "file://$SAMPLES/room-2.jpg"; }
fields() { echo "{\"room_type\":\"loft\",\"style\":\"modern\",\"marker\":\"$1\"}"; }

o=$(submit openai/gpt-image-1 "$(fields '')")
g=$(submit google/gemini-2.5-flash-image "$(fields '')")
gs=$(submit google/gemini-2.5-flash-image "$(fields '[[emu:snake]]')")
i=$(submit google/imagen-3 "$(fields '')")
wait_for 60 "finished $o $g $gs $i"
check "gpt-image-1 edits succeed (multipart, b64_json)" eq "$(status_of "$o")" succeeded
check "the OpenAI usage is kept in the result" python3 -c '
import json, sys; r = json.loads(sys.argv[1]); assert r["provider"]["usage"]["total_tokens"] > 0, r' \
  "$(field "$o" result)"
check "gemini-2.5-flash-image succeeds (inlineData)" eq "$(status_of "$g")" succeeded
check "an inline_data (snake_case) answer is accepted too" eq "$(status_of "$gs")" succeeded
check "imagen :predict succeeds" eq "$(status_of "$i")" succeeded
# a synchronous API has no status of its own to report: the model stage
# says the request went out, then that the answer came, with no percent
provider_steps() { # ID -> "provider:status ..." of the model stage's events
  sql "select string_agg((data->>'provider') || ':' || (data->>'provider_status')
       || coalesce(':' || (data->>'provider_percent'), ''), ' ' order by seq)
       from job_events where job_id='$1' and kind='progress' and data ? 'provider'"
}
check "the OpenAI model stage reports requesting, then received" eq "$(provider_steps "$o")" \
  "openai:requesting openai:received"
check "the Gemini and Imagen model stages report requesting, then received" eq \
  "$(provider_steps "$g") / $(provider_steps "$i")" \
  "gemini:requesting gemini:received / imagen:requesting imagen:received"
check "the Gemini output is the edited image at its size" python3 -c '
import json, sys; r = json.loads(sys.argv[1])
assert r["provider"]["name"] == "gemini" and r["outputs"][0]["width"] > 0, r' "$(field "$g" result)"

# --- faults
o500=$(submit openai/gpt-image-1 "$(fields '[[emu:500once]]')")
o429=$(submit openai/gpt-image-1 "$(fields '[[emu:429once]]')")
omod=$(submit openai/gpt-image-1 "$(fields '[[emu:moderation]]')")
oquota=$(submit openai/gpt-image-1 "$(fields '[[emu:quota]]')")
owrong=$(submit openai/wrong-key "$(fields '')")
g429=$(submit google/gemini-2.5-flash-image "$(fields '[[emu:429once]]')")
g503=$(submit google/gemini-2.5-flash-image "$(fields '[[emu:503once]]')")
gblock=$(submit google/gemini-2.5-flash-image "$(fields '[[emu:blocked]]')")
gsafe=$(submit google/gemini-2.5-flash-image "$(fields '[[emu:safety]]')")
gnone=$(submit google/gemini-2.5-flash-image "$(fields '[[emu:noimage]]')")
ifilt=$(submit google/imagen-3 "$(fields '[[emu:filtered]]')")
oslow=$(submit openai/gpt-image-1 "$(fields '[[emu:slowbody]]')")
gstall=$(submit google/gemini-short "$(fields '[[emu:stallbodyonce]]')")
wait_for 90 "finished $o500 $o429 $omod $oquota $owrong $g429 $g503 $gblock $gsafe $gnone $ifilt $oslow $gstall"
check "an openai answer that trickles in slowly is waited for" eq "$(field "$oslow" "status||'/'||attempts")" succeeded/1
check "the openai emulator did trickle it" test "$(emu_stat "$OAI" "body slowbody")" -ge 1
check "a gemini answer that stalls half way ends at the call's deadline and is retried" eq \
  "$(field "$gstall" "status||'/'||attempts")" succeeded/2
# as in test_replicate: on a loaded machine the attempt's own timeout may
# stop it before the download's deadline; either way time ran out
check "the stalled attempt says it timed out" grep -Eq 'timed out|exceeded its timeout' \
  <<<"$(sql "select message from job_events where job_id='$gstall'")"
check "openai 500 is retried and succeeds" eq "$(field "$o500" "status||'/'||attempts")" succeeded/2
check "openai 429 is retried and succeeds" eq "$(field "$o429" "status||'/'||attempts")" succeeded/2
check "the openai retry waited as retry-after-ms asked" grep -q 'as the server asked' \
  <<<"$(sql "select message from job_events where job_id='$o429'")"
check "moderation_blocked is a permanent content-policy failure" eq \
  "$(field "$omod" "status||'/'||attempts||'/'||error_reason")" failed/1/content_policy
check "the moderation message is OpenAI's" grep -q 'rejected by the safety system' <<<"$(field "$omod" error_message)"
check "insufficient_quota (a 429) is permanent" eq \
  "$(field "$oquota" "status||'/'||attempts||'/'||error_reason")" failed/1/quota_exhausted
check "a wrong key is a permanent auth failure" eq "$(field "$owrong" "status||'/'||error_reason")" failed/provider_auth
check "the server's echo of the wrong key was redacted" bash -c \
  "grep -q 'Incorrect API key provided: \[redacted\]' <<<\"\$1\"" _ "$(field "$owrong" error_message)"
check "gemini RESOURCE_EXHAUSTED is retried after its RetryInfo delay" eq "$(field "$g429" "status||'/'||attempts")" succeeded/2
check "the gemini retry waited as asked" grep -q 'as the server asked' \
  <<<"$(sql "select message from job_events where job_id='$g429'")"
check "gemini 503 is retried and succeeds" eq "$(field "$g503" "status||'/'||attempts")" succeeded/2
check "a blocked prompt fails permanently with the block reason" bash -c \
  "[ \"\$1\" = failed/content_policy ] && grep -q PROHIBITED_CONTENT <<<\"\$2\"" _ \
  "$(field "$gblock" "status||'/'||error_reason")" "$(field "$gblock" error_message)"
check "an IMAGE_SAFETY stop fails permanently" bash -c \
  "[ \"\$1\" = failed/content_policy ] && grep -q IMAGE_SAFETY <<<\"\$2\"" _ \
  "$(field "$gsafe" "status||'/'||error_reason")" "$(field "$gsafe" error_message)"
check "an answer with no image fails permanently and quotes the model" bash -c \
  "[ \"\$1\" = failed/no_image ] && grep -q 'did not draw' <<<\"\$2\"" _ \
  "$(field "$gnone" "status||'/'||error_reason")" "$(field "$gnone" error_message)"
check "imagen filtering every sample is a content-policy failure" eq "$(field "$ifilt" "status||'/'||error_reason")" failed/content_policy

# --- failover along the registry's fallback chain
n1=$(submit chain/no-key-first "$(fields '')")
n2=$(submit chain/flaky-first "$(fields '')")
n3=$(submit chain/to-local "$(fields '')")
wait_for 60 "finished $n1 $n2 $n3"
check "a model without its key fails over at once, in the same attempt" eq \
  "$(field "$n1" "status||'/'||attempts||'/'||result_model")" succeeded/1/google/gemini-2.5-flash-image
check "a model whose attempts are spent fails over to the next one" eq \
  "$(field "$n2" "status||'/'||attempts||'/'||result_model")" succeeded/3/google/gemini-2.5-flash-image
check "the failover is in the job's history" grep -q 'failing over to google/gemini-2.5-flash-image' \
  <<<"$(sql "select message from job_events where job_id='$n2'")"
check "the chain may end in local/vips-stage, which needs no key" eq \
  "$(field "$n3" "status||'/'||result_model")" succeeded/local/vips-stage
check "the job's max attempts cover the whole chain" eq "$(field "$n2" max_attempts)" 5

leaks=""
for key in "$OKEY" "$GKEY" "$OPENAI_WRONG_KEY"; do
  leaks+=$(grep -l -- "$key" "$WORK"/ctl.log 2>/dev/null)
  leaks+=$(sql "select count(*) from jobs where result::text like '%$key%' or coalesce(error_message,'') like '%$key%'" | grep -v '^0$')
  leaks+=$(sql "select count(*) from job_events where coalesce(message,'') like '%$key%'" | grep -v '^0$')
done
check "no key appears in any log, job record or event" eq "$leaks" ""

# --- every request easel sent is one the providers' API definitions allow
check "OpenAI's emulator saw only requests createImageEdit allows (multipart fields, enums, files)" \
  emu_conformant "$OAI"
check "Google's emulator saw only requests the generateContent and Predict definitions allow" \
  emu_conformant "$GOO"
finish
