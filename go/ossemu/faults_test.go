package ossemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

func setFaults(t *testing.T, s *Server, f Faults) {
	t.Helper()
	waitIdle(t, s) // so that earlier requests do not count after the reset
	if err := s.SetFaults(f); err != nil {
		t.Fatal(err)
	}
	s.ResetStats()
}

// rawGet does a GetObject and reads the body without any of the SDK's
// resuming readers.
func rawGet(c *oss.Client, key string) ([]byte, *oss.GetObjectResult, error) {
	res, err := c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key)})
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return b, res, err
}

func readAllFile(t *testing.T, c *oss.Client, key string, prefetch bool) []byte {
	t.Helper()
	f, err := c.OpenFile(bg, testBucket, key, func(o *oss.OpenOptions) {
		o.EnablePrefetch = prefetch
		o.ChunkSize = 1 << 20
		o.PrefetchThreshold = 0
	})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("ReadOnlyFile (prefetch %v): %v", prefetch, err)
	}
	return b
}

func TestFaultsValidate(t *testing.T) {
	for _, f := range []Faults{{ErrorRate500: 1.5}, {FlipRate: -0.1}, {LatencyMs: -1}, {FaultLimit: -2}, {KeyPattern: "["}, {Ops: []string{" "}}, {OpLatencyMs: map[string]int{"GetObject": -1}}} {
		if _, err := New(Options{Anonymous: true, Faults: f}); err == nil {
			t.Errorf("New accepted %+v", f)
		}
		s, _ := New(Options{Anonymous: true})
		if err := s.SetFaults(f); err == nil {
			t.Errorf("SetFaults accepted %+v", f)
		}
	}
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, nil)
	c := newClient(u)
	mustPut(t, c, testBucket, "k", []byte("v"))
	setFaults(t, srv, Faults{LatencyMs: 150, LatencyJitterMs: 50})
	for i := 0; i < 3; i++ {
		start := time.Now()
		if _, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("k")}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Fatalf("request took %v with 150 ms latency", d)
		}
	}
	if got := srv.Faults(); got.LatencyMs != 150 || got.LatencyJitterMs != 50 {
		t.Fatalf("Faults() = %+v", got)
	}
}

func TestFaultOpLatencySlowsOnlyThatOperation(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, nil)
	c := newClient(u)
	mustPut(t, c, testBucket, "k", []byte("v"))
	setFaults(t, srv, Faults{OpLatencyMs: map[string]int{"HeadObject": 150}})
	start := time.Now()
	if _, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("k")}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("HeadObject took %v with 150 ms of latency for it", d)
	}
	// another operation is not held up: 20 of them take less than one delayed request would
	start = time.Now()
	for i := 0; i < 20; i++ {
		if _, _, err := rawGet(c, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d >= 150*time.Millisecond*20 {
		t.Fatalf("20 GETs took %v", d)
	}
}

func TestFaultQPSLimit(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, nil)
	mustPut(t, newClient(u), testBucket, "k", []byte("v"))
	setFaults(t, srv, Faults{QPSLimit: 2, QoSDelayMs: 250})

	// Without retries, a burst past the limit is refused.
	c := newClient(u, noRetry)
	var se *oss.ServiceError
	for i := 0; i < 50 && se == nil; i++ {
		_, err := c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("k")})
		if err != nil {
			se = wantServiceError(t, err, 503, "TotalQpsLimitExceeded")
		}
	}
	if se == nil {
		t.Fatal("50 requests in a row were not throttled at 2 QPS")
	}
	if se.Headers.Get("x-oss-qos-delay-time") != "250" || se.EC != "0004-00000302" {
		t.Fatalf("throttling answer: %+v", se)
	}

	// The SDK retries throttled requests until the bucket refills.
	setFaults(t, srv, Faults{QPSLimit: 5})
	c = newClient(u, withRetries(100))
	for i := 0; i < 15; i++ {
		if _, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("k")}); err != nil {
			t.Fatal(err)
		}
	}
	st := srv.SettledStats()
	if st.Count("HeadObject", 200) != 15 || st.Count("HeadObject", 503) == 0 || st.FaultsInjected != st.Count("HeadObject", 503) {
		t.Fatalf("stats: %v, %d faults", st.Requests, st.FaultsInjected)
	}
}

