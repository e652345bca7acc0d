package connector

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"osstorchconnector/go/ossemu"
)

func kindOf(err error) Kind {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return 0
}

func TestListSequentialAndFastListAgree(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	var want []string
	for i := 0; i < 2500; i++ {
		k := fmt.Sprintf("ds/%c/%05d.jpg", 'a'+i%7, i)
		want = append(want, k)
		e.srv.CreateBucket(tBucket)
	}
	// seed through the server directly to keep the test quick
	for _, k := range want {
		e.put(t, c, k, []byte(k))
	}
	e.put(t, c, "other/x", []byte("x"))
	sort.Strings(want)
	collect := func(c *Client) []string {
		var got []string
		if err := c.List(bg, tBucket, "ds/", func(o ObjectInfo) error {
			if o.Size != int64(len(o.Key)) {
				t.Fatalf("size of %s: %d", o.Key, o.Size)
			}
			got = append(got, o.Key)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := collect(c); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("sequential list: %d keys, want %d", len(got), len(want))
	}
	fast := e.client(t, `,"datasetConfig":{"enableFastList":true,"listConcurrency":8}`)
	e.srv.ResetStats()
	if got := collect(fast); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("FastList: %d keys, want %d", len(got), len(want))
	}
}

// FastList must actually list in parallel on the keys datasets have: numbered
// names use ten byte values, so a split at the byte-wise midpoint of the last
// key and the end of the key space lies above every key (what the first
// FastList did: each split handed out an empty range, and the listing stayed
// sequential). Edge cases ride along: keys with high UTF-8 bytes, a key equal
// to the prefix, neighbours outside the prefix, a page boundary.
func TestFastListSplitsNumberedKeys(t *testing.T) {
	e := newEnv(t)
	const n = 40000
	var want []string
	for i := 0; i < n; i++ {
		want = append(want, fmt.Sprintf("ds/%06d.jpg", i))
	}
	want = append(want, "ds/", "ds/\u00e9t\u00e9.jpg", "ds/~x", "ds/ space")
	for _, k := range append([]string{"dr/1", "ds", "ds0/1", "dt/\u00e9"}, want...) {
		if err := e.srv.Put(tBucket, k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(want)
	e.faults(t, ossemu.Faults{LatencyMs: 10}) // every request waits: what runs in parallel shows
	fast := e.client(t, `,"datasetConfig":{"enableFastList":true,"listConcurrency":8}`)
	e.srv.ResetStats()
	var got []string
	if err := fast.List(bg, tBucket, "ds/", func(o ObjectInfo) error {
		got = append(got, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("FastList: %d keys, want %d (first difference near %v)", len(got), len(want), firstDiff(got, want))
	}
	st := e.srv.Stats()
	pages := int64(len(want)/listPageSize + 1)
	reqs := st.Count("ListObjectsV2", 0)
	t.Logf("%d list requests (%d pages sequentially), peak %d in flight", reqs, pages, st.PeakConcurrent)
	if st.PeakConcurrent < 5 {
		t.Errorf("peak %d list requests in flight with listConcurrency 8: the key range was not split", st.PeakConcurrent)
	}
	if reqs > 4*pages {
		t.Errorf("%d list requests for %d pages: splitting costs more than it saves", reqs, pages)
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("index %d: %q vs %q", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("index %d (one is a prefix of the other)", min(len(a), len(b)))
}

func TestMidpoint(t *testing.T) {
	for _, c := range [][2]string{{"a", "b"}, {"ds/a/1", "ds/\xff"}, {"", "\xff"}, {"x/0999", "x/1000"}} {
		m := midpoint(c[0], c[1])
		if !(c[0] < m && m < c[1]) {
			t.Errorf("midpoint(%q, %q) = %q is not between", c[0], c[1], m)
		}
	}
}

func TestGetChecksCRCAndResumes(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	data := pattern(3<<20, 1)
	e.put(t, c, "obj", data)

	// a reset mid-body: the read resumes from where it broke
	e.faults(t, ossemu.Faults{Seed: 1, ResetRate: 1, ResetAfterBytes: 1 << 20, Ops: []string{"GetObject"}, FaultLimit: 1})
	got, err := c.Get(bg, tBucket, "obj")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after reset: err %v, equal %v", err, bytes.Equal(got, data))
	}
	// a truncated body, likewise
	e.faults(t, ossemu.Faults{Seed: 2, TruncateRate: 1, TruncateAfterBytes: 777, Ops: []string{"GetObject"}, FaultLimit: 2})
	if got, err = c.Get(bg, tBucket, "obj"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after truncation: %v", err)
	}
	// a flipped byte once: caught by the CRC, read again, correct
	e.faults(t, ossemu.Faults{Seed: 3, FlipRate: 1, Ops: []string{"GetObject"}, FaultLimit: 1})
	if got, err = c.Get(bg, tBucket, "obj"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after one flip: %v", err)
	}
	// flipped every time: an integrity error, never corrupt bytes
	e.faults(t, ossemu.Faults{Seed: 4, FlipRate: 1, Ops: []string{"GetObject"}})
	got, err = c.Get(bg, tBucket, "obj")
	if !errors.Is(err, ErrIntegrity) || got != nil || kindOf(err) != KindNetwork {
		t.Fatalf("persistent flips: got %d bytes, err %v", len(got), err)
	}
	e.faults(t, ossemu.Faults{})
	// missing object: not found, with OSS's code and request id
	_, err = c.Get(bg, tBucket, "nope")
	var ce *Error
	if !errors.As(err, &ce) || ce.Kind != KindNotFound || ce.Code != "NoSuchKey" || ce.RequestID == "" || ce.Status != 404 {
		t.Fatalf("missing: %v", err)
	}
}

func TestReadRange(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	data := pattern(100000, 2)
	e.put(t, c, "r", data)
	buf := make([]byte, 1000)
	n, err := c.ReadRange(bg, tBucket, "r", 5000, buf)
	if err != nil || n != 1000 || !bytes.Equal(buf, data[5000:6000]) {
		t.Fatalf("range: %d %v", n, err)
	}
	n, err = c.ReadRange(bg, tBucket, "r", 99500, buf)
	if err != nil || n != 500 || !bytes.Equal(buf[:n], data[99500:]) {
		t.Fatalf("tail: %d %v", n, err)
	}
	n, err = c.ReadRange(bg, tBucket, "r", 200000, buf)
	if err != nil || n != 0 {
		t.Fatalf("past end: %d %v", n, err)
	}
}

func TestReaderRandomAccessAndIntegrity(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"readChunkSize":262144,"checkpointConfig":{"prefetchConcurrency":4}`)
	data := pattern(3<<20+12345, 3)
	e.put(t, c, "ckpt", data)
	r, err := c.OpenReader(bg, tBucket, "ckpt")
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != int64(len(data)) {
		t.Fatalf("size %d", r.Size())
	}
	// small reads at random places, a large read, sequential reads to EOF
	for _, off := range []int64{0, 7, 262143, 262144, 1 << 20, int64(len(data)) - 3} {
		p := make([]byte, 10)
		n, err := r.ReadAt(p, off)
		want := data[off:min(off+10, int64(len(data)))]
		if (err != nil && err != io.EOF) || !bytes.Equal(p[:n], want) {
			t.Fatalf("ReadAt(%d): %d %v", off, n, err)
		}
	}
	big := make([]byte, 2<<20)
	if n, err := r.ReadAt(big, 100); err != nil || n != len(big) || !bytes.Equal(big, data[100:100+len(big)]) {
		t.Fatalf("big read: %d %v", n, err)
	}
	r.Seek(0, io.SeekStart)
	all, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(all, data) {
		t.Fatalf("ReadAll: %v", err)
	}
	if pos, _ := r.Seek(-5, io.SeekEnd); pos != int64(len(data))-5 {
		t.Fatalf("SeekEnd: %d", pos)
	}
	r.Close()

	// resets during the reads are resumed
	e.faults(t, ossemu.Faults{Seed: 5, ResetRate: 0.5, ResetAfterBytes: 1000, Ops: []string{"GetObject"}, FaultLimit: 10})
	r, _ = c.OpenReader(bg, tBucket, "ckpt")
	if all, err = io.ReadAll(r); err != nil || !bytes.Equal(all, data) {
		t.Fatalf("with resets: %v", err)
	}
	r.Close()

	// a flipped byte in every GET: reading the whole object ends in an integrity error
	e.faults(t, ossemu.Faults{Seed: 6, FlipRate: 1, Ops: []string{"GetObject"}})
	r, _ = c.OpenReader(bg, tBucket, "ckpt")
	_, err = io.ReadAll(r)
	if !errors.Is(err, ErrIntegrity) {
		t.Fatalf("flips not detected: %v", err)
	}
	r.Close()
}

func TestBatchGetKeepsOrderAndReportsPerItem(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"datasetConfig":{"prefetchConcurrency":4}`)
	var items []Item
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("b/%d", i)
		if i != 13 {
			e.put(t, c, k, []byte(k))
		}
		items = append(items, Item{Bucket: tBucket, Key: k})
	}
	e.faults(t, ossemu.Faults{LatencyMs: 20})
	e.srv.ResetStats()
	res := c.BatchGet(bg, items)
	for i, r := range res {
		if i == 13 {
			if kindOf(r.Err) != KindNotFound {
				t.Fatalf("item 13: %v", r.Err)
			}
			continue
		}
		if r.Err != nil || string(r.Data) != items[i].Key {
			t.Fatalf("item %d: %q %v", i, r.Data, r.Err)
		}
	}
	if st := e.srv.Stats(); st.PeakConcurrent < 4 {
		t.Fatalf("batch ran with peak %d concurrent requests, want 4", st.PeakConcurrent)
	}
}

func TestPrefetchSharesAreDisjointAndComplete(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	want := map[string]bool{}
	for i := 0; i < 97; i++ {
		k := fmt.Sprintf("p/%03d", i)
		e.put(t, c, k, pattern(100+i, byte(i)))
		want[k] = true
	}
	seen := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for rank := 0; rank < 2; rank++ {
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := c.Prefetch(bg, PrefetchOptions{Bucket: tBucket, Prefix: "p/", WorkerID: w, WorkerCount: 3,
					Rank: rank, WorldSize: 2, Concurrency: 3, MemoryBudget: 1000})
				if err != nil {
					t.Error(err)
					return
				}
				for {
					o, ok := p.Next()
					if !ok {
						break
					}
					i := 0
					fmt.Sscanf(o.Key, "p/%03d", &i)
					if o.Err != nil || !bytes.Equal(o.Data, pattern(100+i, byte(i))) || o.Index%6 != rank*3+w {
						t.Errorf("%s: %v (index %d)", o.Key, o.Err, o.Index)
					}
					mu.Lock()
					seen[o.Key]++
					mu.Unlock()
				}
				if p.Err() != nil {
					t.Error(p.Err())
				}
			}()
		}
	}
	wg.Wait()
	for k := range want {
		if seen[k] != 1 {
			t.Fatalf("%s delivered %d times", k, seen[k])
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("delivered %d distinct, want %d", len(seen), len(want))
	}
	if _, err := c.Prefetch(bg, PrefetchOptions{Bucket: tBucket, WorkerID: 3, WorkerCount: 3}); kindOf(err) != KindInvalid {
		t.Fatalf("bad shard: %v", err)
	}
}

func TestWriterSmallLargeAbortAndFaults(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	write := func(key string, data []byte, o WriterOptions) error {
		w, err := c.NewWriter(bg, tBucket, key, o)
		if err != nil {
			return err
		}
		for off := 0; off < len(data); off += 70001 {
			if _, err := w.Write(data[off:min(off+70001, len(data))]); err != nil {
				w.Abort()
				return err
			}
		}
		return w.Close()
	}
	// small: one PUT
	e.srv.ResetStats()
	small := pattern(1000, 7) // below one part: a single PUT
	if err := write("w/small", small, WriterOptions{PartSize: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if st := e.srv.Stats(); st.Count("PutObject", 200) != 1 || st.Count("InitiateMultipartUpload", 0) != 0 {
		t.Fatalf("small write: %v", st.Requests)
	}
	// large: multipart, 2 parts in flight, with resets and a 500 on some parts
	e.faults(t, ossemu.Faults{Seed: 9, ResetRate: 0.3, ResetAfterBytes: 5000, ErrorRate500: 0.2, Ops: []string{"UploadPart"}, FaultLimit: 6})
	e.srv.ResetStats()
	large := pattern(5<<20+333, 8)
	if err := write("w/large", large, WriterOptions{PartSize: 1 << 20, Concurrency: 2}); err != nil {
		t.Fatal(err)
	}
	st := e.srv.Stats()
	if st.Count("CompleteMultipartUpload", 200) != 1 || st.Count("UploadPart", 200) != 6 || st.FaultsInjected == 0 {
		t.Fatalf("large write: %v (faults %d)", st.Requests, st.FaultsInjected)
	}
	e.faults(t, ossemu.Faults{})
	if got, err := c.Get(bg, tBucket, "w/large"); err != nil || !bytes.Equal(got, large) {
		t.Fatalf("large content: %v", err)
	}
	// abort: nothing visible, no upload left
	w, _ := c.NewWriter(bg, tBucket, "w/aborted", WriterOptions{PartSize: 1 << 20})
	w.Write(pattern(2<<20+5, 9))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(bg, tBucket, "w/aborted"); kindOf(err) != KindNotFound {
		t.Fatalf("aborted object visible: %v", err)
	}
	if _, err := w.Write([]byte("x")); kindOf(err) != KindInvalid {
		t.Fatalf("write after abort: %v", err)
	}
	// a part that fails for good: Close fails, nothing visible
	e.faults(t, ossemu.Faults{ErrorRate500: 1, Ops: []string{"UploadPart"}})
	if err := write("w/failed", large, WriterOptions{PartSize: 1 << 20, Concurrency: 2}); err == nil {
		t.Fatal("write with failing parts succeeded")
	}
	e.faults(t, ossemu.Faults{})
	if _, err := c.Stat(bg, tBucket, "w/failed"); kindOf(err) != KindNotFound {
		t.Fatalf("failed object visible: %v", err)
	}
}

func TestPartSizeRuleCoversTheMaximumObject(t *testing.T) {
	for _, base := range []int64{MinPartSize, 8 << 20, 64 << 20, MaxPartSize} {
		var written int64
		var n int
		for written < MaxObjectSize {
			n++
			written += PartSize(base, written, 0)
		}
		if n > MaxParts {
			t.Fatalf("base %d: %d bytes need %d parts", base, int64(MaxObjectSize), n)
		}
		if PartSize(base, 0, 0) != max(base, MinPartSize) {
			t.Fatalf("first part must be the base size")
		}
	}
	if got := PartSize(8<<20, 0, 1<<40); got*MaxParts < 1<<40 {
		t.Fatalf("hinted part size %d too small", got)
	}
	// the first GiBs are written with base-sized parts (memory stays low)
	if PartSize(8<<20, 400<<20, 0) != 8<<20 {
		t.Fatal("part size grew too early")
	}
}

func TestThrottlingHonoursQoSDelay(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	e.put(t, c, "q", []byte("q"))
	e.faults(t, ossemu.Faults{ErrorRate503: 1, QoSDelayMs: 300, FaultLimit: 2, Ops: []string{"GetObject"}})
	start := time.Now()
	if _, err := c.Get(bg, tBucket, "q"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 600*time.Millisecond {
		t.Fatalf("two throttled answers asked for 300 ms each, retried after %v", d)
	}
}

func TestStallLongerThanTheReadTimeoutIsResumed(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"readWriteTimeoutMs":300`)
	data := pattern(200000, 4)
	e.put(t, c, "s", data)
	e.faults(t, ossemu.Faults{StallRate: 1, StallMs: 3000, StallAfterBytes: 50000, Ops: []string{"GetObject"}, FaultLimit: 1})
	got, err := c.Get(bg, tBucket, "s")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stall: %v", err)
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

func TestAuditLogRecordsSlowRequestsAndNoSecrets(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"logLevel":0`)
	e.put(t, c, "slow", []byte("zzz"))
	e.faults(t, ossemu.Faults{LatencyMs: 150})
	if _, err := c.Get(bg, tBucket, "slow"); err != nil {
		t.Fatal(err)
	}
	e.faults(t, ossemu.Faults{})
	c.Get(bg, tBucket, "slow")    // fast: not audited
	c.Get(bg, tBucket, "missing") // fast, but refused: audited
	getLoggers(c.cfg).audit.Sync()
	getLoggers(c.cfg).log.Sync()
	raw, err := os.ReadFile(filepath.Join(e.dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"key":"missing"`) || !strings.Contains(lines[1], `"status":404`) {
		t.Fatalf("audit lines: %q", raw)
	}
	var rec map[string]any
	if err := jsonAPI.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"op", "bucket", "key", "range", "bytes", "latency", "status", "request_id"} {
		if _, ok := rec[f]; !ok {
			t.Fatalf("audit record lacks %s: %s", f, lines[0])
		}
	}
	if rec["op"] != "GetObject" || rec["key"] != "slow" || rec["status"].(float64) != 200 || rec["bytes"].(float64) != 3 {
		t.Fatalf("audit record: %s", lines[0])
	}
	logs, _ := os.ReadFile(filepath.Join(e.dir, "connector.log"))
	if strings.Contains(string(raw)+string(logs), tSK) {
		t.Fatal("a log contains the secret")
	}
}

func TestConfigFile(t *testing.T) {
	c, warnings, err := ParseConfig([]byte(`{"logLevel":2,"datasetConfig":{"prefetchConcurrency":8,"enableFastList":true,"bogus":1},"extra":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if *c.LogLevel != 2 || c.DatasetConfig.PrefetchConcurrency != 8 || !c.DatasetConfig.EnableFastList ||
		c.DatasetConfig.ListConcurrency != 16 || c.CheckpointConfig.UploadConcurrency != 64 || c.LogPath != DefaultLogPath {
		t.Fatalf("parsed %+v", c)
	}
	if len(warnings) != 2 || !strings.Contains(strings.Join(warnings, ";"), "datasetConfig.bogus") {
		t.Fatalf("warnings %v", warnings)
	}
	for raw, field := range map[string]string{
		`{"datasetConfig":{"prefetchConcurrency":"8"}}`: "datasetConfig.prefetchConcurrency",
		`{"datasetConfig":{"enableFastList":1}}`:        "datasetConfig.enableFastList",
		`{"logPath":5}`:                                 "logPath",
		`{"checkpointConfig":[]}`:                       "checkpointConfig",
		`{"partSize":-1}`:                               "partSize",
		`{"logLevel":"1"}`:                              "logLevel",
	} {
		_, _, err := ParseConfig([]byte(raw))
		if kindOf(err) != KindInvalid || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v", raw, err)
		}
	}
	if _, _, err := ParseConfig([]byte(`not json`)); kindOf(err) != KindInvalid {
		t.Errorf("not json: %v", err)
	}
	d := DefaultConfig()
	if d.DatasetConfig.PrefetchConcurrency != 24 || d.DatasetConfig.PrefetchWorker != 2 || d.DatasetConfig.ListWorker != 1 ||
		d.CheckpointConfig.PrefetchConcurrency != 24 || d.CheckpointConfig.PrefetchWorker != 4 || d.Level() != 1 {
		t.Fatalf("defaults %+v", d)
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

func TestStreamResumesAfterResets(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"readChunkSize":1048576`)
	data := pattern(5<<20+99, 11)
	e.put(t, c, "stream", data)
	e.faults(t, ossemu.Faults{Seed: 12, ResetRate: 0.5, ResetAfterBytes: 300000, Ops: []string{"GetObject"}, FaultLimit: 4})
	s, err := c.OpenStream(bg, tBucket, "stream")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, data) || s.Size() != int64(len(data)) {
		t.Fatalf("stream: %d bytes, err %v", len(got), err)
	}
	if e.srv.Stats().FaultsInjected == 0 {
		t.Fatal("no fault was injected: the test proves nothing")
	}
}

// slowComplete answers CompleteMultipartUpload only after the client gave up
// waiting, but completes it right away, as OSS does when a client drops.
type slowComplete struct {
	next  http.Handler
	delay time.Duration
	once  sync.Once
}

func (h *slowComplete) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Query().Has("uploadId") {
		first := false
		h.once.Do(func() { first = true })
		if first {
			rec := httptest.NewRecorder()
			h.next.ServeHTTP(rec, r) // the upload is completed now...
			time.Sleep(h.delay)      // ...but the answer comes too late
			return
		}
	}
	h.next.ServeHTTP(w, r)
}

func TestCompleteThatOutlivesTheClientTimeoutStillSucceeds(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewServer(&slowComplete{next: e.srv, delay: 1500 * time.Millisecond})
	defer ts.Close()
	e.url = ts.URL
	c := e.client(t, `,"readWriteTimeoutMs":300`)
	data := pattern(3<<20, 21)
	w, err := c.NewWriter(bg, tBucket, "slow-complete", WriterOptions{PartSize: 1 << 20, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got, err := c.Get(bg, tBucket, "slow-complete"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("content: %v", err)
	}
}

// A loader that asks for more than the QPS limit, for longer than maxAttempts
// throttled answers last, is slowed down to the limit: nothing fails. Other
// failures still end a request after maxAttempts.
func TestSustainedThrottlingSlowsDownInsteadOfFailing(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"maxAttempts":3,"datasetConfig":{"prefetchConcurrency":16}`)
	var items []Item
	for i := 0; i < 40; i++ {
		k := fmt.Sprintf("t/%02d", i)
		e.put(t, c, k, []byte(k))
		items = append(items, Item{Bucket: tBucket, Key: k})
	}
	e.faults(t, ossemu.Faults{QPSLimit: 20, QoSDelayMs: 50, Ops: []string{"GetObject"}})
	for i, r := range c.BatchGet(bg, items) {
		if r.Err != nil || string(r.Data) != items[i].Key {
			t.Fatalf("%s under a 20 qps limit: %v", items[i].Key, r.Err)
		}
	}
	if st := e.srv.Stats(); st.Count("GetObject", 503) < 20 {
		t.Fatalf("only %d throttled answers: the limit was not exceeded, the test proves nothing", st.Count("GetObject", 503))
	}
	// a plain 500 is a failure: 3 attempts, then the error
	e.faults(t, ossemu.Faults{ErrorRate500: 1, Ops: []string{"GetObject"}})
	e.srv.ResetStats()
	if _, err := c.Get(bg, tBucket, "t/00"); err == nil {
		t.Fatal("a GET that always gets 500 succeeded")
	}
	if n := e.srv.SettledStats().Count("GetObject", 0); n != 3 {
		t.Fatalf("%d attempts against 500s with maxAttempts 3", n)
	}
}

// The client follows the server's clock through RequestTimeTooSkewed answers,
// also when the skew changes again (NTP fixes it, or it drifts the other
// way): one refused request per change, none failed. With the SDK's own
// correction the second change failed every request.
func TestClockSkewIsCorrectedEachTimeItChanges(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"maxAttempts":2`)
	e.put(t, c, "k", []byte("v"))
	for _, skew := range []time.Duration{20 * time.Minute, 0, -20 * time.Minute, 35 * time.Minute, 0} {
		e.faults(t, ossemu.Faults{ClockOffsetMs: skew.Milliseconds()})
		e.srv.ResetStats()
		for i := 0; i < 3; i++ {
			if got, err := c.Get(bg, tBucket, "k"); err != nil || string(got) != "v" {
				t.Fatalf("server clock %v, GET %d: %v", skew, i, err)
			}
		}
		if n := e.srv.SettledStats().Count("GetObject", 403); n > 1 {
			t.Fatalf("server clock %v: %d requests refused as skewed; one is needed to learn the offset", skew, n)
		}
	}
}

// Every part buffer counts against the writer's budget (Concurrency x the
// first part size): the one being filled, those in flight and idle ones kept
// for reuse, also once parts have grown past the first size. Grown parts
// reuse the same slabs: no more are ever allocated than the budget holds,
// so none is left as garbage.
func TestWriterBuffersStayWithinTheBudgetAsPartsGrow(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	e.faults(t, ossemu.Faults{LatencyMs: 5, Ops: []string{"UploadPart"}}) // keep parts in flight
	const conc, base = 4, MinPartSize
	w, err := c.NewWriter(bg, tBucket, "w/grown", WriterOptions{PartSize: base, Concurrency: conc})
	if err != nil {
		t.Fatal(err)
	}
	total := growthDivisor*base + 12*base // parts grow over the last 12 MiB
	chunk := pattern(300_001, 5)
	var crc uint64
	for n := 0; n < total; n += len(chunk) {
		p := chunk[:min(len(chunk), total-n)]
		crc = crc64.Update(crc, crcTable, p)
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.partSize() == base {
		t.Fatal("parts never grew: the test proves nothing")
	}
	if w.peak > conc*base {
		t.Fatalf("part buffers peaked at %d bytes, budget %d", w.peak, conc*base)
	}
	if w.allocs > conc {
		t.Fatalf("%d slabs allocated, the budget holds %d: buffers were dropped and replaced", w.allocs, conc)
	}
	e.faults(t, ossemu.Faults{})
	got, err := c.Get(bg, tBucket, "w/grown")
	if err != nil || len(got) != total || crc64.Checksum(got, crcTable) != crc {
		t.Fatalf("object: %v, %d bytes, want %d", err, len(got), total)
	}
}

// torch.load reads a checkpoint as a zip: a record's 30-byte header, then its
// data a few bytes further on. Such a forward skip (less than a chunk) still
// counts as sequential: the chunks after the read are fetched ahead.
func TestReaderReadsAheadOverSmallForwardSkips(t *testing.T) {
	e := newEnv(t)
	const chunk = 256 << 10
	c := e.client(t, fmt.Sprintf(`,"readChunkSize":%d,"checkpointConfig":{"prefetchConcurrency":8}`, chunk))
	data := pattern(12*chunk+100, 6)
	e.put(t, c, "zip", data)
	r, err := c.OpenReader(bg, tBucket, "zip")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	e.srv.ResetStats()
	hdr, rec := make([]byte, 30), make([]byte, chunk)
	if _, err := r.ReadAt(hdr, 0); err != nil { // a header: chunk 0
		t.Fatal(err)
	}
	if _, err := r.ReadAt(rec, 64); err != nil || !bytes.Equal(rec, data[64:64+chunk]) { // its data: chunks 0-1
		t.Fatal(err)
	}
	// chunks 2..5 (half of the 8-chunk cache) are fetched ahead, without a read asking
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.Stats().Count("GetObject", 0) < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("%d GETs: nothing was read ahead", e.srv.Stats().Count("GetObject", 0))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := r.ReadAt(hdr, 11*chunk); err != nil { // elsewhere (one GET), so the next read is not sequential
		t.Fatal(err)
	}
	got := make([]byte, 2*chunk)
	if _, err := r.ReadAt(got, 2*chunk); err != nil || !bytes.Equal(got, data[2*chunk:4*chunk]) {
		t.Fatalf("read after read-ahead: %v", err)
	}
	if n := e.srv.SettledStats().Count("GetObject", 0); n != 7 {
		t.Fatalf("%d GETs for chunks 0-5 and 11, want 7: chunks read ahead were fetched again", n)
	}
}

// While a writer is open the process runs under a soft memory limit of what
// it held before plus the writers' budgets, so that buffers dropped as parts
// grow are collected before the RSS passes the budget; closing the last
// writer restores the previous limit (none).
func TestWritersSetAndRestoreASoftMemoryLimit(t *testing.T) {
	if os.Getenv("GOMEMLIMIT") != "" || os.Getenv("GOGC") != "" {
		t.Skip("GOMEMLIMIT or GOGC set: the writer leaves the runtime alone")
	}
	e := newEnv(t)
	c := e.client(t, "")
	before := debug.SetMemoryLimit(-1)
	w1, _ := c.NewWriter(bg, tBucket, "m/1", WriterOptions{PartSize: 8 << 20, Concurrency: 4})
	l1 := debug.SetMemoryLimit(-1)
	w2, _ := c.NewWriter(bg, tBucket, "m/2", WriterOptions{PartSize: 8 << 20, Concurrency: 8})
	l2 := debug.SetMemoryLimit(-1)
	if l1 == before || l1 == math.MaxInt64 || l2-l1 < 64<<20 || l2-l1 > 80<<20 {
		t.Fatalf("limits: none %d, one writer (32 MiB budget) %d, two (+64 MiB) %d", before, l1, l2)
	}
	w2.Abort()
	if got := debug.SetMemoryLimit(-1); got != l1 {
		t.Fatalf("after one writer ended the limit is %d, want %d", got, l1)
	}
	w1.Write([]byte("x"))
	if err := w1.Close(); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("after the last writer the limit is %d, want the previous %d", got, before)
	}
}
