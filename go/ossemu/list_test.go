package ossemu

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

// entry is one listing entry: a key or a common prefix.
type entry struct {
	name     string
	isPrefix bool
}

func (e entry) String() string {
	if e.isPrefix {
		return "P:" + e.name
	}
	return "K:" + e.name
}

// expectedListing is the listing of keys by the plain definition: keys
// after `after` under prefix, those with a delimiter after the prefix rolled
// up into one common prefix each, in key order.
func expectedListing(keys []string, prefix, delim, after string) []entry {
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	var out []entry
	for _, k := range sorted {
		if k <= after || !strings.HasPrefix(k, prefix) {
			continue
		}
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				cp := k[:len(prefix)+i+len(delim)]
				if len(out) == 0 || out[len(out)-1] != (entry{cp, true}) {
					out = append(out, entry{cp, true})
				}
				continue
			}
		}
		out = append(out, entry{k, false})
	}
	return out
}

// pageEntries merges a page's contents and common prefixes in key order.
func pageEntries(contents []oss.ObjectProperties, prefixes []oss.CommonPrefix) []entry {
	var out []entry
	for _, c := range contents {
		out = append(out, entry{oss.ToString(c.Key), false})
	}
	for _, p := range prefixes {
		out = append(out, entry{oss.ToString(p.Prefix), true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// listKeys is a key set whose common prefixes fall on every page boundary
// for small MaxKeys: keys that sort between prefixes ("a0" after "a/...",
// "b.txt" before "b/"), a directory marker "c/", nested prefixes.
func listKeys() []string {
	var keys []string
	for _, p := range []string{"a", "b", "c", "d", "e"} {
		for i := 0; i < 4; i++ {
			keys = append(keys, fmt.Sprintf("%s/%d", p, i))
		}
		keys = append(keys, p+"/sub/x", p+"/sub/y")
	}
	return append(keys, "a0", "b", "b.txt", "c/", "top1", "top2", "z")
}

func putKeys(t *testing.T, c *oss.Client, keys []string) {
	t.Helper()
	for _, k := range keys {
		mustPut(t, c, testBucket, k, []byte(k))
	}
}

func listV2All(t *testing.T, c *oss.Client, req oss.ListObjectsV2Request) (all []entry, pages int) {
	t.Helper()
	req.Bucket = oss.Ptr(testBucket)
	p := c.NewListObjectsV2Paginator(&req)
	for p.HasNext() {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got := pageEntries(page.Contents, page.CommonPrefixes)
		if page.KeyCount != len(got) {
			t.Fatalf("page %d: KeyCount %d for %d entries", pages, page.KeyCount, len(got))
		}
		if req.MaxKeys > 0 && len(got) > int(req.MaxKeys) {
			t.Fatalf("page %d: %d entries, MaxKeys %d", pages, len(got), req.MaxKeys)
		}
		if page.IsTruncated != (page.NextContinuationToken != nil) || (page.IsTruncated && len(got) == 0) {
			t.Fatalf("page %d: truncated %v, token %v, %d entries", pages, page.IsTruncated, page.NextContinuationToken, len(got))
		}
		all = append(all, got...)
		if pages > 1000 {
			t.Fatal("endless pagination")
		}
	}
	return all, pages
}

func listV1All(t *testing.T, c *oss.Client, req oss.ListObjectsRequest) (all []entry, pages int) {
	t.Helper()
	req.Bucket = oss.Ptr(testBucket)
	p := c.NewListObjectsPaginator(&req)
	for p.HasNext() {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got := pageEntries(page.Contents, page.CommonPrefixes)
		if req.MaxKeys > 0 && len(got) > int(req.MaxKeys) {
			t.Fatalf("page %d: %d entries, MaxKeys %d", pages, len(got), req.MaxKeys)
		}
		all = append(all, got...)
		if pages > 1000 {
			t.Fatal("endless pagination")
		}
	}
	return all, pages
}

func sameEntries(t *testing.T, what string, got, want []entry) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\ngot  %v\nwant %v", what, got, want)
	}
}

func TestListV2Pagination(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, nil)
	c := newClient(u)
	keys := listKeys()
	putKeys(t, c, keys)

	for _, delim := range []string{"/", ""} {
		for _, prefix := range []string{"", "a/", "b", "c/", "nothing"} {
			want := expectedListing(keys, prefix, delim, "")
			for _, maxKeys := range []int32{1, 2, 3, 4, 7, 1000} {
				srv.ResetStats()
				got, pages := listV2All(t, c, oss.ListObjectsV2Request{Prefix: oss.Ptr(prefix), Delimiter: oss.Ptr(delim), MaxKeys: maxKeys})
				what := fmt.Sprintf("prefix %q delimiter %q max-keys %d", prefix, delim, maxKeys)
				sameEntries(t, what, got, want)
				if wantPages := max(1, (len(want)+int(maxKeys)-1)/int(maxKeys)); pages != wantPages {
					t.Fatalf("%s: %d pages, want %d", what, pages, wantPages)
				}
				if st := srv.SettledStats(); st.ListPages != int64(pages) || st.Count("ListObjectsV2", 200) != int64(pages) {
					t.Fatalf("%s: stats %d pages, %v", what, st.ListPages, st.Requests)
				}
			}
		}
	}
	// The top level, spelled out once, so the model above is checked too.
	top := expectedListing(keys, "", "/", "")
	if fmt.Sprint(top) != "[P:a/ K:a0 K:b K:b.txt P:b/ P:c/ P:d/ P:e/ K:top1 K:top2 K:z]" {
		t.Fatalf("model: %v", top)
	}
}

// A key deleted and written again is listed once, whether or not a listing
// ran in between (the index keeps deleted keys until the next listing).
func TestListV2RewrittenKeyOnce(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u)
	del := func(k string) {
		if _, err := c.DeleteObject(bg, &oss.DeleteObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(k)}); err != nil {
			t.Fatal(err)
		}
	}
	putKeys(t, c, []string{"a", "b", "c"})
	listV2All(t, c, oss.ListObjectsV2Request{}) // the index is merged
	del("b")
	putKeys(t, c, []string{"b", "d"}) // b: deleted from the merged index, written again
	del("d")
	putKeys(t, c, []string{"d"}) // d: written, deleted and written again before any listing
	got, _ := listV2All(t, c, oss.ListObjectsV2Request{})
	sameEntries(t, "rewritten keys", got, expectedListing([]string{"a", "b", "c", "d"}, "", "", ""))
}

