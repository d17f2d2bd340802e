#!/usr/bin/env bash
# The Helm chart, rendered with Helm's own template engine and functions
# (hack/chart-render.sh): strictly valid objects for the default values and
# for the variants people use, wired to settings easel really has; the HTTP
# API's Service, port, probes and tokens Secret; a render that fails when
# the API would have no tokens; and a tokens file made by the chart that a
# real controller accepts.
. "$(dirname "$0")/lib.sh"
VALIDATE=${EASEL_KUBE_VALIDATE:-$ROOT/hack/kube-validate.sh}
render() { "$ROOT/hack/chart-render.sh" --name easel --namespace imaging "$@" "$ROOT/charts/easel"; }
valid() { "$VALIDATE" - <"$1" | grep -q "^kube-validate: $2 objects, 0 invalid"; }
# The object checks (tests/e2e/kubeq.py) read YAML with Debian's
# python3-yaml; the python3 on PATH may be another one.
PY=/usr/bin/python3
"$PY" -c 'import yaml' 2>/dev/null || "$ROOT/hack/install-deps.sh" python3-yaml >&2
q() { "$PY" "$ROOT/tests/e2e/kubeq.py" "$@"; } # q FILE EXPR (see kubeq.py)
VALUES=()   # every render that should succeed, for the settings check below

# --- the API needs tokens: no values, no render ----------------------------
render >"$WORK/none.yaml" 2>"$WORK/none.err"; rc=$?
check "default values alone fail the render: the API has no tokens (exit 1, a clear message)" \
  bash -c "[ $rc -eq 1 ] && grep -q 'api.enabled needs API tokens: set api.tokens.existingSecret' '$WORK/none.err'"
render --set api.tokens.create=true >/dev/null 2>"$WORK/err.txt"; rc=$?
check "api.tokens.create with an empty list fails the render" \
  bash -c "[ $rc -eq 1 ] && grep -q 'api.tokens.tokens is empty' '$WORK/err.txt'"
render --set api.tokens.create=true --set api.tokens.existingSecret=x >/dev/null 2>"$WORK/err.txt"; rc=$?
check "existingSecret and create together fail the render" \
  bash -c "[ $rc -eq 1 ] && grep -q 'set existingSecret or create, not both' '$WORK/err.txt'"
printf 'api: {tokens: {create: true, tokens: [{name: a, token: short, scopes: [read]}]}}\n' >"$WORK/short.yaml"
render -f "$WORK/short.yaml" >/dev/null 2>"$WORK/err.txt"; rc=$?
check "a token the controller would refuse (under 16 characters) fails the render" \
  bash -c "[ $rc -eq 1 ] && grep -q 'token must be a string of at least 16 characters' '$WORK/err.txt'"
printf 'api: {tokens: {create: true, tokens: [{name: a, token: 0123456789abcdefg, scopes: [read], colour: red}]}}\n' >"$WORK/unknown.yaml"
render -f "$WORK/unknown.yaml" >/dev/null 2>"$WORK/err.txt"; rc=$?
check "an unknown key in a token entry fails the render, named" \
  bash -c "[ $rc -eq 1 ] && grep -q 'unknown key \"colour\"' '$WORK/err.txt'"

# --- an existing Secret (what production uses) -----------------------------
render --set api.tokens.existingSecret=easel-api-tokens >"$WORK/default.yaml" 2>"$WORK/err.txt"
VALUES+=("$WORK/default.yaml")
check "the chart renders with api.tokens.existingSecret" test -s "$WORK/default.yaml"
check "default: 7 strictly valid objects (SA, Role, RoleBinding, ConfigMap, Service, Deployment, HPA)" \
  valid "$WORK/default.yaml" 7
check "no Secret is created for an existing one" eq "$(q "$WORK/default.yaml" 'o("Secret")')" null
check "the controller has a named container port http 8080" eq \
  "$(q "$WORK/default.yaml" 'c["ports"]')" '[{"containerPort":8080,"name":"http","protocol":"TCP"}]'
