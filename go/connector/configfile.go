package connector

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sort"
	"strings"

	jsoniter "github.com/json-iterator/go"
)

// Config is upstream's config.json (every field, same defaults) plus our
// additions, documented in the README. Zero values mean "default".
type Config struct {
	// LogLevel is 0 DEBUG, 1 INFO, 2 WARN, 3 ERROR, 4 FATAL (nothing we
	// log). A pointer because 0 is a level: nil is "not set", INFO.
	LogLevel  *int   `json:"logLevel"`
	LogPath   string `json:"logPath"`
	AuditPath string `json:"auditPath"`

	DatasetConfig struct {
		PrefetchConcurrency int `json:"prefetchConcurrency"` // requests in flight for datasets
		PrefetchWorker      int `json:"prefetchWorker"`      // Go scheduler threads for prefetching
		// Concurrent listing over split key ranges. A pointer because
		// "not set" differs from false: unset, listings that are used only
		// once whole are listed concurrently (ListConcurrently).
		EnableFastList  *bool `json:"enableFastList"`
		ListConcurrency int   `json:"listConcurrency"` // listing requests in flight with FastList
		ListWorker      int   `json:"listWorker"`      // Go scheduler threads for listing
		// Ours: the node-local cache (docs/cache.md), off while CachePath is
		// empty; CacheBytes is its budget and must be set with it (checked
		// once the client's own arguments are laid over the file's).
		CachePath  string `json:"cachePath"`
		CacheBytes int64  `json:"cacheBytes"`
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

	// source is the file the configuration was read from ("" for the
	// built-in defaults), for one line in the log.
	source string
	// logPathDefault and auditPathDefault say that the path was not
	// configured: it is then upstream's /var/log one, which a user who is not
	// root usually cannot create, and falling back from it is not worth a
	// warning on every process's stderr.
	logPathDefault, auditPathDefault bool
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
	logLevelMax      = 4 // FATAL: upstream takes it; we never log at it

	// DefaultConfigPath is the config.json upstream reads when config_path
	// is "" (the path its documentation calls the default).
	DefaultConfigPath = "/etc/oss-connector/config.json"
	// DefaultConfigEnv names the environment variable that puts the
	// implicit config.json elsewhere: for tests, and for machines whose /etc
	// is not the user's. Read when a client is built.
	DefaultConfigEnv = "OSSTORCH_DEFAULT_CONFIG"
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
		c.LogPath, c.logPathDefault = DefaultLogPath, true
	}
	if c.AuditPath == "" {
		c.AuditPath, c.auditPathDefault = DefaultAuditPath, true
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

// field describes one known key: what JSON type it takes.
type field struct {
	kind string // "level", "int32", "count", "bool", "string", "object"
}

// The integer kinds follow what upstream's parser takes: logLevel must be an
// unsigned 32-bit integer, upstream's other numbers signed 32-bit ones (0 or
// less meaning the default). Our own numbers are byte counts and durations
// that do not fit 32 bits, and a negative one is a mistake.
var configSchema = map[string]field{
	"logLevel": {"level"}, "logPath": {"string"}, "auditPath": {"string"},
	"datasetConfig": {"object"}, "checkpointConfig": {"object"},
	"datasetConfig.prefetchConcurrency": {"int32"}, "datasetConfig.prefetchWorker": {"int32"},
	"datasetConfig.enableFastList": {"bool"}, "datasetConfig.listConcurrency": {"int32"},
	"datasetConfig.listWorker": {"int32"}, "datasetConfig.cachePath": {"string"},
	"datasetConfig.cacheBytes":             {"count"},
	"checkpointConfig.prefetchConcurrency": {"int32"}, "checkpointConfig.prefetchWorker": {"int32"},
	"checkpointConfig.uploadConcurrency": {"int32"}, "checkpointConfig.disablePartChecksums": {"bool"},
	"partSize": {"count"}, "readChunkSize": {"count"}, "memoryBudget": {"count"}, "maxAttempts": {"count"},
	"connectTimeoutMs": {"count"}, "readWriteTimeoutMs": {"count"}, "auditThresholdMs": {"count"},
}

var kindWant = map[string]string{
	"level": "an integer from 0 to 4294967295", "int32": "a 32-bit integer", "count": "a non-negative integer",
	"bool": "true or false", "string": "a string", "object": "an object",
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
	if c.LogLevel != nil && *c.LogLevel > logLevelMax {
		// Upstream's answer to a level it does not know: INFO, and a warning.
		warnings = append(warnings, fmt.Sprintf("config.json: logLevel %d is not 0 (DEBUG) to 4 (FATAL); using 1 (INFO)", *c.LogLevel))
		c.LogLevel = nil
	}
	c.applyDefaults()
	sort.Strings(warnings)
	return c, warnings, nil
}

// checkSchema checks obj against configSchema. It drops unknown keys from obj
// (after a warning) and null sections, and leaves integers as int64, so that
// obj can be encoded again and decoded into Config. A value of the wrong type
// rejects the file, as upstream does ("type mismatch" there); a section of
// the wrong type, which upstream ignores without a word, too.
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
		case "level", "int32", "count":
			var i int64
			if ok = isInt(v, &i); ok {
				switch f.kind {
				case "level":
					ok = i >= 0 && i <= math.MaxUint32
				case "int32":
					ok = i >= math.MinInt32 && i <= math.MaxInt32
				case "count":
					ok = i >= 0
				}
			}
			if ok {
				obj[k] = i
			}
		case "bool":
			_, ok = v.(bool)
		case "string":
			_, ok = v.(string)
		case "object":
			if v == nil { // "datasetConfig": null sets nothing, as upstream reads it
				delete(obj, k)
				continue
			}
			var sub map[string]any
			if sub, ok = v.(map[string]any); ok {
				if err := checkSchema(name, sub, warnings); err != nil {
					return err
				}
			}
		}
		if !ok {
			return invalidf("config.json: %s must be %s, got %s", name, kindWant[f.kind], jsonType(v))
		}
	}
	return nil
}

