#!/usr/bin/env bash
# The request-conformance checker every provider emulator runs
# (tests/providers/conformance.py) can fail. Requests that break what the
# providers' own API definitions allow, sent with curl, are refused the way
# the real service would refuse them and are reported in /_emu/violations
# under the rule they break. Requests shaped like the ones easel sends pass.
# This keeps the other scenarios' emu_conformant checks from passing
# vacuously.
. "$(dirname "$0")/lib.sh"
TOKEN=emuConformanceToken-42
start_emulator replicate "$TOKEN" --start-ms 50 --run-ms 100 || { fail "replicate emulator"; exit 1; }
REP=$EMU_URL
start_emulator openai "$TOKEN" || { fail "openai emulator"; exit 1; }
OAI=$EMU_URL
start_emulator google "$TOKEN" || { fail "google emulator"; exit 1; }
GOO=$EMU_URL

# small real images, and a data URL of one
python3 - "$WORK" <<'PY'
import base64, os, struct, sys, zlib
def png(w, h):
    rows = b"".join(b"\0" + bytes([(x * 7 + y) % 256 for x in range(w) for _ in range(3)]) for y in range(h))
    def chunk(k, d):
        return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
d = sys.argv[1]
open(d + "/in.png", "wb").write(png(64, 48))
open(d + "/in.gif", "wb").write(b"GIF89a" + b"\0" * 64)
open(d + "/uri", "w").write("data:image/png;base64," + base64.b64encode(png(64, 48)).decode())
# a data URL bigger than the 256 kB Replicate advises (noted, not refused)
open(d + "/big.json", "w").write('{"input": {"prompt": "x", "image": "data:image/png;base64,%s"}}'
                                 % base64.b64encode(os.urandom(300000)).decode())
PY
URI=$(cat "$WORK/uri")

# nviol BASE: how many violations an emulator has recorded; rules BASE
# FROM: the rules of those after the first FROM, one per line. (grep, not
# a JSON parser: a rule is a bare word and json.dumps writes "rule": "x".)
all_rules() { curl -s "$1/_emu/violations" | grep -o '"rule": "[a-z_]*"' | sed 's/.*: "\(.*\)"/\1/'; }
nviol() { all_rules "$1" | wc -l; }
rules() { all_rules "$1" | tail -n +"$(($2 + 1))"; }
# probe WHAT BASE STATUS RULE curl-args...: sends one request; it must be
# answered STATUS and add a violation of RULE ("none": add no violation)
probe() {
  local what=$1 base=$2 want=$3 rule=$4 from code got; shift 4
  from=$(nviol "$base")
  code=$(curl -s -o "$WORK/probe.out" -w '%{http_code}' "$@")
  got=$(rules "$base" "$from" | sort -u | paste -sd' ')
  if [ "$rule" = none ]; then
    check "$what: answered $want, no violation" eq "$code/$got" "$want/"
  else
    check "$what: answered $want, reported as $rule" bash -c \
      '[ "$1" = "$2" ] && grep -qw -- "$3" <<<"$4" || { echo "   got $1 [$4]" >&2; exit 1; }' \
      _ "$code" "$want" "$rule" "$got"
  fi
}
AUTH="Authorization: Bearer $TOKEN"
JSON="Content-Type: application/json"

# --- Replicate (its OpenAPI document)
QWEN=$REP/v1/models/qwen/qwen-image-edit/predictions
body() { echo "{\"input\":{\"image\":\"$URI\",\"prompt\":\"x\"}${1:-}}"; }
probe "replicate: a create like easel's (Prefer: wait=1, Cancel-After: 5s)" "$REP" 201 none \
  -H "$AUTH" -H "$JSON" -H "Accept: application/json" -H "Prefer: wait=1" -H "Cancel-After: 5s" \
  -d "$(body)" "$QWEN"
pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/probe.out")
probe "replicate: a pinned version, Cancel-After 1h30m45s, bare Prefer: wait" "$REP" 201 none \
  -H "$AUTH" -H "$JSON" -H "Prefer: wait" -H "Cancel-After: 1h30m45s" \
  -d "{\"version\":\"$(printf 'a%.0s' $(seq 64))\",\"input\":{\"image\":\"$URI\",\"prompt\":\"x\"}}" "$REP/v1/predictions"
probe "replicate: a poll" "$REP" 200 none -H "$AUTH" "$REP/v1/predictions/$pid"
probe "replicate: a cancel" "$REP" 200 none -H "$AUTH" -X POST "$REP/v1/predictions/$pid/cancel"
probe "replicate: Cancel-After: 3s (below the 5 s minimum)" "$REP" 400 cancel_after \
  -H "$AUTH" -H "$JSON" -H "Cancel-After: 3s" -d "$(body)" "$QWEN"
probe "replicate: Cancel-After: 4 (bare seconds, below the minimum)" "$REP" 400 cancel_after \
  -H "$AUTH" -H "$JSON" -H "Cancel-After: 4" -d "$(body)" "$QWEN"
probe "replicate: Cancel-After: 7.5s (no fractions documented)" "$REP" 400 cancel_after \
  -H "$AUTH" -H "$JSON" -H "Cancel-After: 7.5s" -d "$(body)" "$QWEN"
probe "replicate: Prefer: wait=61 (the pattern allows it, the 1-60 bound does not)" "$REP" 400 prefer \
  -H "$AUTH" -H "$JSON" -H "Prefer: wait=61" -d "$(body)" "$QWEN"
probe "replicate: Prefer: wait=0" "$REP" 400 prefer -H "$AUTH" -H "$JSON" -H "Prefer: wait=0" -d "$(body)" "$QWEN"
probe "replicate: Prefer: wait=5s" "$REP" 400 prefer -H "$AUTH" -H "$JSON" -H "Prefer: wait=5s" -d "$(body)" "$QWEN"
probe "replicate: Authorization: Token (not Bearer)" "$REP" 401 authorization \
  -H "Authorization: Token $TOKEN" -H "$JSON" -d "$(body)" "$QWEN"
probe "replicate: a field the request schema does not have" "$REP" 422 unknown_field \
  -H "$AUTH" -H "$JSON" -d "$(body ',"webhook_url":"https://example.com/h"')" "$QWEN"
probe "replicate: a webhook that is not HTTPS" "$REP" 422 format \
  -H "$AUTH" -H "$JSON" -d "$(body ',"webhook":"http://example.com/h"')" "$QWEN"
probe "replicate: an unknown webhook event" "$REP" 422 enum \
  -H "$AUTH" -H "$JSON" -d "$(body ',"webhook_events_filter":["done"]')" "$QWEN"
probe "replicate: no input" "$REP" 422 required -H "$AUTH" -H "$JSON" -d '{"inputs":{}}' "$QWEN"
probe "replicate: input that is not an object" "$REP" 422 type -H "$AUTH" -H "$JSON" -d '{"input":"x"}' "$QWEN"
probe "replicate: a version in none of the three forms" "$REP" 422 format \
  -H "$AUTH" -H "$JSON" -d '{"version":"v1","input":{}}' "$REP/v1/predictions"
probe "replicate: a data URL whose base64 is broken" "$REP" 422 data_url \
  -H "$AUTH" -H "$JSON" -d '{"input":{"image":"data:image/png;base64,@@@@","prompt":"x"}}' "$QWEN"
probe "replicate: a body that is not JSON" "$REP" 422 json -H "$AUTH" -H "$JSON" -d '{"input":' "$QWEN"
probe "replicate: a form body" "$REP" 422 content_type -H "$AUTH" -d "input=x" "$QWEN"
probe "replicate: a query parameter no operation defines" "$REP" 400 query \
  -H "$AUTH" -H "$JSON" -d "$(body)" "$QWEN?wait=1"
