package ossemu

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MinPartSize is the smallest size of a part that is not the last one, as
// checked at CompleteMultipartUpload.
const MinPartSize = 100 << 10

type part struct {
	number   int
	etag     string // uppercase hex MD5, no quotes
	md5      [16]byte
	size     int64
	crc      uint64
	modified time.Time
	data     *staging
}

type upload struct {
	id          string
	bucket      string
	key         string
	initiated   time.Time
	contentType string
	meta        map[string]string
	mu          sync.Mutex
	parts       map[int]*part
}

func (rc *reqCtx) findUpload(b *bucket) (*upload, *ossError) {
	id := rc.q("uploadId")
	rc.srv.uploadsMu.Lock()
	u := rc.srv.uploads[id]
	rc.srv.uploadsMu.Unlock()
	if u == nil || u.bucket != b.name || u.key != rc.key {
		return nil, newErr(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.").with("UploadId", id)
	}
	return u, nil
}

func (rc *reqCtx) initiateUpload(b *bucket) *ossError {
	if e := validKey(rc.key); e != nil {
		return e
	}
	io.Copy(io.Discard, rc.r.Body)
	if e := rc.forbidOverwrite(b); e != nil {
		return e
	}
	sum := md5.Sum([]byte(fmt.Sprintf("%s/%s/%s/%d", b.name, rc.key, rc.requestID, time.Now().UnixNano())))
	u := &upload{id: strings.ToUpper(hex.EncodeToString(sum[:])), bucket: b.name, key: rc.key, initiated: time.Now().UTC().Truncate(time.Second),
		contentType: contentTypeFor(rc.r.Header, rc.key), meta: userMeta(rc.r.Header), parts: map[int]*part{}}
	rc.srv.uploadsMu.Lock()
	rc.srv.uploads[u.id] = u
	rc.srv.uploadsMu.Unlock()
	encode := rc.q("encoding-type") == "url"
	res := struct {
		XMLName      xml.Name `xml:"InitiateMultipartUploadResult"`
		Bucket       string   `xml:"Bucket"`
		Key          string   `xml:"Key"`
		UploadID     string   `xml:"UploadId"`
		EncodingType string   `xml:"EncodingType,omitempty"`
	}{Bucket: b.name, Key: rc.key, UploadID: u.id}
	if encode {
		res.Key, res.EncodingType = urlEncode(rc.key), "url"
	}
	return rc.writeXML(200, res)
}

func (rc *reqCtx) uploadPart(b *bucket) *ossError {
	u, e := rc.findUpload(b)
	if e != nil {
		return e
	}
	n, err := strconv.Atoi(rc.q("partNumber"))
	if err != nil || n < 1 || n > 10000 {
		return errInvalidArgument("Part number must be an integer between 1 and 10000, inclusive.")
	}
	st, e := rc.receive()
	if e != nil {
		return e
	}
	p := &part{number: n, etag: st.md5Hex(), size: st.size, crc: st.crc, modified: time.Now().UTC().Truncate(time.Second), data: st}
	copy(p.md5[:], st.md5.Sum(nil))
	u.mu.Lock()
	if old := u.parts[n]; old != nil {
		old.data.abort()
	}
	u.parts[n] = p
	u.mu.Unlock()
	return rc.reply(http.StatusOK, "ETag", `"`+p.etag+`"`, "x-oss-hash-crc64ecma", strconv.FormatUint(p.crc, 10))
}

func (rc *reqCtx) completeUpload(b *bucket) *ossError {
	u, e := rc.findUpload(b)
	if e != nil {
		return e
	}
	raw, err := io.ReadAll(io.LimitReader(rc.r.Body, 8<<20))
	if err != nil {
		return newErr(400, "IncompleteBody", err.Error())
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	var chosen []*part
	if strings.EqualFold(rc.r.Header.Get("X-Oss-Complete-All"), "yes") {
		for _, p := range u.parts {
			chosen = append(chosen, p)
		}
		sort.Slice(chosen, func(i, j int) bool { return chosen[i].number < chosen[j].number })
	} else {
		var req struct {
			Parts []struct {
				PartNumber int    `xml:"PartNumber"`
				ETag       string `xml:"ETag"`
			} `xml:"Part"`
		}
		if err := xml.Unmarshal(raw, &req); err != nil || len(req.Parts) == 0 {
			return newErr(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
		}
		prev := 0
		for _, rp := range req.Parts {
			if rp.PartNumber <= prev {
				return newErr(400, "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.")
			}
			prev = rp.PartNumber
			p := u.parts[rp.PartNumber]
			if p == nil || !strings.EqualFold(strings.Trim(rp.ETag, `" `), p.etag) {
				return newErr(400, "InvalidPart", "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.").
					with("PartNumber", strconv.Itoa(rp.PartNumber))
			}
			chosen = append(chosen, p)
		}
	}
	if len(chosen) == 0 {
		return newErr(400, "InvalidPart", "No parts were uploaded.")
	}
	// OSS checks x-oss-forbid-overwrite again here: an object may have
	// appeared since the upload was initiated (the upload stays, to abort)
	if e := rc.forbidOverwrite(b); e != nil {
		return e
	}
	for i, p := range chosen[:len(chosen)-1] {
		if p.size < MinPartSize {
			return newErr(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.").
				with("PartNumber", strconv.Itoa(chosen[i].number)).with("MinSizeAllowed", strconv.Itoa(MinPartSize))
		}
	}
	etagHash := md5.New()
	var size int64
	var crc uint64
	for _, p := range chosen {
		etagHash.Write(p.md5[:])
		crc = oss.CRC64Combine(crc, p.crc, uint64(p.size))
		size += p.size
	}
	etag := fmt.Sprintf("%s-%d", strings.ToUpper(hex.EncodeToString(etagHash.Sum(nil))), len(chosen))
	o := &object{Key: u.key, Type: "Multipart", ETag: etag, ContentType: u.contentType, Meta: u.meta}
	if rc.srv.store.dir == "" {
		// in memory the parts become the object as they are: no copy
		segs := make([][]byte, len(chosen))
		for i, p := range chosen {
			segs[i] = p.data.mem.Bytes()
		}
		o.Size, o.CRC64 = size, crc
		rc.srv.store.commitSegments(b, o, segs)
	} else {
		st, err := rc.srv.store.newStaging()
		if err != nil {
			return newErr(500, "InternalError", err.Error())
		}
		st.noHash = true // the CRC comes from the parts' CRCs
		for _, p := range chosen {
			if err := p.data.copyTo(st); err != nil {
				st.abort()
				return newErr(500, "InternalError", err.Error())
			}
		}
		st.crc = crc
		if err := rc.srv.store.commit(b, o, st); err != nil {
			return newErr(500, "InternalError", err.Error())
		}
	}
	rc.srv.uploadsMu.Lock()
	delete(rc.srv.uploads, u.id)
	rc.srv.uploadsMu.Unlock()
	for _, p := range u.parts {
		p.data.abort()
	}
	encode := rc.q("encoding-type") == "url"
	res := struct {
		XMLName      xml.Name `xml:"CompleteMultipartUploadResult"`
		EncodingType string   `xml:"EncodingType,omitempty"`
		Location     string   `xml:"Location"`
		Bucket       string   `xml:"Bucket"`
		Key          string   `xml:"Key"`
		ETag         string   `xml:"ETag"`
	}{Location: "http://" + rc.r.Host + "/" + b.name + "/" + u.key, Bucket: b.name, Key: u.key, ETag: `"` + etag + `"`}
	if encode {
		res.Key, res.EncodingType = urlEncode(u.key), "url"
	}
	rc.w.Header().Set("x-oss-hash-crc64ecma", strconv.FormatUint(o.CRC64, 10))
	rc.w.Header().Set("ETag", `"`+etag+`"`)
	return rc.writeXML(200, res)
}

func (rc *reqCtx) abortUpload(b *bucket) *ossError {
	u, e := rc.findUpload(b)
	if e != nil {
		return e
	}
	rc.srv.uploadsMu.Lock()
	delete(rc.srv.uploads, u.id)
	rc.srv.uploadsMu.Unlock()
	u.mu.Lock()
	for _, p := range u.parts {
		p.data.abort()
	}
	u.mu.Unlock()
	return rc.reply(http.StatusNoContent)
}

func (rc *reqCtx) listParts(b *bucket) *ossError {
	u, e := rc.findUpload(b)
	if e != nil {
		return e
	}
	maxParts := 1000
	if s := rc.q("max-parts"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return errInvalidArgument("max-parts must be an integer between 1 and 1000.")
		}
		maxParts = n
	}
	marker, _ := strconv.Atoi(rc.q("part-number-marker"))
	u.mu.Lock()
	var nums []int
	for n := range u.parts {
		if n > marker {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	type partXML struct {
		PartNumber    int    `xml:"PartNumber"`
		LastModified  string `xml:"LastModified"`
		ETag          string `xml:"ETag"`
		HashCrc64ecma uint64 `xml:"HashCrc64ecma"`
		Size          int64  `xml:"Size"`
	}
	var parts []partXML
	truncated := len(nums) > maxParts
	if truncated {
		nums = nums[:maxParts]
	}
	for _, n := range nums {
		p := u.parts[n]
		parts = append(parts, partXML{n, p.modified.Format(isoMillis), `"` + p.etag + `"`, p.crc, p.size})
	}
	u.mu.Unlock()
	next := 0
	if len(nums) > 0 {
		next = nums[len(nums)-1]
	}
	encode := rc.q("encoding-type") == "url"
	key := u.key
	if encode {
		key = urlEncode(key)
	}
	return rc.writeXML(200, struct {
		XMLName              xml.Name  `xml:"ListPartsResult"`
		Bucket               string    `xml:"Bucket"`
		EncodingType         string    `xml:"EncodingType,omitempty"`
		Key                  string    `xml:"Key"`
		UploadID             string    `xml:"UploadId"`
		PartNumberMarker     int       `xml:"PartNumberMarker"`
		NextPartNumberMarker int       `xml:"NextPartNumberMarker"`
		MaxParts             int       `xml:"MaxParts"`
		IsTruncated          bool      `xml:"IsTruncated"`
		Parts                []partXML `xml:"Part"`
	}{Bucket: b.name, EncodingType: map[bool]string{true: "url"}[encode], Key: key, UploadID: u.id, PartNumberMarker: marker,
		NextPartNumberMarker: next, MaxParts: maxParts, IsTruncated: truncated, Parts: parts})
}

func (rc *reqCtx) listUploads(b *bucket) *ossError {
	prefix := rc.q("prefix")
	type uploadXML struct {
		Key       string `xml:"Key"`
		UploadID  string `xml:"UploadId"`
		Initiated string `xml:"Initiated"`
	}
	var ups []uploadXML
	rc.srv.uploadsMu.Lock()
	for _, u := range rc.srv.uploads {
		if u.bucket == b.name && strings.HasPrefix(u.key, prefix) {
			ups = append(ups, uploadXML{u.key, u.id, u.initiated.Format(isoMillis)})
		}
	}
	rc.srv.uploadsMu.Unlock()
	sort.Slice(ups, func(i, j int) bool {
		if ups[i].Key != ups[j].Key {
			return ups[i].Key < ups[j].Key
		}
		return ups[i].UploadID < ups[j].UploadID
	})
	encode := rc.q("encoding-type") == "url"
	if encode {
		for i := range ups {
			ups[i].Key = urlEncode(ups[i].Key)
		}
	}
	return rc.writeXML(200, struct {
		XMLName      xml.Name    `xml:"ListMultipartUploadsResult"`
		Bucket       string      `xml:"Bucket"`
		EncodingType string      `xml:"EncodingType,omitempty"`
		Prefix       string      `xml:"Prefix"`
		MaxUploads   int         `xml:"MaxUploads"`
		IsTruncated  bool        `xml:"IsTruncated"`
		Uploads      []uploadXML `xml:"Upload"`
	}{Bucket: b.name, EncodingType: map[bool]string{true: "url"}[encode], Prefix: prefix, MaxUploads: 1000, Uploads: ups})
}
