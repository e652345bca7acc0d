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

func TestStatRemoveRename(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	e.put(t, c, "a", []byte("abc"))
	if o, err := c.Stat(bg, tBucket, "a"); err != nil || o.Size != 3 {
		t.Fatalf("stat: %+v %v", o, err)
	}
	if err := c.Rename(bg, tBucket, "a", tBucket, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(bg, tBucket, "a"); kindOf(err) != KindNotFound {
		t.Fatalf("source still there: %v", err)
	}
	if got, _ := c.Get(bg, tBucket, "b"); string(got) != "abc" {
		t.Fatalf("renamed: %q", got)
	}
	if err := c.Rename(bg, tBucket, "missing", tBucket, "c"); kindOf(err) != KindNotFound {
		t.Fatalf("rename missing: %v", err)
	}
	if err := c.Remove(bg, tBucket, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(bg, tBucket, "b"); kindOf(err) != KindNotFound {
		t.Fatalf("removed still there: %v", err)
	}
}
