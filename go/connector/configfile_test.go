package connector

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
)

// configIntFields are config.json's integer fields by their JSON path, each
// with the field of Config it sets and the default that replaces 0.
var configIntFields = []struct {
	path string
	get  func(*Config) int64
	def  int64
}{
	{"datasetConfig.prefetchConcurrency", func(c *Config) int64 { return int64(c.DatasetConfig.PrefetchConcurrency) }, 24},
	{"datasetConfig.prefetchWorker", func(c *Config) int64 { return int64(c.DatasetConfig.PrefetchWorker) }, 2},
	{"datasetConfig.listConcurrency", func(c *Config) int64 { return int64(c.DatasetConfig.ListConcurrency) }, 16},
	{"datasetConfig.listWorker", func(c *Config) int64 { return int64(c.DatasetConfig.ListWorker) }, 1},
	{"checkpointConfig.prefetchConcurrency", func(c *Config) int64 { return int64(c.CheckpointConfig.PrefetchConcurrency) }, 24},
	{"checkpointConfig.prefetchWorker", func(c *Config) int64 { return int64(c.CheckpointConfig.PrefetchWorker) }, 4},
	{"checkpointConfig.uploadConcurrency", func(c *Config) int64 { return int64(c.CheckpointConfig.UploadConcurrency) }, 64},
	{"partSize", func(c *Config) int64 { return c.PartSize }, 8 << 20},
	{"readChunkSize", func(c *Config) int64 { return c.ReadChunkSize }, 8 << 20},
	{"memoryBudget", func(c *Config) int64 { return c.MemoryBudget }, 256 << 20},
	{"maxAttempts", func(c *Config) int64 { return int64(c.MaxAttempts) }, 5},
	{"connectTimeoutMs", func(c *Config) int64 { return int64(c.ConnectTimeoutMs) }, 5000},
	{"readWriteTimeoutMs", func(c *Config) int64 { return int64(c.ReadWriteTimeoutMs) }, 30000},
	{"auditThresholdMs", func(c *Config) int64 { return int64(c.AuditThresholdMs) }, 100},
}

// stdJSONObject decodes raw with encoding/json (numbers kept exact), the
// reference the fuzz target checks ParseConfig against. ok is false unless raw
// is exactly one JSON object.
func stdJSONObject(raw []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil || top == nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return top, true
}

