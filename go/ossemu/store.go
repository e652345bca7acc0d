package ossemu

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	jsoniter "github.com/json-iterator/go"
)

var (
	crcTable = crc64.MakeTable(crc64.ECMA)
	jsonAPI  = jsoniter.ConfigCompatibleWithStandardLibrary
)

// object is one committed object. It is immutable once published, except
// that an appendable object is replaced by a new *object on every append, so
// readers holding the old one keep a consistent view.
type object struct {
	Key          string            `json:"key"`
	Size         int64             `json:"size"`
	ETag         string            `json:"etag"` // without quotes
	LastModified time.Time         `json:"last_modified"`
	CRC64        uint64            `json:"crc64"`
	Type         string            `json:"type"` // Normal | Multipart | Appendable
	ContentType  string            `json:"content_type"`
	Meta         map[string]string `json:"meta,omitempty"`
	blob         blob
}

// blob is an object's bytes.
type blob interface {
	io.ReaderAt
	// open returns a reader over [off, off+n) that the caller closes.
	open(off, n int64) (io.ReadCloser, error)
}

type memBlob []byte

func (b memBlob) ReadAt(p []byte, off int64) (int, error) { return bytes.NewReader(b).ReadAt(p, off) }
func (b memBlob) open(off, n int64) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b[off : off+n])), nil
}

type fileBlob struct{ path string }

func (b fileBlob) ReadAt(p []byte, off int64) (int, error) {
	f, err := os.Open(b.path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.ReadAt(p, off)
}

func (b fileBlob) open(off, n int64) (io.ReadCloser, error) {
	f, err := os.Open(b.path)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, off, n), f}, nil
}

// staging receives an object's bytes before it becomes visible. Nothing is
// visible until commit; abort (or a dropped connection) leaves nothing.
type staging struct {
	mem  *bytes.Buffer
	file *os.File
	md5  hash.Hash
	crc  uint64
	size int64
}

func (s *staging) Write(p []byte) (int, error) {
	var n int
	var err error
	if s.mem != nil {
		n, err = s.mem.Write(p)
	} else {
		n, err = s.file.Write(p)
	}
	s.md5.Write(p[:n])
	s.crc = crc64.Update(s.crc, crcTable, p[:n])
	s.size += int64(n)
	return n, err
}

func (s *staging) abort() {
	if s.file != nil {
		name := s.file.Name()
		s.file.Close()
		os.Remove(name)
		s.file = nil
	}
	s.mem = nil
}

func (s *staging) md5Hex() string { return strings.ToUpper(hex.EncodeToString(s.md5.Sum(nil))) }

// bucket holds one bucket's objects and a sorted key index for listing. New
// keys go to pending and are merged on the next listing, so bulk loads of
// millions of keys stay O(n log n).
type bucket struct {
	name    string
	created time.Time
	mu      sync.Mutex
	objects map[string]*object
	sorted  []string
	pending []string
	deleted bool
}

func (b *bucket) get(key string) *object {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.objects[key]
}

// keys returns the sorted key index. The slice must not be modified; it stays
// valid (as a snapshot) after later changes.
func (b *bucket) keys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) > 0 {
		sort.Strings(b.pending)
		merged := make([]string, 0, len(b.sorted)+len(b.pending))
		i, j := 0, 0
		for i < len(b.sorted) || j < len(b.pending) {
			switch {
			case j == len(b.pending) || (i < len(b.sorted) && b.sorted[i] < b.pending[j]):
				merged = append(merged, b.sorted[i])
				i++
			default:
				merged = append(merged, b.pending[j])
				j++
			}
		}
		b.sorted, b.pending = merged, nil
	}
	if b.deleted {
		kept := make([]string, 0, len(b.objects))
		for _, k := range b.sorted {
			if _, ok := b.objects[k]; ok {
				kept = append(kept, k)
			}
		}
		b.sorted, b.deleted = kept, false
	}
	return b.sorted
}

// store keeps buckets in memory, optionally backed by a directory.
type store struct {
	dir     string
	mu      sync.Mutex
	buckets map[string]*bucket
	seq     uint64
}

// Layout of a data directory: <dir>/buckets/<bucket>/<sha256(key)>.data holds
// an object's bytes and .json its metadata (written last, so an object without
// it was never committed); <dir>/tmp holds uploads in progress.
func newStore(dir string) (*store, error) {
	s := &store{dir: dir, buckets: map[string]*bucket{}}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "buckets"), 0o755); err != nil {
		return nil, err
	}
	os.RemoveAll(filepath.Join(dir, "tmp")) // uploads in progress at a crash never complete
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(dir, "buckets"))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		b := &bucket{name: e.Name(), objects: map[string]*object{}}
		if info, err := e.Info(); err == nil {
			b.created = info.ModTime().UTC().Truncate(time.Second)
		}
		bdir := filepath.Join(dir, "buckets", e.Name())
		metas, _ := filepath.Glob(filepath.Join(bdir, "*.json"))
		for _, m := range metas {
			raw, err := os.ReadFile(m)
			if err != nil {
				return nil, err
			}
			o := &object{}
			if err := jsonAPI.Unmarshal(raw, o); err != nil {
				return nil, fmt.Errorf("ossemu: corrupt metadata %s: %w", m, err)
			}
			o.blob = fileBlob{strings.TrimSuffix(m, ".json") + ".data"}
			b.objects[o.Key] = o
			b.pending = append(b.pending, o.Key)
		}
		s.buckets[b.name] = b
	}
	return s, nil
}

func (s *store) bucket(name string) *bucket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buckets[name]
}

