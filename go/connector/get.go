package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"

	"osstorchconnector/go/fastcrc"
)

// ErrIntegrity is wrapped by errors for data that failed its CRC-64 check.
var ErrIntegrity = errors.New("data integrity check failed")

// objectMeta is what a GET tells about the object it read from.
type objectMeta struct {
	Size   int64  // whole object
	ETag   string // as sent, with quotes
	CRC64  uint64 // whole object; 0 with HasCRC false when absent
	HasCRC bool
}

// Get reads a whole object. The body is resumed with ranged requests (pinned
// to the object's ETag) if the connection breaks, and the result is checked
// against the object's CRC-64; a mismatch is retried, then reported.
func (c *Client) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	data, _, err := c.read(ctx, bucket, key, 0, -1, nil, "")
	return data, err
}

// ReadRange reads len(dst) bytes at off into dst and returns how many were
// read: fewer only at the end of the object. Reading a whole object this way
// is CRC-checked like Get.
func (c *Client) ReadRange(ctx context.Context, bucket, key string, off int64, dst []byte) (int, error) {
	if off < 0 {
		return 0, invalidf("offset must not be negative, got %d", off)
	}
	if len(dst) == 0 {
		return 0, nil
	}
	data, _, err := c.read(ctx, bucket, key, off, int64(len(dst)), dst, "")
	return len(data), err
}

// read fetches [off, off+n) (n < 0: to the end) into dst when it is large
// enough, else into a new buffer. A non-empty pin is the ETag the object must
// still have.
func (c *Client) read(ctx context.Context, bucket, key string, off, n int64, dst []byte, pin string) ([]byte, objectMeta, error) {
	return c.readInto(ctx, bucket, key, off, n, dst, pin, bufs{})
}

// readInto is read with the new buffer (when dst is too small) from b. Such
// a buffer is returned, or freed when the read fails; dst stays the
// caller's either way.
func (c *Client) readInto(ctx context.Context, bucket, key string, off, n int64, dst []byte, pin string, b bufs) ([]byte, objectMeta, error) {
	ctx = ctxOr(ctx)
	var lastErr error
	for attempt := 0; attempt < c.cfg.MaxAttempts; attempt++ {
		data, meta, err := c.readOnce(ctx, bucket, key, off, n, dst, pin, b)
		if err == nil {
			return data, meta, nil
		}
		lastErr = err
		if !errors.Is(err, ErrIntegrity) || ctx.Err() != nil {
			break
		}
		c.log.Warn("CRC mismatch, reading again", zapKey(bucket, key), zapErr(err))
	}
	return nil, objectMeta{}, wrap("GetObject", bucket, key, lastErr)
}

func (c *Client) readOnce(ctx context.Context, bucket, key string, off, n int64, dst []byte, pin string, b bufs) (_ []byte, _ objectMeta, err error) {
	meta := objectMeta{ETag: pin}
	var buf []byte
	own := false // buf came from b: freed here unless returned
	defer func() {
		if err != nil && own {
			b.put(buf)
		}
	}()
	var got int64
	whole := off == 0 && n < 0
	resumes := 0
	for {
		req := &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)}
		start := off + got
		if !whole || got > 0 {
			rng := fmt.Sprintf("bytes=%d-", start)
			if n >= 0 {
				rng = fmt.Sprintf("bytes=%d-%d", start, off+n-1)
			}
			req.Range, req.RangeBehavior = oss.Ptr(rng), oss.Ptr("standard")
		}
		if meta.ETag != "" {
			req.IfMatch = oss.Ptr(meta.ETag) // the object must not change under a resumed read
		}
		res, err := c.oss.GetObject(ctx, req)
		if err != nil {
			var se *oss.ServiceError
			if errors.As(err, &se) && se.StatusCode == 416 && n >= 0 && got == 0 {
				return dst[:0], meta, nil // range starts at or past the end: nothing to read
			}
			return nil, meta, err
		}
		if buf == nil {
			meta.ETag = oss.ToString(res.ETag)
			meta.Size = res.ContentLength
			if res.ContentRange != nil {
				if _, _, total, perr := oss.ParseContentRange(*res.ContentRange); perr == nil {
					meta.Size = total
				}
			}
			if res.HashCRC64 != nil {
				meta.CRC64, err = strconv.ParseUint(*res.HashCRC64, 10, 64)
				meta.HasCRC = err == nil
			}
			want := res.ContentLength
			if int64(len(dst)) >= want {
				buf = dst[:want]
			} else if buf, err = b.get(want); err != nil {
				res.Body.Close()
				return nil, meta, err
			} else {
				own = true
			}
		}
		m, rerr := io.ReadFull(res.Body, buf[got:])
		res.Body.Close()
		got += int64(m)
		if rerr == nil {
			break
		}
		if m > 0 {
			resumes = 0 // only attempts that make no progress count against the limit
		}
		resumes++
		if resumes >= c.cfg.MaxAttempts || ctx.Err() != nil {
			return nil, meta, fmt.Errorf("reading body at offset %d: %w", off+got, rerr)
		}
		c.log.Info("body interrupted, resuming", zapKey(bucket, key), zapErr(rerr))
	}
	if off == 0 && int64(len(buf)) == meta.Size && meta.HasCRC {
		if sum := fastcrc.Checksum(buf); sum != meta.CRC64 {
			return nil, meta, fmt.Errorf("%w: crc64 of %d bytes is %d, server says %d", ErrIntegrity, len(buf), sum, meta.CRC64)
		}
	}
	return buf, meta, nil
}
