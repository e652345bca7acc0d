package ossemu

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// parseRange interprets a Range header for an object of size bytes. ok is
// false when the whole object is to be sent. In legacy mode an invalid range
// is ignored; in standard mode (x-oss-range-behavior: standard) an
// unsatisfiable one is an error.
func parseRange(h string, size int64, standard bool) (start, end int64, ok bool, e *ossError) {
	if h == "" {
		return 0, 0, false, nil
	}
	unsatisfiable := newErr(416, "InvalidRange", "The requested range cannot be satisfied")
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found {
		return 0, 0, false, nil
	}
	if first, _, multi := strings.Cut(spec, ","); multi {
		if standard {
			return 0, 0, false, unsatisfiable
		}
		spec = first // OSS answers the first range only
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, nil
	}
	switch {
	case a == "" && b == "": // "bytes=-"
		return 0, 0, false, nil
	case a == "": // suffix: the last N bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false, nil
		}
		if n == 0 || n > size {
			if standard && n > size && size > 0 {
				return 0, size - 1, true, nil
			}
			if standard {
				return 0, 0, false, unsatisfiable
			}
			return 0, 0, false, nil
		}
		return size - n, size - 1, true, nil
	}
	s, err := strconv.ParseInt(a, 10, 64)
	if err != nil || s < 0 {
		return 0, 0, false, nil
	}
	if s >= size {
		if standard {
			return 0, 0, false, unsatisfiable
		}
		return 0, 0, false, nil
	}
	if b == "" {
		return s, size - 1, true, nil
	}
	en, err := strconv.ParseInt(b, 10, 64)
	if err != nil || en < s {
		return 0, 0, false, nil
	}
	if en >= size {
		if !standard {
			return 0, 0, false, nil
		}
		en = size - 1
	}
	return s, en, true, nil
}

func (rc *reqCtx) setObjectHeaders(o *object) {
	h := rc.w.Header()
	h.Set("ETag", `"`+o.ETag+`"`)
	h.Set("Last-Modified", o.LastModified.UTC().Format(http.TimeFormat))
	h.Set("Content-Type", o.ContentType)
	h.Set("x-oss-object-type", o.Type)
	h.Set("x-oss-storage-class", "Standard")
	h.Set("x-oss-hash-crc64ecma", strconv.FormatUint(o.CRC64, 10))
	h.Set("Accept-Ranges", "bytes")
	if o.Type == "Appendable" {
		h.Set("x-oss-next-append-position", strconv.FormatInt(o.Size, 10))
	}
	for k, v := range o.Meta {
		h.Set("x-oss-meta-"+k, v)
	}
}

func (rc *reqCtx) getObject(b *bucket, withBody bool) *ossError {
	var o *object
	var data readerAtCloser
	if withBody {
		// Pin the bytes together with the object, so that the body matches the
		// ETag, size and CRC sent even if the key is overwritten meanwhile.
		var err error
		if o, data, err = b.pin(rc.key); err != nil {
			return newErr(500, "InternalError", err.Error())
		}
		if data != nil {
			defer data.Close()
		}
	} else {
		o = b.get(rc.key)
	}
	if o == nil {
		return errNoSuchKey(rc.key)
	}
	if m := rc.r.Header.Get("If-Match"); m != "" && strings.Trim(m, `"`) != o.ETag {
		return newErr(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.")
	}
	if m := rc.r.Header.Get("If-None-Match"); m != "" && strings.Trim(m, `"`) == o.ETag {
		rc.w.WriteHeader(http.StatusNotModified)
		rc.status = http.StatusNotModified
		return nil
	}
	rc.setObjectHeaders(o)
	h := rc.w.Header()
	for param, header := range map[string]string{"response-content-type": "Content-Type",
		"response-content-disposition": "Content-Disposition", "response-cache-control": "Cache-Control",
		"response-content-encoding": "Content-Encoding", "response-content-language": "Content-Language",
		"response-expires": "Expires"} {
		if v := rc.q(param); v != "" {
			h.Set(header, v)
		}
	}
	start, end, ranged := int64(0), o.Size-1, false
	if withBody {
		var e *ossError
		var s, en int64
		s, en, ranged, e = parseRange(rc.r.Header.Get("Range"), o.Size, rc.standardRange())
		if e != nil {
			return e
		}
		if ranged {
			start, end = s, en
		}
	}
	n := end - start + 1
	status := http.StatusOK
	if ranged {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, o.Size))
	}
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	rc.w.WriteHeader(status)
	rc.status = status
	if !withBody || n == 0 {
		return nil
	}
	rc.sendBody(io.NewSectionReader(data, start, n), n)
	return nil
}

func userMeta(h http.Header) map[string]string {
	var m map[string]string
	for k, vs := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-oss-meta-") && len(vs) > 0 {
			if m == nil {
				m = map[string]string{}
			}
			m[strings.TrimPrefix(lk, "x-oss-meta-")] = vs[0]
		}
	}
	return m
}

