package connector

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// loggers are shared by every client of a process that names the same files:
// files are opened once (O_APPEND, so DataLoader workers sharing a path do
// not overwrite each other) and never closed while the process lives.
type loggers struct {
	log   *zap.Logger
	audit *zap.Logger
}

var (
	loggersMu  sync.Mutex
	loggersBy  = map[string]*loggers{}
	warnedPath = map[string]bool{}
)

func zapLevel(l int) zapcore.Level {
	switch l {
	case 0:
		return zapcore.DebugLevel
	case 2:
		return zapcore.WarnLevel
	case 3:
		return zapcore.ErrorLevel
	case 4:
		return zapcore.FatalLevel
	}
	return zapcore.InfoLevel
}

// sinkUse says what a log file is for, which decides where its lines go when
// the file cannot be written.
type sinkUse int

const (
	// sinkLog: the connector log goes to stderr instead. Its lines are few
	// below DEBUG, and they are the ones a user should see.
	sinkLog sinkUse = iota
	// sinkAudit: audit lines are dropped instead. There is one per slow
	// request, too many for a terminal.
	sinkAudit
)

// openSink opens path for appending. If that is impossible, the lines go
// where use says, with one warning on stderr per path, unless the path was
// not configured (quiet): upstream's /var/log default is a directory most
// users cannot create, and a warning from every DataLoader worker about a
// file nobody asked for would be noise.
func openSink(path string, use sinkUse, quiet bool) zapcore.WriteSyncer {
	stderr := zapcore.Lock(zapcore.AddSync(os.Stderr))
	if path == "-" || path == "stderr" {
		return stderr
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	ws, _, err := zap.Open(path)
	if err == nil {
		return ws
	}
	if !quiet && !warnedPath[path] {
		warnedPath[path] = true
		instead := "logging to stderr instead"
		if use == sinkAudit {
			instead = "audit lines are dropped"
		}
		fmt.Fprintf(os.Stderr, "osstorchconnector: cannot write log file %s (%v); %s\n", path, err, instead)
	}
	if use == sinkAudit {
		return zapcore.AddSync(io.Discard)
	}
	return stderr
}

func encoderConfig() zapcore.EncoderConfig {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.MillisDurationEncoder
	return enc
}

func getLoggers(c Config) *loggers {
	key := fmt.Sprintf("%d\x00%s\x00%s", c.Level(), c.LogPath, c.AuditPath)
	loggersMu.Lock()
	defer loggersMu.Unlock()
	if l := loggersBy[key]; l != nil {
		return l
	}
	// Redaction happens in the encoder-independent places that can carry
	// secrets: SDK debug output (redactSDK) and error messages (never include
	// them). Nothing here logs credentials.
	mainCore := zapcore.NewCore(zapcore.NewJSONEncoder(encoderConfig()), openSink(c.LogPath, sinkLog, c.logPathDefault), zapLevel(c.Level()))
	auditCore := zapcore.NewCore(zapcore.NewJSONEncoder(encoderConfig()), openSink(c.AuditPath, sinkAudit, c.auditPathDefault), zapcore.InfoLevel)
	l := &loggers{
		log:   zap.New(mainCore, zap.ErrorOutput(zapcore.Lock(zapcore.AddSync(os.Stderr)))).Named("osstorch"),
		audit: zap.New(auditCore).Named("audit"),
	}
	loggersBy[key] = l
	return l
}

// secretHeaders matches header lines the SDK prints at debug level that carry
// a secret or something derived from it.
var secretHeaders = regexp.MustCompile(`(?i)((?:x-oss-security-token|authorization|security-token)["']?\s*[:=]\s*\[?["']?)([^\]\s"',;]+)`)

func redact(s string) string { return secretHeaders.ReplaceAllString(s, "${1}<redacted>") }

// sdkPrinter routes the SDK's log output into our log, redacted. The SDK
// starts each line with its level; its warnings and errors keep theirs, the
// rest (a dozen lines per request) is DEBUG.
func sdkPrinter(l *zap.Logger) oss.LogPrinter {
	return oss.LogPrinterFunc(func(a ...any) {
		msg := redact(strings.TrimSpace(fmt.Sprint(a...)))
		level := zapcore.DebugLevel
		switch {
		case strings.HasPrefix(msg, "ERROR "):
			level = zapcore.ErrorLevel
		case strings.HasPrefix(msg, "WARNING "):
			level = zapcore.WarnLevel
		}
		l.Log(level, msg, zap.String("source", "oss-sdk"))
	})
}

// auditTransport times every request and writes the slow ones, and those
// that failed or were refused (HTTP 4xx/5xx), to the audit log, one JSON
// line each, when the response body is closed.
type auditTransport struct {
	next      http.RoundTripper
	audit     *zap.Logger
	threshold time.Duration
}

func (t *auditTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		t.record(req, nil, start, 0, err)
		return nil, err
	}
	resp.Body = &auditBody{ReadCloser: resp.Body, t: t, req: req, resp: resp, start: start}
	return resp, nil
}

