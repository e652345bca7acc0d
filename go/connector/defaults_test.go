package connector

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Defaults as upstream's (checked against osstorchconnector 1.2.3): the log
// level, the implicit config.json, the implicit credentials files, and what a
// config.json value of the wrong type does.

func TestLogLevelUnsetIsInfoAndAnExplicitZeroIsDebug(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want int
		warn bool
	}{
		{`{}`, 1, false}, {`{"logPath":"/tmp/x.log"}`, 1, false}, {`{"logLevel":0}`, 0, false},
		{`{"logLevel":1}`, 1, false}, {`{"logLevel":3}`, 3, false}, {`{"logLevel":4}`, 4, false},
		// Upstream: "logLevel '9' is invalid, set to 1", a warning.
		{`{"logLevel":5}`, 1, true}, {`{"logLevel":4294967295}`, 1, true},
	} {
		c, warnings, err := ParseConfig([]byte(tc.raw))
		if err != nil {
			t.Fatalf("%s: %v", tc.raw, err)
		}
		if c.Level() != tc.want || c.LogLevel == nil || *c.LogLevel != tc.want {
			t.Errorf("%s: level %d, want %d", tc.raw, c.Level(), tc.want)
		}
		if warned := strings.Contains(strings.Join(warnings, ";"), "logLevel"); warned != tc.warn {
			t.Errorf("%s: warnings %q", tc.raw, warnings)
		}
	}
	if d := DefaultConfig(); d.Level() != 1 {
		t.Errorf("DefaultConfig level %d, want 1 (INFO)", d.Level())
	}
	if (Config{}).Level() != 1 {
		t.Error("the zero Config is not INFO")
	}
}