func TestFaultErrorRates(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, nil)
	data := testData(1000, 1)
	mustPut(t, newClient(u), testBucket, "hot/k", data)
	mustPut(t, newClient(u), testBucket, "cold/k", data)
	for _, c := range []struct {
		status int
		code   string
		f      Faults
	}{
		{500, "InternalError", Faults{ErrorRate500: 1}},
		{503, "ServiceUnavailable", Faults{ErrorRate503: 1, QoSDelayMs: 77}},
	} {
		// Two faults, three attempts: the SDK retries to success.
		f := c.f
		f.Seed, f.FaultLimit, f.Ops = 1, 2, []string{"GetObject"}
		setFaults(t, srv, f)
		cl := newClient(u, withRetries(3))
		b, _, err := rawGet(cl, "hot/k")
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("%d: %v", c.status, err)
		}
		st := srv.SettledStats()
		if st.Count("GetObject", c.status) != 2 || st.Count("GetObject", 200) != 1 || st.FaultsInjected != 2 {
			t.Fatalf("%d: stats %v, %d faults", c.status, st.Requests, st.FaultsInjected)
		}
		// More faults than attempts: the error reaches the caller.
		f.FaultLimit = 10
		setFaults(t, srv, f)
		_, err = cl.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("hot/k")})
		se := wantServiceError(t, err, c.status, c.code)
		if c.status == 503 && se.Headers.Get("x-oss-qos-delay-time") != "77" {
			t.Fatalf("503 without x-oss-qos-delay-time: %v", se.Headers)
		}
		if n := srv.SettledStats().Count("GetObject", c.status); n != 3 {
			t.Fatalf("%d: %d attempts, want 3", c.status, n)
		}
		// Other operations and other keys are not touched.
		if _, err := cl.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("hot/k")}); err != nil {
			t.Fatal(err)
		}
		f.KeyPattern = "hot/*"
		setFaults(t, srv, f)
		if b, _, err := rawGet(cl, "cold/k"); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("cold key: %v", err)
		}
		if _, _, err := rawGet(cl, "hot/k"); err == nil {
			t.Fatal("hot key not faulted")
		}
	}
}

func TestFaultSeedDeterminism(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, nil)
	c := newClient(u, noRetry)
	mustPut(t, c, testBucket, "k", []byte("v"))
	pattern := func() string {
		setFaults(t, srv, Faults{Seed: 42, ErrorRate500: 0.5})
		var b strings.Builder
		for i := 0; i < 40; i++ {
			if _, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("k")}); err != nil {
				wantServiceError(t, err, 500, "InternalError")
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	p1, p2 := pattern(), pattern()
	if p1 != p2 || !strings.Contains(p1, "x") || !strings.Contains(p1, ".") {
		t.Fatalf("patterns %s and %s", p1, p2)
	}
}

func TestFaultResetOnRead(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, nil)
	c := newClient(u, noRetry)
	data := testData(300<<10, 2)
	mustPut(t, c, testBucket, "r", data)

	setFaults(t, srv, Faults{Seed: 1, ResetRate: 1, ResetAfterBytes: 100000, Ops: []string{"GetObject"}, FaultLimit: 1})
	b, res, err := rawGet(c, "r")
	if res == nil || res.StatusCode != 200 || res.ContentLength != int64(len(data)) {
		t.Fatalf("headers did not arrive: %v", err)
	}
	if err == nil || len(b) > 100000 || !bytes.Equal(b, data[:len(b)]) {
		t.Fatalf("raw read of a reset body: %d bytes, err %v", len(b), err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("not a connection error: %v", err)
	}
	if st := srv.SettledStats(); st.Count("GetObject", statusReset) != 1 || st.FaultsInjected != 1 {
		t.Fatalf("stats: %v", st.Requests)
	}
	// The SDK's ReadOnlyFile resumes at the offset it reached.
	for _, prefetch := range []bool{false, true} {
		setFaults(t, srv, Faults{Seed: 1, ResetRate: 1, ResetAfterBytes: 70000, Ops: []string{"GetObject"}, FaultLimit: 3})
		if got := readAllFile(t, c, "r", prefetch); !bytes.Equal(got, data) {
			t.Fatalf("prefetch %v: resumed read differs", prefetch)
		}
		if n := srv.SettledStats().Count("GetObject", statusReset); n != 3 {
			t.Fatalf("prefetch %v: %d resets, want 3", prefetch, n)
		}
	}
}