probe "replicate: a path that is no operation" "$REP" 404 operation -H "$AUTH" "$REP/v1/prediction/$pid"
check "replicate: the refusal is Replicate's problem+json, saying what is wrong" python3 -c '
import json, sys; b = json.load(open(sys.argv[1])); assert b["status"] == 404 and "no operation" in b["detail"], b' \
  "$WORK/probe.out"
probe "replicate: a data URL over 256 kB is allowed (only advised against)" "$REP" 201 none \
  -H "$AUTH" -H "$JSON" -d "@$WORK/big.json" "$QWEN"
check "replicate: ... and noted" grep -q 'advises data URLs' <<<"$(curl -s "$REP/_emu/violations")"

# --- OpenAI (createImageEdit, multipart/form-data)
EDIT=$OAI/v1/images/edits
IMG="image[]=@$WORK/in.png;type=image/png"
probe "openai: an edit like easel's (image[], size, quality, jpeg, compression, fidelity)" "$OAI" 200 none \
  -H "$AUTH" -H "Accept: application/json" -F model=gpt-image-1 -F "$IMG" -F prompt=stage -F size=1536x1024 \
  -F quality=high -F output_format=jpeg -F output_compression=90 -F input_fidelity=high "$EDIT"
probe "openai: the field named image, not image[]" "$OAI" 200 none \
  -H "$AUTH" -F model=gpt-image-1 -F "image=@$WORK/in.png;type=image/png" -F prompt=stage "$EDIT"
probe "openai: an unknown size" "$OAI" 400 enum -H "$AUTH" -F model=gpt-image-1 -F "$IMG" -F prompt=x -F size=800x600 "$EDIT"
probe "openai: a dall-e-2 size for gpt-image-1" "$OAI" 400 enum -H "$AUTH" -F model=gpt-image-1 -F "$IMG" -F prompt=x -F size=512x512 "$EDIT"
probe "openai: an unknown quality" "$OAI" 400 enum -H "$AUTH" -F model=gpt-image-1 -F "$IMG" -F prompt=x -F quality=ultra "$EDIT"
probe "openai: an unknown output_format" "$OAI" 400 enum -H "$AUTH" -F model=gpt-image-1 -F "$IMG" -F prompt=x -F output_format=gif "$EDIT"
probe "openai: n=11" "$OAI" 400 range -H "$AUTH" -F model=gpt-image-1 -F "$IMG" -F prompt=x -F n=11 "$EDIT"
probe "openai: n that is not an integer" "$OAI" 400 type -H "$AUTH" -F model=gpt-image-1 -F "$IMG" -F prompt=x -F n=two "$EDIT"
probe "openai: output_compression with png output" "$OAI" 400 model_field \
  -H "$AUTH" -F model=gpt-image-1 -F "$IMG" -F prompt=x -F output_compression=80 "$EDIT"
probe "openai: response_format for a GPT image model" "$OAI" 400 model_field \
  -H "$AUTH" -F model=gpt-image-1 -F "$IMG" -F prompt=x -F response_format=b64_json "$EDIT"
probe "openai: input_fidelity for gpt-image-1-mini" "$OAI" 400 model_field \
  -H "$AUTH" -F model=gpt-image-1-mini -F "$IMG" -F prompt=x -F input_fidelity=high "$EDIT"
probe "openai: the image as a text field" "$OAI" 400 file_part -H "$AUTH" -F model=gpt-image-1 -F 'image[]=abc' -F prompt=x "$EDIT"
probe "openai: a GIF image" "$OAI" 400 file_type -H "$AUTH" -F model=gpt-image-1 -F "image[]=@$WORK/in.gif;type=image/gif" -F prompt=x "$EDIT"
probe "openai: a PNG labelled image/jpeg" "$OAI" 400 file_type -H "$AUTH" -F model=gpt-image-1 -F "image[]=@$WORK/in.png;type=image/jpeg" -F prompt=x "$EDIT"
probe "openai: a non-square image for dall-e-2" "$OAI" 400 file_shape -H "$AUTH" -F model=dall-e-2 -F "image=@$WORK/in.png;type=image/png" -F prompt=x "$EDIT"
probe "openai: a field CreateImageEditRequest does not have" "$OAI" 400 unknown_field \
  -H "$AUTH" -F model=gpt-image-1 -F "$IMG" -F prompt=x -F style=vivid "$EDIT"