// configuredClient builds a client whose config.json is exactly cfg plus the
// log paths, and returns it with the path of its connector log.
func configuredClient(t *testing.T, e *env, name, cfg string) (*Client, string) {
	t.Helper()
	logPath := filepath.Join(e.dir, name+".log")
	body := fmt.Sprintf(`{"logPath":%q,"auditPath":%q%s}`, logPath, filepath.Join(e.dir, name+"-audit.log"), cfg)
	cp := filepath.Join(e.dir, name+".json")
	if err := os.WriteFile(cp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(Options{Endpoint: e.url, Region: tRegion, CredPath: e.cred, ConfigPath: cp})
	if err != nil {
		t.Fatal(err)
	}
	return c, logPath
}

// The disk-filling default: with logLevel unset, 200 GETs must not leave the
// SDK's dozen lines each in the log; with logLevel 0 they must.
func TestSDKRequestLinesOnlyAtDebug(t *testing.T) {
	e := newEnv(t)
	quiet, quietLog := configuredClient(t, e, "unset", "")
	loud, loudLog := configuredClient(t, e, "debug", `,"logLevel":0`)
	e.put(t, quiet, "k", []byte("v"))
	for _, c := range []*Client{quiet, loud} {
		for range 200 {
			if _, err := c.Get(bg, tBucket, "k"); err != nil {
				t.Fatal(err)
			}
		}
		getLoggers(c.cfg).log.Sync()
	}
	q, _ := os.ReadFile(quietLog)
	l, _ := os.ReadFile(loudLog)
	if strings.Contains(string(q), "oss-sdk") || len(q) > 2048 {
		t.Errorf("logLevel unset: %d bytes of log after 200 GETs, SDK lines: %v", len(q), strings.Contains(string(q), "oss-sdk"))
	}
	if strings.Count(string(l), `"source":"oss-sdk"`) < 200 {
		t.Errorf("logLevel 0: %d SDK lines after 200 GETs", strings.Count(string(l), `"source":"oss-sdk"`))
	}
	if strings.Contains(string(l), tSK) {
		t.Error("the DEBUG log holds the secret")
	}
}

// Upstream's parser takes logLevel as an unsigned and its other numbers as
// signed 32-bit integers, and refuses the whole file ("type mismatch for X")
// for anything else; it ignores a section that is not an object, which here
// is refused too.
func TestConfigValuesOfTheWrongType(t *testing.T) {
	refused := map[string]string{
		`{"logLevel":"1"}`:        "logLevel",
		`{"logLevel":-1}`:         "logLevel",
		`{"logLevel":1.5}`:        "logLevel",
		`{"logLevel":1.0}`:        "logLevel",
		`{"logLevel":1e0}`:        "logLevel",
		`{"logLevel":true}`:       "logLevel",
		`{"logLevel":null}`:       "logLevel",
		`{"logLevel":{}}`:         "logLevel",
		`{"logLevel":4294967296}`: "logLevel",
		`{"logPath":5}`:           "logPath",
		`{"logPath":null}`:        "logPath",
		`{"auditPath":true}`:      "auditPath",
		`{"datasetConfig":{"prefetchConcurrency":"8"}}`:     "datasetConfig.prefetchConcurrency",
		`{"datasetConfig":{"prefetchConcurrency":true}}`:    "datasetConfig.prefetchConcurrency",
		`{"datasetConfig":{"prefetchConcurrency":1.5}}`:     "datasetConfig.prefetchConcurrency",
		`{"datasetConfig":{"prefetchConcurrency":8.0}}`:     "datasetConfig.prefetchConcurrency",
		`{"datasetConfig":{"prefetchConcurrency":null}}`:    "datasetConfig.prefetchConcurrency",
		`{"datasetConfig":{"prefetchConcurrency":{}}}`:      "datasetConfig.prefetchConcurrency",
		`{"datasetConfig":{"prefetchWorker":4294967296}}`:   "datasetConfig.prefetchWorker",
		`{"datasetConfig":{"enableFastList":1}}`:            "datasetConfig.enableFastList",
		`{"datasetConfig":{"enableFastList":"true"}}`:       "datasetConfig.enableFastList",
		`{"checkpointConfig":{"uploadConcurrency":null}}`:   "checkpointConfig.uploadConcurrency",
		`{"checkpointConfig":{"prefetchWorker":1.5}}`:       "checkpointConfig.prefetchWorker",
		`{"checkpointConfig":{"prefetchConcurrency":[8]}}`:  "checkpointConfig.prefetchConcurrency",
		`{"datasetConfig":"x"}`:                             "datasetConfig",
		`{"datasetConfig":5}`:                               "datasetConfig",
		`{"checkpointConfig":[]}`:                           "checkpointConfig",
		`{"partSize":-1}`:                                   "partSize",
		`{"partSize":"8388608"}`:                            "partSize",
		`{"datasetConfig":{"listConcurrency":-2147483649}}`: "datasetConfig.listConcurrency",
	}
	for raw, field := range refused {
		_, _, err := ParseConfig([]byte(raw))
		var ce *Error
		if !errors.As(err, &ce) || ce.Kind != KindInvalid || !strings.HasPrefix(ce.Message, "config.json: "+field+" must be ") {
			t.Errorf("%s: want an invalid-argument error naming %s, got %v", raw, field, err)
		}
	}
	// What upstream takes: negative numbers (the default here, as 0 is), a
	// null section (nothing set).
	c, _, err := ParseConfig([]byte(`{"datasetConfig":{"prefetchConcurrency":-1,"listWorker":0},"checkpointConfig":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatasetConfig.PrefetchConcurrency != 24 || c.DatasetConfig.ListWorker != 1 || c.CheckpointConfig.UploadConcurrency != 64 {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestImplicitConfigFile(t *testing.T) {
	dir := t.TempDir()
	implicit := filepath.Join(dir, "config.json")
	t.Setenv(DefaultConfigEnv, implicit)

	// Absent: the built-in defaults, no error (upstream fails here).
	c, _, err := LoadConfig("")
	if err != nil || c.Level() != 1 || c.DatasetConfig.PrefetchConcurrency != 24 || c.source != "" {
		t.Fatalf("absent implicit file: %+v, %v", c, err)
	}

	// Present: read, as upstream reads /etc/oss-connector/config.json.
	os.WriteFile(implicit, []byte(`{"logLevel":2,"datasetConfig":{"prefetchConcurrency":7}}`), 0o600)
	c, _, err = LoadConfig("")
	if err != nil || c.Level() != 2 || c.DatasetConfig.PrefetchConcurrency != 7 || c.source != implicit {
		t.Fatalf("implicit file: %+v, %v", c, err)
	}

	// Present but wrong: an error naming the file and why it was read.
	os.WriteFile(implicit, []byte(`{"logLevel":"2"}`), 0o600)
	_, _, err = LoadConfig("")
	var ce *Error
	if !errors.As(err, &ce) || ce.Kind != KindInvalid || !strings.Contains(err.Error(), implicit+": logLevel") ||
		!strings.Contains(err.Error(), "config_path is empty") || !strings.Contains(err.Error(), DefaultConfigEnv) {
		t.Fatalf("malformed implicit file: %v", err)
	}

	// An explicit path that does not exist stays an error.
	if _, _, err := LoadConfig(filepath.Join(dir, "absent.json")); kindOf(err) != KindNotFound {
		t.Fatalf("absent explicit file: %v", err)
	}

	// Without the variable the implicit file is upstream's.
	t.Setenv(DefaultConfigEnv, "")
	if _, err := os.Stat(DefaultConfigPath); err == nil {
		t.Skip("this machine has " + DefaultConfigPath)
	}
	if c, _, err := LoadConfig(""); err != nil || c.source != "" {
		t.Fatalf("no %s: %+v, %v", DefaultConfigPath, c, err)
	}
}

func TestDefaultCredentialsPathsFollowHome(t *testing.T) {
	t.Setenv("HOME", "/home/someone")
	got := strings.Join(defaultCredPaths(), " ")
	if want := "/root/.alibabacloud/credentials /home/someone/.alibabacloud/credentials /mnt/.alibabacloud/credentials"; got != want {
		t.Errorf("non-root: %s, want %s", got, want)
	}
	t.Setenv("HOME", "/root")
	got = strings.Join(defaultCredPaths(), " ")
	if want := "/root/.alibabacloud/credentials /mnt/.alibabacloud/credentials"; got != want {
		t.Errorf("root: %s, want %s", got, want)
	}
}

func TestDefaultCredentialsSearchOrder(t *testing.T) {
	dir := t.TempDir()
	root, home, mnt := filepath.Join(dir, "root"), filepath.Join(dir, "home"), filepath.Join(dir, "mnt")
	saved := defaultCredPaths
	defaultCredPaths = func() []string { return []string{root, home, mnt} }
	t.Cleanup(func() { defaultCredPaths = saved })
	t.Setenv("OSS_ACCESS_KEY_ID", "")
	t.Setenv("OSS_ACCESS_KEY_SECRET", "")

	write := func(path, ak string) {
		t.Helper()
		body := fmt.Sprintf(`{"AccessKeyId":%q,"AccessKeySecret":"s3cr3t-%s"}`, ak, ak)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	used := func() string {
		t.Helper()
		p, err := credentialsProvider(Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.GetCredentials(bg)
		if err != nil {
			t.Fatal(err)
		}
		return c.AccessKeyID
	}

	// None: a PermissionError naming every place looked at, no secret.
	_, err := credentialsProvider(Options{})
	var ce *Error
	if !errors.As(err, &ce) || ce.Kind != KindPermission {
		t.Fatalf("no credentials: %v", err)
	}
	for _, s := range []string{"cred_provider", "cred_path", "OSS_ACCESS_KEY_ID", root, home, mnt} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("no credentials: %q does not name %s", err, s)
		}
	}

	write(mnt, "LTAImnt")
	if got := used(); got != "LTAImnt" {
		t.Errorf("only the DLC file: used %s", got)
	}
	write(home, "LTAIhome")
	if got := used(); got != "LTAIhome" {
		t.Errorf("home before DLC: used %s", got)
	}
	write(root, "LTAIroot")
	if got := used(); got != "LTAIroot" {
		t.Errorf("upstream's /root file first: used %s", got)
	}
	t.Setenv("OSS_ACCESS_KEY_ID", "LTAIenv")
	t.Setenv("OSS_ACCESS_KEY_SECRET", "s3cr3t-env")
	if got := used(); got != "LTAIenv" {
		t.Errorf("environment before files: used %s", got)
	}
	t.Setenv("OSS_ACCESS_KEY_ID", "")

	// A file that is there but malformed is an error naming it: it is not
	// skipped for the next one.
	os.WriteFile(root, []byte(`{"AccessKeyId":"LTAIroot","AccessKeySecret":`), 0o600)
	_, err = credentialsProvider(Options{})
	if kindOf(err) != KindInvalid || !strings.Contains(err.Error(), root) {
		t.Errorf("malformed first file: %v", err)
	}
	// One this user may not read is skipped (root reads anything).
	if os.Geteuid() != 0 {
		os.WriteFile(root, []byte(`{}`), 0o000)
		if got := used(); got != "LTAIhome" {
			t.Errorf("unreadable /root file: used %s", got)
		}
	}
}

// Log files that cannot be written: the connector log goes to stderr, audit
// lines are dropped (one per slow request is too many for a terminal), with
// one warning per path, and none for paths nobody configured.
func TestUnwritableLogFiles(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	bad := filepath.Join("/proc", "osstorch-test-forbidden", t.Name())
	loggersMu.Lock()
	logSink := openSink(bad+"/c.log", sinkLog, false)
	auditSink := openSink(bad+"/a.log", sinkAudit, false)
	quietSink := openSink(bad+"/default.log", sinkLog, true)
	loggersMu.Unlock()
	auditSink.Write([]byte("AUDIT LINE\n"))
	logSink.Write([]byte("LOG LINE\n"))
	quietSink.Write([]byte("QUIET LINE\n"))
	os.Stderr = saved
	w.Close()
	out, _ := io.ReadAll(r)
	s := string(out)
	if !strings.Contains(s, bad+"/c.log") || !strings.Contains(s, "logging to stderr instead") ||
		!strings.Contains(s, bad+"/a.log") || !strings.Contains(s, "audit lines are dropped") {
		t.Errorf("warnings: %q", s)
	}
	if strings.Contains(s, "default.log") {
		t.Errorf("a warning for a path nobody configured: %q", s)
	}
	if !strings.Contains(s, "LOG LINE") || !strings.Contains(s, "QUIET LINE") || strings.Contains(s, "AUDIT LINE") {
		t.Errorf("lines on stderr: %q", s)
	}
}