func contentTypeFor(h http.Header, key string) string {
	if ct := h.Get("Content-Type"); ct != "" {
		return ct
	}
	if ct := mime.TypeByExtension(path.Ext(key)); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

func validKey(key string) *ossError {
	if len(key) == 0 || len(key) > 1023 {
		return newErr(400, "InvalidObjectName", "The specified object name is not valid.")
	}
	return nil
}

// receive reads the request body into a fresh staging area and checks
// Content-MD5. On any error the staging area is discarded.
func (rc *reqCtx) receive() (*staging, *ossError) {
	st, err := rc.srv.store.newStaging()
	if err != nil {
		return nil, newErr(500, "InternalError", err.Error())
	}
	if _, err := rc.readBody(st); err != nil {
		st.abort()
		return nil, newErr(400, "IncompleteBody", "The request body was not received completely: "+err.Error())
	}
	if cl := rc.r.ContentLength; cl >= 0 && st.size != cl {
		st.abort()
		return nil, newErr(400, "IncompleteBody", "The request body is shorter than Content-Length.")
	}
	if want := rc.r.Header.Get("Content-Md5"); want != "" {
		got := base64.StdEncoding.EncodeToString(st.md5.Sum(nil))
		if got != want {
			st.abort()
			return nil, newErr(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
		}
	}
	return st, nil
}

func (rc *reqCtx) forbidOverwrite(b *bucket) *ossError {
	if strings.EqualFold(rc.r.Header.Get("X-Oss-Forbid-Overwrite"), "true") && b.get(rc.key) != nil {
		return newErr(409, "FileAlreadyExists", "The object you specified already exists and can not be overwritten.")
	}
	return nil
}

func (rc *reqCtx) putObject(b *bucket) *ossError {
	if e := validKey(rc.key); e != nil {
		return e
	}
	if e := rc.forbidOverwrite(b); e != nil {
		return e
	}
	st, e := rc.receive()
	if e != nil {
		return e
	}
	o := &object{Key: rc.key, Type: "Normal", ETag: st.md5Hex(), ContentType: contentTypeFor(rc.r.Header, rc.key), Meta: userMeta(rc.r.Header)}
	md5b64 := base64.StdEncoding.EncodeToString(st.md5.Sum(nil))
	if err := rc.srv.store.commit(b, o, st); err != nil {
		return newErr(500, "InternalError", err.Error())
	}
	return rc.reply(http.StatusOK, "ETag", `"`+o.ETag+`"`, "Content-MD5", md5b64,
		"x-oss-hash-crc64ecma", strconv.FormatUint(o.CRC64, 10))
}

func (rc *reqCtx) appendObject(b *bucket) *ossError {
	if e := validKey(rc.key); e != nil {
		return e
	}
	ps := rc.q("position")
	pos, err := strconv.ParseInt(ps, 10, 64)
	if err != nil || pos < 0 {
		return newErr(400, "InvalidArgument", "The position parameter is missing or invalid.")
	}
	var buf memSink
	if _, err := rc.readBody(&buf); err != nil {
		return newErr(400, "IncompleteBody", err.Error())
	}
	o, e := rc.srv.store.appendTo(b, rc.key, pos, buf.b, contentTypeFor(rc.r.Header, rc.key), userMeta(rc.r.Header))
	if e != nil {
		return e
	}
	return rc.reply(http.StatusOK, "ETag", `"`+o.ETag+`"`, "x-oss-next-append-position", strconv.FormatInt(o.Size, 10),
		"x-oss-hash-crc64ecma", strconv.FormatUint(o.CRC64, 10))
}

type memSink struct{ b []byte }

func (m *memSink) Write(p []byte) (int, error) { m.b = append(m.b, p...); return len(p), nil }

func (rc *reqCtx) copyObject(dst *bucket) *ossError {
	if e := validKey(rc.key); e != nil {
		return e
	}
	// "/bucket/escaped-key[?versionId=v]": split off the version before
	// unescaping, or a key containing "?versionId=" (sent as %3F...%3D) would
	// be cut short.
	src, _, _ := strings.Cut(rc.r.Header.Get("X-Oss-Copy-Source"), "?versionId=")
	if dec, err := url.PathUnescape(src); err == nil {
		src = dec
	}
	sb, sk, ok := strings.Cut(strings.TrimPrefix(src, "/"), "/")
	if !ok || sk == "" {
		return errInvalidArgument("x-oss-copy-source is invalid.")
	}
	srcBucket := rc.srv.store.bucket(sb)
	if srcBucket == nil {
		return errNoSuchBucket(sb)
	}
	so, data, err := srcBucket.pin(sk)
	if err != nil {
		return newErr(500, "InternalError", err.Error())
	}
	if so == nil {
		return errNoSuchKey(sk)
	}
	defer data.Close()
	if e := rc.forbidOverwrite(dst); e != nil {
		return e
	}
	st, err := rc.srv.store.newStaging()
	if err != nil {
		return newErr(500, "InternalError", err.Error())
	}
	if _, err := io.Copy(st, io.NewSectionReader(data, 0, so.Size)); err != nil {
		st.abort()
		return newErr(500, "InternalError", err.Error())
	}
	o := &object{Key: rc.key, Type: "Normal", ETag: st.md5Hex(), ContentType: so.ContentType, Meta: so.Meta}
	if strings.EqualFold(rc.r.Header.Get("X-Oss-Metadata-Directive"), "REPLACE") {
		o.ContentType, o.Meta = contentTypeFor(rc.r.Header, rc.key), userMeta(rc.r.Header)
	}
	if err := rc.srv.store.commit(dst, o, st); err != nil {
		return newErr(500, "InternalError", err.Error())
	}
	rc.w.Header().Set("x-oss-hash-crc64ecma", strconv.FormatUint(o.CRC64, 10))
	rc.w.Header().Set("ETag", `"`+o.ETag+`"`) // real OSS sends it as a header too; oss2 reads only the header
	return rc.writeXML(200, struct {
		XMLName      xml.Name `xml:"CopyObjectResult"`
		LastModified string   `xml:"LastModified"`
		ETag         string   `xml:"ETag"`
	}{LastModified: o.LastModified.Format(isoMillis), ETag: `"` + o.ETag + `"`})
}

const isoMillis = "2006-01-02T15:04:05.000Z"

func md5Of(p []byte) [16]byte { return md5.Sum(p) }
