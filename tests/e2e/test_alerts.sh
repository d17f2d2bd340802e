#!/usr/bin/env bash
# The alert rules and the Grafana dashboard: the rules file passes
# `promtool check rules` and its unit tests (`promtool test rules`, each
# alert firing on what should raise it and quiet otherwise); the chart
# wraps exactly those rules in a PrometheusRule and the dashboard in a
# ConfigMap with the sidecar's label, both off by default. That every
# query names an exported metric is checked by test_metrics.sh against a
# real scrape.
. "$(dirname "$0")/lib.sh"
"$ROOT/hack/install-deps.sh" prometheus >/dev/null 2>&1 ||
  { fail "install Debian's prometheus package"; exit 1; }
PY=/usr/bin/python3
"$PY" -c 'import yaml' 2>/dev/null || "$ROOT/hack/install-deps.sh" python3-yaml >&2
RULES=$ROOT/charts/easel/files/alerts.yaml
DASH=$ROOT/charts/easel/files/dashboard.json
VALIDATE=${EASEL_KUBE_VALIDATE:-$ROOT/hack/kube-validate.sh}

promtool check rules "$RULES" >"$WORK/check.out" 2>&1
check "promtool check rules: 7 rules" grep -q 'SUCCESS: 7 rules found' "$WORK/check.out"
promtool test rules "$ROOT/tests/e2e/alerts_test.yaml" >"$WORK/test.out" 2>&1
check "promtool test rules: every alert's unit tests pass" eq "$?" 0
cat "$WORK/test.out" | grep -v '^ *$' | sed 's/^/   /' | head -20
# the unit tests can fail: a rule with a changed threshold must break them
sed 's/easel_queue_oldest_pending_age_seconds) > 600/easel_queue_oldest_pending_age_seconds) > 6000/' \
  "$RULES" >"$WORK/alerts.yaml"
sed "s|\\.\\./\\.\\./charts/easel/files/alerts.yaml|$WORK/alerts.yaml|" \
  "$ROOT/tests/e2e/alerts_test.yaml" >"$WORK/alerts_test.yaml"
promtool test rules "$WORK/alerts_test.yaml" >"$WORK/test-broken.out" 2>&1
check "and they fail when a threshold changes" bash -c "[ $? -ne 0 ] && grep -q EaselOldestJobTooOld '$WORK/test-broken.out'"
check "every alert has a unit test" eq \
  "$(grep -o 'alert: Easel[A-Za-z]*' "$RULES" | sed 's/alert: //' | sort -u | tr '\n' ' ')" \
  "$(grep -o 'alertname: Easel[A-Za-z]*' "$ROOT/tests/e2e/alerts_test.yaml" | sed 's/alertname: //' | sort -u | tr '\n' ' ')"

render() { "$ROOT/hack/chart-render.sh" --name easel --namespace imaging \
  --set api.tokens.existingSecret=easel-api-tokens "$@" "$ROOT/charts/easel"; }
render >"$WORK/off.yaml" 2>"$WORK/err.txt" || { cat "$WORK/err.txt"; fail "chart render"; }
check "off by default: no PrometheusRule, no dashboard" eq \
  "$(grep -c 'kind: PrometheusRule\|name: easel-dashboard' "$WORK/off.yaml")" 0
render --set monitoring.prometheusRule.enabled=true --set monitoring.prometheusRule.labels.release=prom \
  --set monitoring.dashboard.enabled=true --set monitoring.dashboard.annotations.grafana_folder=easel \
  >"$WORK/on.yaml" 2>"$WORK/err.txt" || { cat "$WORK/err.txt"; fail "chart render with monitoring"; }
cat >"$WORK/monitoring.py" <<'PYEOF'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
ns = sys.argv[4]
rules = yaml.safe_load(open(sys.argv[2]))
dash = json.load(open(sys.argv[3]))
pr = [d for d in docs if d["kind"] == "PrometheusRule"]
cm = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "easel-dashboard"]
ok = True
def need(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok = ok and cond
need(len(pr) == 1 and pr[0]["apiVersion"] == "monitoring.coreos.com/v1", "one PrometheusRule, monitoring.coreos.com/v1")
p = pr[0] if pr else {}
need(p.get("spec") == rules, "its spec is exactly the rules file")
if ns == "imaging":
    need(p.get("metadata", {}).get("labels", {}).get("release") == "prom", "with the operator's selector label")
need(p.get("metadata", {}).get("namespace") == ns, "in namespace " + ns)
# the operator's CRD: spec.groups[] {name, interval?, rules[]}, a rule
# {alert|record, expr, for?, keep_firing_for?, labels?, annotations?}
allowed_group = {"name", "interval", "rules", "partial_response_strategy", "limit"}
allowed_rule = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
shape = all(set(g) <= allowed_group and isinstance(g["name"], str) and
            all(set(r) <= allowed_rule and ("alert" in r) != ("record" in r) and isinstance(r["expr"], str)
                and all(isinstance(v, str) for v in r.get("labels", {}).values())
                and all(isinstance(v, str) for v in r.get("annotations", {}).values())
                for r in g["rules"])
            for g in p.get("spec", {}).get("groups", []))
need(shape, "every group and rule has only the CRD's fields, with string labels and annotations")
need(len(cm) == 1, "one dashboard ConfigMap")
c = cm[0] if cm else {"metadata": {}, "data": {}}
need(c["metadata"].get("labels", {}).get("grafana_dashboard") == "1", "labelled grafana_dashboard: \"1\"")
if ns == "imaging":
    need(c["metadata"].get("annotations", {}).get("grafana_folder") == "easel", "with the folder annotation")
need(json.loads(c["data"].get("easel.json", "null")) == dash, "its easel.json is the dashboard file")
ids = [x["id"] for x in dash["panels"]]
need(len(ids) == len(set(ids)), "panel ids are unique")
need(all(x.get("datasource", {}).get("uid") == "${datasource}" for x in dash["panels"] if x["type"] != "row"),
     "every panel reads the chosen Prometheus data source")
need(all(0 <= x["gridPos"]["x"] and x["gridPos"]["x"] + x["gridPos"]["w"] <= 24 for x in dash["panels"]),
     "every panel fits the 24-column grid")
sys.exit(0 if ok else 1)
PYEOF
"$PY" "$WORK/monitoring.py" "$WORK/on.yaml" "$RULES" "$DASH" imaging >"$WORK/on.out" 2>&1
check "the chart's PrometheusRule and dashboard ConfigMap (see below)" eq "$?" 0
sed 's/^/   /' "$WORK/on.out"
"$PY" "$WORK/monitoring.py" "$ROOT/manifests/monitoring/monitoring.yaml" "$RULES" "$DASH" easel >"$WORK/m.out" 2>&1
check "manifests/monitoring/monitoring.yaml holds the same (see below)" eq "$?" 0
sed 's/^/   /' "$WORK/m.out"
check "and is generated from the chart's files" "$ROOT/hack/gen-manifests.sh" --check
"$PY" -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "ConfigMap"]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))' "$WORK/on.yaml" "$WORK/cms.yaml"
check "the chart's ConfigMaps are strictly valid" bash -c "'$VALIDATE' - <'$WORK/cms.yaml' | grep -q '^kube-validate: 2 objects, 0 invalid'"
"$PY" -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "ConfigMap"]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))' "$ROOT/manifests/monitoring/monitoring.yaml" "$WORK/mcm.yaml"
check "the manifest's ConfigMap is strictly valid" bash -c "'$VALIDATE' - <'$WORK/mcm.yaml' | grep -q '^kube-validate: 1 objects, 0 invalid'"
finish
