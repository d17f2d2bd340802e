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
check "default: 8 strictly valid objects (SA, Role, RoleBinding, ConfigMap, Service, Deployment, HPA, PDB)" \
  valid "$WORK/default.yaml" 8
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
check "without HPA and registry ConfigMap: 6 valid objects" valid "$WORK/variant.yaml" 6
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
check "an exposed API: 8 valid objects" valid "$WORK/exposed.out.yaml" 8
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
check "with api.tokens.create: 9 valid objects (a Secret more)" valid "$WORK/created.out.yaml" 9
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
check "api.enabled=false renders without tokens: 7 valid objects" valid "$WORK/off.yaml" 7
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
check "webhooks.existingSecret renders valid objects" valid "$WORK/hooks.yaml" 8
check "the webhook secrets: a read-only directory mount of the Secret's key secrets, named by EASEL_WEBHOOK_SECRET_FILE" \
  eq "$(q "$WORK/hooks.yaml" '
[[m["mountPath"] + "/secrets" == env["EASEL_WEBHOOK_SECRET_FILE"] and m.get("readOnly") and "subPath" not in m for m in c["volumeMounts"] if m["name"] == "webhook-secrets"],
 [v["secret"]["secretName"] + ":" + v["secret"]["items"][0]["key"] for v in pod["volumes"] if v["name"] == "webhook-secrets"],
 env["EASEL_WEBHOOK_ALLOW"], env["EASEL_WEBHOOK_RETRY_SCHEDULE"], env["EASEL_WEBHOOK_TIMEOUT"], env["EASEL_PUBLIC_URL"]]')" \
  '[[true],["easel-webhooks:secrets"],"10.0.0.0/8,hooks.internal","0s,1m","10s","https://easel.example.com"]'

# --- values.schema.json: every value typed, unknown keys refused ---------------
SCHEMA=$ROOT/charts/easel/values.schema.json
schema_ok() { "$ROOT/hack/schema-check.sh" "$SCHEMA" "$@" >"$WORK/schema.out" 2>&1; }
check "values.schema.json is a draft-07 schema and the default values pass it" \
  bash -c "'$ROOT/hack/schema-check.sh' '$SCHEMA' '$ROOT/charts/easel/values.yaml' | grep -q '^schema-check: 1 documents, 0 invalid'"
# every values file the scenarios render with, merged over the defaults as Helm merges them
"$PY" - "$ROOT/charts/easel/values.yaml" "$WORK"/short.yaml "$WORK"/unknown.yaml "$WORK"/exposed.yaml \
  "$WORK"/created.yaml "$WORK"/hooks.values.yaml >"$WORK/merged.yaml" <<'PY'
