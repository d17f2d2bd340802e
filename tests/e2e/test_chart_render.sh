#!/usr/bin/env bash
# The chart renderer (hack/chart-render.sh) that test_chart.sh trusts to
# stand in for `helm template` is itself checked on a chart made for it
# (tests/e2e/charts/probe): Helm's functions, how values are layered and
# typed, what is and is not rendered, the output's order and headers, and
# failures that stop the render. Needs no easel binary and no servers.
. "$(dirname "$0")/lib.sh"
CHART=$ROOT/tests/e2e/charts/probe
render() { "$ROOT/hack/chart-render.sh" "$@" "$CHART"; }
# fact KEY: the value of KEY in the facts ConfigMap of $WORK/out.yaml
fact() { sed -n "s/^  $1: //p" "$WORK/out.yaml"; }

printf 'nested: {over: fromfile}\nname: from-file\n' >"$WORK/over.yaml"
render --name rel --namespace ns -f "$WORK/over.yaml" --set n=42,b=true,s=0123 \
  --set 'l={a,b\,c}' --set 'arr[1]=x' --set 'esc=a\,b\.c' --set drop=null >"$WORK/out.yaml" 2>"$WORK/err.txt"
rc=$?
check "the probe chart renders (exit 0)" eq "$rc" 0
check "documents in Helm's install order, each with its # Source" eq \
  "$(grep '^# Source: ' "$WORK/out.yaml" | tr '\n' ' ')" \
  "# Source: probe/templates/b-serviceaccount.yaml # Source: probe/templates/facts.yaml # Source: probe/templates/a-deployment.yaml "
check "every document starts with ---" eq "$(grep -c '^---$' "$WORK/out.yaml")" 3
check "_helpers.tpl and NOTES.txt are not rendered, a comment-only document is left out" \
  bash -c "! grep -q 'Source: probe/templates/\(_helpers.tpl\|NOTES.txt\)\|a document that renders' '$WORK/out.yaml'"
check "include of a define, nindent" grep -q '^    chart: probe-1.2.3$' "$WORK/out.yaml"
check "numbers from values.yaml are float64, as in Helm" eq "$(fact replicasKind)/$(fact big)" '"float64"/"1e+06"'
check "--set types: whole number int64, true bool, 0123 string, {..} list" eq "$(fact setKinds)" '"int64 bool string slice"'
check "--set list with an escaped comma" eq "$(fact setList)" '"[\"a\",\"b,c\"]"'
check "--set index grows a list" eq "$(fact setIndex)" '"[null,\"x\"]"'
check "--set escapes" eq "$(fact escaped)" '"a,b.c"'
check "-f merges maps key by key over values.yaml" eq "$(fact nested)" '"{\"keep\":\"kept\",\"over\":\"fromfile\"}"'
check "--set key=null removes a default" eq "$(fact dropped)" '"false"'
check "a missing value prints empty, not <no value>" eq "$(fact missing)" '"[]"'
check "tpl renders a value as a template, include inside it" eq "$(fact tpl)" '"release rel in ns"'
check "fromYaml and toJson" eq "$(fact fromYaml)" '"{\"a\":1,\"b\":[\"x\",\"z\"]}"'
check "toYaml without a trailing newline" eq "$(fact toYaml)" '"- one"'
check ".Release" eq "$(fact release)" '"Helm rel true 1"'
check ".Chart from Chart.yaml" eq "$(fact chart)" '"probe 1.2.3 4.5"'
check ".Capabilities.APIVersions.Has and KubeVersion" eq "$(fact capabilities)" '"true false 30"'
check ".Files.Get" eq "$(fact file)" '"hello from files/"'
check ".Template.Name" eq "$(fact template)" '"probe/templates/facts.yaml"'
check "Sprig functions (list, sortAlpha, join, upper, sha256sum, trunc)" eq "$(fact sprig)" "\"$(printf 1,2,3 | sha256sum | cut -c1-8)\""
check "required passes a value through" eq "$(fact requiredName)" '"from-file"'
check "defaults: release-name in namespace default" bash -c \
  "'$ROOT/hack/chart-render.sh' --set name=x '$CHART' | grep -q '^  namespace: default$'"

render >"$WORK/out2.yaml" 2>"$WORK/err.txt"; rc=$?
check "required with an empty value: exit 1 and Helm's message" bash -c \
  "[ $rc -eq 1 ] && grep -q 'execution error at (probe/templates/facts.yaml:[0-9]*:[0-9]*): name is required' '$WORK/err.txt'"
render --set name=x,mustFail=1 >/dev/null 2>"$WORK/err.txt"; rc=$?
check "fail stops the render" bash -c "[ $rc -eq 1 ] && grep -q 'mustFail was set' '$WORK/err.txt'"
mkdir -p "$WORK/envchart/templates"
printf 'apiVersion: v2\nname: envchart\nversion: 0.1.0\n' >"$WORK/envchart/Chart.yaml"
printf 'kind: ConfigMap\nhome: {{ env "HOME" }}\n' >"$WORK/envchart/templates/cm.yaml"
"$ROOT/hack/chart-render.sh" "$WORK/envchart" >/dev/null 2>"$WORK/err.txt"; rc=$?
check "env is not a template function (a chart cannot read the environment)" bash -c \
  "[ $rc -eq 1 ] && grep -q 'function \"env\" not defined' '$WORK/err.txt'"
printf 'kind: ConfigMap\nmetadata: {name: [x\n' >"$WORK/envchart/templates/cm.yaml"
"$ROOT/hack/chart-render.sh" "$WORK/envchart" >/dev/null 2>"$WORK/err.txt"; rc=$?
check "output that is not YAML fails" bash -c "[ $rc -eq 1 ] && grep -q 'YAML parse error on envchart/templates/cm.yaml' '$WORK/err.txt'"
"$ROOT/hack/chart-render.sh" --set 'a[x]=1' "$CHART" >/dev/null 2>&1; rc=$?
check "a bad --set is a usage error (exit 2)" eq "$rc" 2
finish
