package connector

import (
	"context"
	"io"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	jsoniter "github.com/json-iterator/go"
)

var jsonAPI = jsoniter.ConfigCompatibleWithStandardLibrary

// Client is safe for concurrent use.
type Client struct {
	oss      *oss.Client
	endpoint endpointInfo
	region   string
}

// NewClient validates o and builds a client. No request is made.
func NewClient(o Options) (*Client, error) {
	ep, err := parseEndpoint(o.Endpoint)
	if err != nil {
		return nil, err
	}
	creds, err := credentialsProvider(o)
	if err != nil {
		return nil, err
	}
	region := inferRegion(o.Region, ep.Host)
	cfg := oss.LoadDefaultConfig().
		WithCredentialsProvider(creds).
		WithEndpoint(ep.URL).
		WithUsePathStyle(ep.PathStyle).
		WithUserAgent("osstorchconnector")
	if region != "" {
		cfg.WithRegion(region)
	} else {
		cfg.WithSignatureVersion(oss.SignatureVersionV1)
	}
	return &Client{oss: oss.NewClient(cfg), endpoint: ep, region: region}, nil
}

// ObjectInfo is one listed object.
type ObjectInfo struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	ETag string `json:"etag"`
}

// List calls fn for every object under prefix, in key order.
func (c *Client) List(ctx context.Context, bucket, prefix string, fn func(ObjectInfo) error) error {
	p := c.oss.NewListObjectsV2Paginator(&oss.ListObjectsV2Request{Bucket: oss.Ptr(bucket), Prefix: oss.Ptr(prefix), MaxKeys: 1000})
	for p.HasNext() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return wrap("ListObjectsV2", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(ObjectInfo{Key: oss.ToString(o.Key), Size: o.Size, ETag: oss.ToString(o.ETag)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Get reads a whole object.
func (c *Client) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	res, err := c.oss.GetObject(ctx, &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
	if err != nil {
		return nil, wrap("GetObject", bucket, key, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, wrap("GetObject", bucket, key, err)
	}
	return data, nil
}
