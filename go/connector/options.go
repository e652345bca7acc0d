package connector

import (
	"context"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
)

// Options are what a client is built from: the arguments every upstream
// entry point takes (endpoint, region, cred_path, config_path) plus explicit
// keys for programs that hold them in memory.
type Options struct {
	Endpoint        string `json:"endpoint"`
	Region          string `json:"region"`
	CredPath        string `json:"cred_path"`
	ConfigPath      string `json:"config_path"`
	AccessKeyID     string `json:"access_key_id"`
	AccessKeySecret string `json:"access_key_secret"`
	SecurityToken   string `json:"security_token"`

	// CachePath and CacheBytes, when set, override config.json's
	// datasetConfig.cachePath and datasetConfig.cacheBytes (the datasets'
	// cache_path and cache_bytes arguments).
	CachePath  string `json:"cache_path"`
	CacheBytes int64  `json:"cache_bytes"`

	// CredentialsFunc, when set, is asked for credentials before anything
	// else (Python's cred_provider). Credentials without an expiry are asked
	// for again after ProviderRefresh.
	CredentialsFunc func(context.Context) (credentials.Credentials, error) `json:"-"`
}

// ProviderRefresh is how long credentials from a CredentialsFunc that carry
// no expiry are used before it is asked again.
const ProviderRefresh = 5 * time.Minute
