package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
)

// The credentials files looked for when neither cred_provider nor cred_path
// is given and OSS_ACCESS_KEY_ID is not set.
const (
	// UpstreamCredPath is the file upstream reads then: that literal path,
	// whatever HOME is.
	UpstreamCredPath = "/root/.alibabacloud/credentials"
	// DLCCredPath is where Alibaba Cloud's DLC puts a credentials file; this
	// connector has looked there from the start, so it stays, last.
	DLCCredPath = "/mnt/.alibabacloud/credentials"
)

// defaultCredPaths lists the implicit credentials files in the order they
// are tried: upstream's, the same file under the user's home (a user who is
// not root cannot read /root), then DLC's. A variable so that tests can
// point it away from /root and /mnt.
var defaultCredPaths = func() []string {
	paths := []string{UpstreamCredPath}
	if home, err := os.UserHomeDir(); err == nil {
		if p := filepath.Join(home, ".alibabacloud", "credentials"); p != UpstreamCredPath {
			paths = append(paths, p)
		}
	}
	return append(paths, DLCCredPath)
}

// credFile is upstream's credentials file format.
type credFile struct {
	AccessKeyID     string `json:"AccessKeyId"`
	AccessKeySecret string `json:"AccessKeySecret"`
	SecurityToken   string `json:"SecurityToken"`
	Expiration      string `json:"Expiration"`
}

// readCredFile reads and validates a credentials file. Errors name the file
// and the problem, never the secret.
func readCredFile(path string) (credentials.Credentials, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return credentials.Credentials{}, wrap("ReadCredentials", "", "", err)
	}
	return parseCredentials(raw, path)
}

// parseCredentials validates the contents of a credentials file; path only
// names the file in error messages. It is apart from readCredFile so that the
// parser can be fuzzed without touching the file system.
func parseCredentials(raw []byte, path string) (credentials.Credentials, error) {
	var f credFile
	if err := jsonAPI.Unmarshal(raw, &f); err != nil {
		return credentials.Credentials{}, invalidf("credentials file %s %s", path, credSyntaxProblem(raw))
	}
	if f.AccessKeyID == "" || f.AccessKeySecret == "" {
		return credentials.Credentials{}, invalidf("credentials file %s must contain AccessKeyId and AccessKeySecret", path)
	}
	c := credentials.Credentials{AccessKeyID: f.AccessKeyID, AccessKeySecret: f.AccessKeySecret, SecurityToken: f.SecurityToken}
	if f.Expiration != "" {
		t, err := time.Parse(time.RFC3339, f.Expiration)
		if err != nil {
			return credentials.Credentials{}, invalidf("credentials file %s: Expiration %q is not an RFC 3339 time", path, f.Expiration)
		}
		c.Expires = &t
	}
	return c, nil
}

// credSyntaxProblem says what is wrong with a credentials file that does not
// decode, without a single byte of its content: decoders quote the text they
// choke on (strconv's "parsing \"...\"", "found x"), and in this file that
// text may be the secret itself (found by FuzzCredentialsFile).
func credSyntaxProblem(raw []byte) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Sprintf("is not valid JSON (syntax error at byte %d)", se.Offset)
		}
		return "is not valid JSON"
	}
	if _, ok := v.(map[string]any); !ok {
		return "is not a JSON object"
	}
	return "has a value of the wrong type (AccessKeyId, AccessKeySecret, SecurityToken and Expiration are strings)"
}

// syntaxOnly keeps a JSON error message from quoting file content (which may
// be a secret).
func syntaxOnly(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ", error found in"); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}

