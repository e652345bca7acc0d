package connector

import "testing"

func TestHasPrefixTellsDirectoriesFromMissingKeys(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	e.put(t, c, "pre/x/a.bin", []byte("a"))
	for prefix, want := range map[string]bool{"pre/": true, "pre/x/": true, "": true, "pre": true, "pr/": false, "pre/x/a.bin/": false, "nope/": false} {
		got, err := c.HasPrefix(bg, tBucket, prefix)
		if err != nil || got != want {
			t.Errorf("HasPrefix(%q) = %v, %v; want %v", prefix, got, err, want)
		}
	}
	if _, err := c.HasPrefix(bg, "no-such-bucket", ""); kindOf(err) != KindNotFound {
		t.Errorf("missing bucket: %v", err)
	}
}
