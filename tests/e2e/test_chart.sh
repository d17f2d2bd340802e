#!/usr/bin/env bash
# The Helm chart, rendered with Helm's own template engine and functions
# (hack/chart-render.sh): strictly valid objects for the default values and
# for the variants people use, wired to settings easel really has.
. "$(dirname "$0")/lib.sh"
VALIDATE=${EASEL_KUBE_VALIDATE:-$ROOT/hack/kube-validate.sh}
render() { "$ROOT/hack/chart-render.sh" --name easel --namespace imaging "$@" "$ROOT/charts/easel"; }
valid() { "$VALIDATE" - <"$1" | grep -q "^kube-validate: $2 objects, 0 invalid"; }
render >"$WORK/default.yaml" 2>"$WORK/err.txt"
check "the chart renders with default values" test -s "$WORK/default.yaml"
check "default: 6 strictly valid objects (SA, Role, RoleBinding, ConfigMap, Deployment, HPA)" valid "$WORK/default.yaml" 6
render --set autoscaling.enabled=false --set registry.create=false \
  --set worker.kueueQueue=team-a --set image.tag=1.2.3 >"$WORK/variant.yaml"
check "without HPA and registry ConfigMap: 4 valid objects" valid "$WORK/variant.yaml" 4
check "image tag override reaches the controller and its workers" \
  bash -c "grep -c 'ghcr.io/easel-dev/easel:1.2.3' '$WORK/variant.yaml' | grep -qx 2"
check "Kueue queue passed to the controller" grep -q 'EASEL_KUEUE_QUEUE, value: "team-a"' "$WORK/variant.yaml"
# every EASEL_* variable the chart sets is a real setting of easel controller
"$EASEL" controller --help >"$WORK/help.txt" 2>&1
bad=""
for v in $(grep -o 'name: EASEL_[A-Z_]*' "$WORK/default.yaml" | awk '{print $2}' | sort -u); do
  grep -q "$v" "$WORK/help.txt" || bad="$bad $v"
done
check "every EASEL_* variable in the chart is a controller setting${bad:+ (unknown:$bad)}" test -z "$bad"
python3 - "$WORK/default.yaml" >"$WORK/models.yaml" <<'PY'
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
finish
