package connector

import (
	"context"
	"errors"
	"fmt"
	"hash/crc64"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"osstorchconnector/go/ossemu"
)

const (
	tAK     = "LTAItestkey"
	tSK     = "test-secret-0123456789"
	tRegion = "cn-hangzhou"
	tBucket = "bkt"
)

var bg = context.Background()

// crcTable is the reference the tests check the fast CRC-64 against.
var crcTable = crc64.MakeTable(crc64.ECMA)

type env struct {
	srv  *ossemu.Server
	url  string
	dir  string
	cred string
}

// newEnv starts a server with one bucket and writes a credentials file.
func newEnv(t *testing.T) *env {
	t.Helper()
	srv, err := ossemu.New(ossemu.Options{Region: tRegion, AccessKeyID: tAK, AccessKeySecret: tSK, Buckets: []string{tBucket}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	e := &env{srv: srv, url: ts.URL, dir: dir, cred: filepath.Join(dir, "cred.json")}
	e.writeCred(t, tAK, tSK, "")
	return e
}

func (e *env) writeCred(t *testing.T, ak, sk, expiration string) {
	t.Helper()
	body := fmt.Sprintf(`{"AccessKeyId":%q,"AccessKeySecret":%q`, ak, sk)
	if expiration != "" {
		body += fmt.Sprintf(`,"Expiration":%q`, expiration)
	}
	if err := os.WriteFile(e.cred, []byte(body+"}"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// client builds a client whose logs go to the env's folder; extra is merged
// into config.json.
func (e *env) client(t *testing.T, extra string) *Client {
	t.Helper()
	cfg := fmt.Sprintf(`{"logPath":%q,"auditPath":%q,"logLevel":1%s}`,
		filepath.Join(e.dir, "connector.log"), filepath.Join(e.dir, "audit.log"), extra)
	cp := filepath.Join(e.dir, fmt.Sprintf("config-%d.json", len(extra)))
	if err := os.WriteFile(cp, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(Options{Endpoint: e.url, Region: tRegion, CredPath: e.cred, ConfigPath: cp})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) put(t *testing.T, c *Client, key string, data []byte) {
	t.Helper()
	if err := c.Put(bg, tBucket, key, data); err != nil {
		t.Fatal(err)
	}
}

// seedKeys stores each key (a one-byte body) through the server directly,
// quicker than through a client.
func (e *env) seedKeys(t *testing.T, keys []string) {
	t.Helper()
	for _, k := range keys {
		if err := e.srv.Put(tBucket, k, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
}

// numbered is n keys made from format and 0 ... n-1.
func numbered(format string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf(format, i)
	}
	return keys
}

// listKeys lists prefix with c and returns the keys in the order given.
func listKeys(t *testing.T, c *Client, prefix string, opts ...ListOption) []string {
	t.Helper()
	var got []string
	if err := c.List(bg, tBucket, prefix, func(o ObjectInfo) error {
		got = append(got, o.Key)
		return nil
	}, opts...); err != nil {
		t.Fatal(err)
	}
	return got
}

func (e *env) faults(t *testing.T, f ossemu.Faults) {
	t.Helper()
	if err := e.srv.SetFaults(f); err != nil {
		t.Fatal(err)
	}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// kindOf is err's Kind, 0 when err is no *Error.
func kindOf(err error) Kind {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return 0
}
