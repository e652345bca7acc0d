package connector

import (
	"context"
	"fmt"
	"sort"

	"go.uber.org/zap"

	"osstorchconnector/go/tarindex"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"golang.org/x/sync/errgroup"
)

// BuildTarIndex streams a tar object once (resuming after broken
// connections) and indexes its regular files; the index records the tar's
// size and ETag so that a later reader can tell it still matches.
func (c *Client) BuildTarIndex(ctx context.Context, bucket, key string) (*tarindex.Index, error) {
	s, err := c.OpenStream(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	etag := ""
	if st, err := s.f.Stat(); err == nil {
		if h, ok := st.Sys().(interface{ Get(string) string }); ok {
			etag = h.Get("ETag")
		}
	}
	ix, err := tarindex.Build(s)
	if err != nil {
		return nil, wrap("BuildTarIndex", bucket, key, invalidf("%s is not a readable tar archive: %v", "oss://"+bucket+"/"+key, err))
	}
	ix.TarETag = etag
	return ix, nil
}

// TarArchive reads members of a tar object through its index.
type TarArchive struct {
	c      *Client
	bucket string
	key    string
	Index  *tarindex.Index
}

// OpenTar loads an index (already parsed) for bucket/key and checks that it
// describes the object as it is now (size, and ETag when recorded).
func (c *Client) OpenTar(ctx context.Context, bucket, key string, ix *tarindex.Index) (*TarArchive, error) {
	res, err := c.oss.HeadObject(ctxOr(ctx), &oss.HeadObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
	if err != nil {
		return nil, wrap("HeadObject", bucket, key, err)
	}
	if res.ContentLength != ix.TarSize || (ix.TarETag != "" && oss.ToString(res.ETag) != ix.TarETag) {
		return nil, invalidf("the index does not match oss://%s/%s (index: %d bytes, ETag %s; object: %d bytes, ETag %s)",
			bucket, key, ix.TarSize, ix.TarETag, res.ContentLength, oss.ToString(res.ETag))
	}
	if !ix.HasCRC {
		c.log.Warn("tar index has no member checksums (format version 1): members are not integrity-checked; "+
			"rebuild the index to check them", zapKey(bucket, key))
	}
	return &TarArchive{c: c, bucket: bucket, key: key, Index: ix}, nil
}

// Read fetches the members at the given indices (in any order), one ranged
// read per run of consecutive indices, runs in parallel; results come back
// in the order asked.
func (t *TarArchive) Read(ctx context.Context, indices []int) []Result {
	out := make([]Result, len(indices))
	for i, m := range indices {
		if m < 0 || m >= len(t.Index.Members) {
			out[i].Err = invalidf("tar member index %d out of range [0, %d)", m, len(t.Index.Members))
		}
	}
	// group positions by run of consecutive member indices
	order := make([]int, 0, len(indices))
	for i := range indices {
		if out[i].Err == nil {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return indices[order[a]] < indices[order[b]] })
	var runs [][]int // positions in out
	for k, pos := range order {
		if k > 0 && indices[pos] == indices[order[k-1]]+1 {
			runs[len(runs)-1] = append(runs[len(runs)-1], pos)
			continue
		}
		runs = append(runs, []int{pos}) // a gap, or the same member asked for again
	}
	var g errgroup.Group
	g.SetLimit(t.c.cfg.DatasetConfig.PrefetchConcurrency)
	for _, run := range runs {
		g.Go(func() error {
			t.readRun(ctx, indices, run, out)
			return nil
		})
	}
	g.Wait()
	return out
}

// readRun fetches one run of consecutive members with one ranged read and
// checks each member against its CRC-64 in the index. OSS sends no checksum
// for a range, so this is the only check those bytes get: a run with a
// mismatch is read once more, and members that still mismatch fail with
// ErrIntegrity.
func (t *TarArchive) readRun(ctx context.Context, indices, run []int, out []Result) {
	first, last := indices[run[0]], indices[run[len(run)-1]]
	off, n := t.Index.Span(first, last)
	var buf []byte
	damaged := make([]bool, len(run)) // by position in run, from the last read
	for attempt := 0; attempt < 2; attempt++ {
		buf = make([]byte, n)
		got, err := t.c.ReadRange(ctx, t.bucket, t.key, off, buf)
		if err == nil && int64(got) != n {
			err = invalidf("oss://%s/%s is shorter than its index says", t.bucket, t.key)
		}
		if err != nil {
			for _, pos := range run {
				out[pos].Err = err
			}
			return
		}
		bad := ""
		for k, pos := range run {
			i := indices[pos]
			if damaged[k] = !t.Index.Check(i, t.member(buf, off, i)); damaged[k] && bad == "" {
				bad = t.Index.Members[i].Name
			}
		}
		if bad == "" || ctx.Err() != nil {
			break
		}
		if attempt == 0 {
			t.c.log.Warn("tar member CRC mismatch, reading again", zapKey(t.bucket, t.key), zap.String("member", bad))
		}
	}
	for k, pos := range run {
		m := t.Index.Members[indices[pos]]
		if damaged[k] {
			out[pos].Err = wrap("GetObject", t.bucket, t.key, fmt.Errorf("%w: tar member %q (bytes %d+%d) does not match its crc64 in the index (%d)",
				ErrIntegrity, m.Name, m.Offset, m.Size, m.CRC64))
			continue
		}
		out[pos].Data = t.member(buf, off, indices[pos])
	}
}

// member is member i's data within buf, which holds the tar from byte off.
func (t *TarArchive) member(buf []byte, off int64, i int) []byte {
	m := t.Index.Members[i]
	return buf[m.Offset-off : m.Offset-off+m.Size : m.Offset-off+m.Size]
}
