#!/usr/bin/env bash
# The shipped manifests: strictly valid against the official schemas,
# generated from the example registry, least-privilege RBAC, and the HTTP
# API wired as the chart wires it (Service, port, probes, tokens Secret);
# the example tokens Secret is refused by a controller until its
# placeholders are replaced, and accepted once they are.
. "$(dirname "$0")/lib.sh"
VALIDATE=${EASEL_KUBE_VALIDATE:-$ROOT/hack/kube-validate.sh}
M=$ROOT/manifests
PY=/usr/bin/python3   # Debian's, with python3-yaml, for tests/e2e/kubeq.py
"$PY" -c 'import yaml' 2>/dev/null || "$ROOT/hack/install-deps.sh" python3-yaml >&2
q() { "$PY" "$ROOT/tests/e2e/kubeq.py" "$@"; } # q FILE... EXPR (see kubeq.py)
valid_file() { "$VALIDATE" "$1" | grep -q '^kube-validate: [1-9][0-9]* objects, 0 invalid$'; }

out=$("$VALIDATE" --skip-unknown-kinds "$M"/*.yaml "$M"/examples/*.yaml 2>&1)
check "every manifest and example passes strict schema validation (all but the two kinds below)" \
  grep -q '^kube-validate: [1-9][0-9]* objects, 0 invalid, 2 skipped' <<<"$out"
check "cert-manager's Certificate passes its schema (hack/schema-check/certificate.schema.json)" \
  "$ROOT/hack/schema-check.sh" --kind Certificate "$ROOT/hack/schema-check/certificate.schema.json" "$M/external-metrics.yaml"
check "the example ServiceMonitor passes its schema (hack/schema-check/servicemonitor.schema.json)" \
  "$ROOT/hack/schema-check.sh" --kind ServiceMonitor "$ROOT/hack/schema-check/servicemonitor.schema.json" "$M/examples/servicemonitor.yaml"
check "manifests/registry.yaml is generated from docs/examples/models.yaml" "$ROOT/hack/gen-manifests.sh" --check
python3 - "$M/registry.yaml" >"$WORK/models.yaml" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
i = lines.index("  models.yaml: |")
print("\n".join(l[4:] for l in lines[i + 1:]))
PY
check "the ConfigMap's models.yaml is a valid registry" "$EASEL" registry validate "$WORK/models.yaml"
check "the controller's Role grants no secrets access" bash -c "! grep -q secrets '$M/rbac.yaml'"
check "the Role has no wildcard" bash -c "! grep -q '\"\\*\"' '$M/rbac.yaml'"

# --- the HTTP API -------------------------------------------------------------
C=$M/controller.yaml
check "the controller has a named container port http 8080 and listens there on every address" eq \
  "$(q "$C" '[c["ports"], env["EASEL_HTTP_ADDR"]]')" '[[{"containerPort":8080,"name":"http","protocol":"TCP"}],"0.0.0.0:8080"]'
check "liveness and startup probes GET /healthz, readiness GET /readyz, on port http" eq \
  "$(q "$C" '[c[p]["httpGet"] for p in ("livenessProbe", "startupProbe", "readinessProbe")]')" \
  '[{"path":"/healthz","port":"http"},{"path":"/healthz","port":"http"},{"path":"/readyz","port":"http"}]'
check "EASEL_API_TOKENS_FILE is key tokens.yaml of the Secret easel-api-tokens, mounted read-only" eq "$(q "$C" '
[[v["secret"]["secretName"], v["secret"]["items"]] for v in pod["volumes"] for m in c["volumeMounts"]
 if v["name"] == m["name"] and m.get("readOnly") and m["mountPath"] + "/" + v["secret"]["items"][0]["path"] == env["EASEL_API_TOKENS_FILE"]]')" \
  '[["easel-api-tokens",[{"key":"tokens.yaml","path":"tokens.yaml"}]]]'
check "the Service: ClusterIP, port 80 named http to the container port http, selecting the controller's pods" eq "$(q "$C" '
[(lambda s: [s["spec"]["type"], s["spec"]["ports"], s["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"],
             all(dep["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in s["spec"]["selector"].items())])(o("Service"))][0]')" \
  '["ClusterIP",[{"name":"http","port":80,"protocol":"TCP","targetPort":"http"}],true,true]'
check "the example Secret is the one the controller mounts" eq \
  "$(q "$M/examples/api-tokens.yaml" '[o("Secret")["metadata"]["name"], o("Secret")["metadata"]["namespace"], list(o("Secret")["stringData"])]')" \
  '["easel-api-tokens","easel",["tokens.yaml"]]'

# the same wiring as the chart's (rendered with the Secret's name given)
"$ROOT/hack/chart-render.sh" --name easel --namespace easel --set api.tokens.existingSecret=easel-api-tokens \
  "$ROOT/charts/easel" >"$WORK/chart.yaml" 2>"$WORK/err.txt"
api='[c["ports"], {p: c[p] for p in ("livenessProbe", "readinessProbe", "startupProbe")},
 {k: v for k, v in env.items() if k.startswith("EASEL_API_TOKENS") or k == "EASEL_HTTP_ADDR"},
 [m for m in c["volumeMounts"] if m["name"] == "api-tokens"], [v for v in pod["volumes"] if v["name"] == "api-tokens"],
 pod["securityContext"], o("Service")["spec"]["ports"], o("Service")["spec"]["type"]]'
check "port, probes, tokens file, volume, security context and Service ports match the chart's" \
  eq "$(q "$C" "$api")" "$(q "$WORK/chart.yaml" "$api")"

# --- the PDB, and the external metrics API as the chart has them ---------------
check "the PDB: at most one controller replica away, selecting the controller's pods" eq "$(q "$C" '
[o("PodDisruptionBudget")["spec"]["maxUnavailable"], o("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]]')" '[1,true]'
# the patch applied as kubectl's strategic merge applies it (lists merged by name)
"$PY" - "$C" "$M/patches/controller-metrics-api.yaml" >"$WORK/patched.yaml" <<'PY'
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
patch = yaml.safe_load(open(sys.argv[2]))
def merge(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        for k, v in b.items():
            a[k] = merge(a.get(k), v) if k in a else v
        return a
    if isinstance(a, list) and isinstance(b, list) and all(isinstance(x, dict) and "name" in x for x in a + b):
        names = {x["name"]: x for x in a}
        for x in b:
            if x["name"] in names:
                merge(names[x["name"]], x)
            else:
                a.append(x)
        return a
    return b
for d in docs:
    if d["kind"] == "Deployment":
        merge(d, patch)
print(yaml.safe_dump_all(docs))
PY
check "the controller patched for the external metrics API is strictly valid" valid_file "$WORK/patched.yaml"
"$ROOT/hack/chart-render.sh" --name easel --namespace easel --set api.tokens.existingSecret=easel-api-tokens \
  --set externalMetrics.enabled=true --set worker.enabled=true --set workerAutoscaling.enabled=true \
  --set externalMetrics.tls.mode=certManager \
  --set externalMetrics.tls.certManager.issuerRef.name=selfsigned --set externalMetrics.tls.certManager.issuerRef.kind=ClusterIssuer \
  "$ROOT/charts/easel" >"$WORK/chart-scale.yaml" 2>"$WORK/err.txt"
em='[{k: v for k, v in env.items() if k.startswith("EASEL_METRICS_API")}, [p for p in c["ports"] if p["name"] == "metrics-api"],
 [m for m in c["volumeMounts"] if m["name"] == "metrics-api-tls"], [v for v in pod["volumes"] if v["name"] == "metrics-api-tls"]]'
check "patched: the settings, port, mount and volume of the external metrics API match the chart's" \
  eq "$(q "$WORK/patched.yaml" "$em")" "$(q "$WORK/chart-scale.yaml" "$em")"
objs='[[d["kind"], d["spec"]] for d in docs if d["kind"] in ("APIService", "Certificate", "HorizontalPodAutoscaler") and d["metadata"]["name"] != dep["metadata"]["name"]] +
 [[d["kind"], d["spec"]] for d in docs if d["kind"] == "Service" and d["metadata"]["name"].endswith("metrics-api")] +
 [[d["kind"], d["metadata"].get("namespace"), d["roleRef"], [s["name"] if s["namespace"] == "kube-system" else "SA" for s in d["subjects"]]] for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding") and d["roleRef"]["name"] != dep["metadata"]["name"]] +
 [[d["kind"], d["rules"]] for d in docs if d["kind"] == "ClusterRole"]'
check "external-metrics.yaml: the APIService, Certificate, Service, RBAC and worker HPA are the chart's" \
  eq "$(q "$WORK/patched.yaml" "$M/external-metrics.yaml" "$objs")" "$(q "$WORK/chart-scale.yaml" "$objs")"
check "the examples' ServiceMonitor and NetworkPolicy select the controller's Service and pods" eq "$(q "$C" "$M/examples/servicemonitor.yaml" "$M/examples/networkpolicy.yaml" '
[o("ServiceMonitor")["spec"]["selector"]["matchLabels"] == o("Service")["metadata"]["labels"], o("NetworkPolicy")["spec"]["podSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]]')" '[true,true]'

"$EASEL" controller --help >"$WORK/help.txt" 2>&1
bad=""
for v in $(grep -o 'name: EASEL_[A-Z_]*' "$C" | awk '{print $2}' | sort -u); do
  grep -q -- "$v" "$WORK/help.txt" || bad="$bad $v"
done
check "every EASEL_* variable in the manifests is a controller setting${bad:+ (unknown:$bad)}" test -z "$bad"

# --- the example's tokens in a real controller ----------------------------
q "$M/examples/api-tokens.yaml" 'o("Secret")["stringData"]["tokens.yaml"]' >"$WORK/example.yaml"
setup_services
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
timeout 30 "$EASEL" controller --http-addr "127.0.0.1:$port" --api-tokens-file "$WORK/example.yaml" \
  >"$WORK/refused.log" 2>&1; rc=$?
check "the example as shipped: the controller refuses to start (placeholder, not a token)" \
  bash -c "[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'token_sha256 must be 64 hex digits' '$WORK/refused.log'"
# each entry's placeholder replaced by the hash of a token made from its name
tok() { printf 'example-%s-token-0123456789' "$1"; }
"$PY" - "$WORK/example.yaml" <<'PY'
import hashlib, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for t in doc["tokens"]:
    t["token_sha256"] = hashlib.sha256(("example-%s-token-0123456789" % t["name"]).encode()).hexdigest()
yaml.safe_dump(doc, open(sys.argv[1], "w"))
PY
start_controller api --http-addr "127.0.0.1:$port" --api-tokens-file "$WORK/example.yaml" ||
  fail "the example with its placeholders replaced starts a controller"
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
queues() { code -H "Authorization: Bearer $(tok "$1")" "http://127.0.0.1:$port/v1/queues"; }
check "with its placeholders replaced it is accepted: probes open, every token known, scopes and owner kept" eq \
  "$(code "http://127.0.0.1:$port/healthz") $(code "http://127.0.0.1:$port/v1/queues") $(queues web-app) $(queues operator) $(queues user-7) $(code -H "Authorization: Bearer $(tok user-7)" "http://127.0.0.1:$port/v1/jobs")" \
  "200 401 200 200 403 200"
finish
