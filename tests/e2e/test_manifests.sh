#!/usr/bin/env bash
# The shipped manifests: strictly valid against the official schemas,
# generated from the example registry, and least-privilege RBAC.
. "$(dirname "$0")/lib.sh"
VALIDATE=${EASEL_KUBE_VALIDATE:-$ROOT/hack/kube-validate.sh}
out=$("$VALIDATE" "$ROOT"/manifests/*.yaml 2>&1)
check "every manifest passes strict schema validation" grep -q '^kube-validate: [1-9][0-9]* objects, 0 invalid' <<<"$out"
check "manifests/registry.yaml is generated from docs/examples/models.yaml" "$ROOT/hack/gen-manifests.sh" --check
python3 - "$ROOT/manifests/registry.yaml" >"$WORK/models.yaml" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
i = lines.index("  models.yaml: |")
print("\n".join(l[4:] for l in lines[i + 1:]))
PY
check "the ConfigMap's models.yaml is a valid registry" "$EASEL" registry validate "$WORK/models.yaml"
check "the controller's Role grants no secrets access" bash -c "! grep -q secrets '$ROOT/manifests/rbac.yaml'"
check "the Role has no wildcard" bash -c "! grep -q '\"\\*\"' '$ROOT/manifests/rbac.yaml'"
finish
