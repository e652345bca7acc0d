package ossemu

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// MaxClockSkew is how far a request's signing time may be from the server's
// clock before it is refused with RequestTimeTooSkewed.
const MaxClockSkew = 15 * time.Minute

// authenticate checks the request's signature. bucket and key are the ones the
// request addresses, which both signature versions sign independently of the
// URL style.
func (s *Server) authenticate(r *http.Request, bucket, key string) *ossError {
	if s.opts.Anonymous {
		return nil
	}
	auth := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(auth, "OSS4-HMAC-SHA256 "):
		return s.verifyV4(r, auth, bucket, key)
	case strings.HasPrefix(auth, "OSS "):
		return s.verifyV1(r, auth, bucket, key)
	case auth == "":
		return newErr(403, "AccessDenied", "You have no right to access this object because of bucket acl.")
	default:
		return errInvalidArgument("Authorization header is invalid.")
	}
}

func (s *Server) checkSkew(t time.Time) *ossError {
	if d := s.now().Sub(t); d > MaxClockSkew || d < -MaxClockSkew {
		return newErr(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.").
			with("RequestTime", t.UTC().Format(time.RFC3339)).with("ServerTime", s.now().UTC().Format(time.RFC3339))
	}
	return nil
}

// Keys are the credentials the server accepts; SetCredentials rotates them.
type Keys struct {
	AccessKeyID     string `json:"access_key_id"`
	AccessKeySecret string `json:"access_key_secret"`
	SecurityToken   string `json:"security_token"`
}

func (s *Server) keys() Keys { return *s.creds.Load() }

// SetCredentials replaces the accepted credentials (key rotation, STS
// renewal): requests signed with the old ones are refused from now on.
func (s *Server) SetCredentials(k Keys) error {
	if k.AccessKeyID == "" || k.AccessKeySecret == "" {
		return errors.New("ossemu: AccessKeyID and AccessKeySecret are required")
	}
	s.creds.Store(&k)
	return nil
}

func (s *Server) checkToken(r *http.Request) *ossError {
	token := s.keys().SecurityToken
	if token == "" {
		return nil
	}
	tok := r.Header.Get("X-Oss-Security-Token")
	if tok == "" {
		return newErr(403, "InvalidSecurityToken", "The security token you provided is missing.")
	}
	if !hmac.Equal([]byte(tok), []byte(token)) {
		return newErr(403, "InvalidSecurityToken", "The security token you provided is invalid.")
	}
	return nil
}

// ---- V4 ----

type v4Auth struct {
	accessKeyID, date, region, product string
	additional                         []string
	signature                          string
}

func parseV4(auth string) (*v4Auth, bool) {
	a := &v4Auth{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, "OSS4-HMAC-SHA256 "), ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, false
		}
		switch name {
		case "Credential":
			f := strings.Split(value, "/")
			if len(f) != 5 || f[4] != "aliyun_v4_request" {
				return nil, false
			}
			a.accessKeyID, a.date, a.region, a.product = f[0], f[1], f[2], f[3]
		case "AdditionalHeaders":
			for _, h := range strings.Split(value, ";") {
				if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
					a.additional = append(a.additional, h)
				}
			}
		case "Signature":
			a.signature = value
		}
	}
	return a, a.accessKeyID != "" && a.signature != ""
}

