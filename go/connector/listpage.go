package connector

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

// listPage is what a listing needs from one ListObjectsV2 response.
type listPage struct {
	Objects               []ObjectInfo
	IsTruncated           bool
	NextContinuationToken string
}

// listRequest is one ListObjectsV2 request of a listing.
type listRequest struct {
	bucket, prefix, startAfter, token string
	maxKeys                           int32
}

// listObjectsPage sends one ListObjectsV2 request through the SDK client
// (its signing, retries and transport) and decodes the answer with
// decodeListPage instead of the SDK's reflection-driven XML decoding, which
// cost more client CPU than everything else in a listing put together.
func (c *Client) listObjectsPage(ctx context.Context, r listRequest) (*listPage, error) {
	params := map[string]string{"list-type": "2", "encoding-type": "url"}
	if r.prefix != "" {
		params["prefix"] = r.prefix
	}
	if r.startAfter != "" {
		params["start-after"] = r.startAfter
	}
	if r.token != "" {
		params["continuation-token"] = r.token
	}
	if r.maxKeys > 0 {
		params["max-keys"] = strconv.Itoa(int(r.maxKeys))
	}
	out, err := c.oss.InvokeOperation(ctx, &oss.OperationInput{
		OpName:     "ListObjectsV2",
		Method:     "GET",
		Headers:    map[string]string{"Content-Type": "application/octet-stream"},
		Parameters: params,
		Bucket:     oss.Ptr(r.bucket),
	})
	if err != nil {
		return nil, err
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	defer bodyPool.Put(buf)
	buf.Reset()
	if out.Body != nil {
		_, err = buf.ReadFrom(out.Body)
		out.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	return decodeListPage(buf.Bytes())
}

// Every key and ETag is copied out of the body, so bodies can be reused.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// errListDecode marks a ListObjectsV2 response that could not be decoded.
var errListDecode = errors.New("cannot decode the ListObjectsV2 response")

// decodeListPage decodes a ListObjectsV2 response body to exactly what the
// SDK's decoder (encoding/xml into oss.ListObjectsV2Result, then the
// encoding-type=url unescaping) yields for the fields a listing uses, and
// fails where it fails. FuzzDecodeListPage holds it to that.
//
// A fast scanner handles the plain form OSS (and ossemu) write; anything it
// is not sure about (comments, CDATA, attributes, namespaces, non-ASCII
// bytes, unusual entities, a value that does not parse) sends the whole body
// to decodeListPageSlow, which is the SDK's own decoding.
func decodeListPage(body []byte) (*listPage, error) {
	if p, ok := decodeListPageFast(body); ok {
		return p, nil
	}
	return decodeListPageSlow(body)
}

// decodeListPageSlow is the SDK's decoding: encoding/xml into its result
// type, then the url unescaping it applies when EncodingType is "url".
func decodeListPageSlow(body []byte) (*listPage, error) {
	var r oss.ListObjectsV2Result
	if len(body) > 0 {
		if err := xml.Unmarshal(body, &r); err != nil {
			return nil, errors.Join(errListDecode, err)
		}
	}
	if r.EncodingType != nil && strings.EqualFold(*r.EncodingType, "url") {
		fields := []*string{r.Prefix, r.StartAfter, r.Delimiter, r.ContinuationToken, r.NextContinuationToken}
		for _, o := range r.Contents {
			fields = append(fields, o.Key)
		}
		for _, cp := range r.CommonPrefixes {
			fields = append(fields, cp.Prefix)
		}
		for _, f := range fields {
			if f == nil {
				continue
			}
			s, err := url.QueryUnescape(*f)
			if err != nil {
				return nil, errors.Join(errListDecode, err)
			}
			*f = s
		}
	}
	p := &listPage{IsTruncated: r.IsTruncated, NextContinuationToken: oss.ToString(r.NextContinuationToken),
		Objects: make([]ObjectInfo, 0, len(r.Contents))}
	for _, o := range r.Contents {
		p.Objects = append(p.Objects, ObjectInfo{Key: oss.ToString(o.Key), Size: o.Size, ETag: oss.ToString(o.ETag)})
	}
	return p, nil
}

// fastScanner reads the plain XML subset decodeListPageFast accepts; any
// method returning false means "not plain: use the slow path".
type fastScanner struct {
	b []byte
	i int
	// text collects decoded character data of the current element.
	text []byte
}

func (s *fastScanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n':
			s.i++
		default:
			return
		}
	}
}

