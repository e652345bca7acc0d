package connector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"

	"osstorchconnector/go/fastcrc"
)

// Stat returns an object's size and ETag.
func (c *Client) Stat(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	res, err := c.oss.HeadObject(ctxOr(ctx), &oss.HeadObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
	if err != nil {
		return ObjectInfo{}, wrap("HeadObject", bucket, key, err)
	}
	return ObjectInfo{Key: key, Size: res.ContentLength, ETag: oss.ToString(res.ETag)}, nil
}

// HasPrefix reports whether any object's key starts with prefix, with one
// ListObjectsV2 request for one key: how a key that names no object is told
// to be a "directory" of others.
func (c *Client) HasPrefix(ctx context.Context, bucket, prefix string) (bool, error) {
	res, err := c.oss.ListObjectsV2(ctxOr(ctx), &oss.ListObjectsV2Request{
		Bucket: oss.Ptr(bucket), Prefix: oss.Ptr(prefix), MaxKeys: 1})
	if err != nil {
		return false, wrap("ListObjectsV2", bucket, prefix, err)
	}
	return len(res.Contents) > 0, nil
}

// Remove deletes an object (no error if it does not exist, as OSS), and
// its part checksum file if it has one.
func (c *Client) Remove(ctx context.Context, bucket, key string) error {
	ctx = ctxOr(ctx)
	_, err := c.oss.DeleteObject(ctx, &oss.DeleteObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
	if err != nil {
		return wrap("DeleteObject", bucket, key, err)
	}
	// Left behind it would be clutter, not harm: it no longer matches any
	// object (see readPartChecksums).
	if _, err := c.oss.DeleteObject(ctx, &oss.DeleteObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key + PartChecksumSuffix)}); err != nil {
		c.log.Info("part checksum file not removed", zapKey(bucket, key+PartChecksumSuffix), zapErr(err))
	}
	return nil
}

// Rename copies an object, then deletes the source.
func (c *Client) Rename(ctx context.Context, bucket, key, newBucket, newKey string) error {
	ctx = ctxOr(ctx)
	if _, err := c.Stat(ctx, bucket, key); err != nil {
		return err
	}
	_, err := c.oss.CopyObject(ctx, &oss.CopyObjectRequest{Bucket: oss.Ptr(newBucket), Key: oss.Ptr(newKey),
		SourceBucket: oss.Ptr(bucket), SourceKey: oss.Ptr(key)})
	if err != nil {
		return wrap("CopyObject", newBucket, newKey, err)
	}
	// The part checksum file goes along (a copy has the same bytes, so the
	// file still matches); most objects have none, and OSS says so.
	_, err = c.oss.CopyObject(ctx, &oss.CopyObjectRequest{Bucket: oss.Ptr(newBucket), Key: oss.Ptr(newKey + PartChecksumSuffix),
		SourceBucket: oss.Ptr(bucket), SourceKey: oss.Ptr(key + PartChecksumSuffix)})
	if err != nil && !isNotFound(err) {
		c.log.Info("part checksum file not copied", zapKey(bucket, key+PartChecksumSuffix), zapErr(err))
	}
	return c.Remove(ctx, bucket, key)
}

// Put stores a small object with one request (retried; the CRC-64 OSS
// computed of what it received must be the data's).
func (c *Client) Put(ctx context.Context, bucket, key string, data []byte) error {
	return c.put(ctx, bucket, key, data, false)
}

// CodeAlreadyExists is OSS's error code for a write with
// x-oss-forbid-overwrite to a key that has an object (WriterOptions.Exclusive).
const CodeAlreadyExists = "FileAlreadyExists"

// forbidOverwrite is the x-oss-forbid-overwrite header's value of an
// exclusive write, nil (no header) of another.
func forbidOverwrite(exclusive bool) *string {
	if exclusive {
		return oss.Ptr("true")
	}
	return nil
}

// put is Put, exclusive or not (see WriterOptions.Exclusive).
func (c *Client) put(ctx context.Context, bucket, key string, data []byte, exclusive bool) error {
	ctx = ctxOr(ctx)
	sum := fastcrc.Checksum(data)
	attempts, err := c.retryBody(ctx, func(opt func(*oss.Options)) error {
		res, err := c.oss.PutObject(ctx, &oss.PutObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key),
			Body: bytes.NewReader(data), ContentLength: oss.Ptr(int64(len(data))), ForbidOverwrite: forbidOverwrite(exclusive)}, opt)
		if err != nil {
			return err
		}
		return checkSentCRC(res.HashCRC64, sum)
	})
	// An exclusive PUT retried after an attempt whose answer was lost finds
	// that attempt's object in the way: it is ours if it has our bytes.
	var se *oss.ServiceError
	if err != nil && exclusive && attempts > 1 && errors.As(err, &se) && se.Code == CodeAlreadyExists && c.holds(ctx, bucket, key, int64(len(data)), sum) {
		return nil
	}
	return wrap("PutObject", bucket, key, err)
}

// holds reports whether the object at bucket/key has this size and CRC-64.
func (c *Client) holds(ctx context.Context, bucket, key string, size int64, crc uint64) bool {
	res, err := c.oss.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
	if err != nil || res.ContentLength != size || res.HashCRC64 == nil {
		return false
	}
	got, perr := strconv.ParseUint(*res.HashCRC64, 10, 64)
	return perr == nil && got == crc
}

// checkSentCRC compares the CRC-64 OSS computed of an uploaded body
// (x-oss-hash-crc64ecma) with the sender's, sent. A mismatch is an
// ErrIntegrity, which retryBody retries. An answer without the header is
// taken as it is, as the SDK's own check did: OSS always sends it.
func checkSentCRC(server *string, sent uint64) error {
	if server == nil {
		return nil
	}
	if got, err := strconv.ParseUint(*server, 10, 64); err != nil || got != sent {
		return fmt.Errorf("%w: the server computed crc64 %s of the bytes sent, which have %d", ErrIntegrity, *server, sent)
	}
	return nil
}
