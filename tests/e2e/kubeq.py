#!/usr/bin/python3
"""kubeq.py FILE... EXPR: evaluates the Python expression EXPR over the
Kubernetes objects in the YAML files (the chart's output, manifests/) and
prints the value as compact JSON with sorted keys (a string as it is), so a
scenario can compare one field, or several as a list, with an exact value.

In scope: docs (every object), kinds (their kinds, sorted), o(KIND) (the
one object of that kind, None when there is none; two are an error), and
when there is a Deployment: dep (the controller's, when the worker's is
there too), pod (its pod spec), c (its container named controller) and env (that container's env, name to value or to
valueFrom). Runs on Debian's python3 and python3-yaml."""
import json
import sys

import yaml


def main(files, expr):
    docs = []
    for f in files:
        with open(f) as fh:
            docs += [d for d in yaml.safe_load_all(fh) if d]
    scope = {"docs": docs, "kinds": sorted(d["kind"] for d in docs)}

    def o(kind):
        m = [d for d in docs if d["kind"] == kind]
        if len(m) > 1:
            raise SystemExit("kubeq: %d objects of kind %s" % (len(m), kind))
        return m[0] if m else None

    scope["o"] = o
    # the controller's Deployment: the one with a container named
    # controller (the warm pool's worker Deployment may be there too)
    deps = [d for d in docs if d["kind"] == "Deployment"]
    ctl = [d for d in deps if any(x["name"] == "controller"
                                  for x in d["spec"]["template"]["spec"]["containers"])]
    dep = ctl[0] if len(ctl) == 1 else (deps[0] if len(deps) == 1 else None)
    if dep:
        pod = dep["spec"]["template"]["spec"]
        c = [x for x in pod["containers"] if x["name"] == "controller"][0]
        scope.update(dep=dep, pod=pod, c=c,
                     env={e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])})
    v = eval(expr, scope)
    print(v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), sort_keys=True))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit("usage: kubeq.py FILE... EXPR")
    main(sys.argv[1:-1], sys.argv[-1])