func TestListV2StartAfter(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u)
	keys := listKeys()
	putKeys(t, c, keys)
	for _, after := range []string{"a", "a/2", "a/sub/x", "a0", "b", "b.txt", "b/", "b/zzz", "c/", "top1", "z", "zz"} {
		for _, delim := range []string{"/", ""} {
			for _, maxKeys := range []int32{2, 1000} {
				want := expectedListing(keys, "", delim, after)
				got, _ := listV2All(t, c, oss.ListObjectsV2Request{StartAfter: oss.Ptr(after), Delimiter: oss.Ptr(delim), MaxKeys: maxKeys})
				sameEntries(t, fmt.Sprintf("start-after %q delimiter %q max-keys %d", after, delim, maxKeys), got, want)
			}
		}
	}
	res, err := c.ListObjectsV2(bg, &oss.ListObjectsV2Request{Bucket: oss.Ptr(testBucket), StartAfter: oss.Ptr("top1"), Prefix: oss.Ptr("t")})
	if err != nil || oss.ToString(res.StartAfter) != "top1" || res.KeyCount != 1 || oss.ToString(res.Contents[0].Key) != "top2" {
		t.Fatalf("start-after echo: %v %+v", err, res)
	}
}

func TestListV2Encoding(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u)
	keys := []string{"x/a b", "x/a+b", "x/a%b", "x/a%2Bb", "x/ü/1", "x/ü/2", "x/中文", "x/&<>\"'", "x/q?h#", "x/tab\there", "x/ctl\x01",
		"x/sp ace/1", "x/sp ace/2", "x/plus+dir/1", "x/~._-"}
	putKeys(t, c, keys)
	for _, maxKeys := range []int32{1, 2, 3, 100} {
		for _, delim := range []string{"/", ""} {
			want := expectedListing(keys, "x/", delim, "")
			got, _ := listV2All(t, c, oss.ListObjectsV2Request{Prefix: oss.Ptr("x/"), Delimiter: oss.Ptr(delim), MaxKeys: maxKeys})
			sameEntries(t, fmt.Sprintf("delimiter %q max-keys %d", delim, maxKeys), got, want)
		}
	}
	for _, after := range []string{"x/a b", "x/a+b", "x/ü/", "x/sp ace/1"} {
		want := expectedListing(keys, "x/", "/", after)
		got, _ := listV2All(t, c, oss.ListObjectsV2Request{Prefix: oss.Ptr("x/"), Delimiter: oss.Ptr("/"), StartAfter: oss.Ptr(after), MaxKeys: 2})
		sameEntries(t, fmt.Sprintf("start-after %q", after), got, want)
	}
	// Prefix and delimiter with special characters come back decoded.
	res, err := c.ListObjectsV2(bg, &oss.ListObjectsV2Request{Bucket: oss.Ptr(testBucket), Prefix: oss.Ptr("x/sp ace/"), Delimiter: oss.Ptr("+")})
	if err != nil || oss.ToString(res.Prefix) != "x/sp ace/" || oss.ToString(res.Delimiter) != "+" || res.KeyCount != 2 || oss.ToString(res.EncodingType) != "url" {
		t.Fatalf("echo: %v %+v", err, res)
	}

	// On the wire: '+' must be %2B (decoders map '+' to space), '%' %25.
	raw := func(params map[string]string) string {
		out, err := c.InvokeOperation(bg, &oss.OperationInput{OpName: "ListObjectsV2", Method: "GET", Bucket: oss.Ptr(testBucket), Parameters: params})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		b, _ := io.ReadAll(out.Body)
		return string(b)
	}
	body := raw(map[string]string{"list-type": "2", "prefix": "x/a", "encoding-type": "url"})
	for _, k := range []string{"x/a%20b", "x/a%2Bb", "x/a%25b", "x/a%252Bb"} {
		if !strings.Contains(body, "<Key>"+k+"</Key>") {
			t.Fatalf("encoded listing lacks %s:\n%s", k, body)
		}
	}
	if strings.Contains(body, "a+b") || strings.Contains(body, "a b") {
		t.Fatalf("unencoded key in an encoded listing:\n%s", body)
	}
	if !strings.Contains(body, "<EncodingType>url</EncodingType>") {
		t.Fatal("no EncodingType")
	}
	// Without encoding-type the keys are plain (XML-escaped) text.
	body = raw(map[string]string{"list-type": "2", "prefix": "x/&"})
	if !strings.Contains(body, "<Key>x/&amp;&lt;&gt;&#34;&#39;</Key>") || strings.Contains(body, "EncodingType") {
		t.Fatalf("plain listing:\n%s", body)
	}
	_, err = c.InvokeOperation(bg, &oss.OperationInput{OpName: "ListObjectsV2", Method: "GET", Bucket: oss.Ptr(testBucket),
		Parameters: map[string]string{"list-type": "2", "encoding-type": "base64"}})
	wantServiceError(t, err, 400, "InvalidArgument")
}

