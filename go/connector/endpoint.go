package connector

import (
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// endpointInfo is a parsed endpoint.
type endpointInfo struct {
	URL       string // with scheme
	Host      string // without port
	PathStyle bool
}

// parseEndpoint applies upstream's rules: a bare endpoint means https,
// http:// is honoured, and IP and localhost endpoints use path-style URLs
// (virtual-hosted names would not resolve for them).
func parseEndpoint(ep string) (endpointInfo, error) {
	ep = strings.TrimSpace(ep)
	if ep == "" {
		return endpointInfo{}, invalidf("endpoint must be non-empty")
	}
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" {
		return endpointInfo{}, invalidf("invalid endpoint %q", ep)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return endpointInfo{}, invalidf("endpoint scheme must be http or https, got %q", u.Scheme)
	}
	host := u.Hostname()
	return endpointInfo{
		URL:       u.Scheme + "://" + u.Host,
		Host:      host,
		PathStyle: net.ParseIP(host) != nil || host == "localhost",
	}, nil
}

// officialEndpoint matches the OSS endpoint host forms that carry a region:
// oss-<region>[-internal].aliyuncs.com, s3.oss-<region>[-internal].aliyuncs.com
// and <region>.oss.aliyuncs.com (dual stack).
var (
	officialEndpoint  = regexp.MustCompile(`^(?:[a-z0-9-]+\.)?(?:s3\.)?oss-([a-z0-9-]+?)(?:-internal)?\.aliyuncs\.com$`)
	dualStackEndpoint = regexp.MustCompile(`^([a-z0-9-]+)\.oss\.aliyuncs\.com$`)
)

// inferRegion returns the region for V4 signing: explicit, else from an
// official endpoint host, else OSS_REGION. Empty means V1 signing.
func inferRegion(explicit, host string) string {
	if explicit != "" {
		return explicit
	}
	host = strings.ToLower(host)
	if m := officialEndpoint.FindStringSubmatch(host); m != nil && m[1] != "accelerate" && m[1] != "accelerate-overseas" {
		return m[1]
	}
	if m := dualStackEndpoint.FindStringSubmatch(host); m != nil {
		return m[1]
	}
	return os.Getenv("OSS_REGION")
}