import sys, yaml
def merge(a, b):
    for k, v in b.items():
        a[k] = merge(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
    return a
base = yaml.safe_load(open(sys.argv[1]))
for f in sys.argv[2:]:
    print("---"); print(yaml.safe_dump(merge(yaml.safe_load(open(sys.argv[1])), yaml.safe_load(open(f)))))
PY
check "the values the scenarios use pass the schema" schema_ok "$WORK/merged.yaml"
bad_values() { # DESCRIPTION YAML EXPECTED-MESSAGE-PART
  printf '%s\n' "$2" >"$WORK/bad.values.yaml"
  ! schema_ok "$WORK/bad.values.yaml" && grep -q -- "$3" "$WORK/schema.out"
}
check "a wrong type is refused: controller.concurrency: many" \
  bad_values x 'controller: {concurrency: many}' '/controller/concurrency: must be integer'
check "a misspelt key is refused: controler" bad_values x 'controler: {replicas: 2}' 'must NOT have additional properties (controler)'
check "a value outside its set is refused: externalMetrics.tls.mode" \
  bad_values x 'externalMetrics: {tls: {mode: selfsigned}}' 'must be equal to one of the allowed values'
check "a duration that is not one is refused" bad_values x 'api: {idleTimeout: forever}' '/api/idleTimeout: must match pattern'
check "a queue not in label form is refused" bad_values x 'workerAutoscaling: {queue: "easel:jobs"}' '/workerAutoscaling/queue: must match pattern'

# --- the external metrics API and the worker HPA -------------------------------------
cat >"$WORK/scale.values.yaml" <<'YAML'
api: {tokens: {existingSecret: easel-api-tokens}}
externalMetrics: {enabled: true}
worker: {enabled: true}
workerAutoscaling: {enabled: true, models: [local_vips-stage], backlogPerReplica: 5, maxReplicas: 20}
serviceMonitor: {enabled: true, labels: {release: prometheus}, tokenSecret: {name: easel-metrics-token}}
networkPolicy:
  enabled: true
  apiFrom: [{namespaceSelector: {matchLabels: {team: web}}}]
YAML
check "the scale values pass the schema" schema_ok "$WORK/scale.values.yaml"
render -f "$WORK/scale.values.yaml" >"$WORK/scale.yaml" 2>"$WORK/err.txt"
VALUES+=("$WORK/scale.yaml")
"$VALIDATE" --skip-unknown-kinds - <"$WORK/scale.yaml" >"$WORK/scale.valid" 2>&1
check "external metrics, worker Deployment and HPA, ServiceMonitor, NetworkPolicy: every built-in kind strictly valid (APIService, HPAs, RBAC, PDB, NetworkPolicy)" \
  grep -q '^kube-validate: 18 objects, 0 invalid, 1 skipped' "$WORK/scale.valid"
check "the ServiceMonitor passes its schema (hack/schema-check/servicemonitor.schema.json)" \
  "$ROOT/hack/schema-check.sh" --kind ServiceMonitor "$ROOT/hack/schema-check/servicemonitor.schema.json" "$WORK/scale.yaml"
check "the kinds rendered" eq "$(q "$WORK/scale.yaml" 'kinds')" \
  '["APIService","ClusterRole","ClusterRoleBinding","ConfigMap","Deployment","Deployment","HorizontalPodAutoscaler","HorizontalPodAutoscaler","NetworkPolicy","PodDisruptionBudget","Role","RoleBinding","RoleBinding","Secret","Service","Service","ServiceAccount","ServiceMonitor"]'
one() { echo "[d for d in docs if d[\"kind\"] == \"$1\" and d[\"metadata\"][\"name\"] == \"$2\"][0]"; }
APISVC=$(one APIService v1beta1.external.metrics.k8s.io)
check "the APIService: external.metrics.k8s.io v1beta1 to the Service easel-metrics-api:443, TLS verified (a caBundle, no skip)" eq "$(q "$WORK/scale.yaml" "
[(lambda s: [s['group'], s['version'], s['service'], 'insecureSkipTLSVerify' in s, len(s['caBundle']) > 100, s['groupPriorityMinimum'], s['versionPriority']])($APISVC['spec'])][0]")" \
  '["external.metrics.k8s.io","v1beta1",{"name":"easel-metrics-api","namespace":"imaging","port":443},false,true,100,100]'
check "its Service: 443 to the container port metrics-api, selecting the controller pods" eq "$(q "$WORK/scale.yaml" "
[(lambda s: [s['spec']['ports'], s['spec']['selector'] == dep['spec']['selector']['matchLabels']])($(one Service easel-metrics-api))][0]")" \
  '[[{"name":"https","port":443,"protocol":"TCP","targetPort":"metrics-api"}],true]'
check "the controller: port metrics-api 6443 and the settings that serve it, client CA from the cluster" eq "$(q "$WORK/scale.yaml" '
[[p for p in c["ports"] if p["name"] == "metrics-api"], env["EASEL_METRICS_API_ADDR"], env["EASEL_METRICS_API_CERT"], env["EASEL_METRICS_API_KEY"], env["EASEL_METRICS_API_CLIENT_CA"]]')" \
  '[[{"containerPort":6443,"name":"metrics-api","protocol":"TCP"}],"0.0.0.0:6443","/etc/easel/metrics-api/tls.crt","/etc/easel/metrics-api/tls.key","cluster"]'
check "the certificate volume: the generated Secret, mounted read-only where the settings point" eq "$(q "$WORK/scale.yaml" '
[[v["secret"]["secretName"], [m["mountPath"] for m in c["volumeMounts"] if m["name"] == v["name"] and m.get("readOnly")]] for v in pod["volumes"] if v["name"] == "metrics-api-tls"]')" \
  '[["easel-metrics-api-tls",["/etc/easel/metrics-api"]]]'
# the generated CA in the caBundle signed the Secret's certificate for the Service's DNS name
q "$WORK/scale.yaml" "__import__('base64').b64decode($APISVC['spec']['caBundle']).decode()" >"$WORK/ca.pem"
q "$WORK/scale.yaml" "__import__('base64').b64decode($(one Secret easel-metrics-api-tls)['data']['tls.crt']).decode()" >"$WORK/tls.pem"
check "the caBundle verifies the served certificate for easel-metrics-api.imaging.svc (what the aggregator dials)" \
  openssl verify -CAfile "$WORK/ca.pem" -verify_hostname easel-metrics-api.imaging.svc "$WORK/tls.pem"
check "RBAC: the front-proxy CA reader in kube-system, the HPA controller's read of the one metric, no auth-delegator by default" eq "$(q "$WORK/scale.yaml" '
[[[d["metadata"]["namespace"], d["roleRef"]["name"], d["subjects"]] for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["namespace"] == "kube-system"],
 [d["rules"] for d in docs if d["kind"] == "ClusterRole"],
 [[d["roleRef"]["name"], d["subjects"]] for d in docs if d["kind"] == "ClusterRoleBinding"]]')" \
  '[[["kube-system","extension-apiserver-authentication-reader",[{"kind":"ServiceAccount","name":"easel","namespace":"imaging"}]]],[[{"apiGroups":["external.metrics.k8s.io"],"resources":["easel_queue_backlog"],"verbs":["get","list","watch"]}]],[["easel-external-metrics-reader",[{"kind":"ServiceAccount","name":"horizontal-pod-autoscaler","namespace":"kube-system"}]]]]'
render -f "$WORK/scale.values.yaml" --set externalMetrics.authDelegator=true >"$WORK/delegator.yaml"
check "externalMetrics.authDelegator adds the system:auth-delegator binding" eq "$(q "$WORK/delegator.yaml" '
[d["roleRef"]["name"] for d in docs if d["kind"] == "ClusterRoleBinding"]')" '["easel-external-metrics-reader","system:auth-delegator"]'
check "the worker HPA: autoscaling/v2, the Deployment easel-worker, External easel_queue_backlog by queue and model, AverageValue" eq "$(q "$WORK/scale.yaml" "
[(lambda h: [h['apiVersion'], h['spec']['scaleTargetRef'], h['spec']['minReplicas'], h['spec']['maxReplicas'], h['spec']['metrics']])($(one HorizontalPodAutoscaler easel-worker))][0]")" \
  '["autoscaling/v2",{"apiVersion":"apps/v1","kind":"Deployment","name":"easel-worker"},1,20,[{"external":{"metric":{"name":"easel_queue_backlog","selector":{"matchLabels":{"model":"local_vips-stage","queue":"easel_jobs"}}},"target":{"averageValue":"5","type":"AverageValue"}},"type":"External"}]]'
check "it scales in one pod a minute after 5 minutes of lower backlog" eq "$(q "$WORK/scale.yaml" "$(one HorizontalPodAutoscaler easel-worker)['spec']['behavior']['scaleDown']")" \
  '{"policies":[{"periodSeconds":60,"type":"Pods","value":1}],"stabilizationWindowSeconds":300}'
check "the controller's CPU HPA is unchanged" eq "$(q "$WORK/scale.yaml" "$(one HorizontalPodAutoscaler easel)['spec']")" \
  "$(q "$WORK/default.yaml" 'o("HorizontalPodAutoscaler")["spec"]')"
render -f "$WORK/scale.values.yaml" --set 'workerAutoscaling.models={a,b}' >"$WORK/models2.yaml"
check "several models: a matchExpressions In" eq "$(q "$WORK/models2.yaml" "$(one HorizontalPodAutoscaler easel-worker)['spec']['metrics'][0]['external']['metric']['selector']")" \
  '{"matchExpressions":[{"key":"model","operator":"In","values":["a","b"]}],"matchLabels":{"queue":"easel_jobs"}}'
check "the PDB: at most one controller replica away, selecting the controller pods" eq "$(q "$WORK/scale.yaml" '
[o("PodDisruptionBudget")["spec"]["maxUnavailable"], o("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]]')" '[1,true]'
check "the NetworkPolicy opens the container's ports by name: http from the listed peers, metrics-api from anywhere" eq "$(q "$WORK/scale.yaml" '
[(lambda n: [n["spec"]["podSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"], n["spec"]["policyTypes"], n["spec"]["ingress"],
  all(p["port"] in [cp["name"] for cp in c["ports"]] for r in n["spec"]["ingress"] for p in r["ports"])])(o("NetworkPolicy"))][0]')" \
  '[true,["Ingress"],[{"from":[{"namespaceSelector":{"matchLabels":{"team":"web"}}}],"ports":[{"port":"http","protocol":"TCP"}]},{"ports":[{"port":"metrics-api","protocol":"TCP"}]}],true]'
check "the ServiceMonitor scrapes /metrics on port http of the API Service only, with the token Secret" eq "$(q "$WORK/scale.yaml" '
[(lambda m: [m["metadata"]["labels"]["release"], m["spec"]["endpoints"], m["spec"]["namespaceSelector"],
  [s["metadata"]["name"] for s in docs if s["kind"] == "Service" and all(s["metadata"]["labels"].get(k) == v for k, v in m["spec"]["selector"]["matchLabels"].items())]])(o("ServiceMonitor"))][0]')" \
  '["prometheus",[{"authorization":{"credentials":{"key":"token","name":"easel-metrics-token"},"type":"Bearer"},"interval":"30s","path":"/metrics","port":"http","scheme":"http","scrapeTimeout":"10s"}],{"matchNames":["imaging"]},["easel"]]'
render_fails() { # MESSAGE-PART ARGS...
  local m=$1; shift
  ! render "$@" >/dev/null 2>"$WORK/err.txt" && grep -q -- "$m" "$WORK/err.txt"
}
check "workerAutoscaling without externalMetrics fails the render" \
  render_fails 'workerAutoscaling.enabled needs externalMetrics.enabled' --set api.enabled=false --set workerAutoscaling.enabled=true
check "workerAutoscaling without the worker Deployment fails the render" \
  render_fails 'workerAutoscaling.enabled needs worker.enabled' --set api.enabled=false \
  --set externalMetrics.enabled=true --set workerAutoscaling.enabled=true
check "serviceMonitor without a token Secret fails the render" \
  render_fails 'serviceMonitor.tokenSecret.name' --set api.tokens.existingSecret=t --set serviceMonitor.enabled=true
check "existingSecret without a caBundle fails the render" \
  render_fails 'needs externalMetrics.apiService.caBundle' --set api.enabled=false --set externalMetrics.enabled=true \
  --set externalMetrics.tls.mode=existingSecret --set externalMetrics.tls.existingSecret=my-tls
render --set api.enabled=false --set externalMetrics.enabled=true --set externalMetrics.tls.mode=existingSecret \
  --set externalMetrics.tls.existingSecret=my-tls --set externalMetrics.apiService.caBundle=Q0E= >"$WORK/own.yaml"
VALUES+=("$WORK/own.yaml")
check "existingSecret: its Secret mounted, its caBundle in the APIService, no Secret made" eq "$(q "$WORK/own.yaml" '
[[v["secret"]["secretName"] for v in pod["volumes"] if v["name"] == "metrics-api-tls"], o("APIService")["spec"]["caBundle"], o("Secret")]')" \
  '[["my-tls"],"Q0E=",null]'
check "... strictly valid" valid "$WORK/own.yaml" 12
check "certManager without an issuer fails the render" \
  render_fails 'issuerRef.name' --set api.enabled=false --set externalMetrics.enabled=true --set externalMetrics.tls.mode=certManager
render --set api.enabled=false --set externalMetrics.enabled=true --set externalMetrics.tls.mode=certManager \
  --set externalMetrics.tls.certManager.issuerRef.name=cluster-ca --set externalMetrics.tls.certManager.issuerRef.kind=ClusterIssuer >"$WORK/cm.yaml"
VALUES+=("$WORK/cm.yaml")
check "certManager: a Certificate into the mounted Secret, its CA injected into the APIService" eq "$(q "$WORK/cm.yaml" '
[o("Certificate")["spec"]["secretName"], o("Certificate")["spec"]["dnsNames"], o("Certificate")["spec"]["issuerRef"],
 [v["secret"]["secretName"] for v in pod["volumes"] if v["name"] == "metrics-api-tls"],
 o("APIService")["metadata"]["annotations"], "caBundle" in o("APIService")["spec"]]')" \
  '["easel-metrics-api-tls",["easel-metrics-api","easel-metrics-api.imaging","easel-metrics-api.imaging.svc"],{"group":"cert-manager.io","kind":"ClusterIssuer","name":"cluster-ca"},["easel-metrics-api-tls"],{"cert-manager.io/inject-ca-from":"imaging/easel-metrics-api"},false]'
check "the Certificate passes its schema (hack/schema-check/certificate.schema.json)" \
  "$ROOT/hack/schema-check.sh" --kind Certificate "$ROOT/hack/schema-check/certificate.schema.json" "$WORK/cm.yaml"
"$VALIDATE" --skip-unknown-kinds - <"$WORK/cm.yaml" >"$WORK/cm.valid" 2>&1
check "... and the rest strictly valid" grep -q '^kube-validate: 13 objects, 0 invalid, 1 skipped' "$WORK/cm.valid"
printf 'apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec:\n  selector: {}\n  endpoints: [{port: http, intervall: 30s}]\n' >"$WORK/badsm.yaml"
"$ROOT/hack/schema-check.sh" --kind ServiceMonitor "$ROOT/hack/schema-check/servicemonitor.schema.json" "$WORK/badsm.yaml" >"$WORK/badsm.out" 2>&1
rc=$?
check "the ServiceMonitor schema refuses a misspelt field, by name" \
  bash -c "[ $rc -eq 1 ] && grep -q 'additional properties (intervall)' '$WORK/badsm.out'"
check "the probes stay: startup and liveness /healthz, readiness /readyz" eq \
  "$(q "$WORK/scale.yaml" '[c[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")]')" '["/healthz","/healthz","/readyz"]'

# --- pose.enabled: the controller loads the image's pose models
render --set api.tokens.existingSecret=t --set pose.enabled=true --set pose.model=lite >"$WORK/pose.yaml"
VALUES+=("$WORK/pose.yaml")
check "pose.enabled: the controller gets EASEL_POSE_MODELS (the image's folder) and EASEL_POSE_MODEL" eq "$(q "$WORK/pose.yaml" '
[e["value"] for e in c["env"] if e["name"] in ("EASEL_POSE_MODELS", "EASEL_POSE_MODEL")]')" '["/usr/share/easel/models","lite"]'
check "... strictly valid" valid "$WORK/pose.yaml" 8
check "by default the pose models are not loaded" eq "$(q "$WORK/default.yaml" '
[e["name"] for e in c["env"] if e["name"].startswith("EASEL_POSE")]')" '[]'

# --- every EASEL_* variable the chart sets is a real setting of easel
# controller or, in the worker Deployment, of easel worker
{ "$EASEL" controller --help; "$EASEL" worker --help; } >"$WORK/help.txt" 2>&1
bad=""
for v in $(cat "${VALUES[@]}" | grep -o 'name: EASEL_[A-Z_]*' | awk '{print $2}' | sort -u); do
  grep -q -- "$v" "$WORK/help.txt" || bad="$bad $v"
done
check "every EASEL_* variable in the chart is a controller or worker setting${bad:+ (unknown:$bad)}" test -z "$bad"
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
