#!/usr/bin/env bash
# The OpenAPI tool (hack/openapi-check.sh) that the API scenarios trust is
# itself checked: docs/openapi.json passes as an OpenAPI 3.1 document and
# lists exactly the server's routes; broken documents are refused; a valid
# response passes, and each kind of mistake (a missing required field, a
# wrong type, an unknown property, a body where none belongs or none where
# one does, a missing required header) and each undocumented answer (path,
# method, status) fails with one line naming the place and the schema.
# Needs no easel binary and no servers.
. "$(dirname "$0")/lib.sh"
CHECK=${EASEL_OPENAPI_CHECK:-$ROOT/hack/openapi-check.sh}
DOC=$ROOT/docs/openapi.json
ID=0b6c5a1e-7d2f-4c1a-9e3b-2f4d6a8c0e11

# run ARGS...: the tool's output in $WORK/out.txt, its exit status in $rc
run() { "$CHECK" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"; rc=$?; }
# response ARGS...: run "response" against docs/openapi.json
response() { run response "$DOC" "$@"; }
# refused WHAT LINE: exit 1, LINE alone, then the summary
refused() {
  check "$1: exit status 1" eq "$rc" 1
  check "$1: one line, '$2'" eq "$(head -n -1 "$WORK/out.txt")" "$2"
  check "$1: summary counts it" eq "$(tail -1 "$WORK/out.txt")" "openapi-check: 1 responses, 1 invalid"
}
# doc_variant NAME PYTHON: docs/openapi.json with d edited, as $WORK/NAME.json
doc_variant() {
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(d, open(sys.argv[3], "w"))' "$DOC" "$2" "$WORK/$1.json"
}

# ------------------------------------------------------------- the document
run doc "$DOC"
check "docs/openapi.json is a valid OpenAPI 3.1 document" eq "$rc/$(cat "$WORK/out.txt")" \
  "0/openapi-check: $DOC: a valid OpenAPI 3.1 document"
run routes "$DOC"
# the route table in pkg/api/routes.c is the truth: every row, and which
# rows need no token (OPEN)
served=$(sed -n 's/^ *{M_\([A-Z]*\), "\([^"]*\)".*/\1 \2/p' "$ROOT/pkg/api/routes.c" | LC_ALL=C sort)
open_paths=$(sed -n 's/^ *{M_[A-Z]*, "\([^"]*\)", OPEN,.*/\1/p' "$ROOT/pkg/api/routes.c" | LC_ALL=C sort -u | paste -sd' ')
check "routes lists exactly the server's route table ($(wc -l <<<"$served") routes)" \
  eq "$(LC_ALL=C sort "$WORK/out.txt")" "$served"
check "only the routes the server opens ($open_paths) need no token" eq "$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["security"], " ".join(sorted(p for p, i in d["paths"].items() for o in i.values() if isinstance(o, dict) and o.get("security") == [])))' "$DOC")" \
  "[{'bearer': []}] $open_paths"

# shellcheck disable=SC2016 # a JSON $ref, not a shell one
doc_variant dangling 'd["paths"]["/v1/jobs/{id}"]["get"]["responses"]["404"] = {"$ref": "#/components/responses/Gone"}'
run doc "$WORK/dangling.json"
check "a \$ref to nothing is refused" eq "$rc/$(head -1 "$WORK/out.txt")" "1/Can't resolve #/components/responses/Gone"
doc_variant v30 'd["openapi"] = "3.0.3"'
run doc "$WORK/v30.json"
check "an OpenAPI 3.0 document is refused" eq "$rc/$(head -1 "$WORK/out.txt")" '1/openapi: must be 3.1.x (got "3.0.3")'
doc_variant noinfo 'del d["info"]'
run doc "$WORK/noinfo.json"
check "a document without info is refused by the official schema" eq "$rc/$(head -1 "$WORK/out.txt")" \
  "1/(document): must have required property 'info' [official schema #/required]"
doc_variant typo 'd["components"]["schemas"]["Job"]["required"].append("stauts")'
run doc "$WORK/typo.json"
check "a required property no schema defines is refused, once" eq "$rc/$(head -n -1 "$WORK/out.txt")" \
  '1/#/components/schemas/Job: strict mode: required property "stauts" is not defined at "urn:easel:openapi#" (strictRequired)'
doc_variant noparam 'd["paths"]["/v1/jobs/{id}/cancel"]["parameters"] = []'
run doc "$WORK/noparam.json"
check "a {param} without its path parameter is refused" eq "$rc/$(head -1 "$WORK/out.txt")" \
  "1/#/paths/~1v1~1jobs~1{id}~1cancel/post: {id} has no path parameter"
run response "$WORK/v30.json" GET /healthz 200 /dev/null
check "responses are not checked against a broken document (exit 2)" eq "$rc" 2
echo '{' >"$WORK/notjson.json"
run doc "$WORK/notjson.json"
check "a file that is not JSON: exit 2" eq "$rc" 2

# ------------------------------------------------------------- responses
cat >"$WORK/job.json" <<JSON
{
  "id": "$ID",
  "status": "succeeded",
  "model": "flux-schnell",
  "result_model": "flux-schnell",
  "type": "tryon",
  "input": {"prompt": "a linen shirt"},
  "images": ["https://cdn.example.com/in/1.png"],
  "owner": "u-42",
  "channel": "b2c",
  "metadata": {"order": "991"},
  "priority": 0,
  "idempotency_key": null,
  "webhook": "https://app.example.com/hooks/easel",
  "webhook_events_filter": ["completed"],
  "attempts": {"count": 1, "max": 3},
  "error": null,
  "progress": null,
  "output": {"variants": [{"name": "main", "format": "webp", "width": 1024, "height": 768, "bytes": 81234, "url": "https://cdn.example.com/out/main.webp"}]},
  "metrics": {"queue_seconds": 0.21, "run_seconds": 3.5, "provider_seconds": null},
  "created_at": "2026-11-28T12:00:00Z",
  "started_at": "2026-11-28T12:00:00.210+00:00",
  "completed_at": "2026-11-28T12:00:03.710Z",
  "run_at": null,
  "urls": {"get": "http://127.0.0.1:8080/v1/jobs/$ID", "cancel": "http://127.0.0.1:8080/v1/jobs/$ID/cancel", "events": "http://127.0.0.1:8080/v1/jobs/$ID/events"}
}
JSON
# variant NAME SED-SCRIPT: the valid Job with one edit, as $WORK/NAME.json
variant() { sed "$2" "$WORK/job.json" >"$WORK/$1.json"; }

response GET "/v1/jobs/$ID" 200 "$WORK/job.json"
check "a valid Job for GET /v1/jobs/{id} 200 passes" eq "$rc/$(cat "$WORK/out.txt")" "0/openapi-check: 1 responses, 0 invalid"
response GET "/v1/jobs/$ID/?fields=all" 200 "$WORK/job.json" "application/json; charset=utf-8"
check "a trailing slash, a query and a charset change nothing" eq "$rc" 0

variant missing '/"attempts"/d'
response GET "/v1/jobs/$ID" 200 "$WORK/missing.json"
refused "a Job without attempts" \
  "GET /v1/jobs/$ID 200: body/attempts: required property is missing [schema #/components/schemas/Job/required]"
variant missing_deep 's/"count": 1, //'
response GET "/v1/jobs/$ID" 200 "$WORK/missing_deep.json"
refused "a Job without attempts.count" \
  "GET /v1/jobs/$ID 200: body/attempts/count: required property is missing [schema #/components/schemas/Job/properties/attempts/required]"
variant wrong_type 's/"priority": 0/"priority": "high"/'
response GET "/v1/jobs/$ID" 200 "$WORK/wrong_type.json"
refused "a string where an integer belongs" \
  "GET /v1/jobs/$ID 200: body/priority: must be integer (got \"high\") [schema #/components/schemas/Job/properties/priority/type]"
variant not_null 's/"model": "flux-schnell"/"model": null/'
response GET "/v1/jobs/$ID" 200 "$WORK/not_null.json"
refused "null where the schema allows none" \
  "GET /v1/jobs/$ID 200: body/model: must be string (got null) [schema #/components/schemas/Job/properties/model/type]"
variant extra 's/"run_at": null,/"run_at": null, "worker": "w-1",/'
response GET "/v1/jobs/$ID" 200 "$WORK/extra.json"
refused "an extra property" \
  "GET /v1/jobs/$ID 200: body/worker: unknown property \"worker\" [schema #/components/schemas/Job/additionalProperties]"
variant extra_deep 's/"bytes": 81234,/"bytes": 81234, "etag": "x",/'
response GET "/v1/jobs/$ID" 200 "$WORK/extra_deep.json"
refused "an extra property in an output variant" \
  "GET /v1/jobs/$ID 200: body/output/variants/0/etag: unknown property \"etag\" [schema #/components/schemas/Variant/additionalProperties]"
variant enum 's/"status": "succeeded"/"status": "done"/'
response GET "/v1/jobs/$ID" 200 "$WORK/enum.json"
refused "a status outside the enum" \
  "GET /v1/jobs/$ID 200: body/status: must be one of \"queued\", \"dispatched\", \"running\", \"retrying\", \"succeeded\", \"failed\", \"dead\", \"canceled\" (got \"done\") [schema #/components/schemas/JobStatus/enum]"
variant date 's/"created_at": "2026-11-28T12:00:00Z"/"created_at": "yesterday"/'
response GET "/v1/jobs/$ID" 200 "$WORK/date.json"
refused "a created_at that is no date-time" \
  "GET /v1/jobs/$ID 200: body/created_at: must match format \"date-time\" (got \"yesterday\") [schema #/components/schemas/Timestamp/format]"
printf '{"id": "%s", ' "$ID" >"$WORK/truncated.json"
response GET "/v1/jobs/$ID" 200 "$WORK/truncated.json"
check "a body that is not JSON is refused" bash -c "[ $rc -eq 1 ] && grep -q '200: the body is not JSON: ' '$WORK/out.txt'"

response GET "/v1/jobs/$ID" 418 "$WORK/job.json"
refused "an undocumented status" "GET /v1/jobs/$ID 418: not documented: GET /v1/jobs/{id} has no response 418"
response GET "/v2/jobs/$ID" 200 "$WORK/job.json"
refused "an undocumented path" "GET /v2/jobs/$ID 200: not documented: no path matches /v2/jobs/$ID"
response PATCH "/v1/jobs/$ID" 200 "$WORK/job.json"
refused "an undocumented method" "PATCH /v1/jobs/$ID 200: not documented: PATCH is not an operation of /v1/jobs/{id}"
response GET "/v1/jobs/$ID/cancel" 200 "$WORK/job.json"
refused "a GET on a POST-only path" "GET /v1/jobs/$ID/cancel 200: not documented: GET is not an operation of /v1/jobs/{id}/cancel"

# the one error shape
echo '{"error": {"code": "not_found", "message": "no job 0b6c"}}' >"$WORK/err.json"
response GET "/v1/jobs/$ID" 404 "$WORK/err.json"
check "an Error body for GET /v1/jobs/{id} 404 passes" eq "$rc" 0
echo '{"error": {"code": "not_found", "message": "no job", "job": "x"}}' >"$WORK/err_extra.json"
response GET "/v1/jobs/$ID" 404 "$WORK/err_extra.json"
refused "an Error with an extra property" \
  "GET /v1/jobs/$ID 404: body/error/job: unknown property \"job\" [schema #/components/schemas/Error/properties/error/additionalProperties]"
response GET "/v1/jobs/$ID" 404 "$WORK/job.json"
check "a Job is no Error" bash -c "[ $rc -eq 1 ] && grep -q '404: body/error: must be object (got null) \[schema #/components/schemas/Error/properties/error/type\]' '$WORK/out.txt'"

# bodies and no bodies
: >"$WORK/empty"
response DELETE /v1/dead/rej-7 204 "$WORK/empty"
check "DELETE /v1/dead/{id} 204 with no body passes" eq "$rc" 0
response DELETE /v1/dead/rej-7 204 "$WORK/err.json"
refused "a 204 with a body" \
  "DELETE /v1/dead/rej-7 204: a body of $(wc -c <"$WORK/err.json") bytes, but the response declares no content [#/paths/~1v1~1dead~1{id}/delete/responses/204]"
response GET "/v1/jobs/$ID" 200 "$WORK/empty"
refused "a 200 without its body" \
  "GET /v1/jobs/$ID 200: empty body, but the response declares application/json [#/components/responses/Job/content]"
response GET "/v1/jobs/$ID" 200 "$WORK/job.json" text/html
refused "a content type the response does not declare" \
  "GET /v1/jobs/$ID 200: content type text/html is not one of application/json [#/components/responses/Job/content]"

# headers, from what curl -D writes
printf 'HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\r\n' >"$WORK/h503"
printf 'HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\r\n' >"$WORK/h503_bare"
echo '{"error": {"code": "unavailable", "message": "postgres is unavailable: connection refused"}}' >"$WORK/e503.json"
response GET /v1/queues 503 "$WORK/e503.json" - "$WORK/h503"
check "a 503 with Retry-After passes" eq "$rc" 0
response GET /v1/queues 503 "$WORK/e503.json" - "$WORK/h503_bare"
refused "a 503 without Retry-After" "GET /v1/queues 503: header Retry-After is missing [#/components/headers/RetryAfter]"
printf 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Type: text/plain\r\n\r\n' >"$WORK/h201"
response POST /v1/jobs 201 "$WORK/job.json" - "$WORK/h201"
refused "the content type is taken from the last header block" \
  "POST /v1/jobs 201: content type text/plain is not one of application/json [#/paths/~1v1~1jobs/post/responses/201/content]"

# what the server answers outside the document
printf 'HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\nallow: GET\r\n\r\n' >"$WORK/h405"
echo '{"error": {"code": "method_not_allowed", "message": "PUT is not allowed on /v1/models (allowed: GET)"}}' >"$WORK/e405.json"
run response --unrouted "$DOC" PUT /v1/models 405 "$WORK/e405.json" - "$WORK/h405"
check "--unrouted: a 405 with Allow passes" eq "$rc" 0
grep -iv '^allow:' "$WORK/h405" >"$WORK/h405_bare"
run response --unrouted "$DOC" PUT /v1/models 405 "$WORK/e405.json" - "$WORK/h405_bare"
check "--unrouted: a 405 without Allow is refused" eq "$rc/$(head -1 "$WORK/out.txt")" \
  "1/PUT /v1/models 405: header Allow is missing [#/components/headers/Allow]"
run response --unrouted "$DOC" GET /v2 404 "$WORK/err.json"
check "--unrouted: a 404 for an unknown path passes" eq "$rc" 0
run response --unrouted "$DOC" GET /v2 200 "$WORK/err.json"
check "--unrouted: a 200 for an unknown path is still refused" eq "$rc" 1

# ------------------------------------------------------------- batch mode
cat >"$WORK/models.json" <<'JSON'
{"default": "flux-schnell", "presets": ["fast"], "models": [
 {"id": "flux-schnell", "provider": "replicate", "endpoint": null, "version": "f2ab", "timeout_seconds": 90,
  "max_attempts": 3, "fallbacks": ["local"], "preset": "fast", "concurrency": null, "credential_env": "REPLICATE_API_TOKEN"}]}
JSON
sed 's/"credential_env": "REPLICATE_API_TOKEN"/"api_key": "r8_x"/' "$WORK/models.json" >"$WORK/models_key.json"
cat >"$WORK/events.json" <<'JSON'
{"items": [{"seq": 1, "at": "2026-11-28T12:00:00Z", "from": null, "to": "queued", "attempt": 0, "reason": null, "message": null, "kind": "status", "data": null},
 {"seq": 2, "at": "2026-11-28T12:00:00.2Z", "from": "queued", "to": "running", "attempt": 1, "reason": null, "message": null, "kind": "status", "data": null},
 {"seq": 3, "at": "2026-11-28T12:00:00.3Z", "from": null, "to": null, "attempt": 1, "reason": "Progress", "message": "fetching the sources", "kind": "progress", "data": {"stage": "fetching", "percent": 0}}]}
JSON
echo '{"items": [{"id": null, "reason": "bad_json", "error": "not JSON", "at": null, "entry": "{oops"}]}' >"$WORK/dead.json"
echo '{"items": [], "next_cursor": null}' >"$WORK/list.json"
echo '{"status": "not_ready", "checks": {"redis": "ok", "postgres": "connection refused", "registry": "ok"}}' >"$WORK/notready.json"
{
  echo "# captured responses"
  for i in $(seq 1 100); do echo "GET /v1/jobs/job-$i 200 $WORK/job.json application/json"; done
  echo
  echo "GET /v1/models 200 $WORK/models.json"
  echo "GET /v1/jobs/$ID/events 200 $WORK/events.json"
  echo "GET /v1/dead 200 $WORK/dead.json"
  echo "GET /v1/jobs?status=queued&limit=5 200 $WORK/list.json"
  echo "GET /readyz 503 $WORK/notready.json"
  echo "GET /openapi.json 200 $DOC - $WORK/h503"
  echo "GET /v1/models 200 $WORK/models_key.json"
  echo "GET /readyz 200 $WORK/notready.json"
} >"$WORK/batch.txt"
run batch "$DOC" <"$WORK/batch.txt"
check "batch: 108 responses, the last three wrong" eq "$rc/$(tail -1 "$WORK/out.txt")" "1/openapi-check: 108 responses, 3 invalid"
check "batch: a model carrying a credential is refused, by line" grep -qF \
  'line 109: GET /v1/models 200: body/models/0/api_key: property name not allowed [schema #/components/schemas/Model/propertyNames]' "$WORK/out.txt"
check "batch: a not_ready body is no 200 of /readyz" grep -qF \
  'line 110: GET /readyz 200: body/status: must be equal to constant (got "not_ready")' "$WORK/out.txt"
check "batch: the headers file's status must be the line's" grep -qF \
  'line 108: GET /openapi.json 200: the headers say status 503' "$WORK/out.txt"
check "batch: nothing else is reported" eq "$(grep -c "^line " "$WORK/out.txt")" 3
run batch "$DOC" <<<"GET /v1/jobs 200"
check "batch: a short line is bad usage (exit 2)" eq "$rc" 2
run response "$DOC" GET /healthz 200 "$WORK/does-not-exist.json"
check "an unreadable body file is exit 2" eq "$rc" 2
finish