func TestListV2Limits(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, nil)
	c := newClient(u, noRetry)
	var keys []string
	for i := 0; i < 250; i++ {
		keys = append(keys, fmt.Sprintf("k%04d", i))
	}
	putKeys(t, c, keys)
	// The default page is 100 keys.
	srv.ResetStats()
	got, pages := listV2All(t, c, oss.ListObjectsV2Request{})
	if len(got) != 250 || pages != 3 || srv.SettledStats().ListPages != 3 {
		t.Fatalf("%d keys in %d pages", len(got), pages)
	}
	_, err := c.ListObjectsV2(bg, &oss.ListObjectsV2Request{Bucket: oss.Ptr(testBucket), MaxKeys: 1001})
	wantServiceError(t, err, 400, "InvalidArgument")
	_, err = c.ListObjectsV2(bg, &oss.ListObjectsV2Request{Bucket: oss.Ptr(testBucket), ContinuationToken: oss.Ptr("not a token!")})
	wantServiceError(t, err, 400, "InvalidArgument")
	// Continuation tokens are opaque: not the plain key.
	res, err := c.ListObjectsV2(bg, &oss.ListObjectsV2Request{Bucket: oss.Ptr(testBucket), MaxKeys: 2})
	if err != nil || !res.IsTruncated || oss.ToString(res.NextContinuationToken) == "k0001" || oss.ToString(res.NextContinuationToken) == "" {
		t.Fatalf("token: %v %+v", err, res)
	}
	// Keys deleted after being listed do not break the next page.
	for _, k := range keys[2:10] {
		if _, err := c.DeleteObject(bg, &oss.DeleteObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(k)}); err != nil {
			t.Fatal(err)
		}
	}
	res, err = c.ListObjectsV2(bg, &oss.ListObjectsV2Request{Bucket: oss.Ptr(testBucket), MaxKeys: 2, ContinuationToken: res.NextContinuationToken})
	if err != nil || len(res.Contents) != 2 || oss.ToString(res.Contents[0].Key) != "k0010" {
		t.Fatalf("after deletes: %v %+v", err, res)
	}
	// Contents carry the object's properties.
	res, err = c.ListObjectsV2(bg, &oss.ListObjectsV2Request{Bucket: oss.Ptr(testBucket), Prefix: oss.Ptr("k0000"), FetchOwner: true})
	if err != nil || len(res.Contents) != 1 {
		t.Fatal(err)
	}
	o := res.Contents[0]
	if o.Size != 5 || oss.ToString(o.Type) != "Normal" || oss.ToString(o.StorageClass) != "Standard" || o.LastModified == nil || o.Owner == nil ||
		!strings.HasPrefix(oss.ToString(o.ETag), `"`) {
		t.Fatalf("object properties: %+v", o)
	}
}