check "EASEL_HTTP_ADDR listens on every address, on that port" eq "$(q "$WORK/default.yaml" 'env["EASEL_HTTP_ADDR"]')" 0.0.0.0:8080
check "liveness probe: GET /healthz on port http" eq \
  "$(q "$WORK/default.yaml" '[c["livenessProbe"]["httpGet"], c["startupProbe"]["httpGet"]]')" \
  '[{"path":"/healthz","port":"http"},{"path":"/healthz","port":"http"}]'
check "readiness probe: GET /readyz on port http" eq \
  "$(q "$WORK/default.yaml" 'c["readinessProbe"]["httpGet"]')" '{"path":"/readyz","port":"http"}'
check "probe timings: liveness gives up after 30 s, readiness after 10 s, startup allows 60 s" eq \
  "$(q "$WORK/default.yaml" '[p["periodSeconds"] * p["failureThreshold"] for p in (c["livenessProbe"], c["readinessProbe"], c["startupProbe"])]')" \
  '[30,10,60]'
check "EASEL_API_TOKENS_FILE is the file the Secret volume mounts, read-only" eq "$(q "$WORK/default.yaml" '
[m for m in c["volumeMounts"] if m["mountPath"] + "/tokens.yaml" == env["EASEL_API_TOKENS_FILE"] and m.get("readOnly")][0]["name"]')" api-tokens
check "the volume is key tokens.yaml of the Secret easel-api-tokens, readable by the pod's group only" eq "$(q "$WORK/default.yaml" '
[[v["secret"]["secretName"], v["secret"]["items"], oct(v["secret"]["defaultMode"]), pod["securityContext"]["fsGroup"]] for v in pod["volumes"] if v["name"] == "api-tokens"][0]')" \
  '["easel-api-tokens",[{"key":"tokens.yaml","path":"tokens.yaml"}],"0o440",65532]'
check "the limits reach the controller with its defaults" eq "$(q "$WORK/default.yaml" '
[env["EASEL_API_" + k] for k in ("MAX_BODY", "HEADER_TIMEOUT", "BODY_TIMEOUT", "IDLE_TIMEOUT", "MAX_CONNECTIONS", "THREADS")]')" \
  '["1MiB","10s","30s","60s","1024","0"]'
check "the Service: ClusterIP, port 80 named http to the container port http" eq \
  "$(q "$WORK/default.yaml" '[o("Service")["metadata"]["name"], o("Service")["spec"]["type"], o("Service")["spec"]["ports"]]')" \
  '["easel","ClusterIP",[{"name":"http","port":80,"protocol":"TCP","targetPort":"http"}]]'