func TestFaultTruncate(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, nil)
	c := newClient(u, noRetry)
	data := testData(64<<10, 3)
	mustPut(t, c, testBucket, "t", data)
	setFaults(t, srv, Faults{TruncateRate: 1, TruncateAfterBytes: 5000, FaultLimit: 1})
	b, res, err := rawGet(c, "t")
	if res == nil || res.ContentLength != int64(len(data)) {
		t.Fatalf("headers: %v", err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(b, data[:5000]) {
		t.Fatalf("truncated read: %d bytes, err %v", len(b), err)
	}
	if st := srv.SettledStats(); st.Count("GetObject", statusTruncated) != 1 {
		t.Fatalf("stats: %v", st.Requests)
	}
	setFaults(t, srv, Faults{TruncateRate: 1, TruncateAfterBytes: 5000, FaultLimit: 2})
	if got := readAllFile(t, c, "t", false); !bytes.Equal(got, data) {
		t.Fatal("resumed read differs")
	}
	// A fault point past the end of a short body still cuts it.
	mustPut(t, c, testBucket, "short", []byte("0123456789"))
	setFaults(t, srv, Faults{TruncateRate: 1, TruncateAfterBytes: 1 << 20, FaultLimit: 1})
	if b, _, err := rawGet(c, "short"); !errors.Is(err, io.ErrUnexpectedEOF) || string(b) != "012345678" {
		t.Fatalf("short body: %q %v", b, err)
	}
	// A one-byte body (a resumed read's tail) is cut only at 0 bytes asked
	// for: a cut after N > 0 bytes always lets a resumed read progress.
	mustPut(t, c, testBucket, "one", []byte("x"))
	for _, f := range []Faults{
		{TruncateRate: 1, TruncateAfterBytes: 1000, FaultLimit: 1},
		{ResetRate: 1, ResetAfterBytes: 1000, FaultLimit: 1},
	} {
		setFaults(t, srv, f)
		if b, _, err := rawGet(c, "one"); err != nil || string(b) != "x" {
			t.Fatalf("one-byte body with %+v: %q %v", f, b, err)
		}
	}
	setFaults(t, srv, Faults{TruncateRate: 1, TruncateAfterBytes: 0, FaultLimit: 1})
	if b, _, err := rawGet(c, "one"); !errors.Is(err, io.ErrUnexpectedEOF) || len(b) != 0 {
		t.Fatalf("one-byte body cut at 0: %q %v", b, err)
	}
}

func TestFaultStall(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, nil)
	data := testData(50<<10, 4)
	mustPut(t, newClient(u), testBucket, "s", data)

	// The read completes after the stall.
	setFaults(t, srv, Faults{StallRate: 1, StallMs: 300, StallAfterBytes: 1000, FaultLimit: 1})
	start := time.Now()
	b, _, err := rawGet(newClient(u), "s")
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("stalled read: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("stalled read took %v", d)
	}
	// A client with a shorter read timeout gives up.
	setFaults(t, srv, Faults{StallRate: 1, StallMs: 3000, StallAfterBytes: 1000, FaultLimit: 1})
	c := newClient(u, noRetry, func(cfg *oss.Config) { cfg.WithReadWriteTimeout(500 * time.Millisecond) })
	b, res, err := rawGet(c, "s")
	if res == nil {
		t.Fatalf("headers did not arrive: %v", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || len(b) > 1000 {
		t.Fatalf("want a timeout after at most 1000 bytes, got %d bytes, %v", len(b), err)
	}
	// A request that stalls before the first body byte holds back nothing else.
	setFaults(t, srv, Faults{StallRate: 1, StallMs: 200, StallAfterBytes: 0, Ops: []string{"GetObject"}, FaultLimit: 1})
	if b, _, err := rawGet(newClient(u), "s"); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("stall at 0: %v", err)
	}
}

func TestFaultFlip(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, nil)
	c := newClient(u, noRetry)
	data := testData(40<<10, 5)
	mustPut(t, c, testBucket, "f", data)
	setFaults(t, srv, Faults{Seed: 9, FlipRate: 1, FaultLimit: 1})
	b, res, err := rawGet(c, "f")
	if err != nil || len(b) != len(data) {
		t.Fatalf("flipped read: %d bytes, %v", len(b), err)
	}
	var diff []int
	for i := range b {
		if b[i] != data[i] {
			diff = append(diff, i)
		}
	}
	if len(diff) != 1 || b[diff[0]] != ^data[diff[0]] {
		t.Fatalf("%d bytes differ", len(diff))
	}
	// The CRC header is the true one, so a client-side check notices.
	if oss.ToString(res.HashCRC64) != strconv.FormatUint(crcOf(data), 10) || crcOf(b) == crcOf(data) {
		t.Fatal("CRC header does not expose the flip")
	}
	// The SDK's GetObjectToFile checks the CRC, and retries.
	path := t.TempDir() + "/f"
	setFaults(t, srv, Faults{Seed: 9, FlipRate: 1})
	if _, err := c.GetObjectToFile(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("f")}, path); err == nil ||
		!strings.Contains(err.Error(), "crc is inconsistent") {
		t.Fatalf("GetObjectToFile with every body flipped: %v", err)
	}
	setFaults(t, srv, Faults{Seed: 9, FlipRate: 1, FaultLimit: 1})
	if _, err := c.GetObjectToFile(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("f")}, path); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
}