func TestListV1(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u, noRetry)
	keys := append(listKeys(), "sp ace/x", "plus+/y", "ü/z")
	putKeys(t, c, keys)
	for _, v := range []struct {
		name string
		fn   func(*oss.Config)
	}{{"v4", func(*oss.Config) {}}, {"v1", withV1}} {
		c := newClient(u, v.fn)
		for _, delim := range []string{"/", ""} {
			for _, prefix := range []string{"", "a/", "b"} {
				want := expectedListing(keys, prefix, delim, "")
				for _, maxKeys := range []int32{1, 2, 3, 1000} {
					got, pages := listV1All(t, c, oss.ListObjectsRequest{Prefix: oss.Ptr(prefix), Delimiter: oss.Ptr(delim), MaxKeys: maxKeys})
					what := fmt.Sprintf("%s: prefix %q delimiter %q max-keys %d", v.name, prefix, delim, maxKeys)
					sameEntries(t, what, got, want)
					if wantPages := max(1, (len(want)+int(maxKeys)-1)/int(maxKeys)); pages != wantPages {
						t.Fatalf("%s: %d pages, want %d", what, pages, wantPages)
					}
				}
			}
		}
	}

	list := func(prefix, delim, marker string, maxKeys int32) *oss.ListObjectsResult {
		t.Helper()
		res, err := c.ListObjects(bg, &oss.ListObjectsRequest{Bucket: oss.Ptr(testBucket), Prefix: oss.Ptr(prefix), Delimiter: oss.Ptr(delim),
			Marker: oss.Ptr(marker), MaxKeys: maxKeys})
		if err != nil {
			t.Fatalf("prefix %q delimiter %q marker %q: %v", prefix, delim, marker, err)
		}
		return res
	}
	// A marker that is a key continues after it.
	res := list("", "/", "b.txt", 3)
	if got := fmt.Sprint(pageEntries(res.Contents, res.CommonPrefixes)); got != "[P:b/ P:c/ P:d/]" || !res.IsTruncated || oss.ToString(res.NextMarker) != "d/" {
		t.Fatalf("marker b.txt: %s next %q", got, oss.ToString(res.NextMarker))
	}
	if oss.ToString(res.Marker) != "b.txt" {
		t.Fatalf("marker echo %q", oss.ToString(res.Marker))
	}
	// A marker that is a common prefix skips everything under it.
	res = list("", "/", "d/", 3)
	if got := fmt.Sprint(pageEntries(res.Contents, res.CommonPrefixes)); got != "[P:e/ P:plus+/ P:sp ace/]" {
		t.Fatalf("marker d/: %s", got)
	}
	// A marker equal to the prefix lists everything under the prefix.
	res = list("a/", "/", "a/", 100)
	if got := fmt.Sprint(pageEntries(res.Contents, res.CommonPrefixes)); got != "[K:a/0 K:a/1 K:a/2 K:a/3 P:a/sub/]" {
		t.Fatalf("marker = prefix: %s", got)
	}
	res = list("a/", "/", "a/1", 100)
	if got := fmt.Sprint(pageEntries(res.Contents, res.CommonPrefixes)); got != "[K:a/2 K:a/3 P:a/sub/]" {
		t.Fatalf("marker a/1: %s", got)
	}
	// Special characters in markers and prefixes (the SDK asks for URL encoding).
	res = list("", "/", "plus+/", 1)
	if got := fmt.Sprint(pageEntries(res.Contents, res.CommonPrefixes)); got != "[P:sp ace/]" || oss.ToString(res.NextMarker) != "sp ace/" {
		t.Fatalf("marker plus+/: %s next %q", got, oss.ToString(res.NextMarker))
	}
}
