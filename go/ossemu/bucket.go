package ossemu

import (
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

func marshalXML(v any) ([]byte, error) {
	out, err := xml.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), out...), nil
}

// urlEncode writes s the way OSS does for encoding-type=url: every byte but
// the unreserved ones and '/' as %XX (the V4 escaping). Both SDK families
// decode it ('+' is encoded, so a decoder that maps '+' to space is safe).
func urlEncode(s string) string { return v4Escape(s, true) }

type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

func (rc *reqCtx) listBuckets() *ossError {
	type bucketXML struct {
		Name         string `xml:"Name"`
		CreationDate string `xml:"CreationDate"`
		Location     string `xml:"Location"`
		Region       string `xml:"Region"`
		StorageClass string `xml:"StorageClass"`
	}
	var res struct {
		XMLName xml.Name    `xml:"ListAllMyBucketsResult"`
		Owner   owner       `xml:"Owner"`
		Buckets []bucketXML `xml:"Buckets>Bucket"`
	}
	res.Owner = owner{ID: "ossemu", DisplayName: "ossemu"}
	region := rc.srv.opts.Region
	for _, b := range rc.srv.store.bucketNames() {
		res.Buckets = append(res.Buckets, bucketXML{Name: b.name, CreationDate: b.created.Format(isoMillis),
			Location: "oss-" + region, Region: region, StorageClass: "Standard"})
	}
	return rc.writeXML(200, res)
}

func (rc *reqCtx) putBucket() *ossError {
	if !validBucketName(rc.bucket) {
		return newErr(400, "InvalidBucketName", "The specified bucket is not valid.")
	}
	io.Copy(io.Discard, rc.r.Body) // CreateBucketConfiguration: storage class etc. do not matter here
	created, err := rc.srv.store.createBucket(rc.bucket)
	if err != nil {
		return newErr(500, "InternalError", err.Error())
	}
	if !created {
		return newErr(409, "BucketAlreadyExists", "The requested bucket name is not available.")
	}
	return rc.reply(http.StatusOK, "Location", "/"+rc.bucket)
}

func (rc *reqCtx) deleteBucket() *ossError {
	if rc.srv.store.bucket(rc.bucket) == nil {
		return errNoSuchBucket(rc.bucket)
	}
	if err := rc.srv.store.deleteBucket(rc.bucket); err != nil {
		if err == errBucketNotEmpty {
			return newErr(409, "BucketNotEmpty", "The bucket you tried to delete is not empty.")
		}
		return newErr(500, "InternalError", err.Error())
	}
	return rc.reply(http.StatusNoContent)
}

func (rc *reqCtx) bucketInfo(b *bucket) *ossError {
	if rc.op == "GetBucketAcl" {
		return rc.writeXML(200, struct {
			XMLName xml.Name `xml:"AccessControlPolicy"`
			Owner   owner    `xml:"Owner"`
			Grant   string   `xml:"AccessControlList>Grant"`
		}{Owner: owner{ID: "ossemu", DisplayName: "ossemu"}, Grant: "private"})
	}
	if rc.op == "GetBucketLocation" {
		return rc.writeXML(200, struct {
			XMLName xml.Name `xml:"LocationConstraint"`
			Value   string   `xml:",chardata"`
		}{Value: "oss-" + rc.srv.opts.Region})
	}
	var res struct {
		XMLName      xml.Name `xml:"BucketInfo"`
		Name         string   `xml:"Bucket>Name"`
		CreationDate string   `xml:"Bucket>CreationDate"`
		Location     string   `xml:"Bucket>Location"`
		Region       string   `xml:"Bucket>Region"`
		StorageClass string   `xml:"Bucket>StorageClass"`
		Owner        owner    `xml:"Bucket>Owner"`
	}
	res.Name, res.CreationDate = b.name, b.created.Format(isoMillis)
	res.Location, res.Region, res.StorageClass = "oss-"+rc.srv.opts.Region, rc.srv.opts.Region, "Standard"
	res.Owner = owner{ID: "ossemu", DisplayName: "ossemu"}
	return rc.writeXML(200, res)
}