func TestFaultsOnUpload(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, nil)
	data := testData(100<<10, 6)

	t.Run("ResetSeekable", func(t *testing.T) {
		mustPut(t, newClient(u), testBucket, "up/reset", []byte("old"))
		setFaults(t, srv, Faults{ResetRate: 1, ResetAfterBytes: 20000, Ops: []string{"PutObject"}, FaultLimit: 1})
		c := newClient(u, withRetries(3))
		mustPut(t, c, testBucket, "up/reset", data)
		if got := mustGet(t, c, testBucket, "up/reset"); !bytes.Equal(got, data) {
			t.Fatal("content differs")
		}
		waitIdle(t, srv)
		// The reset shows in the stats as statusReset, not as an error answer that
		// was never sent.
		if st := srv.SettledStats(); st.Count("PutObject", statusReset) != 1 || st.Count("PutObject", 200) != 1 || st.Count("PutObject", 0) != 2 {
			t.Fatalf("stats: %v", st.Requests)
		}
	})

	t.Run("ResetNotSeekable", func(t *testing.T) {
		mustPut(t, newClient(u), testBucket, "up/reset2", []byte("old"))
		setFaults(t, srv, Faults{ResetRate: 1, ResetAfterBytes: 20000, Ops: []string{"PutObject"}, FaultLimit: 1})
		c := newClient(u, withRetries(3))
		_, err := c.PutObject(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("up/reset2"), Body: readerOnly{bytes.NewReader(data)},
			ContentLength: oss.Ptr(int64(len(data)))})
		if err == nil {
			t.Fatal("a reset upload of a stream succeeded")
		}
		waitIdle(t, srv)
		if got := mustGet(t, c, testBucket, "up/reset2"); string(got) != "old" {
			t.Fatal("the old object changed")
		}
	})

	t.Run("ResetUploadPart", func(t *testing.T) {
		setFaults(t, srv, Faults{ResetRate: 1, ResetAfterBytes: 1000, Ops: []string{"UploadPart"}, FaultLimit: 2})
		c := newClient(u, withRetries(3))
		big := testData(300<<10, 7)
		up := c.NewUploader(func(o *oss.UploaderOptions) { o.PartSize = 100 << 10; o.ParallelNum = 2 })
		if _, err := up.UploadFrom(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("up/mp")}, bytes.NewReader(big)); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, c, testBucket, "up/mp"); !bytes.Equal(got, big) {
			t.Fatal("content differs")
		}
		waitIdle(t, srv)
		if n := srv.SettledStats().Count("UploadPart", statusReset); n != 2 {
			t.Fatalf("%d resets", n)
		}
	})

	t.Run("Flip", func(t *testing.T) {
		// The server stores (and reports the CRC of) a corrupted body: the
		// SDK's upload CRC check notices and retries.
		setFaults(t, srv, Faults{Seed: 3, FlipRate: 1, Ops: []string{"PutObject"}, FaultLimit: 1})
		c := newClient(u, withRetries(3))
		mustPut(t, c, testBucket, "up/flip", data)
		if got := mustGet(t, c, testBucket, "up/flip"); !bytes.Equal(got, data) {
			t.Fatal("content differs")
		}
		if n := srv.SettledStats().Count("PutObject", 200); n != 2 {
			t.Fatalf("%d attempts, want 2", n)
		}
		setFaults(t, srv, Faults{Seed: 3, FlipRate: 1, Ops: []string{"PutObject"}})
		_, err := c.PutObject(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("up/flip2"), Body: bytes.NewReader(data)})
		if err == nil || !strings.Contains(err.Error(), "crc is inconsistent") {
			t.Fatalf("every upload flipped: %v", err)
		}
		// UploadPart is checked the same way.
		setFaults(t, srv, Faults{Seed: 3, FlipRate: 1, Ops: []string{"UploadPart"}, FaultLimit: 1})
		big := testData(250<<10, 8)
		up := c.NewUploader(func(o *oss.UploaderOptions) { o.PartSize = 100 << 10 })
		if _, err := up.UploadFrom(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("up/flipmp")}, bytes.NewReader(big)); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, c, testBucket, "up/flipmp"); !bytes.Equal(got, big) {
			t.Fatal("multipart content differs")
		}
		// Appends with a CRC chain too.
		setFaults(t, srv, Faults{Seed: 3, FlipRate: 1, Ops: []string{"AppendObject"}, FaultLimit: 1})
		_, err = c.AppendObject(bg, appendReq("up/app", 0, data, oss.Ptr("0")))
		if err == nil || !strings.Contains(err.Error(), "crc is inconsistent") {
			t.Fatalf("flipped append: %v", err)
		}
	})

	t.Run("ErrorsRetried", func(t *testing.T) {
		setFaults(t, srv, Faults{ErrorRate503: 1, Ops: []string{"PutObject"}, FaultLimit: 2})
		c := newClient(u, withRetries(3))
		mustPut(t, c, testBucket, "up/503", data)
		// A stream cannot be rewound, so it is sent once.
		setFaults(t, srv, Faults{ErrorRate503: 1, Ops: []string{"PutObject"}, FaultLimit: 2})
		_, err := c.PutObject(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("up/503b"), Body: readerOnly{bytes.NewReader(data)}})
		wantServiceError(t, err, 503, "ServiceUnavailable")
		if n := srv.SettledStats().Count("PutObject", 503); n != 1 {
			t.Fatalf("%d attempts", n)
		}
	})

	t.Run("Stall", func(t *testing.T) {
		setFaults(t, srv, Faults{StallRate: 1, StallMs: 200, StallAfterBytes: 5000, Ops: []string{"PutObject"}, FaultLimit: 1})
		start := time.Now()
		mustPut(t, newClient(u), testBucket, "up/stall", data)
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Fatalf("stalled upload took %v", d)
		}
		if got := mustGet(t, newClient(u), testBucket, "up/stall"); !bytes.Equal(got, data) {
			t.Fatal("content differs")
		}
	})
}