probe "openai: prompt twice" "$OAI" 400 repeated -H "$AUTH" -F model=gpt-image-1 -F "$IMG" -F prompt=x -F prompt=y "$EDIT"
probe "openai: no prompt" "$OAI" 400 required -H "$AUTH" -F model=gpt-image-1 -F "$IMG" "$EDIT"
probe "openai: a JSON body without images" "$OAI" 400 required -H "$AUTH" -H "$JSON" -d '{"prompt":"x"}' "$EDIT"
probe "openai: no Authorization" "$OAI" 401 authorization -F model=gpt-image-1 -F "$IMG" -F prompt=x "$EDIT"
check "openai: the refusal is OpenAI's error body" python3 -c '
import json, sys; e = json.load(open(sys.argv[1]))["error"]; assert e["type"] == "invalid_request_error", e' "$WORK/probe.out"

# --- Gemini (generateContent, proto3 JSON) and Imagen (Predict)
GEN=$GOO/v1beta/models/gemini-2.5-flash-image:generateContent
KEY="x-goog-api-key: $TOKEN"
B64=$(base64 -w0 "$WORK/in.png")
part() { echo "{\"inline_data\":{\"mime_type\":\"${2:-image/png}\",\"data\":\"${1:-$B64}\"}}"; }
gen() { echo "{\"contents\":[{\"parts\":[{\"text\":\"restyle\"},${2:-$(part)}]}]${1:-}}"; }
probe "gemini: a request like easel's (inline_data, responseModalities, imageConfig)" "$GOO" 200 none \
  -H "$KEY" -H "$JSON" -d "$(gen ',"generationConfig":{"responseModalities":["TEXT","IMAGE"],"imageConfig":{"aspectRatio":"4:3"}}')" "$GEN"
probe "gemini: camelCase names, a role and safety settings" "$GOO" 200 none -H "$KEY" -H "$JSON" \
  -d "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"x\"},{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"$B64\"}}]}],\"safetySettings\":[{\"category\":\"HARM_CATEGORY_HARASSMENT\",\"threshold\":\"BLOCK_ONLY_HIGH\"}],\"generation_config\":{\"response_modalities\":[\"IMAGE\"],\"temperature\":1}}" "$GEN"
probe "gemini: an unknown modality" "$GOO" 400 enum -H "$KEY" -H "$JSON" \
  -d "$(gen ',"generationConfig":{"responseModalities":["PICTURE"]}')" "$GEN"
probe "gemini: an undocumented aspect ratio" "$GOO" 400 enum -H "$KEY" -H "$JSON" \
  -d "$(gen ',"generationConfig":{"imageConfig":{"aspectRatio":"5:4"}}')" "$GEN"
probe "gemini: a field GenerationConfig does not have" "$GOO" 400 unknown_field -H "$KEY" -H "$JSON" \
  -d "$(gen ',"generationConfig":{"imageSize":"2K"}')" "$GEN"
probe "gemini: one field under both its names" "$GOO" 400 repeated -H "$KEY" -H "$JSON" \
  -d "$(gen ',"generationConfig":{},"generation_config":{}')" "$GEN"
probe "gemini: temperature above 2" "$GOO" 400 range -H "$KEY" -H "$JSON" \
  -d "$(gen ',"generationConfig":{"temperature":2.5}')" "$GEN"
