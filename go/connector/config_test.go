package connector

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	cases := []struct {
		in        string
		url       string
		pathStyle bool
	}{
		{"oss-cn-hangzhou-internal.aliyuncs.com", "https://oss-cn-hangzhou-internal.aliyuncs.com", false},
		{"http://oss-cn-beijing.aliyuncs.com", "http://oss-cn-beijing.aliyuncs.com", false},
		{"http://127.0.0.1:9000", "http://127.0.0.1:9000", true},
		{"127.0.0.1:9000", "https://127.0.0.1:9000", true},
		{"http://localhost:9000/", "http://localhost:9000", true},
		{"http://[::1]:9000", "http://[::1]:9000", true},
	}
	for _, c := range cases {
		ep, err := parseEndpoint(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if ep.URL != c.url || ep.PathStyle != c.pathStyle {
			t.Errorf("%q: got %+v, want url %q pathStyle %v", c.in, ep, c.url, c.pathStyle)
		}
	}
	for _, bad := range []string{"", "   ", "ftp://host", "http://"} {
		_, err := parseEndpoint(bad)
		var ce *Error
		if !errors.As(err, &ce) || ce.Kind != KindInvalid {
			t.Errorf("%q: want an invalid-argument error, got %v", bad, err)
		}
	}
}

func TestInferRegion(t *testing.T) {
	t.Setenv("OSS_REGION", "")
	cases := map[string]string{
		"oss-cn-hangzhou.aliyuncs.com":             "cn-hangzhou",
		"oss-cn-hangzhou-internal.aliyuncs.com":    "cn-hangzhou",
		"bucket.oss-ap-southeast-1.aliyuncs.com":   "ap-southeast-1",
		"s3.oss-cn-shanghai-internal.aliyuncs.com": "cn-shanghai",
		"cn-beijing.oss.aliyuncs.com":              "cn-beijing",
		"oss-accelerate.aliyuncs.com":              "",
		"127.0.0.1":                                "",
		"my.cname.example":                         "",
	}
	for host, want := range cases {
		if got := inferRegion("", host); got != want {
			t.Errorf("%s: got %q want %q", host, got, want)
		}
	}
	if got := inferRegion("eu-central-1", "oss-cn-hangzhou.aliyuncs.com"); got != "eu-central-1" {
		t.Errorf("explicit region must win, got %q", got)
	}
	t.Setenv("OSS_REGION", "us-west-1")
	if got := inferRegion("", "127.0.0.1"); got != "us-west-1" {
		t.Errorf("OSS_REGION fallback: got %q", got)
	}
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
