package connector

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

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

// zapKey and zapErr are the fields log lines name an object and an error
// with; an error's text is redacted like the SDK's lines.
func zapKey(bucket, key string) zap.Field { return zap.String("object", "oss://"+bucket+"/"+key) }
func zapErr(err error) zap.Field          { return zap.String("error", redact(err.Error())) }

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