func (s *store) bucketNames() []*bucket {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*bucket, 0, len(s.buckets))
	for _, b := range s.buckets {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// createBucket returns false if it already existed.
func (s *store) createBucket(name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buckets[name]; ok {
		return false, nil
	}
	if s.dir != "" {
		if err := os.MkdirAll(filepath.Join(s.dir, "buckets", name), 0o755); err != nil {
			return false, err
		}
	}
	s.buckets[name] = &bucket{name: name, created: time.Now().UTC().Truncate(time.Second), objects: map[string]*object{}}
	return true, nil
}

var errBucketNotEmpty = errors.New("bucket not empty")

func (s *store) deleteBucket(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[name]
	if b == nil {
		return nil
	}
	b.mu.Lock()
	n := len(b.objects)
	b.mu.Unlock()
	if n > 0 {
		return errBucketNotEmpty
	}
	delete(s.buckets, name)
	if s.dir != "" {
		return os.RemoveAll(filepath.Join(s.dir, "buckets", name))
	}
	return nil
}

func (s *store) newStaging() (*staging, error) {
	st := &staging{md5: md5.New()}
	if s.dir == "" {
		st.mem = &bytes.Buffer{}
		return st, nil
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "upload-*")
	if err != nil {
		return nil, err
	}
	st.file = f
	return st, nil
}

func keyFile(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// commit publishes st's bytes as o (o.Size, CRC64 are filled in from st).
func (s *store) commit(b *bucket, o *object, st *staging) error {
	o.Size, o.CRC64 = st.size, st.crc
	if o.LastModified.IsZero() {
		o.LastModified = time.Now().UTC().Truncate(time.Second)
	}
	if st.mem != nil {
		o.blob = memBlob(st.mem.Bytes())
	} else {
		base := filepath.Join(s.dir, "buckets", b.name, keyFile(o.Key))
		if err := st.file.Sync(); err != nil {
			st.abort()
			return err
		}
		name := st.file.Name()
		st.file.Close()
		st.file = nil
		// Remove the old metadata first: between the two renames a crash leaves
		// the old object invisible rather than pointing at new bytes.
		os.Remove(base + ".json")
		if err := os.Rename(name, base+".data"); err != nil {
			os.Remove(name)
			return err
		}
		if err := s.writeMeta(base, o); err != nil {
			return err
		}
		o.blob = fileBlob{base + ".data"}
	}
	b.mu.Lock()
	if _, exists := b.objects[o.Key]; !exists {
		b.pending = append(b.pending, o.Key)
	}
	b.objects[o.Key] = o
	b.mu.Unlock()
	return nil
}

func (s *store) writeMeta(base string, o *object) error {
	raw, err := jsonAPI.Marshal(o)
	if err != nil {
		return err
	}
	tmp := base + ".json.tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, base+".json")
}

func (s *store) deleteObject(b *bucket, key string) {
	b.mu.Lock()
	_, ok := b.objects[key]
	delete(b.objects, key)
	if ok {
		b.deleted = true
	}
	b.mu.Unlock()
	if ok && s.dir != "" {
		base := filepath.Join(s.dir, "buckets", b.name, keyFile(key))
		os.Remove(base + ".json")
		os.Remove(base + ".data")
	}
}

// appendTo appends data to key at position pos under the bucket lock, so
// concurrent appends are serialised and checked against the current length.
func (s *store) appendTo(b *bucket, key string, pos int64, data []byte, contentType string, meta map[string]string) (*object, *ossError) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.objects[key]
	if old != nil && old.Type != "Appendable" {
		return nil, newErr(409, "ObjectNotAppendable", "The object is not appendable")
	}
	var cur int64
	if old != nil {
		cur = old.Size
	}
	if pos != cur {
		e := newErr(409, "PositionNotEqualToLength", "Position is not equal to file length")
		e.Header = map[string][]string{"X-Oss-Next-Append-Position": {fmt.Sprint(cur)}}
		return nil, e
	}
	o := &object{Key: key, Type: "Appendable", LastModified: time.Now().UTC().Truncate(time.Second)}
	if old != nil {
		o.ContentType, o.Meta, o.CRC64 = old.ContentType, old.Meta, old.CRC64
	} else {
		o.ContentType, o.Meta = contentType, meta
	}
	o.CRC64 = crc64.Update(o.CRC64, crcTable, data)
	o.Size = cur + int64(len(data))
	o.ETag = strings.ToUpper(fmt.Sprintf("%016X%016X", o.CRC64, uint64(o.Size)))
	if s.dir == "" {
		var prev memBlob
		if old != nil {
			prev = old.blob.(memBlob)
		}
		// Appending may reuse prev's array beyond its length; readers of the old
		// object never look past its size, so they are unaffected.
		o.blob = append(prev, data...)
	} else {
		base := filepath.Join(s.dir, "buckets", b.name, keyFile(key))
		f, err := os.OpenFile(base+".data", os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, newErr(500, "InternalError", err.Error())
		}
		_, err = f.WriteAt(data, cur)
		if err == nil {
			err = f.Close()
		} else {
			f.Close()
		}
		if err == nil {
			err = s.writeMeta(base, o)
		}
		if err != nil {
			return nil, newErr(500, "InternalError", err.Error())
		}
		o.blob = fileBlob{base + ".data"}
	}
	if old == nil {
		b.pending = append(b.pending, key)
	}
	b.objects[key] = o
	return o, nil
}

// copyTo writes the staged bytes into dst (used to assemble multipart parts).
func (s *staging) copyTo(dst io.Writer) error {
	if s.mem != nil {
		_, err := dst.Write(s.mem.Bytes())
		return err
	}
	f, err := os.Open(s.file.Name())
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(dst, f)
	return err
}
