package ossemu

import (
	"io"
	"net/http"
	"strings"
)

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
		b := s.store.bucket(bucketName)
		if b == nil || key == "" {
			fail(404, "no such bucket, or empty key")
			return
		}
		st, err := s.store.newStaging()
		if err != nil {
			fail(500, err.Error())
			return
		}
		if _, err := io.Copy(st, r.Body); err != nil {
			st.abort()
			fail(400, err.Error())
			return
		}
		o := &object{Key: key, Type: "Normal", ETag: st.md5Hex(), ContentType: contentTypeFor(r.Header, key), Meta: userMeta(r.Header)}
		if err := s.store.commit(b, o, st); err != nil {
			fail(500, err.Error())
			return
		}
		reply(200, map[string]any{"key": key, "size": o.Size, "etag": o.ETag})
	default:
		fail(404, "unknown admin endpoint "+r.Method+" "+r.URL.Path)
	}
}
