package connector

import "testing"

func TestParseURI(t *testing.T) {
	ok := map[string][2]string{
		"oss://bkt/a/b.jpg": {"bkt", "a/b.jpg"},
		"oss://bkt":         {"bkt", ""},
		"oss://bkt/":        {"bkt", ""},
		"/bkt/dir/":         {"bkt", "dir/"},
		"oss://bkt.oss-cn-hangzhou-internal.aliyuncs.com/k": {"bkt", "k"},
		"oss://bkt/a//b": {"bkt", "a//b"},
	}
	for in, want := range ok {
		b, k, err := ParseURI(in)
		if err != nil || b != want[0] || k != want[1] {
			t.Errorf("%q: got (%q, %q, %v), want %v", in, b, k, err, want)
		}
	}
	for _, bad := range []string{"s3://bkt/k", "bkt/k", "", "oss://", "oss:///k", "//k", "oss://.host/k"} {
		if _, _, err := ParseURI(bad); kindOf(err) != KindInvalid {
			t.Errorf("%q: want invalid, got %v", bad, err)
		}
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"oss://b/k", "/b/k", "oss://b.host/k", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, k, err := ParseURI(s)
		if err != nil {
			return
		}
		if b == "" || len(b)+len(k) > len(s) {
			t.Fatalf("%q -> (%q, %q)", s, b, k)
		}
	})
}
