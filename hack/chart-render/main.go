// chart-render prints the manifests of a Helm chart the way `helm template`
// does, for tests on machines where the helm binary cannot be installed. It
// uses what Helm itself is built on: Go's text/template, the Sprig function
// library and sigs.k8s.io/yaml, with Helm's own functions (include, tpl,
// required, fail, toYaml, fromYaml, toJson, fromJson, lookup) written here.
//
// This file parses the command line and wires the parts together; values.go
// loads and merges values (values.yaml, -f files, --set), engine.go renders
// the templates and orders the output.
//
//	chart-render [--name R] [--namespace N] [-f values.yaml]... [--set a.b=c]...
//	             [--set-string a=b]... [--kube-version v1.30.0] [--api-versions G/V]... CHART_DIR
//
// Exit status: 0 with the manifests on stdout; 1 when the chart does not
// render (the reason on stderr); 2 on bad usage.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// listFlag collects a repeatable string flag in command-line order.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("chart-render", flag.ContinueOnError)
	name := fs.String("name", "release-name", "release name (.Release.Name)")
	namespace := fs.String("namespace", "default", "release namespace (.Release.Namespace)")
	kubeVersion := fs.String("kube-version", "v1.30.0", "Kubernetes version for .Capabilities.KubeVersion")
	var valueFiles, sets, setStrings, apiVersions listFlag
	fs.Var(&valueFiles, "f", "values file merged over the chart's values.yaml (repeatable, later wins)")
	fs.Var(&valueFiles, "values", "same as -f")
	fs.Var(&sets, "set", "a.b=c[,d=e]: set values, typed like Helm's --set (repeatable)")
	fs.Var(&setStrings, "set-string", "a.b=c: set values, always as strings (repeatable)")
	fs.Var(&apiVersions, "api-versions", "extra API version for .Capabilities.APIVersions (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: chart-render [flags] CHART_DIR")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}

	chart, err := loadChart(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "chart-render: %v\n", err)
		return 1
	}
	user := map[string]interface{}{}
	for _, f := range valueFiles {
		v, err := readValuesFile(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "chart-render: %v\n", err)
			return 1
		}
		user = mergeValues(user, v)
	}
	for _, s := range sets {
		if err := parseSet(s, true, user); err != nil {
			fmt.Fprintf(os.Stderr, "chart-render: --set %s: %v\n", s, err)
			return 2
		}
	}
	for _, s := range setStrings {
		if err := parseSet(s, false, user); err != nil {
			fmt.Fprintf(os.Stderr, "chart-render: --set-string %s: %v\n", s, err)
			return 2
		}
	}
	values := mergeValues(chart.values, user)

	caps, err := newCapabilities(*kubeVersion, apiVersions)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chart-render: %v\n", err)
		return 2
	}
	rel := release{Name: *name, Namespace: *namespace, Service: "Helm", Revision: 1, IsInstall: true}
	docs, err := render(chart, values, rel, caps)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chart-render: %v\n", err)
		return 1
	}
	for _, d := range docs {
		fmt.Printf("---\n# Source: %s\n%s\n", d.source, d.text)
	}
	return 0
}
