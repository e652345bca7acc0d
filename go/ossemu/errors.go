package ossemu

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"
)

// ossError is an error answer in OSS's format. Extra carries the optional
// elements real OSS adds (Key, Bucket, StringToSign, ...).
type ossError struct {
	Status  int
	Code    string
	Message string
	EC      string
	Extra   [][2]string
	Header  http.Header
}

func (e *ossError) Error() string { return e.Code + ": " + e.Message }

func newErr(status int, code, msg string) *ossError {
	return &ossError{Status: status, Code: code, Message: msg, EC: ecFor(code)}
}

func (e *ossError) with(name, value string) *ossError {
	e.Extra = append(e.Extra, [2]string{name, value})
	return e
}

// ecFor returns a plausible EC (error detail code) for a code. Clients must
// not build logic on it; it is there because real responses carry one.
func ecFor(code string) string {
	switch code {
	case "NoSuchKey":
		return "0026-00000001"
	case "NoSuchBucket":
		return "0015-00000101"
	case "InvalidAccessKeyId":
		return "0002-00000040"
	case "SignatureDoesNotMatch":
		return "0002-00000228"
	case "RequestTimeTooSkewed":
		return "0002-00000504"
	case "PositionNotEqualToLength":
		return "0026-00000016"
	case "ObjectNotAppendable":
		return "0026-00000017"
	case "TotalQpsLimitExceeded":
		return "0004-00000302"
	case "InvalidRange":
		return "0003-00000105"
	}
	return "0000-00000000"
}

func errorXML(e *ossError, requestID, host string) []byte {
	type elem struct {
		XMLName xml.Name
		Value   string `xml:",chardata"`
	}
	var body struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string   `xml:"Code"`
		Message   string   `xml:"Message"`
		RequestID string   `xml:"RequestId"`
		HostID    string   `xml:"HostId"`
		Extra     []elem
		EC        string `xml:"EC"`
	}
	body.Code, body.Message, body.RequestID, body.HostID, body.EC = e.Code, e.Message, requestID, host, e.EC
	for _, kv := range e.Extra {
		body.Extra = append(body.Extra, elem{XMLName: xml.Name{Local: kv[0]}, Value: kv[1]})
	}
	out, _ := xml.Marshal(body)
	return append([]byte(xml.Header), out...)
}

// writeError sends e. HEAD answers carry no body, so real OSS (and the SDK,
// which decodes it) puts the same XML base64-encoded in x-oss-err.
func (rc *reqCtx) writeError(e *ossError) {
	if rc.hijacked {
		// An injected reset already dropped the connection (a handler that was
		// reading the body returns an error then): there is no one to answer,
		// and the stats must keep showing the reset rather than this error.
		return
	}
	h := rc.w.Header()
	for k, vs := range e.Header {
		h[k] = vs
	}
	body := errorXML(e, rc.requestID, rc.r.Host)
	h.Set("Content-Type", "application/xml")
	h.Set("x-oss-ec", e.EC)
	if rc.r.Method == http.MethodHead {
		h.Set("x-oss-err", base64.StdEncoding.EncodeToString(body))
		h.Set("Content-Length", "0")
		rc.w.WriteHeader(e.Status)
		rc.status = e.Status
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	rc.w.WriteHeader(e.Status)
	rc.status = e.Status
	n, _ := rc.w.Write(body)
	rc.srv.stats.addOut(int64(n))
}

func errNoSuchBucket(b string) *ossError {
	return newErr(404, "NoSuchBucket", "The specified bucket does not exist.").with("BucketName", b)
}

func errNoSuchKey(k string) *ossError {
	return newErr(404, "NoSuchKey", "The specified key does not exist.").with("Key", k)
}

func errInvalidArgument(msg string) *ossError { return newErr(400, "InvalidArgument", msg) }