check "the Service selects every controller replica (the Deployment's own selector, which its pods carry)" eq "$(q "$WORK/default.yaml" '
[(lambda s: [s == dep["spec"]["selector"]["matchLabels"],
             all(dep["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in s.items()),
             s.get("app.kubernetes.io/component")])(o("Service")["spec"]["selector"])][0]')" \
  '[true,true,"controller"]'

render --set api.tokens.existingSecret=easel-api-tokens --set autoscaling.enabled=false --set registry.create=false \
  --set worker.kueueQueue=team-a --set image.tag=1.2.3 >"$WORK/variant.yaml"
VALUES+=("$WORK/variant.yaml")
check "without HPA and registry ConfigMap: 5 valid objects" valid "$WORK/variant.yaml" 5
check "image tag override reaches the controller and its workers" \
  bash -c "grep -c 'ghcr.io/easel-dev/easel:1.2.3' '$WORK/variant.yaml' | grep -qx 2"
check "Kueue queue passed to the controller" grep -q 'EASEL_KUEUE_QUEUE, value: "team-a"' "$WORK/variant.yaml"

# --- the Service's type, port and annotations, the limits -----------------
cat >"$WORK/exposed.yaml" <<'YAML'
api:
  tokens: {existingSecret: team-tokens}
  service:
    type: LoadBalancer
    port: 8443
    nodePort: 30080
    annotations: {service.beta.kubernetes.io/aws-load-balancer-internal: "true"}
  maxBody: 8MiB
  headerTimeout: 5s
  bodyTimeout: 2m
  idleTimeout: 30s
  maxConnections: 4096
  threads: 8
YAML
render -f "$WORK/exposed.yaml" >"$WORK/exposed.out.yaml"
VALUES+=("$WORK/exposed.out.yaml")
check "an exposed API: 7 valid objects" valid "$WORK/exposed.out.yaml" 7
check "service type, port, node port and annotations from values" eq "$(q "$WORK/exposed.out.yaml" '
[(lambda s: [s["spec"]["type"], s["spec"]["ports"][0]["port"], s["spec"]["ports"][0]["nodePort"],
             s["spec"]["ports"][0]["targetPort"], s["metadata"]["annotations"]])(o("Service"))][0]')" \
  '["LoadBalancer",8443,30080,"http",{"service.beta.kubernetes.io/aws-load-balancer-internal":"true"}]'
check "the limits from values reach the controller" eq "$(q "$WORK/exposed.out.yaml" '
[env["EASEL_API_" + k] for k in ("MAX_BODY", "HEADER_TIMEOUT", "BODY_TIMEOUT", "IDLE_TIMEOUT", "MAX_CONNECTIONS", "THREADS")]')" \
  '["8MiB","5s","2m","30s","4096","8"]'
check "the tokens volume names the existing Secret" eq "$(q "$WORK/exposed.out.yaml" '
[v["secret"]["secretName"] for v in pod["volumes"] if v["name"] == "api-tokens"]')" '["team-tokens"]'

# --- tokens the chart creates ----------------------------------------------
web=chart-test-web-token-0123456789
user=chart-test-user-token-9876543210
cat >"$WORK/created.yaml" <<YAML
api:
  tokens:
    create: true
    tokens:
      - {name: web-app, token: $web, scopes: [read, write]}
      - name: user-7
        token_sha256: $(printf %s "$user" | sha256sum | cut -c1-64)
        scopes: [read, write]
        owner: {channel: b2c, id: u-7}
YAML
render -f "$WORK/created.yaml" >"$WORK/created.out.yaml" 2>"$WORK/err.txt"
VALUES+=("$WORK/created.out.yaml")
check "with api.tokens.create: 8 valid objects (a Secret more)" valid "$WORK/created.out.yaml" 8
check "the Secret is <release>-api-tokens, and the pods mount it" eq "$(q "$WORK/created.out.yaml" '
[o("Secret")["metadata"]["name"], [v["secret"]["secretName"] for v in pod["volumes"] if v["name"] == "api-tokens"]]')" \
  '["easel-api-tokens",["easel-api-tokens"]]'
q "$WORK/created.out.yaml" '__import__("base64").b64decode(o("Secret")["data"]["tokens.yaml"]).decode()' >"$WORK/tokens.yaml"
check "its tokens.yaml holds the listed tokens, owner included" "$PY" -c '
import sys, yaml
made, given = (yaml.safe_load(open(f)) for f in sys.argv[1:])
sys.exit(made != {"tokens": given["api"]["tokens"]["tokens"]})' "$WORK/tokens.yaml" "$WORK/created.yaml"
a1=$(q "$WORK/created.out.yaml" 'dep["spec"]["template"]["metadata"]["annotations"].get("checksum/api-tokens")')
sed "s/$web/$web-changed/" "$WORK/created.yaml" >"$WORK/created2.yaml"
render -f "$WORK/created2.yaml" >"$WORK/created2.out.yaml"
a2=$(q "$WORK/created2.out.yaml" 'dep["spec"]["template"]["metadata"]["annotations"].get("checksum/api-tokens")')
check "a changed token list rolls the pods (the controller reads tokens at start)" \
  bash -c "[ -n '$a1' ] && [ '$a1' != null ] && [ -n '$a2' ] && [ '$a1' != '$a2' ]"

# --- the API off ------------------------------------------------------------
render --set api.enabled=false >"$WORK/off.yaml" 2>"$WORK/err.txt"
VALUES+=("$WORK/off.yaml")
check "api.enabled=false renders without tokens: 6 valid objects" valid "$WORK/off.yaml" 6
check "the API off: no Service, no Secret" eq "$(q "$WORK/off.yaml" '[o("Service"), o("Secret")]')" '[null,null]'
check "the API off: --http-addr= (empty), no port, probes, tokens or API settings" eq "$(q "$WORK/off.yaml" '
[c["args"], "ports" in c, "livenessProbe" in c, "readinessProbe" in c, [v["name"] for v in pod["volumes"]], sorted(k for k in env if k.startswith("EASEL_API") or k == "EASEL_HTTP_ADDR")]')" \
  '[["controller","--http-addr="],false,false,false,["tmp"],[]]'

# --- webhooks: the signing secrets from a Secret, as a file the controller re-reads
check "no webhooks.existingSecret: no webhook settings, no secrets volume" eq "$(q "$WORK/default.yaml" '
[sorted(k for k in env if k.startswith("EASEL_WEBHOOK")), [v["name"] for v in pod["volumes"] if v["name"] == "webhook-secrets"]]')" '[[],[]]'
cat >"$WORK/hooks.values.yaml" <<'YAML'
api: {tokens: {existingSecret: easel-api-tokens}}
webhooks:
  existingSecret: easel-webhooks
  allow: [10.0.0.0/8, hooks.internal]
  retrySchedule: 0s,1m
  publicUrl: https://easel.example.com
YAML
render -f "$WORK/hooks.values.yaml" >"$WORK/hooks.yaml" 2>"$WORK/err.txt"
VALUES+=("$WORK/hooks.yaml")
check "webhooks.existingSecret renders valid objects" valid "$WORK/hooks.yaml" 7
check "the webhook secrets: a read-only directory mount of the Secret's key secrets, named by EASEL_WEBHOOK_SECRET_FILE" \
  eq "$(q "$WORK/hooks.yaml" '
[[m["mountPath"] + "/secrets" == env["EASEL_WEBHOOK_SECRET_FILE"] and m.get("readOnly") and "subPath" not in m for m in c["volumeMounts"] if m["name"] == "webhook-secrets"],
 [v["secret"]["secretName"] + ":" + v["secret"]["items"][0]["key"] for v in pod["volumes"] if v["name"] == "webhook-secrets"],
 env["EASEL_WEBHOOK_ALLOW"], env["EASEL_WEBHOOK_RETRY_SCHEDULE"], env["EASEL_WEBHOOK_TIMEOUT"], env["EASEL_PUBLIC_URL"]]')" \
  '[[true],["easel-webhooks:secrets"],"10.0.0.0/8,hooks.internal","0s,1m","10s","https://easel.example.com"]'

# --- every EASEL_* variable the chart sets is a real setting of easel controller
"$EASEL" controller --help >"$WORK/help.txt" 2>&1
bad=""
for v in $(cat "${VALUES[@]}" | grep -o 'name: EASEL_[A-Z_]*' | awk '{print $2}' | sort -u); do
  grep -q -- "$v" "$WORK/help.txt" || bad="$bad $v"
done
check "every EASEL_* variable in the chart is a controller setting${bad:+ (unknown:$bad)}" test -z "$bad"
check "the chart's --http-addr= is a controller flag" grep -q -- '--http-addr' "$WORK/help.txt"

"$PY" - "$WORK/default.yaml" >"$WORK/models.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
start = text.index("  models.yaml: |\n") + len("  models.yaml: |\n")
out = []
for line in text[start:].split("\n"):
    if line and not line.startswith("    "):
        break
    out.append(line[4:])
print("\n".join(out))
PY
check "the chart's registry is a valid registry" "$EASEL" registry validate "$WORK/models.yaml"
check "the chart's registry is the example registry" "$ROOT/hack/gen-manifests.sh" --check

# --- the tokens file the chart made, in a real controller -------------------
# The probes' paths answer without a token; the API answers a token from
# the file, plain or hashed, and keeps the owner-confined one to its lane.
setup_services
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_controller api --http-addr "127.0.0.1:$port" --api-tokens-file "$WORK/tokens.yaml" ||
  { fail "controller with the chart's tokens file"; exit 1; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
base=http://127.0.0.1:$port
check "the controller takes the chart's tokens file; /healthz and /readyz answer 200 without a token" \
  eq "$(code "$base/healthz") $(code "$base/readyz")" "200 200"
check "no token: 401" eq "$(code "$base/v1/queues")" 401
check "the plain token from the chart: 200" eq "$(code -H "Authorization: Bearer $web" "$base/v1/queues")" 200
check "the hashed, owner-confined token: its own jobs 200, the queues 403" eq \
  "$(code -H "Authorization: Bearer $user" "$base/v1/jobs") $(code -H "Authorization: Bearer $user" "$base/v1/queues")" "200 403"
finish
