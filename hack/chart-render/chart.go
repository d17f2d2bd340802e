// Loading a chart directory: Chart.yaml as .Chart, values.yaml as the base
// values, every file under templates/ as a template, and the other files as
// .Files, as Helm does for an unpacked chart. Subcharts (charts/) are not
// supported: a chart that has them is refused rather than half rendered.
package main

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// chartMeta is Chart.yaml, with Helm's field names for .Chart.X.
type chartMeta struct {
	APIVersion   string                   `json:"apiVersion"`
	Name         string                   `json:"name"`
	Version      string                   `json:"version"`
	KubeVersion  string                   `json:"kubeVersion,omitempty"`
	Description  string                   `json:"description,omitempty"`
	Type         string                   `json:"type,omitempty"`
	Keywords     []string                 `json:"keywords,omitempty"`
	Home         string                   `json:"home,omitempty"`
	Sources      []string                 `json:"sources,omitempty"`
	Dependencies []map[string]interface{} `json:"dependencies,omitempty"`
	Maintainers  []map[string]interface{} `json:"maintainers,omitempty"`
	Icon         string                   `json:"icon,omitempty"`
	AppVersion   string                   `json:"appVersion,omitempty"`
	Deprecated   bool                     `json:"deprecated,omitempty"`
	Annotations  map[string]string        `json:"annotations,omitempty"`
}

type chart struct {
	meta      chartMeta
	values    map[string]interface{}
	templates map[string]string // "templates/x.yaml" -> text
	files     files             // the other files, for .Files
}

func loadChart(dir string) (*chart, error) {
	c := &chart{templates: map[string]string{}, files: files{}}
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("not a chart: %v", err)
	}
	if err := yaml.Unmarshal(raw, &c.meta); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %v", err)
	}
	if c.meta.Name == "" || c.meta.Version == "" {
		return nil, fmt.Errorf("Chart.yaml: name and version are required")
	}
	if c.meta.APIVersion != "v1" && c.meta.APIVersion != "v2" {
		return nil, fmt.Errorf("Chart.yaml: apiVersion %q is not v1 or v2", c.meta.APIVersion)
	}
	c.values = map[string]interface{}{}
	if raw, err := os.ReadFile(filepath.Join(dir, "values.yaml")); err == nil {
		if c.values, err = parseValues("values.yaml", raw); err != nil {
			return nil, err
		}
	} else if !os.IsNotExist(err) {
		return nil, err
	}

	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "charts" {
				if ents, _ := os.ReadDir(p); len(ents) > 0 {
					return fmt.Errorf("subcharts (charts/) are not supported")
				}
			}
			if rel != "." && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			c.templates[rel] = string(data)
		case rel == "Chart.yaml", rel == "values.yaml", rel == "values.schema.json",
			rel == "Chart.lock", rel == "requirements.yaml", rel == "requirements.lock",
			rel == ".helmignore":
		default:
			c.files[rel] = data
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// files is .Files: the chart's files outside templates/, by slash path.
type files map[string][]byte

// Get returns a file's text, or "" when there is no such file (as Helm).
func (f files) Get(name string) string { return string(f[name]) }

// GetBytes returns a file's bytes, or nil.
func (f files) GetBytes(name string) []byte { return f[name] }

// Lines returns a file's lines without their line ends.
func (f files) Lines(name string) []string {
	s := string(f[name])
	if s == "" {
		return []string{}
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// Glob returns the files whose path matches a shell pattern.
func (f files) Glob(pattern string) files {
	out := files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

// AsConfig returns the files as ConfigMap data: base name to text, as YAML.
func (f files) AsConfig() string { return f.asMap(func(b []byte) string { return string(b) }) }

// AsSecrets returns the files as Secret data: base name to base64, as YAML.
func (f files) AsSecrets() string { return f.asMap(base64Encode) }

func (f files) asMap(enc func([]byte) string) string {
	if len(f) == 0 {
		return ""
	}
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	m := map[string]string{}
	for _, n := range names {
		m[path.Base(n)] = enc(f[n])
	}
	return toYAML(m)
}
