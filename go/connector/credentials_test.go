package connector

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"osstorchconnector/go/ossemu"
)

// credFuzzPath names the file in the fuzzed error messages. It has no digits,
// so that a secret-looking string (letters and digits) in a message can only
// have come from the file's content.
const credFuzzPath = "/run/secrets/credentials"

// credMessageText is the fixed text the parser's messages are made of. A
// candidate secret found inside it is not evidence of a leak (a secret of
// "AccessKeySecret" is in every "must contain" message).
const credMessageText = "credentials file " + credFuzzPath + " is not valid JSON: must contain AccessKeyId and AccessKeySecret" +
	": Expiration is not an RFC 3339 time connector.credFile.AccessKeyId connector.credFile.AccessKeySecret" +
	" connector.credFile.SecurityToken connector.credFile.Expiration"

// FuzzCredentialsFile checks the credentials-file parser: it never panics; an
// error is an invalid-argument error that never contains the AccessKeySecret
// or SecurityToken of the input (errors reach logs and Python exceptions);
// success means an AccessKeyId and an AccessKeySecret, and an expiry exactly
// when the file gives one.
//
// The fuzzer supplies the file as a template plus a secret and a token, which
// replace every $S and $T in it as raw bytes: that keeps a well-formed file
// around the secret while the secret itself may hold quotes, backslashes or
// control characters that break the JSON exactly there.
func FuzzCredentialsFile(f *testing.F) {
	for _, s := range [][3]string{
		{`{"AccessKeyId":"ak","AccessKeySecret":"$S","SecurityToken":"$T","Expiration":"2099-01-02T03:04:05Z"}`, "s3cr3t-value-0123", "STS.tok3n-4567"},
		{`{"AccessKeyId":"ak","AccessKeySecret":"$S"}`, "LTAI5tSecret9876543210", ""},
		{`{"AccessKeyId": "ak", "AccessKeySecret": "$S"`, "s3cr3t-value-0123", ""}, // truncated
		{`{"AccessKeyId": "ak"}`, "", ""}, // no secret
		{`{"AccessKeyId":"ak","AccessKeySecret":"$S","Expiration":"tomorrow"}`, "s3cr3t-value-0123", ""}, // bad expiry
		{`{"AccessKeyId":"ak","AccessKeySecret":$S}`, "s3cr3t0123456789", ""},                            // unquoted
		{`{"AccessKeyId":"ak","AccessKeySecret":"$S","SecurityToken":$T}`, "s3cr3t-value-0123", "1234567890abc"},
		{`{"AccessKeyId":"ak","AccessKeySecret":"$S","Expiration":"$S"}`, "s3cr3t-value-0123", ""},
		{`{"accesskeyid":"ak","accesskeysecret":"$S"}`, "s3cr3t-value-0123", ""},
		{`{"AccessKeyId":"ak","AccessKeySecret":"$S"} $S`, "s3cr3t-value-0123", ""},
		{`["$S"]`, "s3cr3t-value-0123", ""},
		{`{"AccessKeyId":"ak","AccessKeySecret":"$S","SecurityToken":"$T"}`, `ab\"cd0123456789`, "tok\x01en0123456789"},
		{``, "", ""},
	} {
		f.Add([]byte(s[0]), s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, tmpl []byte, secret, token string) {
		raw := bytes.ReplaceAll(tmpl, []byte("$S"), []byte(secret))
		raw = bytes.ReplaceAll(raw, []byte("$T"), []byte(token))
		c, err := parseCredentials(raw, credFuzzPath)
		if err == nil {
			if c.AccessKeyID == "" || c.AccessKeySecret == "" {
				t.Fatalf("accepted without AccessKeyId/AccessKeySecret: %q", raw)
			}
			var ref struct{ Expiration *string }
			if json.Unmarshal(raw, &ref) == nil && ref.Expiration != nil && *ref.Expiration != "" && c.Expires == nil {
				t.Fatalf("Expiration %q given, no expiry set", *ref.Expiration)
			}
			if c.Expires != nil && (ref.Expiration == nil || *ref.Expiration == "") && json.Valid(raw) {
				t.Fatalf("no Expiration given, expiry %v set", c.Expires)
			}
			return
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Kind != KindInvalid {
			t.Fatalf("want an invalid-argument error, got %#v", err)
		}
		msg := err.Error()
		// The Expiration value is quoted on purpose (it is no secret): leave it
		// out of the search.
		if i := strings.Index(msg, ": Expiration "); i >= 0 {
			if j := strings.LastIndex(msg, " is not an RFC 3339 time"); j > i {
				msg = msg[:i] + msg[j:]
			}
		}
		// The secrets are what the fuzzer substituted, and what a reference
		// decoder finds in the file (which the fuzzer may have written there
		// itself).
		candidates := []string{secret, token}
		var ref credFile
		if json.Unmarshal(raw, &ref) == nil {
			candidates = append(candidates, ref.AccessKeySecret, ref.SecurityToken)
		}
		for _, s := range candidates {
			// Short strings, and ones made only of the messages' own words, occur
			// in messages by chance; real secrets are long and random.
			if len(s) < 8 || strings.Contains(credMessageText, s) || strings.Contains(strings.ToLower(credMessageText), strings.ToLower(s)) {
				continue
			}
			if strings.Contains(msg, s) {
				t.Fatalf("error leaks a secret %q: %s", s, err)
			}
		}
	})
}

func TestCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"AccessKeyId":"ak","AccessKeySecret":"s3cr3t-value","SecurityToken":"tok","Expiration":"2099-01-02T03:04:05Z"}`)
	c, err := readCredFile(good)
	if err != nil || c.AccessKeyID != "ak" || c.SecurityToken != "tok" || c.Expires == nil || c.Expires.Year() != 2099 {
		t.Fatalf("got %+v, %v", c, err)
	}
	for name, body := range map[string]string{
		"malformed.json": `{"AccessKeyId": "ak", "AccessKeySecret": "s3cr3t-value"`,
		"missing.json":   `{"AccessKeyId": "ak"}`,
		"badexpiry.json": `{"AccessKeyId":"ak","AccessKeySecret":"s3cr3t-value","Expiration":"tomorrow"}`,
	} {
		_, err := readCredFile(write(name, body))
		var ce *Error
		if !errors.As(err, &ce) || ce.Kind != KindInvalid {
			t.Errorf("%s: want invalid, got %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t-value") {
			t.Errorf("%s: error leaks the secret: %v", name, err)
		}
	}
	_, err = readCredFile(filepath.Join(dir, "absent.json"))
	var ce *Error
	if !errors.As(err, &ce) || ce.Kind != KindNotFound {
		t.Errorf("absent file: want not found, got %v", err)
	}
}

func TestNoCredentialsNamesWhatWasTried(t *testing.T) {
	t.Setenv("OSS_ACCESS_KEY_ID", "")
	saved := defaultCredPaths
	absent := filepath.Join(t.TempDir(), "credentials")
	defaultCredPaths = func() []string { return []string{absent} }
	t.Cleanup(func() { defaultCredPaths = saved })
	_, err := NewClient(Options{Endpoint: "http://127.0.0.1:1"})
	var ce *Error
	if !errors.As(err, &ce) || ce.Kind != KindPermission || !strings.Contains(err.Error(), "cred_path") || !strings.Contains(err.Error(), "OSS_ACCESS_KEY_ID") {
		t.Fatalf("got %v", err)
	}
}

func TestCredentialsFileRewrittenWithNewKeys(t *testing.T) {
	e := newEnv(t)
	// credentials that expire in 2 s
	e.writeCred(t, tAK, tSK, time.Now().Add(2*time.Second).UTC().Format(time.RFC3339))
	c := e.client(t, "")
	e.put(t, c, "k", []byte("v"))
	// the keys are rotated: the server accepts only the new ones...
	if err := e.srv.SetCredentials(ossemu.Keys{AccessKeyID: "LTAInewkey", AccessKeySecret: "new-secret-xyz"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(bg, tBucket, "k"); kindOf(err) != KindPermission {
		t.Fatalf("old keys after rotation: %v", err)
	}
	// ...and once the old ones expired the file is rewritten with the new keys
	time.Sleep(2100 * time.Millisecond)
	e.writeCred(t, "LTAInewkey", "new-secret-xyz", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	if got, err := c.Get(bg, tBucket, "k"); err != nil || string(got) != "v" {
		t.Fatalf("after rewrite: %v", err)
	}
	// a rewrite is picked up at once, expiry or not
	e.srv.SetCredentials(ossemu.Keys{AccessKeyID: tAK, AccessKeySecret: tSK})
	e.writeCred(t, tAK, tSK, "")
	if _, err := c.Get(bg, tBucket, "k"); err != nil {
		t.Fatalf("after second rewrite: %v", err)
	}
}

func TestWrongSecretIsAPermissionErrorWithoutTheSecret(t *testing.T) {
	e := newEnv(t)
	e.writeCred(t, tAK, "not-the-secret-xyz", "")
	c := e.client(t, "")
	err := c.Put(bg, tBucket, "k", []byte("v"))
	var ce *Error
	if !errors.As(err, &ce) || ce.Kind != KindPermission || ce.Code != "SignatureDoesNotMatch" {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "not-the-secret-xyz") {
		t.Fatal("error message contains the secret")
	}
}
