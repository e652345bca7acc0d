package connector

import "strings"

// ParseURI splits an object URI into bucket and key, as upstream's
// parse_oss_uri: "oss://bucket/key" or "/bucket/key"; "oss://bucket" gives an
// empty key. Also "oss://bucket.<endpoint-host>/key": OSS bucket names
// contain no dots, so the bucket is what precedes the first dot (the client's
// own endpoint is used, not the one in the URI).
func ParseURI(uri string) (bucket, key string, err error) {
	var rest string
	switch {
	case strings.HasPrefix(uri, "oss://"):
		rest = uri[len("oss://"):]
	case strings.HasPrefix(uri, "/"):
		rest = uri[1:]
	default:
		return "", "", invalidf("uri should start with 'oss://' or '/': %q", uri)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	bucket, _, _ = strings.Cut(bucket, ".")
	if bucket == "" {
		return "", "", invalidf("Bucket name must be non-empty: %q", uri)
	}
	return bucket, key, nil
}