type auditBody struct {
	io.ReadCloser
	t     *auditTransport
	req   *http.Request
	resp  *http.Response
	start time.Time
	n     int64
	once  sync.Once
}

func (b *auditBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *auditBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() { b.t.record(b.req, b.resp, b.start, b.n, nil) })
	return err
}

func (t *auditTransport) record(req *http.Request, resp *http.Response, start time.Time, n int64, err error) {
	d := time.Since(start)
	if d < t.threshold && err == nil && resp.StatusCode < 400 {
		return // fast and fine; failures are recorded whatever they took
	}
	bucket, key := splitTarget(req)
	fields := []zap.Field{zap.String("op", opName(req)), zap.String("bucket", bucket), zap.String("key", key),
		zap.String("range", req.Header.Get("Range")), zap.Int64("bytes", n), zap.Duration("latency", d)}
	if resp != nil {
		fields = append(fields, zap.Int("status", resp.StatusCode), zap.String("request_id", resp.Header.Get("x-oss-request-id")))
		if req.ContentLength > 0 {
			fields = append(fields, zap.Int64("bytes_sent", req.ContentLength))
		}
	} else {
		fields = append(fields, zap.Int("status", 0), zap.String("error", redact(err.Error())))
	}
	t.audit.Info("request", fields...)
}

// splitTarget recovers bucket and key from a request URL in either style.
func splitTarget(req *http.Request) (string, string) {
	path := strings.TrimPrefix(req.URL.Path, "/")
	host := req.URL.Hostname()
	if i := strings.IndexByte(host, '.'); i > 0 && net.ParseIP(host) == nil && !strings.HasPrefix(host, "oss-") {
		return host[:i], path
	}
	b, k, _ := strings.Cut(path, "/")
	return b, k
}

// opName names a request like the SDK does, from its method and query.
func opName(req *http.Request) string {
	q := req.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	switch req.Method {
	case http.MethodGet:
		switch {
		case q.Get("list-type") == "2":
			return "ListObjectsV2"
		case has("uploadId"):
			return "ListParts"
		}
		return "GetObject"
	case http.MethodHead:
		return "HeadObject"
	case http.MethodPut:
		switch {
		case has("partNumber"):
			return "UploadPart"
		case req.Header.Get("x-oss-copy-source") != "":
			return "CopyObject"
		}
		return "PutObject"
	case http.MethodPost:
		switch {
		case has("uploads"):
			return "InitiateMultipartUpload"
		case has("uploadId"):
			return "CompleteMultipartUpload"
		case has("append"):
			return "AppendObject"
		case has("delete"):
			return "DeleteMultipleObjects"
		}
	case http.MethodDelete:
		if has("uploadId") {
			return "AbortMultipartUpload"
		}
		return "DeleteObject"
	}
	return req.Method
}