// openTag reads "<Name>" (letters only, no attributes) and returns Name.
func (s *fastScanner) openTag() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '<' {
		return nil, false
	}
	j := s.i + 1
	start := j
	for j < len(s.b) && isLetter(s.b[j]) {
		j++
	}
	if j == start || j >= len(s.b) || s.b[j] != '>' {
		return nil, false
	}
	s.i = j + 1
	return s.b[start:j], true
}

// atClose reports whether "</" comes next.
func (s *fastScanner) atClose() bool {
	return s.i+1 < len(s.b) && s.b[s.i] == '<' && s.b[s.i+1] == '/'
}

// closeTag reads "</Name>" for exactly name.
func (s *fastScanner) closeTag(name []byte) bool {
	end := s.i + 2 + len(name)
	if !s.atClose() || end >= len(s.b) || !bytes.Equal(s.b[s.i+2:end], name) || s.b[end] != '>' {
		return false
	}
	s.i = end + 1
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// textUntilClose reads character data up to the next '<' into s.text,
// decoding the five named entities and printable-ASCII character references.
func (s *fastScanner) textUntilClose() bool {
	s.text = s.text[:0]
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '<':
			return true
		case c == '&':
			r, n := entityAt(s.b[s.i:])
			if n == 0 {
				return false
			}
			s.text = append(s.text, r)
			s.i += n
			continue
		case c == ']': // "]]>" is an error in text: leave that to encoding/xml
			return false
		case c == '\t' || c == '\n' || (c >= 0x20 && c < 0x7f):
		default: // \r (normalised by XML), controls, non-ASCII: slow path
			return false
		}
		s.text = append(s.text, c)
		s.i++
	}
	return false
}

var namedEntities = map[string]byte{"amp": '&', "lt": '<', "gt": '>', "quot": '"', "apos": '\''}

// entityAt decodes the entity at the start of b ("&...;"), returning the byte
// and the entity's length, or 0 when it is not one the fast path handles.
func entityAt(b []byte) (byte, int) {
	end := bytes.IndexByte(b[:min(len(b), 12)], ';')
	if end < 2 {
		return 0, 0
	}
	body := b[1:end]
	if body[0] != '#' {
		r, ok := namedEntities[string(body)]
		if !ok {
			return 0, 0
		}
		return r, end + 1
	}
	digits, base := body[1:], 10
	if len(digits) > 0 && digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 {
		return 0, 0
	}
	n, err := strconv.ParseUint(string(digits), base, 32)
	if err != nil || n < 0x20 || n >= 0x7f {
		return 0, 0
	}
	return byte(n), end + 1
}

// simpleElement reads the text of an element whose open tag was just read,
// and its close tag.
func (s *fastScanner) simpleElement(name []byte) ([]byte, bool) {
	if !s.textUntilClose() || !s.closeTag(name) {
		return nil, false
	}
	return s.text, true
}

// Value parsing as encoding/xml does it for the SDK's field types.
func parseXMLInt(b []byte, bits int) (int64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, bits)
	return v, err == nil
}

func parseXMLBool(b []byte) (bool, bool) {
	if len(b) == 0 {
		return false, true
	}
	v, err := strconv.ParseBool(strings.TrimSpace(string(b)))
	return v, err == nil
}

func validXMLTime(b []byte) bool {
	var t time.Time
	return t.UnmarshalText(b) == nil
}

