package connector

import (
	"bytes"
	"crypto/x509"
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"osstorchconnector/go/ossemu"
)

// captureCredWarnings redirects the permission warning for one test.
func captureCredWarnings(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	credWarnMu.Lock()
	old := credWarnOut
	credWarnOut = &buf
	credWarnSeen = map[string]bool{}
	credWarnMu.Unlock()
	t.Cleanup(func() {
		credWarnMu.Lock()
		credWarnOut = old
		credWarnMu.Unlock()
	})
	return &buf
}

func TestCredentialsFileReadableByOthersWarnsOnce(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		e := newEnv(t)
		buf := captureCredWarnings(t)
		if err := os.Chmod(e.cred, mode); err != nil {
			t.Fatal(err)
		}
		e.client(t, "")
		e.client(t, "")
		got := buf.String()
		if strings.Count(got, "WARNING") != 1 || !strings.Contains(got, e.cred) || !strings.Contains(got, "chmod 600") {
			t.Fatalf("mode %o: want one warning naming the file, got %q", mode, got)
		}
		if strings.Contains(got, tSK) {
			t.Fatal("warning shows the secret")
		}
	}
}

func TestCredentialsFileOwnerOnlyDoesNotWarn(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o400} {
		e := newEnv(t)
		buf := captureCredWarnings(t)
		if err := os.Chmod(e.cred, mode); err != nil {
			t.Fatal(err)
		}
		e.client(t, "")
		if buf.Len() != 0 {
			t.Fatalf("mode %o: unexpected warning %q", mode, buf.String())
		}
	}
}

// A bare endpoint means https, and the certificate is verified: a server
// with a certificate no trusted CA signed is refused rather than talked to.
func TestBareEndpointUsesHTTPSAndVerifiesCertificates(t *testing.T) {
	srv, err := ossemu.New(ossemu.Options{Region: tRegion, AccessKeyID: tAK, AccessKeySecret: tSK, Buckets: []string{tBucket}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(srv) // self-signed certificate
	t.Cleanup(ts.Close)
	e := newEnv(t)
	for _, endpoint := range []string{strings.TrimPrefix(ts.URL, "https://"), ts.URL} {
		c, err := NewClient(Options{Endpoint: endpoint, Region: tRegion, CredPath: e.cred, ConfigPath: ""})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.endpoint.URL, "https://") {
			t.Fatalf("%s: scheme %s", endpoint, c.endpoint.URL)
		}
		_, err = c.Stat(bg, tBucket, "k")
		var unknownCA x509.UnknownAuthorityError
		if err == nil || (!errors.As(err, &unknownCA) && !strings.Contains(err.Error(), "certificate")) {
			t.Fatalf("%s: a self-signed certificate was accepted or failed oddly: %v", endpoint, err)
		}
		if kindOf(err) == KindNotFound {
			t.Fatalf("%s: request reached the server", endpoint)
		}
	}
	if n := len(srv.Stats().Requests); n != 0 {
		t.Fatalf("server answered requests over an unverified connection: %v", srv.Stats().Requests)
	}
}