func (s *Server) verifyV4(r *http.Request, auth, bucket, key string) *ossError {
	a, ok := parseV4(auth)
	if !ok {
		return errInvalidArgument("Authorization header is invalid.")
	}
	keys := s.keys()
	if a.accessKeyID != keys.AccessKeyID {
		return newErr(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.").with("OSSAccessKeyId", a.accessKeyID)
	}
	xdate := r.Header.Get("X-Oss-Date")
	t, err := time.Parse("20060102T150405Z", xdate)
	if err != nil {
		return newErr(403, "AccessDenied", "x-oss-date is missing or malformed.")
	}
	if a.date != xdate[:8] {
		return newErr(403, "SignatureDoesNotMatch", "The date in the credential scope does not match x-oss-date.")
	}
	if s.opts.Region != "" && a.region != s.opts.Region {
		return newErr(403, "SignatureDoesNotMatch", "Invalid signing region in Authorization header: expected "+s.opts.Region+", got "+a.region+".")
	}
	if a.product != "oss" {
		return newErr(403, "SignatureDoesNotMatch", "Invalid signing product in Authorization header.")
	}
	if e := s.checkSkew(t); e != nil {
		return e
	}
	creq := canonicalRequestV4(r, bucket, key, a.additional)
	sts := stringToSignV4(xdate, a.date+"/"+a.region+"/"+a.product+"/aliyun_v4_request", creq)
	want := signV4(keys.AccessKeySecret, a.date, a.region, a.product, sts)
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return newErr(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.").
			with("CanonicalRequest", creq).with("StringToSign", sts).with("OSSAccessKeyId", a.accessKeyID)
	}
	return s.checkToken(r)
}

// v4Escape keeps A-Za-z0-9 - . _ ~ (and '/' when keepSlash) and writes every
// other byte as uppercase %XX, as the V4 canonical form requires.
func v4Escape(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' || (keepSlash && c == '/') {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
		}
	}
	return b.String()
}

func canonicalURIV4(bucket, key string) string {
	switch {
	case bucket == "":
		return "/"
	case key == "":
		return "/" + bucket + "/"
	}
	return v4Escape("/"+bucket+"/"+key, true)
}

// canonicalQueryV4 is the canonical query of a request signed in its
// Authorization header, which signs every query parameter. (Only a presigned
// URL leaves out x-oss-signature, the parameter that carries its signature;
// leaving it out here made the SDK's signature of a request with such a
// parameter fail.)
func canonicalQueryV4(raw string) string {
	vals, _ := url.ParseQuery(raw)
	var items [][2]string
	for k, vs := range vals {
		for _, v := range vs {
			items = append(items, [2]string{v4Escape(k, false), v4Escape(v, false)})
		}
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i][0] != items[j][0] {
			return items[i][0] < items[j][0]
		}
		return items[i][1] < items[j][1]
	})
	parts := make([]string, len(items))
	for i, it := range items {
		if it[1] == "" {
			parts[i] = it[0]
		} else {
			parts[i] = it[0] + "=" + it[1]
		}
	}
	return strings.Join(parts, "&")
}

func canonicalRequestV4(r *http.Request, bucket, key string, additional []string) string {
	extra := map[string]bool{}
	for _, h := range additional {
		extra[h] = true
	}
	headers := map[string][]string{}
	for name, vs := range r.Header {
		n := strings.ToLower(name)
		if strings.HasPrefix(n, "x-oss-") || n == "content-type" || n == "content-md5" || extra[n] {
			for _, v := range vs {
				headers[n] = append(headers[n], strings.TrimSpace(v))
			}
		}
	}
	// Go's server moves Host out of the header map.
	if extra["host"] {
		headers["host"] = []string{r.Host}
	}
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	b.WriteString(canonicalURIV4(bucket, key) + "\n")
	b.WriteString(canonicalQueryV4(r.URL.RawQuery) + "\n")
	for _, n := range names {
		b.WriteString(n + ":" + strings.Join(headers[n], ",") + "\n")
	}
	b.WriteString("\n")
	b.WriteString(strings.Join(additional, ";") + "\n")
	b.WriteString(r.Header.Get("X-Oss-Content-Sha256"))
	return b.String()
}