// credentialsProvider picks the first source that is configured: explicit
// keys, cred_path, the OSS_ACCESS_KEY_* environment, then the first of
// defaultCredPaths that this user can open (one that opens but is malformed
// is an error, not a reason to look further). None → an error naming what was
// tried.
func credentialsProvider(o Options) (credentials.CredentialsProvider, error) {
	switch {
	case o.CredentialsFunc != nil:
		fn := o.CredentialsFunc
		return credentials.NewCredentialsFetcherProvider(credentials.CredentialsFetcherFunc(func(ctx context.Context) (credentials.Credentials, error) {
			c, err := fn(ctx)
			if err != nil {
				return c, &Error{Kind: KindPermission, Op: "Credentials", Message: "cred_provider failed: " + err.Error(), Err: err}
			}
			if !c.HasKeys() {
				return c, &Error{Kind: KindPermission, Op: "Credentials", Message: "cred_provider returned no AccessKeyId/AccessKeySecret"}
			}
			if c.Expires == nil {
				t := time.Now().Add(ProviderRefresh)
				c.Expires = &t
			}
			return c, nil
		})), nil
	case o.AccessKeyID != "" || o.AccessKeySecret != "":
		if o.AccessKeyID == "" || o.AccessKeySecret == "" {
			return nil, invalidf("both access_key_id and access_key_secret are required")
		}
		return credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.AccessKeySecret, o.SecurityToken), nil
	case o.CredPath != "":
		return fileProvider(o.CredPath)
	case os.Getenv("OSS_ACCESS_KEY_ID") != "":
		return credentials.NewEnvironmentVariableCredentialsProvider(), nil
	}
	paths := defaultCredPaths()
	for _, p := range paths {
		// A file this user may not read (root's, for anyone else) is as good
		// as absent: nobody asked for it, and the next place may well have
		// one. A file that is there but wrong is an error.
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		f.Close()
		return fileProvider(p)
	}
	return nil, &Error{Kind: KindPermission, Op: "Credentials",
		Message: "no credentials found: no cred_provider or cred_path given, OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET not set, and no file at " +
			strings.Join(paths, ", ")}
}

// fileProvider reads a credentials file and reads it again whenever it
// changes (mtime, size or inode) or the credentials it gave have expired.
func fileProvider(path string) (credentials.CredentialsProvider, error) {
	warnIfShared(path)
	f := &fileCredentials{path: path}
	if _, err := f.GetCredentials(context.Background()); err != nil { // fail at construction, not at the first request
		return nil, err
	}
	return f, nil
}

// credWarnOut is where the permission warning goes (a variable for tests).
var (
	credWarnOut  io.Writer = os.Stderr
	credWarnMu   sync.Mutex
	credWarnSeen = map[string]bool{}
)

// warnIfShared says once per file and process, on stderr where a user sees
// it (the connector log may be a file nobody reads), that a credentials file
// other users can read leaks the secret, as ssh does for private keys. It only
// warns: refusing would break jobs whose mounts force the mode.
func warnIfShared(path string) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	credWarnMu.Lock()
	defer credWarnMu.Unlock()
	if credWarnSeen[path] {
		return
	}
	credWarnSeen[path] = true
	fmt.Fprintf(credWarnOut, "osstorchconnector: WARNING: credentials file %s is accessible by group or others (mode %04o); restrict it with chmod 600\n", path, fi.Mode().Perm())
}

type fileStamp struct {
	mtime time.Time
	size  int64
	ino   uint64
}

func stampOf(fi os.FileInfo) fileStamp {
	st := fileStamp{mtime: fi.ModTime(), size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st
}

type fileCredentials struct {
	path   string
	mu     sync.Mutex
	cur    credentials.Credentials
	stamp  fileStamp
	loaded bool
}

// GetCredentials costs one stat(2) per request when nothing changed.
func (f *fileCredentials) GetCredentials(ctx context.Context) (credentials.Credentials, error) {
	fi, statErr := os.Stat(f.path)
	f.mu.Lock()
	defer f.mu.Unlock()
	expired := f.loaded && f.cur.Expires != nil && !f.cur.Expires.After(time.Now())
	if f.loaded && statErr == nil && stampOf(fi) == f.stamp && !expired {
		return f.cur, nil
	}
	c, err := readCredFile(f.path)
	if err != nil {
		if f.loaded && !expired {
			return f.cur, nil // caught mid-rewrite: keep what still works
		}
		return credentials.Credentials{}, err
	}
	f.cur, f.loaded = c, true
	if statErr == nil {
		f.stamp = stampOf(fi)
	}
	return c, nil
}
