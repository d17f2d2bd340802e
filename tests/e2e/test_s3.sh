#!/usr/bin/env bash
# S3-compatible storage end to end against tests/s3/s3_double.py, which
# checks every SigV4 signature with its own implementation: a job reads its
# source from s3:// and writes its variants to s3://bucket/prefix with
# content types and cache control, and its record holds presigned GET URLs
# that open; presigned URLs expire; a wrong secret is refused; a large
# object goes up in parts (aborted, leaving nothing, when a part fails);
# path-style and virtual-hosted addressing both work.
. "$(dirname "$0")/lib.sh"
setup_services
samples
AK=AKIAEASELTEST0000001; SK=easel/test/SecretKey+0123456789abcdefghij
python3 "$ROOT/tests/s3/s3_double.py" --state-dir "$WORK/s3" --access-key "$AK" --secret-key "$SK" \
  >>"$WORK/s3.log" 2>&1 &
S3_PID=$!
PIDS+=("$S3_PID")
wait_for 10 "test -s '$WORK/s3/port'" || { fail "s3 double start"; exit 1; }
PORT=$(cat "$WORK/s3/port"); S3=http://127.0.0.1:$PORT
export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK EASEL_S3_REGION=eu-west-3
export EASEL_S3_ENDPOINT=$S3 EASEL_S3_PATH_STYLE=true
state() { curl -s "$S3/_s3/state" | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# --- a presigned PUT puts the source in place; the double verifies it
put_url=$("$EASEL" storage presign --method PUT --expires 300 s3://inputs/rooms/room-1.jpg)
check "a presigned PUT is accepted" curl -sf -X PUT -T "$SAMPLES/room-1.jpg" "$put_url" -o /dev/null
check "the object arrived intact" eq "$(state "d['objects']['inputs/rooms/room-1.jpg']['sha256']")" \
  "$(sha256sum "$SAMPLES/room-1.jpg" | cut -d' ' -f1)"

# --- a job from s3:// to s3://
start_controller ctl --concurrency 2 --lease 3s --heartbeat 500ms --storage s3://results/easel \
  || { fail "controller start"; exit 1; }
j=$("$EASEL" submit --input '{"style":"modern","seed":3}' --image s3://inputs/rooms/room-1.jpg)
missing=$("$EASEL" submit --input '{"style":"modern"}' --image s3://inputs/rooms/nope.jpg)
wait_for 60 "finished $j $missing"
check "a job reading s3:// and writing s3:// succeeds" eq "$(status_of "$j")" succeeded
check "a missing source object fails permanently, as not found" eq \
  "$(field "$missing" "status||'/'||error_reason")" failed/source_not_found
for v in normal.jpg hq.webp; do
  check "variant $v is in the bucket under the prefix" eq \
    "$(state "'results/easel/jobs/$j/$v' in d['objects']")" True
done
check "each variant has its content type" eq \
  "$(state "d['objects']['results/easel/jobs/$j/hq.webp']['type']")" image/webp
check "and cache control" eq "$(state "d['objects']['results/easel/jobs/$j/normal.jpg']['cache']")" \
  "public, max-age=31536000, immutable"
url=$(field "$j" "result->'outputs'->0->>'presigned_url'")
check "the record holds a presigned GET URL" grep -q 'X-Amz-Signature=' <<<"$url"
curl -sf "$url" -o "$WORK/got.jpg"
check "which opens, and is the stored JPEG" eq "$(file -b --mime-type "$WORK/got.jpg")" image/jpeg
check "byte for byte" eq "$(test -s "$WORK/got.jpg" && sha256sum <"$WORK/got.jpg" | cut -d' ' -f1)" \
  "$(state "d['objects']['results/easel/jobs/$j/normal.jpg']['sha256']")"
check "the URL is s3:// in the record" eq "$(field "$j" "result->'outputs'->0->>'url'")" \
  "s3://results/easel/jobs/$j/normal.jpg"

# --- an attempt that fails half way through storing removes what it stored
curl -sf -X POST -d '{"put_500_after": 1, "put_500": 20}' "$S3/_s3/faults" >/dev/null
k=$("$EASEL" submit --input '{"style":"modern","seed":4}' --image s3://inputs/rooms/room-1.jpg)
wait_for 60 "finished $k"
curl -sf -X POST -d '{"put_500": 0}' "$S3/_s3/faults" >/dev/null
check "a job whose second variant cannot be stored ends dead-lettered after 3 attempts, as storage_unavailable" eq \
  "$(field "$k" "status||'/'||error_reason||'/'||attempts")" dead/storage_unavailable/3
check "the variant stored before the failure was removed: nothing of the job is left" eq \
  "$(state "[o for o in d['objects'] if '/$k/' in o]")" "[]"
check "the double saw the DeleteObject" test "$(state "d['stats'].get('delete object', 0)")" -ge 1
check "the worker says what it removed" grep -q "removed 1 of the 1 outputs stored before the failure" \
  <<<"$(cat "$WORK"/ctl*.log 2>/dev/null)"

# --- presigned URLs expire, and signatures are checked
short=$("$EASEL" storage presign --expires 1 "s3://results/easel/jobs/$j/normal.jpg")
sleep 2.2
check "an expired presigned URL is refused" eq "$(curl -s -o "$WORK/expired.xml" -w '%{http_code}' "$short")" 403
check "with S3's AccessDenied" grep -q '<Code>AccessDenied</Code>' "$WORK/expired.xml"
bad=$(AWS_SECRET_ACCESS_KEY=wrong-secret "$EASEL" storage presign "s3://results/easel/jobs/$j/normal.jpg")
check "a URL signed with the wrong secret is refused" eq "$(curl -s -o "$WORK/bad.xml" -w '%{http_code}' "$bad")" 403
check "as SignatureDoesNotMatch" grep -q 'SignatureDoesNotMatch' "$WORK/bad.xml"
check "a PUT signed with the wrong secret fails clearly" bash -c \
  "AWS_SECRET_ACCESS_KEY=wrong '$EASEL' storage put '$SAMPLES/room-2.jpg' s3://inputs/x.jpg 2>&1 | grep -q 'HTTP 403 SignatureDoesNotMatch'"

# --- multipart: 12 MB in 5 MiB parts; a failed part aborts the upload
head -c 12000000 /dev/urandom >"$WORK/big.bin"
check "a 12 MB object goes up" env EASEL_S3_PART_SIZE=5MiB "$EASEL" storage put "$WORK/big.bin" s3://inputs/big.bin
check "in three parts" eq "$(state "d['objects']['inputs/big.bin']['parts']")" 3
check "and comes back intact" bash -c "'$EASEL' storage get s3://inputs/big.bin '$WORK/big.out' && cmp -s '$WORK/big.bin' '$WORK/big.out'"
# an UploadId of 600 characters, 1600 bytes URL-encoded: once cut into a
# 700-byte query, so every part named an upload that did not exist
curl -sf -X POST -d '{"upload_id_len": 600}' "$S3/_s3/faults" >/dev/null
check "a multipart upload with a 600-character UploadId goes up whole" env EASEL_S3_PART_SIZE=5MiB \
  "$EASEL" storage put "$WORK/big.bin" s3://inputs/bigid.bin
check "in three parts, under that id" eq "$(state "d['objects']['inputs/bigid.bin']['parts']")" 3
check "and intact" eq "$(state "d['objects']['inputs/bigid.bin']['sha256']")" \
  "$(sha256sum "$WORK/big.bin" | cut -d' ' -f1)"
curl -sf -X POST -d '{"put_500": 1}' "$S3/_s3/faults" >/dev/null
check "a multipart upload whose part fails reports the failure" bash -c \
  "! EASEL_S3_PART_SIZE=5MiB '$EASEL' storage put '$WORK/big.bin' s3://inputs/big2.bin 2>/dev/null"
check "and is aborted: no upload is left open" eq "$(state "d['uploads']")" 0
check "nor a half object" eq "$(state "'inputs/big2.bin' in d['objects']")" False

# --- virtual-hosted addressing: bucket.localhost
check "virtual-hosted PUT and GET work" bash -c \
  "EASEL_S3_PATH_STYLE=false EASEL_S3_ENDPOINT=http://localhost:$PORT '$EASEL' storage put '$SAMPLES/room-2.jpg' s3://vhosted/room-2.jpg >/dev/null &&
   EASEL_S3_PATH_STYLE=false EASEL_S3_ENDPOINT=http://localhost:$PORT '$EASEL' storage get s3://vhosted/room-2.jpg '$WORK/vh.jpg' && cmp -s '$SAMPLES/room-2.jpg' '$WORK/vh.jpg'"
check "the double saw virtual-hosted requests" test "$(state "d['stats'].get('virtual-hosted', 0)")" -ge 2
check "no request failed its signature check, but the two meant to" eq "$(state "d['stats'].get('signature mismatch', 0)")" 2

# --- the double stops with the test: it was left running before
kill -TERM "$S3_PID"
wait_for 10 'gone "$S3_PID"'
check "the S3 double stops on SIGTERM" gone "$S3_PID"
finish
