package ossemu

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

func TestRangeRules(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u)
	data := testData(1000, 3)
	mustPut(t, c, testBucket, "r", data)

	// start, end < 0 means the whole object with 200 and no Content-Range;
	// status 416 means InvalidRange.
	type want struct {
		status     int
		start, end int
	}
	full := want{200, -1, -1}
	cases := []struct {
		rng              string
		legacy, standard want
	}{
		{"bytes=0-499", want{206, 0, 499}, want{206, 0, 499}},
		{"bytes=10-10", want{206, 10, 10}, want{206, 10, 10}},
		{"bytes=999-999", want{206, 999, 999}, want{206, 999, 999}},
		{"bytes=500-", want{206, 500, 999}, want{206, 500, 999}},    // open range
		{"bytes=-300", want{206, 700, 999}, want{206, 700, 999}},    // suffix
		{"bytes=-1000", want{206, 0, 999}, want{206, 0, 999}},       // suffix of exactly the size
		{"bytes=0-1000", full, want{206, 0, 999}},                   // end past EOF
		{"bytes=500-2000", full, want{206, 500, 999}},               // end past EOF
		{"bytes=1000-2000", full, want{416, 0, 0}},                  // start at EOF
		{"bytes=1000-", full, want{416, 0, 0}},                      // start at EOF, open
		{"bytes=5000-6000", full, want{416, 0, 0}},                  // start past EOF
		{"bytes=-2000", full, want{206, 0, 999}},                    // suffix longer than the object
		{"byte=0-499", full, full},                                  // invalid syntax: ignored
		{"bytes=abc", full, full},                                   // invalid syntax: ignored
		{"bytes=5-2", full, full},                                   // end before start: ignored
		{"bytes=x-5", full, full},                                   // invalid syntax: ignored
		{"items=0-5", full, full},                                   // other unit: ignored
		{"bytes=0-9,20-29", want{206, 0, 9}, want{416, 0, 0}},       // multi-range: first only / refused
		{" bytes=3-4 ", want{206, 3, 4}, want{206, 3, 4}},           // surrounding blanks
		{"bytes=-", full, full},                                     // nothing at all
		{"bytes=-0", full, want{416, 0, 0}},                         // empty suffix
		{fmt.Sprintf("bytes=0-%d", 1<<62), full, want{206, 0, 999}}, // huge end
	}
	for _, tc := range cases {
		for _, standard := range []bool{false, true} {
			w := tc.legacy
			req := &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("r"), Range: oss.Ptr(tc.rng)}
			if standard {
				w = tc.standard
				req.RangeBehavior = oss.Ptr("standard")
			}
			name := fmt.Sprintf("%q standard=%v", tc.rng, standard)
			res, err := c.GetObject(bg, req)
			if w.status == 416 {
				se := wantServiceError(t, err, 416, "InvalidRange")
				if se.EC == "" {
					t.Errorf("%s: no EC", name)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if res.StatusCode != w.status {
				t.Errorf("%s: status %d, want %d", name, res.StatusCode, w.status)
				continue
			}
			wantBody, wantCR := data, ""
			if w.start >= 0 {
				wantBody = data[w.start : w.end+1]
				wantCR = fmt.Sprintf("bytes %d-%d/1000", w.start, w.end)
			}
			if got := oss.ToString(res.ContentRange); got != wantCR {
				t.Errorf("%s: Content-Range %q, want %q", name, got, wantCR)
			}
			if !bytes.Equal(body, wantBody) || res.ContentLength != int64(len(wantBody)) {
				t.Errorf("%s: got %d bytes (Content-Length %d), want %d", name, len(body), res.ContentLength, len(wantBody))
			}
			// The CRC header is always the whole object's.
			if oss.ToString(res.HashCRC64) != fmt.Sprint(crcOf(data)) {
				t.Errorf("%s: CRC header %s", name, oss.ToString(res.HashCRC64))
			}
		}
	}
}

func TestRangeEmptyObject(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u)
	mustPut(t, c, testBucket, "empty", nil)
	res, err := c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("empty"), Range: oss.Ptr("bytes=0-")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || len(b) != 0 {
		t.Fatalf("legacy range on an empty object: %d, %d bytes", res.StatusCode, len(b))
	}
	_, err = c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("empty"), Range: oss.Ptr("bytes=0-"), RangeBehavior: oss.Ptr("standard")})
	wantServiceError(t, err, 416, "InvalidRange")
}

// TestRangeReaders checks the SDK's readers that rely on ranged GETs with
// the standard behaviour and on Content-Range.
func TestRangeReaders(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u)
	data := testData(3<<20+123, 4)
	mustPut(t, c, testBucket, "big", data)

	for _, prefetch := range []bool{false, true} {
		f, err := c.OpenFile(bg, testBucket, "big", func(o *oss.OpenOptions) {
			o.EnablePrefetch = prefetch
			o.ChunkSize = 1 << 20
			o.PrefetchNum = 2
			o.PrefetchThreshold = 0
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("prefetch=%v: read %d bytes, err %v", prefetch, len(got), err)
		}
		for _, off := range []int64{0, 1, 1 << 20, int64(len(data)) - 10} {
			if _, err := f.Seek(off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 10)
			if _, err := io.ReadFull(f, buf); err != nil || !bytes.Equal(buf, data[off:off+10]) {
				t.Fatalf("prefetch=%v: read at %d: %v", prefetch, off, err)
			}
		}
		f.Close()
	}

	path := t.TempDir() + "/out"
	d := c.NewDownloader(func(o *oss.DownloaderOptions) { o.PartSize = 1 << 20; o.ParallelNum = 3 })
	if _, err := d.DownloadFile(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("big")}, path); err != nil {
		t.Fatalf("downloader: %v", err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs (%v)", err)
	}
}