// lookup follows a dotted path through nested objects.
func lookup(top map[string]any, path string) (any, bool) {
	var cur any = top
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

var namedFieldRE = regexp.MustCompile(`^config\.json: ([A-Za-z.]+) must be `)

// FuzzParseConfig checks that ParseConfig never panics, that whatever it
// accepts is JSON and ends up in range with the defaults applied and each
// documented key taking the value the file gives it (and nothing else:
// unknown keys, which are only warned about, must not change the
// configuration), and that an error about a well-formed JSON object names the
// field at fault.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"logLevel":2,"datasetConfig":{"prefetchConcurrency":8,"enableFastList":true,"bogus":1},"extra":true}`,
		`{"logLevel":0,"logPath":"/tmp/c.log","auditPath":"/tmp/a.log",
		  "datasetConfig":{"prefetchConcurrency":24,"prefetchWorker":2,"enableFastList":false,"listConcurrency":16,"listWorker":1},
		  "checkpointConfig":{"prefetchConcurrency":24,"prefetchWorker":4,"uploadConcurrency":64},
		  "partSize":8388608,"readChunkSize":8388608,"memoryBudget":268435456,"maxAttempts":5,
		  "connectTimeoutMs":5000,"readWriteTimeoutMs":30000,"auditThresholdMs":100}`,
		`{"logLevel":4}`, `{"logLevel":-1}`, `{"logLevel":"1"}`,
		`{"datasetConfig":{"prefetchConcurrency":"8"}}`, `{"datasetConfig":[]}`, `{"datasetConfig":null}`,
		`{"partSize":1.5}`, `{"partSize":1e2}`, `{"partSize":1.0}`, `{"partSize":0}`, `{"partSize":-0}`,
		`{"partSize":9223372036854775807}`, `{"maxAttempts":1e400}`,
		`{"PartSize":5}`, `{"partSize":1,"partSize":2}`, `{"datasetConfig":{"listworker":3}}`,
		`not json`, `null`, `[]`, `{"logLevel":1}x`, ``, `{"x":-}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, warnings, err := ParseConfig(raw)
		top, isObject := stdJSONObject(raw)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Kind != KindInvalid || !strings.HasPrefix(ce.Message, "config.json") {
				t.Fatalf("error is not an invalid-argument error about config.json: %#v", err)
			}
			if !isObject {
				return
			}
			// A well-formed object can only be refused for one of its fields,
			// and the message must say which, by its JSON path.
			m := namedFieldRE.FindStringSubmatch(ce.Message)
			if m == nil {
				t.Fatalf("error about a well-formed object names no field: %q", ce.Message)
			}
			if _, known := configSchema[m[1]]; !known {
				t.Fatalf("error names %q, not a config.json field: %q", m[1], ce.Message)
			}
			if _, present := lookup(top, m[1]); !present {
				t.Fatalf("error names %q, which the file does not contain: %q", m[1], ce.Message)
			}
			return
		}

		// Accepted: the input is JSON, and everything is in range.
		if !json.Valid(raw) {
			t.Fatalf("invalid JSON accepted: %q", raw)
		}
		if c.LogLevel == nil || *c.LogLevel < 0 || *c.LogLevel > 4 {
			t.Fatalf("logLevel %v after defaults", c.LogLevel)
		}
		if c.LogPath == "" || c.AuditPath == "" {
			t.Fatalf("empty log path after defaults: %+v", c)
		}
		for _, fl := range configIntFields {
			if v := fl.get(&c); v <= 0 {
				t.Fatalf("%s = %d after defaults", fl.path, v)
			}
		}
		if !isObject {
			return // e.g. null: the defaults, checked above
		}
		// Each documented key holds exactly what the file says (0 meaning the
		// default); keys that are not documented change nothing.
		for _, fl := range configIntFields {
			want := fl.def
			if v, ok := lookup(top, fl.path); ok {
				n, err := v.(json.Number).Int64()
				if err != nil || (n < 0 && configSchema[fl.path].kind != "int32") {
					t.Fatalf("%s = %v accepted", fl.path, v)
				}
				if n > 0 {
					want = n
				}
			}
			if got := fl.get(&c); got != want {
				t.Fatalf("%s = %d, want %d (warnings %q)", fl.path, got, want, warnings)
			}
		}
		// Unset means INFO, and so does a level above 4 (with a warning).
		wantLevel := int64(1)
		if v, ok := lookup(top, "logLevel"); ok {
			if n, _ := v.(json.Number).Int64(); n <= 4 {
				wantLevel = n
			}
		}
		if int64(*c.LogLevel) != wantLevel {
			t.Fatalf("logLevel = %d, want %d", *c.LogLevel, wantLevel)
		}
		v, set := lookup(top, "datasetConfig.enableFastList")
		if got := c.DatasetConfig.EnableFastList; (got != nil) != set || (set && *got != v.(bool)) {
			t.Fatalf("enableFastList = %v, want %v (set: %v)", got, v, set)
		}
		for _, w := range warnings {
			if !strings.HasPrefix(w, "config.json: unknown key ") && !strings.HasPrefix(w, "config.json: logLevel ") {
				t.Fatalf("odd warning %q", w)
			}
		}
	})
}

func TestConfigFile(t *testing.T) {
	c, warnings, err := ParseConfig([]byte(`{"logLevel":2,"datasetConfig":{"prefetchConcurrency":8,"enableFastList":true,"bogus":1},"extra":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if *c.LogLevel != 2 || c.DatasetConfig.PrefetchConcurrency != 8 || !*c.DatasetConfig.EnableFastList ||
		c.DatasetConfig.ListConcurrency != 16 || c.CheckpointConfig.UploadConcurrency != 64 || c.LogPath != DefaultLogPath {
		t.Fatalf("parsed %+v", c)
	}
	if len(warnings) != 2 || !strings.Contains(strings.Join(warnings, ";"), "datasetConfig.bogus") {
		t.Fatalf("warnings %v", warnings)
	}
	for raw, field := range map[string]string{
		`{"datasetConfig":{"prefetchConcurrency":"8"}}`: "datasetConfig.prefetchConcurrency",
		`{"datasetConfig":{"enableFastList":1}}`:        "datasetConfig.enableFastList",
		`{"logPath":5}`:                                 "logPath",
		`{"checkpointConfig":[]}`:                       "checkpointConfig",
		`{"partSize":-1}`:                               "partSize",
		`{"logLevel":"1"}`:                              "logLevel",
	} {
		_, _, err := ParseConfig([]byte(raw))
		if kindOf(err) != KindInvalid || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v", raw, err)
		}
	}
	if _, _, err := ParseConfig([]byte(`not json`)); kindOf(err) != KindInvalid {
		t.Errorf("not json: %v", err)
	}
	d := DefaultConfig()
	if d.DatasetConfig.PrefetchConcurrency != 24 || d.DatasetConfig.PrefetchWorker != 2 || d.DatasetConfig.ListWorker != 1 ||
		d.CheckpointConfig.PrefetchConcurrency != 24 || d.CheckpointConfig.PrefetchWorker != 4 || d.Level() != 1 {
		t.Fatalf("defaults %+v", d)
	}
}
