package ossemu

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/signer"
)

// The server clocks the SDK's golden signature vectors (TestV4AuthHeader,
// the same request with AdditionalHeaders, and TestV1AuthHeader, from its
// oss/signer tests) were signed at.
var goldenClocks = []time.Time{
	time.Unix(1702743657, 0),                         // V4 (20231216T162057Z)
	time.Unix(1702747512, 0),                         // V4 with AdditionalHeaders (20231216T172512Z)
	time.Date(2022, 12, 28, 10, 27, 41, 0, time.UTC), // V1
}

const (
	goldenV4Sig   = "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe"
	goldenV4AHSig = "4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f"
	goldenV1Date  = "Wed, 28 Dec 2022 10:27:41 GMT"
)

// goldenV1Request is the request of the SDK's TestV1AuthHeader vector with a
// given Date and x-oss-meta-magic.
func goldenV1Request(date, magic string) *http.Request {
	r := httptest.NewRequest("PUT", "http://127.0.0.1:9000/examplebucket/nelson", nil)
	for k, v := range map[string]string{"Content-MD5": "eB5eJF1ptWaXm4bijSPyxw==", "Content-Type": "text/html", "Date": date,
		"x-oss-date": date, "x-oss-meta-author": "alice", "x-oss-meta-magic": magic} {
		r.Header.Set(k, v)
	}
	return r
}

// authErrorCodes are the answers authenticate may give.
var authErrorCodes = map[string]int{"AccessDenied": 403, "InvalidArgument": 400, "InvalidAccessKeyId": 403,
	"SignatureDoesNotMatch": 403, "RequestTimeTooSkewed": 403, "InvalidSecurityToken": 403}

// sdkAuthorization is the Authorization header the SDK's own signer gives req
// (a fresh copy) at the given time, region, product and additional headers:
// the oracle for what the server may accept.
func sdkAuthorization(t *testing.T, req *http.Request, bucket, key string, v1 bool, at time.Time, region, product string, additional []string) string {
	t.Helper()
	cred := credentials.Credentials{AccessKeyID: "ak", AccessKeySecret: "sk"}
	sctx := &signer.SigningContext{Product: oss.Ptr(product), Region: oss.Ptr(region), Bucket: oss.Ptr(bucket), Key: oss.Ptr(key),
		Request: req, Credentials: &cred, Time: at, AdditionalHeaders: additional}
	var s signer.Signer = &signer.SignerV4{}
	if v1 {
		s = &signer.SignerV1{}
	}
	if err := s.Sign(bg, sctx); err != nil {
		t.Fatalf("SDK signer: %v", err)
	}
	return req.Header.Get("Authorization")
}

