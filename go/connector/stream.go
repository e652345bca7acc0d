package connector

import (
	"context"
	"io"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

// Stream is a sequential reader of one object that reopens the body at the
// current offset whenever the connection breaks (the SDK's ReadOnlyFile,
// pinned to the object's ETag), with background read-ahead of ChunkSize
// pieces. For archives and other front-to-back reads.
type Stream struct {
	f    *oss.ReadOnlyFile
	size int64
}

// OpenStream stats the object and opens a sequential stream over it.
func (c *Client) OpenStream(ctx context.Context, bucket, key string) (*Stream, error) {
	f, err := c.oss.OpenFile(ctxOr(ctx), bucket, key, func(o *oss.OpenOptions) {
		o.EnablePrefetch = true
		o.PrefetchThreshold = 0
		o.ChunkSize = c.cfg.ReadChunkSize
		o.PrefetchNum = max(2, min(c.cfg.CheckpointConfig.PrefetchConcurrency, 4))
	})
	if err != nil {
		return nil, wrap("OpenFile", bucket, key, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, wrap("OpenFile", bucket, key, err)
	}
	return &Stream{f: f, size: st.Size()}, nil
}

// Size is the object's size.
func (s *Stream) Size() int64 { return s.size }

// Read implements io.Reader.
func (s *Stream) Read(p []byte) (int, error) {
	n, err := s.f.Read(p)
	if err != nil && err != io.EOF {
		err = wrap("GetObject", "", "", err)
	}
	return n, err
}

// Seek implements io.Seeker (a seek restarts the stream there).
func (s *Stream) Seek(off int64, whence int) (int64, error) { return s.f.Seek(off, whence) }

// Close releases the connection.
func (s *Stream) Close() error { return s.f.Close() }
