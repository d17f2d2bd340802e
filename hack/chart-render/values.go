// Values as Helm builds them: the chart's values.yaml, then each -f file,
// then each --set, every layer merged key by key over the one before. YAML
// goes through sigs.k8s.io/yaml as in Helm, so numbers from files are
// float64 (templates print 1 as "1", 1000000 as "1e+06", like Helm does),
// while --set makes whole numbers int64.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

func readValuesFile(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseValues(path, data)
}

func parseValues(name string, data []byte) (map[string]interface{}, error) {
	v := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if v == nil { // a file holding only comments
		v = map[string]interface{}{}
	}
	return v, nil
}

// mergeValues returns base with over laid on top: maps merge key by key,
// anything else in over replaces what base had, and a nil in over (from
// `--set key=null` or `key: null`) removes the key. Neither input changes.
func mergeValues(base, over map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(map[string]interface{})
		om, ook := v.(map[string]interface{})
		if bok && ook {
			out[k] = mergeValues(bm, om)
		} else {
			out[k] = v
		}
	}
	return out
}

// parseSet applies one --set argument, "a.b=c,list={x,y},arr[0].k=v", to
// into. A backslash escapes the next character ("a\.b" is one key, "x\,y" one
// value). With typed, the values true, false and null and whole numbers
// become bool, nil and int64, as Helm's --set does; otherwise all are strings.
func parseSet(s string, typed bool, into map[string]interface{}) error {
	for _, pair := range splitUnescaped(s, ',', true) {
		if pair == "" {
			continue
		}
		eq := indexUnescaped(pair, '=')
		if eq <= 0 {
			return fmt.Errorf("%q is not key=value", pair)
		}
		path, err := parseKeyPath(pair[:eq])
		if err != nil {
			return err
		}
		raw := pair[eq+1:]
		var val interface{}
		if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
			list := []interface{}{}
			for _, item := range splitUnescaped(raw[1:len(raw)-1], ',', false) {
				list = append(list, typedValue(unescape(item), typed))
			}
			val = list
		} else {
			val = typedValue(unescape(raw), typed)
		}
		if err := setPath(into, path, val); err != nil {
			return fmt.Errorf("%s: %v", pair[:eq], err)
		}
	}
	return nil
}

func typedValue(s string, typed bool) interface{} {
	if !typed {
		return s
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	// Helm keeps "0123" a string: a leading zero is not a number there.
	if s != "" && (s == "0" || s[0] != '0') && (len(s) < 2 || s[0] != '-' || s[1] != '0') {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	return s
}

// splitUnescaped splits on sep where it is not escaped; with braces, a sep
// inside {...} does not split (list values hold commas).
func splitUnescaped(s string, sep byte, braces bool) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++
		case braces && s[i] == '{':
			depth++
		case braces && s[i] == '}' && depth > 0:
			depth--
		case s[i] == sep && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func indexUnescaped(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		} else if s[i] == c {
			return i
		}
	}
	return -1
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// keyStep is one step of a --set path: a map key, or a list index (key "").
type keyStep struct {
	key   string
	index int
}

// parseKeyPath reads "a.b[0].c" into steps a, b, [0], c.
func parseKeyPath(p string) ([]keyStep, error) {
	var steps []keyStep
	for _, seg := range splitUnescaped(p, '.', false) {
		open := indexUnescaped(seg, '[')
		name := seg
		if open >= 0 {
			name = seg[:open]
		}
		if name == "" {
			return nil, fmt.Errorf("empty key in %q", p)
		}
		steps = append(steps, keyStep{key: unescape(name)})
		for rest := seg[len(name):]; rest != ""; {
			end := strings.IndexByte(rest, ']')
			if rest[0] != '[' || end < 0 {
				return nil, fmt.Errorf("bad index in %q", p)
			}
			n, err := strconv.Atoi(rest[1:end])
			if err != nil || n < 0 || n > 65535 {
				return nil, fmt.Errorf("bad index %q in %q", rest[1:end], p)
			}
			steps = append(steps, keyStep{index: n})
			rest = rest[end+1:]
		}
	}
	return steps, nil
}

// setPath stores val at path under m, making maps and lists on the way and
// growing lists with nil entries up to an index.
func setPath(m map[string]interface{}, path []keyStep, val interface{}) error {
	var cur interface{} = m
	// set writes v where the step i of the path points, in container c
	var set func(c interface{}, i int, v interface{}) (interface{}, error)
	set = func(c interface{}, i int, v interface{}) (interface{}, error) {
		step := path[i]
		last := i == len(path)-1
		if step.key != "" {
			mm, ok := c.(map[string]interface{})
			if !ok {
				mm = map[string]interface{}{}
			}
			if last {
				mm[step.key] = v
				return mm, nil
			}
			child, err := set(mm[step.key], i+1, v)
			if err != nil {
				return nil, err
			}
			mm[step.key] = child
			return mm, nil
		}
		list, _ := c.([]interface{})
		for len(list) <= step.index {
			list = append(list, nil)
		}
		if last {
			list[step.index] = v
			return list, nil
		}
		child, err := set(list[step.index], i+1, v)
		if err != nil {
			return nil, err
		}
		list[step.index] = child
		return list, nil
	}
	if path[0].key == "" {
		return fmt.Errorf("a path starts with a key")
	}
	_, err := set(cur, 0, val)
	return err
}
