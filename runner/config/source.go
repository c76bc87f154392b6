package config

import (
	"fmt"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"

	"github.com/clusterlab/clusterlab/core"
)

// Source kinds: where a config value came from.
const (
	FromFile    = "file"
	FromEnv     = "env"
	FromSet     = "set"
	FromUnset   = "unset"
	FromSweep   = "sweep"
	FromDefault = "default"
	FromDerived = "derived"
)

// Source says where a config value came from, so that an error about it
// points at what the user must change: a line of the file, a --set flag or
// an environment variable.
type Source struct {
	Kind string
	File string
	Line int // 1-based line in File; 0 when unknown
	// Detail is the flag or variable as given (--set loss.epoch=2,
	// CLUSTERLAB_LOSS__EPOCH=2), the sweep entry (sweep.grid loss.beta),
	// or the setting a derived value follows.
	Detail string
}

func (s Source) String() string {
	switch s.Kind {
	case FromEnv:
		return "environment variable " + s.Detail
	case FromSet:
		return "--set " + s.Detail
	case FromUnset:
		return "--unset " + s.Detail
	case FromSweep:
		return s.fileLine() + " (" + s.Detail + ")"
	case FromDefault:
		return "the default"
	case FromDerived:
		return "derived from " + s.Detail
	}
	return s.fileLine()
}

func (s Source) fileLine() string {
	if s.Line > 0 {
		return s.File + ":" + strconv.Itoa(s.Line)
	}
	return s.File
}

// Sources maps flattened config keys ("loss.beta") to where their values
// came from. A later layer replaces the sources of the keys it sets.
type Sources map[string]Source

// Of returns the source of key: its own, else that of the closest section
// above it that has one, else the file.
func (s Sources) Of(file, key string) Source {
	for k := key; k != ""; {
		if src, ok := s[k]; ok {
			return src
		}
		i := strings.LastIndex(k, ".")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return Source{Kind: FromFile, File: file}
}

// set records src for key and every key below it that value holds.
func (s Sources) set(key string, value any, src Source) {
	s.drop(key)
	s[key] = src
	if m, ok := value.(map[string]any); ok {
		for k, v := range m {
			s.set(key+"."+k, v, src)
		}
	}
}

// drop forgets key and every key below it.
func (s Sources) drop(key string) {
	for k := range s {
		if k == key || strings.HasPrefix(k, key+".") {
			delete(s, k)
		}
	}
}

func (s Sources) clone() Sources {
	out := make(Sources, len(s))
	for k, v := range s {
		out[k] = v
	}
	return out
}

// fileSources records the line of every key of a YAML document, by
// flattened path (sequence items by index: sweep.variants.1.loss.plugin).
func fileSources(file string, raw []byte) Sources {
	out := Sources{}
	var doc yamlv3.Node
	if yamlv3.Unmarshal(raw, &doc) != nil || len(doc.Content) == 0 {
		return out
	}
	var walk func(prefix string, n *yamlv3.Node, depth int)
	walk = func(prefix string, n *yamlv3.Node, depth int) {
		if depth > 32 { // aliases can nest without end
			return
		}
		if n.Kind == yamlv3.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch n.Kind {
		case yamlv3.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if prefix != "" {
					k = prefix + "." + k
				}
				out[k] = Source{Kind: FromFile, File: file, Line: n.Content[i].Line}
				walk(k, n.Content[i+1], depth+1)
			}
		case yamlv3.SequenceNode:
			for i, c := range n.Content {
				k := prefix + "." + strconv.Itoa(i)
				out[k] = Source{Kind: FromFile, File: file, Line: c.Line}
				walk(k, c, depth+1)
			}
		}
	}
	walk("", doc.Content[0], 0)
	return out
}

// Error is a config error: the key, the source of its value and what is
// wrong. The runner exits 2 on it.
type Error struct {
	Source Source
	Key    string
	Msg    string
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("config %s: %s", e.Source, e.Msg)
	}
	return fmt.Sprintf("config %s: key %q: %s", e.Source, e.Key, e.Msg)
}

// Is makes config errors invalid input.
func (e *Error) Is(target error) bool { return target == core.ErrInvalidInput }

// ErrorAt returns an error about key, naming where its value came from.
func (c *Config) ErrorAt(key, format string, args ...any) *Error {
	return &Error{Source: c.SourceOf(key), Key: key, Msg: fmt.Sprintf(format, args...)}
}

// SourceOf says where the value of key came from.
func (c *Config) SourceOf(key string) Source { return c.Sources.Of(c.File, key) }
