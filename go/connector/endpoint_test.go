package connector

import (
	"errors"
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