probe "gemini: text and inline_data in one part (a oneof)" "$GOO" 400 oneof -H "$KEY" -H "$JSON" \
  -d "{\"contents\":[{\"parts\":[{\"text\":\"x\",\"inline_data\":{\"mime_type\":\"image/png\",\"data\":\"$B64\"}}]}]}" "$GEN"
probe "gemini: inline data that is not base64" "$GOO" 400 bytes -H "$KEY" -H "$JSON" -d "$(gen '' "$(part '@@not base64@@')")" "$GEN"
probe "gemini: an image/gif blob" "$GOO" 400 mime_type -H "$KEY" -H "$JSON" -d "$(gen '' "$(part "$B64" image/gif)")" "$GEN"
probe "gemini: PNG data labelled image/jpeg" "$GOO" 400 mime_type -H "$KEY" -H "$JSON" -d "$(gen '' "$(part "$B64" image/jpeg)")" "$GEN"
probe "gemini: a role that is neither user nor model" "$GOO" 400 enum -H "$KEY" -H "$JSON" \
  -d '{"contents":[{"role":"system","parts":[{"text":"x"}]}]}' "$GEN"
probe "gemini: two safety settings for one category" "$GOO" 400 repeated -H "$KEY" -H "$JSON" \
  -d "$(gen ',"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"OFF"},{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]')" "$GEN"
probe "gemini: no contents" "$GOO" 400 required -H "$KEY" -H "$JSON" -d '{"generationConfig":{}}' "$GEN"
probe "gemini: a query parameter that is no Google system parameter (api-version)" "$GOO" 400 query \
  -H "$KEY" -H "$JSON" -d "$(gen)" "$GEN?api-version=2024-01-01"
probe "gemini: no API key at all" "$GOO" 401 api_key -H "$JSON" -d "$(gen)" "$GEN"
check "gemini: the refusal is Google's INVALID_ARGUMENT/UNAUTHENTICATED error" python3 -c '
import json, sys; e = json.load(open(sys.argv[1]))["error"]; assert e["status"] == "UNAUTHENTICATED", e' "$WORK/probe.out"
PRED=$GOO/v1/projects/emu/locations/us-central1/publishers/google/models/imagen-3.0-generate-002:predict
probe "imagen: a request like easel's" "$GOO" 200 none -H "$AUTH" -H "$JSON" \
  -d '{"instances":[{"prompt":"a loft"}],"parameters":{"sampleCount":1,"aspectRatio":"16:9"}}' "$PRED"
probe "imagen: sampleCount 9" "$GOO" 400 range -H "$AUTH" -H "$JSON" \
  -d '{"instances":[{"prompt":"a loft"}],"parameters":{"sampleCount":9}}' "$PRED"
probe "imagen: an undocumented aspect ratio" "$GOO" 400 enum -H "$AUTH" -H "$JSON" \
  -d '{"instances":[{"prompt":"a loft"}],"parameters":{"aspectRatio":"2:1"}}' "$PRED"
probe "imagen: an empty prompt" "$GOO" 400 length -H "$AUTH" -H "$JSON" -d '{"instances":[{"prompt":""}]}' "$PRED"
probe "imagen: no instances" "$GOO" 400 required -H "$AUTH" -H "$JSON" -d '{"parameters":{}}' "$PRED"
probe "imagen: an API key instead of an OAuth bearer token" "$GOO" 401 authorization -H "$KEY" -H "$JSON" \
  -d '{"instances":[{"prompt":"a loft"}]}' "$PRED"

# --- what the scenarios assert catches all of it
fails() { ! "$@" 2>/dev/null; }
for b in "$REP" "$OAI" "$GOO"; do
  check "emu_conformant fails on an emulator that saw violations ($b)" fails emu_conformant "$b"
done
curl -sf -X POST "$REP/_emu/reset" >/dev/null
check "a reset clears the record" eq "$(curl -s "$REP/_emu/violations")" '{"checked": 0, "violations": [], "notes": []}'
check "emu_conformant fails when nothing was checked" fails emu_conformant "$REP"
finish
