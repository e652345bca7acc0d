package connector

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
)

// cannedTransport answers every request with one 200 response carrying body.
type cannedTransport struct{ body []byte }

func (t *cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Status: "200 OK", Request: r, ContentLength: int64(len(t.body)),
		Header: http.Header{"Content-Type": {"application/xml"}, "X-Oss-Request-Id": {"fuzz"}},
		Body:   io.NopCloser(bytes.NewReader(t.body))}, nil
}

// sdkListPage decodes body with the SDK itself: a real ListObjectsV2 call
// whose response is body.
func sdkListPage(t testing.TB, body []byte) (*listPage, error) {
	cfg := oss.LoadDefaultConfig().WithRegion("cn-hangzhou").WithEndpoint("http://oss.invalid").
		WithCredentialsProvider(credentials.NewStaticCredentialsProvider("ak", "sk")).
		WithHttpClient(&http.Client{Transport: &cannedTransport{body: body}}).WithRetryMaxAttempts(1)
	res, err := oss.NewClient(cfg).ListObjectsV2(context.Background(), &oss.ListObjectsV2Request{Bucket: oss.Ptr("bkt")})
	if err != nil {
		var se *oss.ServiceError
		if reflect.TypeOf(err) == reflect.TypeOf(se) {
			t.Fatalf("the canned transport should never give a service error: %v", err)
		}
		return nil, err
	}
	p := &listPage{IsTruncated: res.IsTruncated, NextContinuationToken: oss.ToString(res.NextContinuationToken),
		Objects: make([]ObjectInfo, 0, len(res.Contents))}
	for _, o := range res.Contents {
		p.Objects = append(p.Objects, ObjectInfo{Key: oss.ToString(o.Key), Size: o.Size, ETag: oss.ToString(o.ETag)})
	}
	return p, nil
}

var listPageSeeds = []string{
	``,
	`<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult><Name>b</Name><Prefix>ds%2F</Prefix><MaxKeys>1000</MaxKeys><Delimiter></Delimiter><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextContinuationToken>azAwMQ</NextContinuationToken><KeyCount>2</KeyCount><Contents><Key>ds/a%20b%2Bc</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified><ETag>&#34;0123ABC&#34;</ETag><Type>Normal</Type><Size>16</Size><StorageClass>Standard</StorageClass></Contents><Contents><Key>ds/%E4%B8%AD%25</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified><ETag>&quot;X&quot;</ETag><Size>0</Size><Owner><ID>o</ID><DisplayName>o</DisplayName></Owner></Contents></ListBucketResult>`,
	`<ListBucketResult>
  <IsTruncated>false</IsTruncated>
  <Contents><Key>plain+key&amp;x</Key><Size> 7 </Size><ETag>e</ETag></Contents>
  <CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>
</ListBucketResult>`,
	`<ListBucketResult><EncodingType>URL</EncodingType><Contents><Key>bad%zz</Key></Contents></ListBucketResult>`,
	`<ListBucketResult><Contents><Key>k</Key><LastModified>yesterday</LastModified></Contents></ListBucketResult>`,
	`<ListBucketResult><Contents><Key><![CDATA[a<b]]></Key><Size>1</Size></Contents><!-- c --></ListBucketResult>`,
	`<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>`,
	`<ListBucketResult><MaxKeys>99999999999</MaxKeys><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>trailing`,
	`<a:ListBucketResult xmlns:a="x"><a:Contents><a:Key>k</a:Key></a:Contents></a:ListBucketResult>`,
	`<ListBucketResult><Contents><Key>k&#x41;&#65;</Key><Key>last</Key></Contents><Contents></Contents></ListBucketResult>`,
	`<ListBucketResult><Contents><Key>k</Key></Content></ListBucketResult>`,
	`<ListBucketResult><NextContinuationToken>t%2</NextContinuationToken><EncodingType>url</EncodingType></ListBucketResult>`,
	`<?xml version="1.0" encoding="GBK"?><ListBucketResult></ListBucketResult>`,
	`<ListBucketResult><Unknown><Deep>x</Deep></Unknown><TransitionTime>2024-01-02T03:04:05Z</TransitionTime></ListBucketResult>`,
}

// FuzzDecodeListPage holds decodeListPage to the SDK's decoder: for every
// body, both fail or both give the same keys, sizes, ETags, truncation and
// continuation token.
func FuzzDecodeListPage(f *testing.F) {
	for _, s := range listPageSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, wantErr := sdkListPage(t, body)
		got, err := decodeListPage(body)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeListPage error %v, SDK error %v", err, wantErr)
		}
		if err != nil {
			return
		}
		if len(got.Objects) == 0 && len(want.Objects) == 0 {
			got.Objects, want.Objects = nil, nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeListPage = %+v\nSDK          = %+v", got, want)
		}
	})
}

// The fast path must actually take the form OSS and ossemu write: the slow
// path would pass the fuzz target too, at the old cost.
func TestDecodeListPageFastPathTakesPlainPages(t *testing.T) {
	for i, s := range listPageSeeds[:3] {
		if _, ok := decodeListPageFast([]byte(s)); !ok {
			t.Errorf("seed %d: the fast path refused a plain page", i)
		}
	}
}