// FuzzAuthorizationHeader feeds fuzzed Authorization, x-oss-date, Date and a
// signed header value to the verifier, on the requests of the golden vectors,
// with the server clock at the vector's time. It checks that parseV4 never
// panics and gives only well-formed results, that a refusal is one of the
// documented 400/403 answers with a well-formed XML body, and, above all,
// that nothing is accepted unless the SDK's own signer produces exactly that
// signature for that request: no parsing shortcut can stand in for the key.
func FuzzAuthorizationHeader(f *testing.F) {
	scope := "20231216/cn-hangzhou/oss/aliyun_v4_request"
	v4 := "OSS4-HMAC-SHA256 Credential=ak/" + scope + ",Signature=" + goldenV4Sig
	v4ah := "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=abc;zabc,Signature=" + goldenV4AHSig
	type input struct {
		auth, xdate, date, head string
		clock                   uint8
	}
	// The published vectors must pass (on the V4 request, or the V1 one).
	mustAccept := map[input]int{
		{v4, "20231216T162057Z", "", "value", 0}:                                    0,
		{v4ah, "20231216T172512Z", "", "value", 1}:                                  0,
		{"OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=", "", goldenV1Date, "abracadabra", 2}: 1,
	}
	for _, s := range []input{
		{v4, "20231216T162057Z", "", "value", 0},
		{"OSS4-HMAC-SHA256 Credential=ak/" + scope + ", Signature=" + goldenV4Sig, "20231216T162057Z", "", "value", 0},
		{"OSS4-HMAC-SHA256 Signature=" + goldenV4Sig + ",Credential=ak/" + scope, "20231216T162057Z", "", "value", 0},
		{v4ah, "20231216T172512Z", "", "value", 1},
		{"OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=", "", goldenV1Date, "abracadabra", 2},
		{v4, "20231216T162057Z", "", "changed", 0}, // signed header changed
		{v4, "20231216T162058Z", "", "value", 0},   // other time
		{strings.ToUpper(v4[:len(v4)-64]) + goldenV4Sig, "20231216T162057Z", "", "value", 0},
		{v4[:len(v4)-1], "20231216T162057Z", "", "value", 0}, // signature cut short
		{v4 + "0", "20231216T162057Z", "", "value", 0},       // one digit more
		{strings.Replace(v4, "/oss/", "/oss-cloudbox/", 1), "20231216T162057Z", "", "value", 0},
		{"OSS4-HMAC-SHA256 Credential=ak/" + scope + ",Signature=", "20231216T162057Z", "", "value", 0},
		{"OSS4-HMAC-SHA256 Credential=ak/" + scope + ",AdditionalHeaders=,Signature=" + goldenV4Sig, "20231216T162057Z", "", "value", 0},
		{"OSS ak:", "", goldenV1Date, "abracadabra", 2},
		{"OSS :kSHKmLxlyEAKtZPkJhG9bZb5k7M=", "", goldenV1Date, "abracadabra", 2},
		{"OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M", "", goldenV1Date, "abracadabra", 2},
		{"OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=", "", "Wed, 28 Dec 2022 10:27:41 UTC", "abracadabra", 2},
		{"OSS4-HMAC-SHA256 ", "", "", "", 0}, {"OSS ", "", "", "", 0}, {"", "", "", "", 0}, {"Bearer x", "", "", "", 0},
	} {
		f.Add(s.auth, s.xdate, s.date, s.head, s.clock)
	}
	f.Fuzz(func(t *testing.T, auth, xdate, date, head string, clock uint8) {
		if a, ok := parseV4(auth); ok {
			if a.accessKeyID == "" || a.signature == "" {
				t.Fatalf("parseV4(%q) = %+v, ok", auth, a)
			}
			for _, h := range a.additional {
				if h == "" || h != strings.ToLower(strings.TrimSpace(h)) || strings.Contains(h, ";") {
					t.Fatalf("parseV4(%q): additional header %q", auth, h)
				}
			}
		}

		at := goldenClocks[int(clock)%len(goldenClocks)]
		s, err := New(Options{AccessKeyID: "ak", AccessKeySecret: "sk", Region: "cn-hangzhou",
			Faults: Faults{ClockOffsetMs: time.Until(at).Milliseconds()}})
		if err != nil {
			t.Fatal(err)
		}
		for which, build := range []func() *http.Request{
			func() *http.Request { r := goldenV4Request(xdate); r.Header.Set("X-Oss-Head1", head); return r },
			func() *http.Request { return goldenV1Request(date, head) },
		} {
			r := build()
			r.Header.Set("Authorization", auth)
			bucket, key, _ := s.address(r)
			e := s.authenticate(r, bucket, key)
			if i, ok := mustAccept[input{auth, xdate, date, head, clock % uint8(len(goldenClocks))}]; ok && i == which && e != nil {
				t.Fatalf("golden vector %q refused: %v", auth, e)
			}
			if e != nil {
				if st, known := authErrorCodes[e.Code]; !known || st != e.Status {
					t.Fatalf("%q: answer %d %s", auth, e.Status, e.Code)
				}
				var body struct {
					XMLName xml.Name `xml:"Error"`
					Code    string   `xml:"Code"`
				}
				if err := xml.Unmarshal(errorXML(e, "RID", r.Host), &body); err != nil || body.Code != e.Code {
					t.Fatalf("%q: error body does not parse (%v): %s", auth, err, errorXML(e, "RID", r.Host))
				}
				continue
			}
			// Accepted: the SDK must sign this very request the same way.
			var want string
			switch {
			case strings.HasPrefix(auth, "OSS4-HMAC-SHA256 "):
				a, _ := parseV4(auth)
				when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Oss-Date"))
				if err != nil {
					t.Fatalf("accepted %q without a valid x-oss-date", auth)
				}
				want = sdkAuthorization(t, build(), bucket, key, false, when, a.region, a.product, a.additional)
				if w, _ := parseV4(want); w.signature != a.signature || w.accessKeyID != a.accessKeyID || w.date != a.date ||
					w.region != a.region || w.product != a.product || strings.Join(w.additional, ";") != strings.Join(a.additional, ";") {
					t.Fatalf("accepted %q; the SDK signs this request %q", auth, want)
				}
			case strings.HasPrefix(auth, "OSS "):
				when, err := http.ParseTime(r.Header.Get("Date"))
				if err != nil {
					t.Fatalf("accepted %q without a valid Date", auth)
				}
				if want = sdkAuthorization(t, build(), bucket, key, true, when, "cn-hangzhou", "oss", nil); want != auth {
					t.Fatalf("accepted %q; the SDK signs this request %q", auth, want)
				}
			default:
				t.Fatalf("accepted an Authorization of no known scheme: %q", auth)
			}
		}
	})
}
