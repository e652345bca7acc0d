package ossemu

import (
	"errors"
	"io"
	"net/http"
	"strings"
)

// putDirect stores body as bucket/key the way an upload would (ETag, CRC-64,
// sorted key index), without a signature or an HTTP round trip. On failure it
// returns the status to answer with.
func (s *Server) putDirect(bucketName, key string, body io.Reader, h http.Header) (*object, int, error) {
	b := s.store.bucket(bucketName)
	if b == nil || key == "" {
		return nil, 404, errors.New("no such bucket, or empty key")
	}
	st, err := s.store.newStaging()
	if err != nil {
		return nil, 500, err
	}
	if _, err := io.Copy(st, body); err != nil {
		st.abort()
		return nil, 400, err
	}
	o := &object{Key: key, Type: "Normal", ETag: st.md5Hex(), ContentType: contentTypeFor(h, key), Meta: userMeta(h)}
	if err := s.store.commit(b, o, st); err != nil {
		return nil, 500, err
	}
	return o, 200, nil
}

// adminPrefix is where the stats and fault endpoints live when Options.Admin
// is set. Bucket names cannot contain '_', so it never shadows a bucket.
const adminPrefix = "/_ossemu/"

// serveAdmin answers:
//
//	GET  /_ossemu/stats          Stats as JSON
//	POST /_ossemu/stats/reset    zero the counters
//	GET  /_ossemu/faults         the fault configuration as JSON
//	PUT  /_ossemu/faults         replace it (a JSON Faults object)
//	PUT  /_ossemu/credentials    rotate the accepted keys ({"access_key_id",
//	                             "access_key_secret", "security_token"})
//	PUT  /_ossemu/buckets/NAME   create a bucket
//	PUT  /_ossemu/objects/BUCKET/KEY   store the body as an object (no signature:
//	                                   for test set-up from any language)
//	POST /_ossemu/fill?bucket=B&count=N[&start=S][&key_format=F][&per_dir=M][&size=Z][&body_dir=DIR]
//	                             store N objects in-process (see fill.go)
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, adminPrefix)
	reply := func(status int, v any) {
		body, _ := jsonAPI.Marshal(v)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(append(body, '\n'))
	}
	fail := func(status int, msg string) { reply(status, map[string]string{"error": msg}) }
	switch {
	case path == "stats" && r.Method == http.MethodGet:
		reply(200, s.Stats())
	case path == "stats/reset" && r.Method == http.MethodPost:
		s.ResetStats()
		reply(200, s.Stats())
	case path == "faults" && r.Method == http.MethodGet:
		reply(200, s.Faults())
	case path == "faults" && r.Method == http.MethodPut:
		raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			fail(400, err.Error())
			return
		}
		var f Faults
		dec := jsonAPI.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			fail(400, "invalid faults: "+err.Error())
			return
		}
		if err := s.SetFaults(f); err != nil {
			fail(400, err.Error())
			return
		}
		reply(200, s.Faults())
	case path == "credentials" && r.Method == http.MethodPut:
		var k Keys
		if err := jsonAPI.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&k); err != nil {
			fail(400, "invalid credentials JSON")
			return
		}
		if err := s.SetCredentials(k); err != nil {
			fail(400, err.Error())
			return
		}
		reply(200, map[string]string{"access_key_id": k.AccessKeyID})
	case strings.HasPrefix(path, "buckets/") && r.Method == http.MethodPut:
		if err := s.CreateBucket(strings.TrimPrefix(path, "buckets/")); err != nil {
			fail(400, err.Error())
			return
		}
		reply(200, map[string]string{"created": strings.TrimPrefix(path, "buckets/")})
	case strings.HasPrefix(path, "objects/") && r.Method == http.MethodPut:
		bucketName, key, _ := strings.Cut(strings.TrimPrefix(path, "objects/"), "/")
		o, status, err := s.putDirect(bucketName, key, r.Body, r.Header)
		if err != nil {
			fail(status, err.Error())
			return
		}
		reply(200, map[string]any{"key": key, "size": o.Size, "etag": o.ETag})
	case path == "fill" && r.Method == http.MethodPost:
		res, status, err := s.fillFromQuery(r.URL.Query())
		if err != nil {
			fail(status, err.Error())
			return
		}
		reply(200, res)
	default:
		fail(404, "unknown admin endpoint "+r.Method+" "+r.URL.Path)
	}
}

// Put stores body as bucket/key exactly as an upload would, without a
// signature or a round trip: for tests and tools that seed a server they run
// in process.
func (s *Server) Put(bucket, key string, body io.Reader) error {
	_, _, err := s.putDirect(bucket, key, body, http.Header{})
	return err
}
