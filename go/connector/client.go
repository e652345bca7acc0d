package connector

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/transport"
	jsoniter "github.com/json-iterator/go"
	"go.uber.org/zap"
)

var jsonAPI = jsoniter.ConfigCompatibleWithStandardLibrary

// Client is safe for concurrent use.
type Client struct {
	oss      *oss.Client
	cfg      Config
	endpoint endpointInfo
	region   string
	log      *zap.Logger
	audit    *zap.Logger
	retryer  qosRetryer
	stats    *statsCollector
	cache    *diskCache // nil: no node-local cache
}

// NewClient validates o, reads o.ConfigPath and builds a client. No request
// is made.
func NewClient(o Options) (*Client, error) {
	ep, err := parseEndpoint(o.Endpoint)
	if err != nil {
		return nil, err
	}
	cfg, warnings, err := LoadConfig(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	if err := o.applyCache(&cfg); err != nil {
		return nil, err
	}
	creds, err := credentialsProvider(o)
	if err != nil {
		return nil, err
	}
	lg := getLoggers(cfg)
	if cfg.source != "" {
		logConfigOnce(lg.log, cfg.source)
	}
	for _, w := range warnings {
		lg.log.Warn(w)
	}
	region := inferRegion(o.Region, ep.Host)
	if region == "" {
		warnV1Once(lg.log, ep.Host)
	}
	applyWorkers(cfg)

	connect := time.Duration(cfg.ConnectTimeoutMs) * time.Millisecond
	rw := time.Duration(cfg.ReadWriteTimeoutMs) * time.Millisecond
	conns := max(cfg.DatasetConfig.PrefetchConcurrency, cfg.CheckpointConfig.PrefetchConcurrency,
		cfg.CheckpointConfig.UploadConcurrency, cfg.DatasetConfig.ListConcurrency) + 8
	hc := transport.NewHttpClient(&transport.Config{ConnectTimeout: &connect, ReadWriteTimeout: &rw},
		func(t *http.Transport) {
			t.MaxIdleConnsPerHost = conns
			t.MaxConnsPerHost = 0
			// Go would add Accept-Encoding: gzip to un-ranged GETs and silently
			// decompress objects stored with Content-Encoding: gzip.
			t.DisableCompression = true
			t.DialContext = refreshDeadlines(t.DialContext, rw)
		})
	stats := &statsCollector{}
	hc.Transport = &auditTransport{next: hc.Transport, audit: lg.audit, threshold: time.Duration(cfg.AuditThresholdMs) * time.Millisecond, stats: stats}

	// The SDK's per-request lines (about 11, 3 KB per GET) only when DEBUG is
	// asked for: at any other level they would be formatted for nothing.
	sdkLevel := oss.LogWarn
	if cfg.Level() == 0 {
		sdkLevel = oss.LogDebug
	}
	skew := &clockSkew{}
	retryer := newRetryer(cfg.MaxAttempts, skew)
	retryer.retries = &stats.retries
	ocfg := oss.LoadDefaultConfig().
		WithCredentialsProvider(creds).
		WithEndpoint(ep.URL).
		WithUsePathStyle(ep.PathStyle).
		WithHttpClient(hc).
		WithRetryer(retryer).
		WithLogLevel(sdkLevel).
		WithLogPrinter(sdkPrinter(lg.log)).
		WithUserAgent("osstorchconnector").
		// Uploads are checked by Put and the Writer (checkSentCRC) with a
		// CRC computed once per body, however many attempts it takes; the
		// SDK's check would compute it again on every attempt, with the
		// table-driven hash/crc64.
		WithDisableUploadCRC64Check(true)
	if region != "" {
		ocfg.WithRegion(region)
	} else {
		ocfg.WithSignatureVersion(oss.SignatureVersionV1)
	}
	var cache *diskCache
	if cfg.DatasetConfig.CachePath != "" {
		if cache, err = openCache(cfg.DatasetConfig.CachePath, cfg.DatasetConfig.CacheBytes); err != nil {
			return nil, err
		}
	}
	return &Client{oss: oss.NewClient(ocfg, withSkewCorrection(skew)), cfg: cfg, endpoint: ep, region: region, log: lg.log, audit: lg.audit, retryer: retryer, stats: stats, cache: cache}, nil
}

// applyCache lays the cache arguments over the configuration file's.
func (o Options) applyCache(cfg *Config) error {
	if o.CacheBytes < 0 {
		return invalidf("cache_bytes must be a positive number of bytes, got %d", o.CacheBytes)
	}
	if o.CachePath != "" {
		cfg.DatasetConfig.CachePath = o.CachePath
	}
	if o.CacheBytes > 0 {
		cfg.DatasetConfig.CacheBytes = o.CacheBytes
	}
	d := cfg.DatasetConfig
	switch {
	case d.CacheBytes > 0 && d.CachePath == "":
		return invalidf("cache_bytes (datasetConfig.cacheBytes) is set but no cache_path (datasetConfig.cachePath)")
	case d.CachePath != "" && d.CacheBytes == 0:
		return invalidf("cache_path (datasetConfig.cachePath) is set but no cache_bytes (datasetConfig.cacheBytes)")
	}
	return nil
}

// CacheEnabled reports whether the client has a node-local cache.
func (c *Client) CacheEnabled() bool { return c.cache != nil }

// Config returns the effective configuration.
func (c *Client) Config() Config { return c.cfg }

var v1Warned, configLogged sync.Map

// logConfigOnce says which config.json a process uses, once: with
// config_path "" it may be the implicit /etc one, which nobody passed.
func logConfigOnce(l *zap.Logger, path string) {
	if _, seen := configLogged.LoadOrStore(path, true); !seen {
		l.Info("config.json read", zap.String("path", path))
	}
}

func warnV1Once(l *zap.Logger, host string) {
	if _, seen := v1Warned.LoadOrStore(host, true); !seen {
		l.Warn("no region given or inferable from the endpoint; signing with V1 (set region= or OSS_REGION for V4)", zap.String("endpoint_host", host))
	}
}

// applyWorkers makes prefetchWorker and listWorker mean something real: they
// bound the OS threads running Go code in this process (GOMAXPROCS), as
// upstream's "vCPU" settings bound its I/O threads. The largest value any
// client asks for wins; it never exceeds the machine's CPUs.
var workersMu sync.Mutex

func applyWorkers(cfg Config) {
	want := max(cfg.DatasetConfig.PrefetchWorker, cfg.DatasetConfig.ListWorker, cfg.CheckpointConfig.PrefetchWorker)
	want = min(want, runtime.NumCPU())
	workersMu.Lock()
	defer workersMu.Unlock()
	if cur := runtime.GOMAXPROCS(0); want > 0 && (workersSet == 0 || want > cur) {
		runtime.GOMAXPROCS(want)
		workersSet = want
	}
}

var workersSet int

// ObjectInfo is one listed or stat'ed object.
type ObjectInfo struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	ETag string `json:"etag"`
}

func ctxOr(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