func TestStats(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, nil)
	c := newClient(u, noRetry)
	data := testData(1000, 9)
	srv.ResetStats()
	mustPut(t, c, testBucket, "a", data)
	if st := srv.SettledStats(); st.BytesIn != 1000 || st.BytesOut != 0 || st.Objects != 1 || st.StoredBytes != 1000 {
		t.Fatalf("after put: %+v", st)
	}
	if got := mustGet(t, c, testBucket, "a"); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	if st := srv.SettledStats(); st.BytesOut != 1000 {
		t.Fatalf("after get: %+v", st)
	}
	_, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("missing")})
	wantServiceError(t, err, 404, "NoSuchKey")
	for i := 0; i < 3; i++ {
		mustPut(t, c, testBucket, fmt.Sprintf("l/%d", i), nil)
	}
	p := c.NewListObjectsV2Paginator(&oss.ListObjectsV2Request{Bucket: oss.Ptr(testBucket), MaxKeys: 1})
	for p.HasNext() {
		if _, err := p.NextPage(bg); err != nil {
			t.Fatal(err)
		}
	}
	st := srv.SettledStats()
	want := map[string]map[string]int64{
		"PutObject":     {"200": 4},
		"GetObject":     {"200": 1},
		"HeadObject":    {"404": 1},
		"ListObjectsV2": {"200": 4},
	}
	if fmt.Sprint(st.Requests) != fmt.Sprint(want) || st.ListPages != 4 || st.Objects != 4 || st.StoredBytes != 1000 || st.FaultsInjected != 0 {
		t.Fatalf("stats: %+v", st)
	}
	if st.Count("PutObject", 0) != 4 || st.Count("PutObject", 200) != 4 || st.Count("PutObject", 500) != 0 {
		t.Fatal("Count")
	}

	// Peak concurrency: a request stalled in its body is in flight while
	// another one runs.
	srv.ResetStats()
	setFaults(t, srv, Faults{StallRate: 1, StallMs: 500, StallAfterBytes: 10, Ops: []string{"GetObject"}, FaultLimit: 1})
	res, err := c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("a")})
	if err != nil {
		t.Fatal(err)
	}
	if cur := srv.Stats().Concurrent; cur != 1 {
		t.Fatalf("%d requests in flight during a stall", cur)
	}
	if _, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("a")}); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || !bytes.Equal(b, data) {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	if st := srv.SettledStats(); st.PeakConcurrent != 2 || st.Concurrent != 0 || st.FaultsInjected != 1 ||
		st.PeakByOp["GetObject"] != 1 || st.PeakByOp["HeadObject"] != 1 {
		t.Fatalf("concurrency: %+v", st)
	}

	// The admin endpoint serves the same numbers as JSON.
	resp, err := http.Get(u + "/_ossemu/stats")
	if err != nil {
		t.Fatal(err)
	}
	var got Stats
	err = jsonAPI.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("stats endpoint: %d %v", resp.StatusCode, err)
	}
	if want := srv.SettledStats(); fmt.Sprint(got) != fmt.Sprint(want) || got.PeakConcurrent != 2 || got.Count("GetObject", 200) != 1 {
		t.Fatalf("stats endpoint %+v, want %+v", got, want)
	}
}

