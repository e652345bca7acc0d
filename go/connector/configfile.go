package connector

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	jsoniter "github.com/json-iterator/go"
)

// Config is upstream's config.json (every field, same defaults) plus our
// additions, documented in the README. Zero values mean "default".
type Config struct {
	// LogLevel is 0 DEBUG, 1 INFO, 2 WARN, 3 ERROR. A pointer because 0 is a
	// level: nil is "not set", INFO.
	LogLevel  *int   `json:"logLevel"`
	LogPath   string `json:"logPath"`
	AuditPath string `json:"auditPath"`

	DatasetConfig struct {
		PrefetchConcurrency int  `json:"prefetchConcurrency"` // requests in flight for datasets
		PrefetchWorker      int  `json:"prefetchWorker"`      // Go scheduler threads for prefetching
		EnableFastList      bool `json:"enableFastList"`      // concurrent listing over split key ranges
		ListConcurrency     int  `json:"listConcurrency"`     // listing requests in flight with FastList
		ListWorker          int  `json:"listWorker"`          // Go scheduler threads for listing
	} `json:"datasetConfig"`

	CheckpointConfig struct {
		PrefetchConcurrency int `json:"prefetchConcurrency"` // ranged reads in flight per checkpoint reader
		PrefetchWorker      int `json:"prefetchWorker"`      // Go scheduler threads for checkpoint reads
		UploadConcurrency   int `json:"uploadConcurrency"`   // parts in flight per checkpoint writer
		// Ours: do not write the part checksum file beside multipart objects
		// (see PartChecksumSuffix); readers then check those objects only
		// once they have read all of them.
		DisablePartChecksums bool `json:"disablePartChecksums"`
	} `json:"checkpointConfig"`

	// Ours.
	PartSize           int64 `json:"partSize"`           // first multipart part size, bytes (8 MiB)
	ReadChunkSize      int64 `json:"readChunkSize"`      // ranged-read chunk of the random-access reader (8 MiB)
	MemoryBudget       int64 `json:"memoryBudget"`       // bytes of prefetched data held per iterator (256 MiB)
	MaxAttempts        int   `json:"maxAttempts"`        // attempts per request incl. the first (5)
	ConnectTimeoutMs   int   `json:"connectTimeoutMs"`   // dial + TLS handshake (5000)
	ReadWriteTimeoutMs int   `json:"readWriteTimeoutMs"` // a connection idle this long is dead (30000)
	AuditThresholdMs   int   `json:"auditThresholdMs"`   // requests slower than this reach the audit log (100)
}

// Level is the effective logLevel.
func (c Config) Level() int {
	if c.LogLevel == nil {
		return LogLevelDefault
	}
	return *c.LogLevel
}

// Defaults as upstream documents them (and ours).
const (
	DefaultLogPath   = "/var/log/oss-connector/connector.log"
	DefaultAuditPath = "/var/log/oss-connector/audit.log"
	LogLevelDefault  = 1 // INFO
)

// DefaultConfig returns the configuration used when no config.json is given.
func DefaultConfig() Config {
	var c Config
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def64 := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.LogLevel == nil {
		l := LogLevelDefault
		c.LogLevel = &l
	}
	if c.LogPath == "" {
		c.LogPath = DefaultLogPath
	}
	if c.AuditPath == "" {
		c.AuditPath = DefaultAuditPath
	}
	def(&c.DatasetConfig.PrefetchConcurrency, 24)
	def(&c.DatasetConfig.PrefetchWorker, 2)
	def(&c.DatasetConfig.ListConcurrency, 16)
	def(&c.DatasetConfig.ListWorker, 1)
	def(&c.CheckpointConfig.PrefetchConcurrency, 24)
	def(&c.CheckpointConfig.PrefetchWorker, 4)
	def(&c.CheckpointConfig.UploadConcurrency, 64)
	def64(&c.PartSize, 8<<20)
	def64(&c.ReadChunkSize, 8<<20)
	def64(&c.MemoryBudget, 256<<20)
	def(&c.MaxAttempts, 5)
	def(&c.ConnectTimeoutMs, 5000)
	def(&c.ReadWriteTimeoutMs, 30000)
	def(&c.AuditThresholdMs, 100)
}

// field describes one known key: where it goes and what JSON type it takes.
type field struct {
	kind string // "int", "bool", "string", "object"
}