// isInt reports whether v is a JSON integer written without fraction or
// exponent (upstream refuses 1.0 and 1e0 too) that fits an int64.
func isInt(v any, out *int64) bool {
	n, ok := v.(json.Number)
	if !ok || strings.ContainsAny(string(n), ".eE") {
		return false
	}
	i, err := n.Int64()
	*out = i
	return err == nil
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

// LoadConfig reads config.json from path. "" means upstream's implicit
// file, DefaultConfigPath (or the file DefaultConfigEnv names) when it
// exists, and the built-in defaults when it does not. Upstream fails without
// that file; a machine with no config.json is the common case, so here it is
// not an error.
func LoadConfig(path string) (Config, []string, error) {
	implicit := strings.TrimSpace(path) == ""
	if implicit {
		path = DefaultConfigPath
		if p := os.Getenv(DefaultConfigEnv); p != "" {
			path = p
		}
	}
	raw, err := os.ReadFile(path)
	if implicit && errors.Is(err, fs.ErrNotExist) {
		return DefaultConfig(), nil, nil
	}
	var c Config
	var w []string
	if err != nil {
		err = wrap("ReadConfig", "", "", err)
	} else if c, w, err = ParseConfig(raw); err != nil {
		var ce *Error
		if asError(err, &ce) {
			ce.Message = strings.Replace(ce.Message, "config.json", path, 1)
		}
	}
	if err != nil {
		var ce *Error
		if implicit && asError(err, &ce) {
			// The caller passed no path: say why this file was read.
			ce.Message += " (read because config_path is empty; " + DefaultConfigEnv + " names another file)"
		}
		return Config{}, nil, err
	}
	c.source = path
	return c, w, nil
}
