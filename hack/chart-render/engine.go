// Rendering: every file under templates/ is parsed into one template set
// named "<chart>/templates/<file>" (so `include` finds the defines of
// _helpers.tpl); the files whose name starts with "_" and NOTES.txt are not
// rendered themselves, as with helm template. Each rendered file is split
// into YAML documents, each must parse, and the documents come out in Helm's
// install order of kinds (ServiceAccount before Role before Deployment ...),
// then by file name, then by their place in the file.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig" // Debian: golang-github-masterminds-sprig-dev (v3)
	"sigs.k8s.io/yaml"
)

type release struct {
	Name      string
	Namespace string
	Service   string
	Revision  int
	IsInstall bool
	IsUpgrade bool
}

type kubeVersion struct {
	Version    string
	Major      string
	Minor      string
	GitVersion string
}

func (k kubeVersion) String() string { return k.Version }

// versionSet is .Capabilities.APIVersions; templates ask it .Has "apps/v1".
type versionSet []string

func (v versionSet) Has(s string) bool {
	for _, x := range v {
		if x == s {
			return true
		}
	}
	return false
}

type capabilities struct {
	KubeVersion kubeVersion
	APIVersions versionSet
	HelmVersion map[string]string
}

// The built-in API versions a v1.30 cluster serves, plus "group/version/Kind"
// entries for the kinds charts most often test for.
var defaultAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2",
	"policy/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1",
	"coordination.k8s.io/v1", "events.k8s.io/v1", "storage.k8s.io/v1",
	"scheduling.k8s.io/v1", "discovery.k8s.io/v1", "node.k8s.io/v1",
	"admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1",
	"certificates.k8s.io/v1", "apps/v1/Deployment", "batch/v1/Job",
	"autoscaling/v2/HorizontalPodAutoscaler", "policy/v1/PodDisruptionBudget",
	"networking.k8s.io/v1/Ingress",
}

var kubeVersionRe = regexp.MustCompile(`^v?(\d+)\.(\d+)(\.\d+)?([-+].*)?$`)

func newCapabilities(version string, extra []string) (capabilities, error) {
	m := kubeVersionRe.FindStringSubmatch(version)
	if m == nil {
		return capabilities{}, fmt.Errorf("--kube-version %q is not like v1.30.0", version)
	}
	if !strings.HasPrefix(version, "v") {
		version = "v" + version
	}
	return capabilities{
		KubeVersion: kubeVersion{Version: version, Major: m[1], Minor: m[2], GitVersion: version},
		APIVersions: append(append(versionSet{}, defaultAPIVersions...), extra...),
		HelmVersion: map[string]string{"version": "v3"},
	}, nil
}

// Helm's order for installing kinds; a kind not listed goes last.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret",
	"SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
	"PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role",
	"RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
	"ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
	"StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
}

type document struct {
	source string // "<chart>/templates/<file>"
	text   string
	rank   int // place of its kind in installOrder
}

// maxIncludeDepth stops a define that includes itself, as Helm does.
const maxIncludeDepth = 1000

type engine struct {
	depth int
}

// funcs is the function map bound to template set t: Sprig's functions less
// env and expandenv (a chart must not read the renderer's environment, as in
// Helm), with Helm's own on top.
func (e *engine) funcs(t *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["fromYamlArray"] = fromYAMLArray
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["fromJsonArray"] = fromJSONArray
	f["required"] = required
	f["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	// without a cluster, lookup finds nothing (helm template does the same)
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	f["include"] = func(name string, data interface{}) (string, error) {
		if e.depth >= maxIncludeDepth {
			return "", fmt.Errorf("include %q: nested more than %d deep", name, maxIncludeDepth)
		}
		e.depth++
		defer func() { e.depth-- }()
		var b strings.Builder
		if err := t.ExecuteTemplate(&b, name, data); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		c, err := t.Clone()
		if err != nil {
			return "", err
		}
		c.Funcs(e.funcs(c))
		tt, err := c.New("tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("tpl: %v", err)
		}
		var b strings.Builder
		if err := tt.Execute(&b, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(b.String(), "<no value>", ""), nil
	}
	return f
}

// required returns v, or fails with msg when v is nil or an empty string.
func required(msg string, v interface{}) (interface{}, error) {
	if v == nil {
		return nil, errors.New(msg)
	}
	if s, ok := v.(string); ok && s == "" {
		return nil, errors.New(msg)
	}
	return v, nil
}

// toYAML is Helm's toYaml: no trailing newline, "" when v cannot be encoded.
func toYAML(v interface{}) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

// fromYAML is Helm's fromYaml: a map, or {"Error": why} when s is no map.
func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func base64Encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// rendered reports whether templates/<rel> is output rather than helpers.
func rendered(rel string) bool {
	base := path.Base(rel)
	return !strings.HasPrefix(base, "_") && base != "NOTES.txt"
}

// docSplit finds the "---" lines between YAML documents.
var docSplit = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// execErr turns text/template's "template: x:3:4: executing ... error
// calling required: msg" into Helm's shorter "execution error at (x:3:4): msg".
var execErrRe = regexp.MustCompile(`^template: ([^:]+:\d+:\d+): executing .* error calling \w+: (.*)$`)

func cleanErr(err error) error {
	if m := execErrRe.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("execution error at (%s): %s", m[1], m[2])
	}
	return err
}

func render(c *chart, values map[string]interface{}, rel release, caps capabilities) ([]document, error) {
	e := &engine{}
	root := template.New(c.meta.Name)
	root.Funcs(e.funcs(root))
	// Helm reads a missing key as empty rather than failing
	root.Option("missingkey=zero")
	names := make([]string, 0, len(c.templates))
	for f := range c.templates {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := root.New(c.meta.Name + "/" + n).Parse(c.templates[n]); err != nil {
			return nil, fmt.Errorf("parse error: %v", err)
		}
	}
	rank := map[string]int{}
	for i, k := range installOrder {
		rank[k] = i
	}
	var docs []document
	for _, n := range names {
		if !rendered(n) {
			continue
		}
		name := c.meta.Name + "/" + n
		data := map[string]interface{}{
			"Values":       values,
			"Release":      rel,
			"Chart":        c.meta,
			"Capabilities": caps,
			"Files":        c.files,
			"Template":     map[string]interface{}{"Name": name, "BasePath": c.meta.Name + "/templates"},
		}
		var b bytes.Buffer
		if err := root.ExecuteTemplate(&b, name, data); err != nil {
			return nil, cleanErr(err)
		}
		out := strings.ReplaceAll(b.String(), "<no value>", "")
		for _, part := range docSplit.Split(out, -1) {
			if strings.TrimSpace(stripComments(part)) == "" {
				continue
			}
			var head struct {
				Kind string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(part), &head); err != nil {
				return nil, fmt.Errorf("YAML parse error on %s: %v", name, err)
			}
			r, ok := rank[head.Kind]
			if !ok {
				r = len(installOrder)
			}
			text := strings.Trim(part, "\n")
			docs = append(docs, document{source: name, text: text, rank: r})
		}
	}
	sort.SliceStable(docs, func(i, j int) bool { return docs[i].rank < docs[j].rank })
	return docs, nil
}

// stripComments drops the lines that are only a YAML comment, to tell a
// document that a false `if` left empty from one with content.
func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