var configSchema = map[string]field{
	"logLevel": {"int"}, "logPath": {"string"}, "auditPath": {"string"},
	"datasetConfig": {"object"}, "checkpointConfig": {"object"},
	"datasetConfig.prefetchConcurrency": {"int"}, "datasetConfig.prefetchWorker": {"int"},
	"datasetConfig.enableFastList": {"bool"}, "datasetConfig.listConcurrency": {"int"},
	"datasetConfig.listWorker":             {"int"},
	"checkpointConfig.prefetchConcurrency": {"int"}, "checkpointConfig.prefetchWorker": {"int"},
	"checkpointConfig.uploadConcurrency": {"int"}, "checkpointConfig.disablePartChecksums": {"bool"},
	"partSize": {"int"}, "readChunkSize": {"int"}, "memoryBudget": {"int"}, "maxAttempts": {"int"},
	"connectTimeoutMs": {"int"}, "readWriteTimeoutMs": {"int"}, "auditThresholdMs": {"int"},
}

// configJSON decodes config.json. Numbers stay json.Number, so that an
// integer field is checked exactly (1e2 and 1.0 are not integers to the struct
// decoder, and a float64 cannot hold every int64). Keys are case-sensitive, as
// the schema is.
var configJSON = jsoniter.Config{EscapeHTML: true, SortMapKeys: true, ValidateJsonRawMessage: true,
	UseNumber: true, CaseSensitive: true}.Froze()

// ParseConfig parses config.json. A value of the wrong type is an error that
// names the field; unknown keys are returned as warnings.
func ParseConfig(raw []byte) (Config, []string, error) {
	var top map[string]any
	if !json.Valid(raw) { // the UseNumber decoder alone takes "-" for a number
		var v any
		return Config{}, nil, invalidf("config.json is not a JSON object: %s", syntaxOnly(json.Unmarshal(raw, &v)))
	}
	if err := configJSON.Unmarshal(raw, &top); err != nil {
		return Config{}, nil, invalidf("config.json is not a JSON object: %s", syntaxOnly(err))
	}
	var warnings []string
	if err := checkSchema("", top, &warnings); err != nil {
		return Config{}, nil, err
	}
	// Fill the struct from the checked object, not from raw: an unknown key is
	// then really ignored (the struct decoder would match it to a field
	// case-insensitively, or fail on a value it cannot skip, such as 1e700).
	clean, err := configJSON.Marshal(top)
	if err != nil {
		return Config{}, nil, invalidf("config.json: %s", syntaxOnly(err))
	}
	var c Config
	if err := configJSON.Unmarshal(clean, &c); err != nil {
		return Config{}, nil, invalidf("config.json: %s", syntaxOnly(err))
	}
	if c.LogLevel != nil && (*c.LogLevel < 0 || *c.LogLevel > 3) {
		return Config{}, nil, invalidf("config.json: logLevel must be 0 (DEBUG) to 3 (ERROR), got %d", *c.LogLevel)
	}
	c.applyDefaults()
	sort.Strings(warnings)
	return c, warnings, nil
}

// checkSchema checks obj against configSchema. It drops unknown keys from obj
// (after a warning) and leaves integers as int64, so that obj can be encoded
// again and decoded into Config.
func checkSchema(prefix string, obj map[string]any, warnings *[]string) error {
	for k, v := range obj {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		f, known := configSchema[name]
		if !known {
			*warnings = append(*warnings, fmt.Sprintf("config.json: unknown key %q ignored", name))
			delete(obj, k)
			continue
		}
		ok := false
		switch f.kind {
		case "int":
			n, isNum := v.(json.Number)
			i, err := n.Int64()
			if ok = isNum && err == nil && i >= 0; ok {
				obj[k] = i
			}
		case "bool":
			_, ok = v.(bool)
		case "string":
			_, ok = v.(string)
		case "object":
			var sub map[string]any
			if sub, ok = v.(map[string]any); ok {
				if err := checkSchema(name, sub, warnings); err != nil {
					return err
				}
			}
		}
		if !ok {
			what := map[string]string{"int": "a non-negative integer", "bool": "true or false", "string": "a string", "object": "an object"}[f.kind]
			return invalidf("config.json: %s must be %s, got %s", name, what, jsonType(v))
		}
	}
	return nil
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return fmt.Sprintf("the number %v", x)
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// LoadConfig reads config.json from path; "" gives the defaults.
func LoadConfig(path string) (Config, []string, error) {
	if strings.TrimSpace(path) == "" {
		return DefaultConfig(), nil, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, nil, wrap("ReadConfig", "", "", err)
	}
	c, w, err := ParseConfig(raw)
	if err != nil {
		var ce *Error
		if ok := asError(err, &ce); ok {
			ce.Message = strings.Replace(ce.Message, "config.json", path, 1)
		}
	}
	return c, w, err
}