type contentsXML struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Type         string `xml:"Type"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
	Owner        *owner `xml:"Owner,omitempty"`
}

type prefixXML struct {
	Prefix string `xml:"Prefix"`
}

// listPage walks the sorted keys from a cursor, rolling keys that share a
// delimiter-terminated prefix into one CommonPrefix. It returns the entries,
// whether more remain, and the cursor after the last entry: the last key, or
// the last common prefix (afterPrefix), in which case every key under it is
// skipped on the next page.
func listPage(keys []string, prefix, delim, after string, afterPrefix bool, max int) (entries []string, isPrefix []bool, truncated bool) {
	// first index strictly after the cursor
	i := sort.SearchStrings(keys, after)
	if afterPrefix {
		i = sort.Search(len(keys), func(j int) bool { return keys[j] >= after && !strings.HasPrefix(keys[j], after) })
	} else if i < len(keys) && keys[i] == after {
		i++
	}
	if p := sort.SearchStrings(keys, prefix); p > i {
		i = p
	}
	for i < len(keys) {
		k := keys[i]
		if !strings.HasPrefix(k, prefix) {
			break
		}
		if len(entries) == max {
			return entries, isPrefix, true
		}
		if delim != "" {
			if j := strings.Index(k[len(prefix):], delim); j >= 0 {
				cp := k[:len(prefix)+j+len(delim)]
				entries, isPrefix = append(entries, cp), append(isPrefix, true)
				i = sort.Search(len(keys), func(j int) bool { return keys[j] >= cp && !strings.HasPrefix(keys[j], cp) })
				continue
			}
		}
		entries, isPrefix = append(entries, k), append(isPrefix, false)
		i++
	}
	return entries, isPrefix, false
}

// Continuation tokens are opaque: base64 of a kind byte and the cursor, so a
// client that tries to interpret them gets caught.
func encodeToken(cursor string, isPrefix bool) string {
	kind := "k"
	if isPrefix {
		kind = "p"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(kind + cursor))
}

func decodeToken(tok string) (string, bool, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) == 0 || (raw[0] != 'k' && raw[0] != 'p') {
		return "", false, false
	}
	return string(raw[1:]), raw[0] == 'p', true
}

func (rc *reqCtx) listObjects(b *bucket, v2 bool) *ossError {
	maxKeys := 100
	if s := rc.q("max-keys"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 1000 {
			return errInvalidArgument("max-keys must be an integer between 0 and 1000.")
		}
		maxKeys = n
	}
	prefix, delim := rc.q("prefix"), rc.q("delimiter")
	encode := rc.q("encoding-type") == "url"
	if et := rc.q("encoding-type"); et != "" && et != "url" {
		return errInvalidArgument("encoding-type must be url.")
	}
	enc := func(s string) string {
		if encode {
			return urlEncode(s)
		}
		return s
	}
	var after string
	var afterPrefix bool
	if v2 {
		after = rc.q("start-after")
		if tok := rc.q("continuation-token"); tok != "" {
			cur, isP, ok := decodeToken(tok)
			if !ok {
				return errInvalidArgument("The continuation token provided is incorrect.")
			}
			after, afterPrefix = cur, isP
		}
	} else {
		after = rc.q("marker")
		// A v1 marker that is itself a common prefix must skip its whole roll-up.
		// It is at least prefix+delim long; a shorter marker (such as one equal
		// to a prefix that ends in the delimiter) is not one, and slicing it
		// would panic.
		afterPrefix = delim != "" && len(after) >= len(prefix)+len(delim) && strings.HasPrefix(after, prefix) && strings.HasSuffix(after, delim) &&
			!strings.Contains(after[len(prefix):len(after)-len(delim)], delim)
	}
	keys := b.keys()
	entries, isPrefix, truncated := listPage(keys, prefix, delim, after, afterPrefix, maxKeys)
	rc.srv.stats.listPages.Add(1)

	var contents []contentsXML
	var prefixes []prefixXML
	fetchOwner := rc.q("fetch-owner") == "true" || !v2
	for i, e := range entries {
		if isPrefix[i] {
			prefixes = append(prefixes, prefixXML{enc(e)})
			continue
		}
		o := b.get(e)
		if o == nil { // deleted since the index snapshot
			continue
		}
		c := contentsXML{Key: enc(o.Key), LastModified: o.LastModified.Format(isoMillis), ETag: `"` + o.ETag + `"`,
			Type: o.Type, Size: o.Size, StorageClass: "Standard"}
		if fetchOwner {
			c.Owner = &owner{ID: "ossemu", DisplayName: "ossemu"}
		}
		contents = append(contents, c)
	}
	var next string
	if truncated && len(entries) > 0 {
		last := len(entries) - 1
		if v2 {
			next = encodeToken(entries[last], isPrefix[last])
		} else {
			next = entries[last]
		}
	}
	type result struct {
		XMLName               xml.Name      `xml:"ListBucketResult"`
		Name                  string        `xml:"Name"`
		Prefix                string        `xml:"Prefix"`
		Marker                *string       `xml:"Marker,omitempty"`
		StartAfter            *string       `xml:"StartAfter,omitempty"`
		MaxKeys               int           `xml:"MaxKeys"`
		Delimiter             string        `xml:"Delimiter"`
		EncodingType          string        `xml:"EncodingType,omitempty"`
		IsTruncated           bool          `xml:"IsTruncated"`
		NextMarker            string        `xml:"NextMarker,omitempty"`
		ContinuationToken     string        `xml:"ContinuationToken,omitempty"`
		NextContinuationToken string        `xml:"NextContinuationToken,omitempty"`
		KeyCount              *int          `xml:"KeyCount,omitempty"`
		Contents              []contentsXML `xml:"Contents"`
		CommonPrefixes        []prefixXML   `xml:"CommonPrefixes"`
	}
	res := result{Name: b.name, Prefix: enc(prefix), MaxKeys: maxKeys, Delimiter: enc(delim), IsTruncated: truncated,
		Contents: contents, CommonPrefixes: prefixes}
	if encode {
		res.EncodingType = "url"
	}
	if v2 {
		if sa := rc.q("start-after"); sa != "" {
			s := enc(sa)
			res.StartAfter = &s
		}
		res.ContinuationToken = rc.q("continuation-token")
		res.NextContinuationToken = next
		n := len(contents) + len(prefixes)
		res.KeyCount = &n
	} else {
		m := enc(rc.q("marker"))
		res.Marker = &m
		res.NextMarker = enc(next)
	}
	return rc.writeXML(200, res)
}

func (rc *reqCtx) deleteMultiple(b *bucket) *ossError {
	raw, err := io.ReadAll(io.LimitReader(rc.r.Body, 4<<20))
	if err != nil {
		return newErr(400, "IncompleteBody", err.Error())
	}
	if want := rc.r.Header.Get("Content-Md5"); want != "" {
		sum := md5Of(raw)
		if base64.StdEncoding.EncodeToString(sum[:]) != want {
			return newErr(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
		}
	}
	var req struct {
		Quiet   bool `xml:"Quiet"`
		Objects []struct {
			Key string `xml:"Key"`
		} `xml:"Object"`
	}
	if err := xml.Unmarshal(raw, &req); err != nil {
		return newErr(400, "MalformedXML", "The XML you provided was not well-formed.")
	}
	if len(req.Objects) > 1000 {
		return newErr(400, "MalformedXML", "At most 1000 objects can be deleted at once.")
	}
	encode := rc.q("encoding-type") == "url"
	type deleted struct {
		Key string `xml:"Key"`
	}
	var res struct {
		XMLName      xml.Name  `xml:"DeleteResult"`
		EncodingType string    `xml:"EncodingType,omitempty"`
		Deleted      []deleted `xml:"Deleted"`
	}
	for _, o := range req.Objects {
		rc.srv.store.deleteObject(b, o.Key)
		if !req.Quiet {
			k := o.Key
			if encode {
				k = urlEncode(k)
			}
			res.Deleted = append(res.Deleted, deleted{k})
		}
	}
	if encode {
		res.EncodingType = "url"
	}
	return rc.writeXML(200, res)
}
