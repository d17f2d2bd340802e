#!/usr/bin/env bash
# The warm pool's Deployment, in the chart and in manifests/: strictly
# valid; off by default (existing installs render as before); its pods are
# selected by neither the controller's Deployment nor its Service; the
# drain timeout and terminationGracePeriodSeconds come from the longest
# timeout of a pool model in the registry the chart renders, so a
# scale-in or a rollout never kills a running job; probes on the health
# port; and a real `easel worker` accepts the environment the pod gets.
. "$(dirname "$0")/lib.sh"
VALIDATE=${EASEL_KUBE_VALIDATE:-$ROOT/hack/kube-validate.sh}
render() { "$ROOT/hack/chart-render.sh" --name easel --namespace imaging --set api.tokens.existingSecret=t "$@" "$ROOT/charts/easel"; }
PY=/usr/bin/python3
"$PY" -c 'import yaml' 2>/dev/null || "$ROOT/hack/install-deps.sh" python3-yaml >&2
# w FILE EXPR: EXPR over the worker Deployment (dep, pod, c, env) and docs
w() {
  "$PY" - "$@" <<'PY'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
ws = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["labels"].get("app.kubernetes.io/component") == "worker"]
scope = {"docs": docs, "n": len(ws)}
if ws:
    dep = ws[0]; pod = dep["spec"]["template"]["spec"]; c = pod["containers"][0]
    scope.update(dep=dep, pod=pod, c=c, env={e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])})
v = eval(sys.argv[2], scope)
print(v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), sort_keys=True))
PY
}

render >"$WORK/off.yaml" 2>&1
check "off by default: no worker Deployment" eq "$(w "$WORK/off.yaml" n)" 0

cat >"$WORK/values.yaml" <<'YAML'
worker: {enabled: true, replicas: 3, concurrency: 12}
registry:
  models: |
    version: 1
    default_model: a
    models:
      - {id: a, provider: local, timeout: 600s}
      - {id: b, provider: local, executor: pool, timeout: 4m}
      - {id: c, provider: local, executor: pool, timeout: 1.5m}
      - {id: d, provider: noop, executor: pool}
YAML
render -f "$WORK/values.yaml" >"$WORK/on.yaml" 2>"$WORK/on.err"
check "worker.enabled renders" test -s "$WORK/on.yaml"
check "every object is strictly valid" sh -c "'$VALIDATE' - <'$WORK/on.yaml' 2>&1 | grep -q '^kube-validate: [0-9]* objects, 0 invalid'"
check "one worker Deployment named <fullname>-worker, 3 replicas" eq "$(w "$WORK/on.yaml" '[n, dep["metadata"]["name"], dep["spec"]["replicas"]]')" '[1,"easel-worker",3]'
check "it runs easel worker at the configured concurrency" eq "$(w "$WORK/on.yaml" '[c["args"], env["EASEL_CONCURRENCY"]]')" '[["worker"],"12"]'
check "drain = longest pool timeout (4m, not the 600s pod model) + 10s" eq "$(w "$WORK/on.yaml" 'env["EASEL_DRAIN_TIMEOUT"]')" 250s
check "terminationGracePeriodSeconds = drain + 20s" eq "$(w "$WORK/on.yaml" 'pod["terminationGracePeriodSeconds"]')" 270
check "the grace period outlasts every pool model's timeout" test "$(w "$WORK/on.yaml" 'pod["terminationGracePeriodSeconds"]')" -gt 240
check "the controller's Deployment and Service select no worker pod" eq "$(w "$WORK/on.yaml" '
[all(not all(dep["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())
     for sel in [d["spec"]["selector"]["matchLabels"] if d["kind"] == "Deployment" else d["spec"]["selector"]
                 for d in docs if d["kind"] in ("Deployment", "Service") and d is not dep])]')" '[true]'
check "probes: /healthz and /readyz on the named port health, which the listener opens" eq "$(w "$WORK/on.yaml" '
[c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"], c["ports"][0]["containerPort"], env["EASEL_HEALTH_ADDR"]]')" \
  '[{"path":"/healthz","port":"health"},{"path":"/readyz","port":"health"},9465,"0.0.0.0:9465"]'
check "the registry ConfigMap is mounted where EASEL_REGISTRY points" eq "$(w "$WORK/on.yaml" '
[m["mountPath"] + "/" + v["configMap"]["items"][0]["path"] == env["EASEL_REGISTRY"] and v["configMap"]["name"] == [d for d in docs if d["kind"] == "ConfigMap"][0]["metadata"]["name"]
 for m in c["volumeMounts"] for v in pod["volumes"] if m["name"] == v["name"] == "registry"]')" '[true]'
render -f "$WORK/values.yaml" --set worker.longestTimeout=900 >"$WORK/over.yaml" 2>&1
check "worker.longestTimeout overrides the registry" eq "$(w "$WORK/over.yaml" '[env["EASEL_DRAIN_TIMEOUT"], pod["terminationGracePeriodSeconds"]]')" '["910s",930]'
render --set worker.enabled=true --set registry.create=false >/dev/null 2>"$WORK/err.txt"; rc=$?
check "a registry the chart does not render needs worker.longestTimeout" \
  bash -c "[ $rc -ne 0 ] && grep -q 'needs worker.longestTimeout' '$WORK/err.txt'"
printf 'worker: {enabled: true}\nregistry:\n  models: |\n    models:\n      - {id: x, provider: local, executor: pool, timeout: 1m30s}\n' >"$WORK/odd.yaml"
render -f "$WORK/odd.yaml" >/dev/null 2>"$WORK/err.txt"; rc=$?
check "a timeout the chart cannot read fails the render, named" \
  bash -c "[ $rc -ne 0 ] && grep -q 'model x: timeout \"1m30s\"' '$WORK/err.txt'"

# the variables the pod sets are settings easel worker has
setup_services
env_of() { "$PY" - "$1" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "Deployment" and d["metadata"]["labels"].get("app.kubernetes.io/component") == "worker":
        for e in d["spec"]["template"]["spec"]["containers"][0]["env"]:
            if "value" in e: print("%s=%s" % (e["name"], e["value"]))
PY
}
for f in "$WORK/on.yaml" "$ROOT/manifests/worker.yaml"; do
  env_of "$f" >"$WORK/env"
  # the pod's values, with this machine's servers, registry and storage
  (set -a; . "$WORK/env"; EASEL_HEALTH_ADDR=127.0.0.1:0 EASEL_REGISTRY= EASEL_STORAGE=file://$WORK/results \
    EASEL_WORKER_ID=chart-check timeout 3 "$EASEL" worker >"$WORK/wenv.log" 2>&1); rc=$?
  check "easel worker starts with the environment of $(basename "$f") (stopped by timeout: 124)" \
    bash -c "[ $rc -eq 124 ] && grep -q 'worker started' '$WORK/wenv.log'"
done

M=$ROOT/manifests/worker.yaml
check "manifests/worker.yaml is strictly valid" sh -c "'$VALIDATE' '$M' 2>&1 | grep -q '^kube-validate: 1 objects, 0 invalid'"
check "manifests/worker.yaml: grace above the drain above the default model timeout" eq \
  "$(w "$M" '[env["EASEL_DRAIN_TIMEOUT"], pod["terminationGracePeriodSeconds"]]')" '["130s",150]'
check "manifests/worker.yaml reads the controller's registry ConfigMap" eq \
  "$(w "$M" '[v["configMap"]["name"] for v in pod["volumes"] if v["name"] == "registry"]')" '["easel-models"]'
finish