func stringToSignV4(xdate, scope, creq string) string {
	sum := sha256.Sum256([]byte(creq))
	return "OSS4-HMAC-SHA256\n" + xdate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func signV4(secret, date, region, product, sts string) string {
	k := hmacSHA256([]byte("aliyun_v4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, product)
	k = hmacSHA256(k, "aliyun_v4_request")
	return hex.EncodeToString(hmacSHA256(k, sts))
}

// ---- V1 ----

// The two SDK families disagree on which query keys are "sub-resources" that
// V1 signs; a request is accepted if it verifies under either list.
var (
	subresourcesGoV2 = setOf("acl", "bucketInfo", "location", "stat", "delete", "append", "tagging", "objectMeta",
		"uploads", "uploadId", "partNumber", "security-token", "position", "response-content-type",
		"response-content-language", "response-expires", "response-cache-control", "response-content-disposition",
		"response-content-encoding", "restore", "callback", "callback-var", "versions", "versioning", "versionId",
		"sequential", "continuation-token", "regionList", "cloudboxes", "symlink")
	subresourcesPy = setOf("response-content-type", "response-content-language", "response-cache-control", "logging",
		"response-content-encoding", "acl", "uploadId", "uploads", "partNumber", "group", "link", "delete", "website",
		"location", "objectInfo", "objectMeta", "response-expires", "response-content-disposition", "cors", "lifecycle",
		"restore", "qos", "referer", "stat", "bucketInfo", "append", "position", "security-token", "live", "comp",
		"status", "vod", "startTime", "endTime", "symlink", "callback", "callback-var", "tagging", "encryption",
		"versions", "versioning", "versionId", "policy", "requestPayment", "qosInfo", "asyncFetch", "sequential",
		"inventory", "inventoryId", "continuation-token", "worm", "wormId", "wormExtend", "replication",
		"replicationLocation", "replicationProgress", "transferAcceleration", "cname", "metaQuery", "resourceGroup",
		"style", "styleName", "regionList", "bucketArchiveDirectRead", "httpsConfig", "redundancyTransition",
		"accessPoint", "accessPointPolicy", "publicAccessBlock", "requesterQosInfo", "qosRequester",
		"resourcePoolInfo", "resourcePool", "resourcePoolBuckets")
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func stringToSignV1(r *http.Request, bucket, key string, sub map[string]bool) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	b.WriteString(r.Header.Get("Content-Md5") + "\n")
	b.WriteString(r.Header.Get("Content-Type") + "\n")
	b.WriteString(r.Header.Get("Date") + "\n")
	headers := map[string][]string{}
	for name, vs := range r.Header {
		if n := strings.ToLower(name); strings.HasPrefix(n, "x-oss-") {
			for _, v := range vs {
				headers[n] = append(headers[n], strings.TrimSpace(v))
			}
		}
	}
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.WriteString(n + ":" + strings.Join(headers[n], ",") + "\n")
	}
	switch {
	case bucket == "":
		b.WriteString("/")
	default:
		b.WriteString("/" + bucket + "/" + key)
	}
	vals, _ := url.ParseQuery(r.URL.RawQuery)
	var items []string
	for k, vs := range vals {
		if !sub[k] && !strings.HasPrefix(k, "x-oss-") {
			continue
		}
		for _, v := range vs {
			if v == "" {
				items = append(items, k)
			} else {
				items = append(items, k+"="+v)
			}
		}
	}
	sort.Strings(items)
	if len(items) > 0 {
		b.WriteString("?" + strings.Join(items, "&"))
	}
	return b.String()
}

func signV1(secret, sts string) string {
	h := hmac.New(sha1.New, []byte(secret))
	h.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func (s *Server) verifyV1(r *http.Request, auth, bucket, key string) *ossError {
	ak, sig, ok := strings.Cut(strings.TrimPrefix(auth, "OSS "), ":")
	if !ok || ak == "" || sig == "" {
		return errInvalidArgument("Authorization header is invalid.")
	}
	keys := s.keys()
	if ak != keys.AccessKeyID {
		return newErr(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.").with("OSSAccessKeyId", ak)
	}
	t, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil {
		return newErr(403, "AccessDenied", "Date header is missing or malformed.")
	}
	if e := s.checkSkew(t); e != nil {
		return e
	}
	var sts string
	for _, sub := range []map[string]bool{subresourcesGoV2, subresourcesPy} {
		sts = stringToSignV1(r, bucket, key, sub)
		if hmac.Equal([]byte(signV1(keys.AccessKeySecret, sts)), []byte(sig)) {
			return s.checkToken(r)
		}
	}
	return newErr(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.").
		with("StringToSign", sts).with("OSSAccessKeyId", ak)
}
