package connector

import (
	"fmt"
	"testing"
)

func TestListerHandsOverEveryKeyInOrderAsPagesArrive(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	e.seedKeys(t, numbered("l/%05d", 2500))
	l := c.StartListing(bg, tBucket, "l/")
	defer l.Close()
	var keys []string
	calls := 0
	for {
		got, err := l.Next(700)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		if len(got) > 700 {
			t.Fatalf("%d objects in one call, asked for at most 700", len(got))
		}
		calls++
		for _, o := range got {
			keys = append(keys, o.Key)
		}
	}
	if len(keys) != 2500 || calls < 4 {
		t.Fatalf("%d keys in %d calls", len(keys), calls)
	}
	for i, k := range keys {
		if k != fmt.Sprintf("l/%05d", i) {
			t.Fatalf("key %d is %s", i, k)
		}
	}
}

func TestListerReportsTheListingErrorAfterTheObjectsBeforeIt(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	l := c.StartListing(bg, "no-such-bucket", "")
	defer l.Close()
	if got, err := l.Next(10); len(got) != 0 || kindOf(err) != KindNotFound {
		t.Fatalf("got %d objects, error %v", len(got), err)
	}
}

func TestListerCloseStopsTheListing(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	e.seedKeys(t, numbered("s/%05d", 3000))
	l := c.StartListing(bg, tBucket, "s/")
	if _, err := l.Next(1); err != nil {
		t.Fatal(err)
	}
	l.Close() // returns once the background listing has ended
}

func TestStreamedPrefetchFetchesWhatIsAddedInOrderUntilTheEnd(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	var items []Item
	for i := 0; i < 40; i++ {
		k := fmt.Sprintf("f/%03d", i)
		e.put(t, c, k, pattern(50+i, byte(i)))
		items = append(items, Item{Bucket: tBucket, Key: k})
	}
	p, err := c.Prefetch(bg, PrefetchOptions{Stream: true, Ordered: true, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(items[:10]); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ { // delivered before any more is added
		o, ok := p.Next()
		if !ok || o.Index != i || o.Key != items[i].Key {
			t.Fatalf("object %d: %v %d %s", i, ok, o.Index, o.Key)
		}
	}
	if err := p.Add(items[10:]); err != nil {
		t.Fatal(err)
	}
	p.EndInput()
	if err := p.Add(items[:1]); kindOf(err) != KindInvalid {
		t.Fatalf("Add after EndInput: %v", err)
	}
	for i := 10; ; i++ {
		o, ok := p.Next()
		if !ok {
			if i != 40 {
				t.Fatalf("ended after %d objects", i)
			}
			break
		}
		if o.Err != nil || o.Index != i || string(o.Data) != string(pattern(50+i, byte(i))) {
			t.Fatalf("object %d: %v index %d", i, o.Err, o.Index)
		}
	}
	if p.Err() != nil {
		t.Fatal(p.Err())
	}
}

func TestStreamedPrefetchRefusesAListOrPrefixAndAddWithoutStream(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	if _, err := c.Prefetch(bg, PrefetchOptions{Stream: true, Bucket: tBucket}); kindOf(err) != KindInvalid {
		t.Fatalf("stream with a prefix: %v", err)
	}
	p, err := c.Prefetch(bg, PrefetchOptions{Items: []Item{}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(nil); kindOf(err) != KindInvalid {
		t.Fatalf("Add without Stream: %v", err)
	}
}