// decodeListPageFast decodes the plain form of a ListObjectsV2 response;
// ok is false when the body is not in that form or a value does not parse
// (the slow path then decides, and reports the error).
func decodeListPageFast(body []byte) (p *listPage, ok bool) {
	if len(body) == 0 {
		return &listPage{}, true
	}
	s := &fastScanner{b: body}
	const decl = `<?xml version="1.0" encoding="UTF-8"?>`
	if bytes.HasPrefix(body, []byte(decl)) {
		s.i = len(decl)
	}
	s.skipSpace()
	root, ok := s.openTag()
	if !ok {
		return nil, false
	}
	// Keys and ETags go into one buffer per page, cut into strings at the
	// end: one allocation per page instead of two per key.
	var (
		arena                   []byte
		spans                   [][4]int // key start, key end, etag start, etag end
		sizes                   []int64
		truncated               bool
		encodingType, nextToken []byte
		unescape                [][]byte // every other field the SDK unescapes
	)
	for {
		s.skipSpace()
		if s.atClose() {
			if !s.closeTag(root) {
				return nil, false
			}
			break
		}
		name, ok := s.openTag()
		if !ok {
			return nil, false
		}
		switch string(name) {
		case "Contents":
			span, size, ok := s.contents(&arena)
			if !ok {
				return nil, false
			}
			spans, sizes = append(spans, span), append(sizes, size)
		case "CommonPrefixes":
			prefixes, ok := s.commonPrefixes()
			if !ok {
				return nil, false
			}
			unescape = append(unescape, prefixes...)
		case "Owner": // not a field of the result: skipped whole
			if !s.skipStruct(name) {
				return nil, false
			}
		default:
			text, ok := s.simpleElement(name)
			if !ok {
				return nil, false
			}
			switch string(name) {
			case "IsTruncated":
				if truncated, ok = parseXMLBool(text); !ok {
					return nil, false
				}
			case "MaxKeys":
				if _, ok = parseXMLInt(text, 32); !ok {
					return nil, false
				}
			case "KeyCount":
				if _, ok = parseXMLInt(text, 64); !ok {
					return nil, false
				}
			case "TransitionTime":
				if !validXMLTime(text) {
					return nil, false
				}
			case "EncodingType":
				encodingType = append(encodingType[:0], text...)
			case "NextContinuationToken":
				nextToken = append(nextToken[:0], text...)
			case "Prefix", "StartAfter", "Delimiter", "ContinuationToken":
				unescape = append(unescape, bytes.Clone(text))
			}
		}
	}
	s.skipSpace()
	if s.i != len(s.b) {
		return nil, false
	}
	p = &listPage{IsTruncated: truncated, NextContinuationToken: string(nextToken)}
	all := string(arena)
	p.Objects = make([]ObjectInfo, len(spans))
	for i, sp := range spans {
		p.Objects[i] = ObjectInfo{Key: all[sp[0]:sp[1]], Size: sizes[i], ETag: all[sp[2]:sp[3]]}
	}
	if strings.EqualFold(string(encodingType), "url") {
		var err error
		if p.NextContinuationToken, err = url.QueryUnescape(p.NextContinuationToken); err != nil {
			return nil, false
		}
		for i := range p.Objects {
			if p.Objects[i].Key, err = url.QueryUnescape(p.Objects[i].Key); err != nil {
				return nil, false
			}
		}
		for _, f := range unescape {
			if _, err = url.QueryUnescape(string(f)); err != nil {
				return nil, false
			}
		}
	}
	return p, true
}

// contents reads the children of a <Contents> element (its open tag read)
// and its close tag, appending the key and ETag to the arena.
func (s *fastScanner) contents(arena *[]byte) (span [4]int, size int64, ok bool) {
	var key, etag []byte
	for {
		s.skipSpace()
		if s.atClose() {
			if !s.closeTag([]byte("Contents")) {
				return span, 0, false
			}
			break
		}
		name, ok := s.openTag()
		if !ok {
			return span, 0, false
		}
		if string(name) == "Owner" {
			if !s.skipStruct(name) {
				return span, 0, false
			}
			continue
		}
		text, ok := s.simpleElement(name)
		if !ok {
			return span, 0, false
		}
		switch string(name) {
		case "Key":
			key = append(key[:0], text...)
		case "ETag":
			etag = append(etag[:0], text...)
		case "Size":
			if size, ok = parseXMLInt(text, 64); !ok {
				return span, 0, false
			}
		case "LastModified", "TransitionTime":
			if !validXMLTime(text) {
				return span, 0, false
			}
		}
	}
	a := *arena
	span[0] = len(a)
	a = append(a, key...)
	span[1], span[2] = len(a), len(a)
	a = append(a, etag...)
	span[3] = len(a)
	*arena = a
	return span, size, true
}

// commonPrefixes reads the children of a <CommonPrefixes> element.
func (s *fastScanner) commonPrefixes() ([][]byte, bool) {
	var out [][]byte
	for {
		s.skipSpace()
		if s.atClose() {
			return out, s.closeTag([]byte("CommonPrefixes"))
		}
		name, ok := s.openTag()
		if !ok {
			return nil, false
		}
		text, ok := s.simpleElement(name)
		if !ok {
			return nil, false
		}
		if string(name) == "Prefix" {
			// encoding/xml keeps the last Prefix of the element
			if len(out) == 0 {
				out = append(out, nil)
			}
			out[0] = bytes.Clone(text)
		}
	}
}

// skipStruct reads an element of simple children only (such as Owner) and
// its close tag.
func (s *fastScanner) skipStruct(name []byte) bool {
	for {
		s.skipSpace()
		if s.atClose() {
			return s.closeTag(name)
		}
		child, ok := s.openTag()
		if !ok {
			return false
		}
		if _, ok := s.simpleElement(child); !ok {
			return false
		}
	}
}