// A body paced at rate r takes size/r: the pacer sleeps until the schedule
// (few, longer sleeps, each at least a timer's resolution), not m/r after
// every 32 KiB write, which a ~1 ms timer stretched to a quarter of r.
func TestPacerKeepsToTheRateWithCoarseTimers(t *testing.T) {
	var clock time.Time = time.Unix(1000, 0)
	sleeps := 0
	p := newBodyPacer(100_000_000)
	p.now, p.last = func() time.Time { return clock }, clock
	p.sleep = func(_ context.Context, d time.Duration) error {
		sleeps++
		clock = clock.Add(max(d, time.Millisecond)) // a timer never wakes sooner than ~1 ms
		return nil
	}
	start := clock
	const size = 8 << 20
	for sent := 0; sent < size; sent += 32 << 10 {
		if err := p.wait(context.Background(), 32<<10); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(20 * time.Microsecond) // the write itself
	}
	want := time.Duration(float64(size) / 1e8 * float64(time.Second))
	if got := clock.Sub(start); got < want-minPaceSleep || got > want+want/10 {
		t.Fatalf("8 MiB at 100 MB/s took %v of simulated time, want about %v (%d sleeps)", got, want, sleeps)
	}
	if sleeps > int(want/minPaceSleep)+1 {
		t.Fatalf("%d sleeps for %v: shorter than a timer can keep", sleeps, want)
	}
	if err := newBodyPacer(0).wait(context.Background(), 1<<30); err != nil {
		t.Fatal("no rate: no wait")
	}
}
