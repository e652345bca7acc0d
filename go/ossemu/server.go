package ossemu

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is an OSS-compatible http.Handler. It is safe for concurrent use.
type Server struct {
	opts    Options
	store   *store
	faults  *faultEngine
	stats   *statsCollector
	ridBase string
	ridSeq  atomic.Uint64

	creds     atomic.Pointer[Keys]
	uploadsMu sync.Mutex
	uploads   map[string]*upload
}

// New returns a server with the given options. It opens (or creates) DataDir
// and the buckets named in Options.Buckets.
func New(opts Options) (*Server, error) {
	if !opts.Anonymous && (opts.AccessKeyID == "" || opts.AccessKeySecret == "") {
		return nil, errors.New("ossemu: AccessKeyID and AccessKeySecret are required unless Anonymous is set")
	}
	if err := opts.Faults.validate(); err != nil {
		return nil, err
	}
	st, err := newStore(opts.DataDir)
	if err != nil {
		return nil, err
	}
	var rb [6]byte
	rand.Read(rb[:])
	s := &Server{opts: opts, store: st, faults: newFaultEngine(opts.Faults), stats: newStats(),
		ridBase: strings.ToUpper(hex.EncodeToString(rb[:])), uploads: map[string]*upload{}}
	s.creds.Store(&Keys{AccessKeyID: opts.AccessKeyID, AccessKeySecret: opts.AccessKeySecret, SecurityToken: opts.SecurityToken})
	for _, b := range opts.Buckets {
		if !validBucketName(b) {
			return nil, fmt.Errorf("ossemu: invalid bucket name %q", b)
		}
		if _, err := st.createBucket(b); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SetFaults replaces the fault configuration (and reseeds its generator).
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.faults.set(f)
	return nil
}

// Faults returns the current fault configuration.
func (s *Server) Faults() Faults { return s.faults.get() }

// Stats returns a snapshot of the request counters.
func (s *Server) Stats() Stats {
	st := s.stats.snapshot()
	for _, b := range s.store.bucketNames() {
		b.mu.Lock()
		for _, o := range b.objects {
			st.Objects++
			st.StoredBytes += o.Size
		}
		b.mu.Unlock()
	}
	return st
}

// settleTimeout bounds SettledStats' wait, so that a request that never ends
// shows in the counts it returns rather than as a hang.
const settleTimeout = 10 * time.Second

// SettledStats is Stats once no request is in flight (or after
// settleTimeout). A request is counted when its handler returns, which can be
// after its client has read the whole answer and moved on: counts taken
// straight after a client call can miss its last request, these cannot.
func (s *Server) SettledStats() Stats {
	deadline := time.Now().Add(settleTimeout)
	for s.stats.conc.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	return s.Stats()
}

// ResetStats zeroes the request counters.
func (s *Server) ResetStats() { s.stats.reset() }

// CreateBucket creates a bucket if it does not exist yet.
func (s *Server) CreateBucket(name string) error {
	if !validBucketName(name) {
		return fmt.Errorf("ossemu: invalid bucket name %q", name)
	}
	_, err := s.store.createBucket(name)
	return err
}

func (s *Server) now() time.Time {
	return time.Now().Add(time.Duration(s.faults.get().ClockOffsetMs) * time.Millisecond)
}

var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

func validBucketName(b string) bool { return bucketNameRE.MatchString(b) }

// reqCtx is one request in flight.
type reqCtx struct {
	srv       *Server
	w         http.ResponseWriter
	r         *http.Request
	requestID string
	op        string
	bucket    string
	key       string
	query     map[string][]string
	status    int
	plan      plan
	hijacked  bool // the connection was taken over (reset): nothing more can be sent
}

func (rc *reqCtx) has(q string) bool { _, ok := rc.query[q]; return ok }
func (rc *reqCtx) q(q string) string {
	if v := rc.query[q]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// address splits a request into bucket and key, honouring both URL styles.
func (s *Server) address(r *http.Request) (bucket, key string, virtual bool) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	path := r.URL.Path
	if s.virtualHost(host) {
		bucket, _, _ = strings.Cut(host, ".")
		return bucket, strings.TrimPrefix(path, "/"), true
	}
	rest := strings.TrimPrefix(path, "/")
	bucket, key, _ = strings.Cut(rest, "/")
	return bucket, key, false
}

func (s *Server) virtualHost(host string) bool {
	if host == "" || net.ParseIP(strings.Trim(host, "[]")) != nil || host == "localhost" || !strings.Contains(host, ".") {
		return false
	}
	if d := strings.ToLower(s.opts.Domain); d != "" {
		return strings.HasSuffix(host, "."+d)
	}
	return !strings.HasPrefix(host, "oss-")
}

func (s *Server) newRequestID() string {
	return fmt.Sprintf("%s%012X", s.ridBase, s.ridSeq.Add(1))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.Admin && strings.HasPrefix(r.URL.Path, adminPrefix) && !s.virtualHost(strings.Split(r.Host, ":")[0]) {
		s.serveAdmin(w, r)
		return
	}
	start := time.Now()
	rc := &reqCtx{srv: s, w: w, r: r, requestID: s.newRequestID(), query: r.URL.Query()}
	rc.bucket, rc.key, _ = s.address(r)
	rc.op = rc.operation()
	h := w.Header()
	h.Set("x-oss-request-id", rc.requestID)
	h.Set("Server", "AliyunOSS")
	h.Set("Date", s.now().UTC().Format(http.TimeFormat))
	s.stats.enter(rc.op)
	defer func() {
		status := rc.status
		if status == 0 {
			status = 200
		}
		s.stats.leave(rc.op, status)
	}()
	if rc.op == "" {
		rc.writeError(newErr(501, "NotImplemented", "The operation is not supported by this server."))
		return
	}
	if e := s.authenticate(r, rc.bucket, rc.key); e != nil {
		rc.writeError(e)
		return
	}
	if err := sleepCtx(r.Context(), s.faults.latency(rc.op)); err != nil {
		return
	}
	if s.faults.throttled() {
		s.stats.faults.Add(1)
		e := newErr(503, "TotalQpsLimitExceeded", "Max total qps limit is exceeded.")
		e.Header = http.Header{"X-Oss-Qos-Delay-Time": {strconv.Itoa(s.faults.qosDelayMs())}}
		rc.writeError(e)
		return
	}
	rc.plan = s.faults.draw(rc.op, rc.key, rc.faultBodyLen())
	switch rc.plan.status {
	case 500:
		s.stats.faults.Add(1)
		rc.writeError(newErr(500, "InternalError", "We encountered an internal error. Please try again."))
		return
	case 503:
		s.stats.faults.Add(1)
		e := newErr(503, "ServiceUnavailable", "Thread pool is almost full, please retry later.")
		e.Header = http.Header{"X-Oss-Qos-Delay-Time": {strconv.Itoa(s.faults.qosDelayMs())}}
		rc.writeError(e)
		return
	}
	if rc.plan.resetAt >= 0 || rc.plan.truncAt >= 0 || rc.plan.stallAt >= 0 || rc.plan.flipAt >= 0 {
		s.stats.faults.Add(1)
	}
	if e := rc.dispatch(); e != nil {
		rc.writeError(e)
	}
	_ = start
}

// faultBodyLen is the length of the body a transport fault may hit: the
// request body for uploads, the object (or range) for reads.
func (rc *reqCtx) faultBodyLen() int64 {
	switch rc.op {
	case "PutObject", "UploadPart", "AppendObject":
		return rc.r.ContentLength
	case "GetObject":
		b := rc.srv.store.bucket(rc.bucket)
		if b == nil {
			return 0
		}
		if o := b.get(rc.key); o != nil {
			if start, end, ok, _ := parseRange(rc.r.Header.Get("Range"), o.Size, rc.standardRange()); ok {
				return end - start + 1
			}
			return o.Size
		}
	}
	return 0
}

func (rc *reqCtx) standardRange() bool {
	return strings.EqualFold(rc.r.Header.Get("X-Oss-Range-Behavior"), "standard")
}

// operation names the request the way the SDK does.
func (rc *reqCtx) operation() string {
	m := rc.r.Method
	switch {
	case rc.bucket == "":
		if m == http.MethodGet {
			return "ListBuckets"
		}
		return ""
	case rc.key == "":
		switch {
		case m == http.MethodPut && len(rc.query) == 0:
			return "PutBucket"
		case m == http.MethodDelete && len(rc.query) == 0:
			return "DeleteBucket"
		case m == http.MethodGet && rc.q("list-type") == "2":
			return "ListObjectsV2"
		case m == http.MethodGet && rc.has("uploads"):
			return "ListMultipartUploads"
		case m == http.MethodGet && rc.has("bucketInfo"):
			return "GetBucketInfo"
		case m == http.MethodGet && rc.has("location"):
			return "GetBucketLocation"
		case m == http.MethodGet && rc.has("acl"):
			// The SDK's IsBucketExist probes with GetBucketAcl.
			return "GetBucketAcl"
		case m == http.MethodGet && !rc.has("acl") && !rc.has("stat"):
			return "ListObjects"
		case m == http.MethodPost && rc.has("delete"):
			return "DeleteMultipleObjects"
		}
		return ""
	}
	switch m {
	case http.MethodGet:
		if rc.has("uploadId") {
			return "ListParts"
		}
		return "GetObject"
	case http.MethodHead:
		if rc.has("objectMeta") {
			return "GetObjectMeta"
		}
		return "HeadObject"
	case http.MethodPut:
		switch {
		case rc.has("partNumber") && rc.has("uploadId"):
			if rc.r.Header.Get("X-Oss-Copy-Source") != "" {
				return ""
			}
			return "UploadPart"
		case rc.r.Header.Get("X-Oss-Copy-Source") != "":
			return "CopyObject"
		case len(rc.query) == 0:
			return "PutObject"
		}
	case http.MethodPost:
		switch {
		case rc.has("append"):
			return "AppendObject"
		case rc.has("uploads"):
			return "InitiateMultipartUpload"
		case rc.has("uploadId"):
			return "CompleteMultipartUpload"
		}
	case http.MethodDelete:
		if rc.has("uploadId") {
			return "AbortMultipartUpload"
		}
		if len(rc.query) == 0 {
			return "DeleteObject"
		}
	}
	return ""
}

func (rc *reqCtx) dispatch() *ossError {
	switch rc.op {
	case "ListBuckets":
		return rc.listBuckets()
	case "PutBucket":
		return rc.putBucket()
	case "DeleteBucket":
		return rc.deleteBucket()
	}
	b := rc.srv.store.bucket(rc.bucket)
	if b == nil {
		return errNoSuchBucket(rc.bucket)
	}
	switch rc.op {
	case "ListObjectsV2":
		return rc.listObjects(b, true)
	case "ListObjects":
		return rc.listObjects(b, false)
	case "GetBucketInfo", "GetBucketLocation", "GetBucketAcl":
		return rc.bucketInfo(b)
	case "DeleteMultipleObjects":
		return rc.deleteMultiple(b)
	case "ListMultipartUploads":
		return rc.listUploads(b)
	case "GetObject":
		return rc.getObject(b, true)
	case "HeadObject", "GetObjectMeta":
		return rc.getObject(b, false)
	case "PutObject":
		return rc.putObject(b)
	case "CopyObject":
		return rc.copyObject(b)
	case "DeleteObject":
		rc.srv.store.deleteObject(b, rc.key)
		return rc.reply(http.StatusNoContent)
	case "AppendObject":
		return rc.appendObject(b)
	case "InitiateMultipartUpload":
		return rc.initiateUpload(b)
	case "UploadPart":
		return rc.uploadPart(b)
	case "CompleteMultipartUpload":
		return rc.completeUpload(b)
	case "AbortMultipartUpload":
		return rc.abortUpload(b)
	case "ListParts":
		return rc.listParts(b)
	}
	return newErr(501, "NotImplemented", "The operation is not supported by this server.")
}

// reply sends a bodiless answer with the given header name/value pairs.
func (rc *reqCtx) reply(status int, headers ...string) *ossError {
	h := rc.w.Header()
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	if status != http.StatusNoContent {
		h.Set("Content-Length", "0")
	}
	rc.w.WriteHeader(status)
	rc.status = status
	return nil
}

// writeXML sends v as an XML document with status.
func (rc *reqCtx) writeXML(status int, v any) *ossError {
	body, err := marshalXML(v)
	if err != nil {
		return newErr(500, "InternalError", err.Error())
	}
	return rc.writeBody(status, "application/xml", body)
}

// writeBody sends a complete response body.
func (rc *reqCtx) writeBody(status int, contentType string, body []byte) *ossError {
	h := rc.w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	rc.w.WriteHeader(status)
	rc.status = status
	n, _ := rc.w.Write(body)
	rc.srv.stats.addOut(int64(n))
	return nil
}

// readBody reads the request body into dst, applying the request-side faults
// of rc.plan. A fault that resets the connection returns errConnReset: every
// reset of an upload reaches its handler as this error, and writeError then
// sends nothing, so the stats keep statusReset. No handler checks for the
// reset itself.
func (rc *reqCtx) readBody(dst io.Writer) (int64, error) {
	body := rc.r.Body
	var n int64
	buf := make([]byte, 64<<10)
	p := rc.plan
	for {
		limit := int64(len(buf))
		for _, at := range []int64{p.resetAt, p.stallAt} {
			if at > n && at-n < limit {
				limit = at - n
			}
		}
		chunk := buf[:limit]
		if p.resetAt >= 0 && n >= p.resetAt {
			rc.resetConn()
			return n, errConnReset
		}
		if p.stallAt >= 0 && n >= p.stallAt {
			if err := sleepCtx(rc.r.Context(), p.stall); err != nil {
				return n, err
			}
			p.stallAt = -1
			continue
		}
		m, err := body.Read(chunk)
		if m > 0 {
			if p.flipAt >= n && p.flipAt < n+int64(m) {
				chunk[p.flipAt-n] ^= 0xFF
			}
			if _, werr := dst.Write(chunk[:m]); werr != nil {
				return n, werr
			}
			n += int64(m)
			rc.srv.stats.addIn(int64(m))
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

var errConnReset = errors.New("ossemu: connection reset by fault injection")

// resetConn drops the connection with a TCP RST.
func (rc *reqCtx) resetConn() {
	hj, ok := rc.w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
	rc.hijacked = true
	rc.status = statusReset
}

// sendBody streams n bytes from src with the response-side faults of rc.plan
// and the bandwidth limits.
func (rc *reqCtx) sendBody(src io.Reader, n int64) {
	p := rc.plan
	ctx := rc.r.Context()
	flusher, _ := rc.w.(http.Flusher)
	buf := make([]byte, 32<<10)
	var sent int64
	pace := newBodyPacer(p.perConn)
	for sent < n {
		limit := min(int64(len(buf)), n-sent)
		for _, at := range []int64{p.resetAt, p.truncAt, p.stallAt} {
			if at > sent && at-sent < limit {
				limit = at - sent
			}
		}
		chunk := buf[:limit]
		if p.resetAt >= 0 && sent >= p.resetAt {
			if flusher != nil {
				flusher.Flush()
			}
			rc.resetConn()
			return
		}
		if p.truncAt >= 0 && sent >= p.truncAt {
			if flusher != nil {
				flusher.Flush()
			}
			rc.status = statusTruncated
			panic(http.ErrAbortHandler)
		}
		if p.stallAt >= 0 && sent >= p.stallAt {
			if flusher != nil {
				flusher.Flush()
			}
			if sleepCtx(ctx, p.stall) != nil {
				return
			}
			p.stallAt = -1
			continue
		}
		m, err := io.ReadFull(src, chunk)
		if m > 0 {
			if p.flipAt >= sent && p.flipAt < sent+int64(m) {
				chunk[p.flipAt-sent] ^= 0xFF
			}
			if pace.wait(ctx, float64(m)) != nil || p.total.wait(ctx, float64(m)) != nil {
				return
			}
			w, werr := rc.w.Write(chunk[:m])
			rc.srv.stats.addOut(int64(w))
			if werr != nil {
				return
			}
			sent += int64(m)
		}
		if err != nil {
			return
		}
	}
}
