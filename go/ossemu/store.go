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
	"sync/atomic"
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
	// DataFile is the name (in the bucket directory) of the file that holds
	// this version's bytes. Every committed version gets a file of its own, so
	// that replacing an object never rewrites bytes a reader may be reading.
	// Empty (directories written before it existed) means <sha256(key)>.data.
	DataFile string `json:"data_file,omitempty"`
	blob     blob
}

// blob is an object's bytes.
type blob interface {
	// open pins the bytes: the reader keeps returning this version's bytes
	// even if the object is replaced or deleted afterwards. The caller closes
	// it.
	open() (readerAtCloser, error)
}

type readerAtCloser interface {
	io.ReaderAt
	io.Closer
}

type memBlob []byte

func (b memBlob) open() (readerAtCloser, error) {
	return struct {
		io.ReaderAt
		io.Closer
	}{bytes.NewReader(b), io.NopCloser(nil)}, nil
}

// fileBlob is a data file. An open descriptor keeps the bytes readable after
// the file is unlinked by an overwrite or delete.
// segBlob is an object made of several in-memory pieces (a completed
// multipart upload keeps its parts as they are: no copy, no rehash).
type segBlob struct {
	segs [][]byte
	offs []int64 // offs[i] is where segs[i] starts
	size int64
}

func newSegBlob(segs [][]byte) segBlob {
	b := segBlob{segs: segs, offs: make([]int64, len(segs))}
	for i, s := range segs {
		b.offs[i] = b.size
		b.size += int64(len(s))
	}
	return b
}

func (b segBlob) ReadAt(p []byte, off int64) (int, error) {
	if off >= b.size {
		return 0, io.EOF
	}
	n := 0
	i := sort.Search(len(b.offs), func(i int) bool { return b.offs[i] > off }) - 1
	for ; i < len(b.segs) && n < len(p); i++ {
		start := off + int64(n) - b.offs[i]
		n += copy(p[n:], b.segs[i][start:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (b segBlob) open() (readerAtCloser, error) {
	return struct {
		io.ReaderAt
		io.Closer
	}{b, io.NopCloser(nil)}, nil
}

type fileBlob struct{ path string }

func (b fileBlob) open() (readerAtCloser, error) { return os.Open(b.path) }

// staging receives an object's bytes before it becomes visible. Nothing is
// visible until commit; abort (or a dropped connection) leaves nothing.
type staging struct {
	mem    *bytes.Buffer
	file   *os.File
	md5    hash.Hash
	crc    uint64
	size   int64
	noHash bool // assembling pieces whose hashes are known
}

func (s *staging) Write(p []byte) (int, error) {
	var n int
	var err error
	if s.mem != nil {
		n, err = s.mem.Write(p)
	} else {
		n, err = s.file.Write(p)
	}
	if !s.noHash {
		s.md5.Write(p[:n])
		s.crc = crc64.Update(s.crc, crcTable, p[:n])
	}
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

// pin returns key's object with its bytes opened under the bucket lock, so
// that the bytes read are the ones the object's headers describe even if a
// concurrent overwrite or delete publishes another version meanwhile. o is
// nil if there is no such key; the caller closes r.
func (b *bucket) pin(key string) (o *object, r readerAtCloser, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o = b.objects[key]
	if o == nil {
		return nil, nil, nil
	}
	r, err = o.blob.open()
	return o, r, err
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
			var k string
			switch {
			case j == len(b.pending) || (i < len(b.sorted) && b.sorted[i] < b.pending[j]):
				k = b.sorted[i]
				i++
			default:
				k = b.pending[j]
				j++
			}
			// a key deleted and written again is in the index twice until
			// the deleted ones are filtered out below
			if n := len(merged); n == 0 || merged[n-1] != k {
				merged = append(merged, k)
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
	seq     atomic.Uint64
}

// Layout of a data directory: <dir>/buckets/<bucket>/<sha256(key)>.json is an
// object's metadata and names the file with its bytes,
// <sha256(key)>.<version>.data; the metadata is written (atomically, by
// rename) after the bytes, so an object is either its old or its new version
// after a crash, and data files that no metadata names are leftovers that
// are removed at start. <dir>/tmp holds uploads in progress.
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
		used := map[string]bool{}
		for _, m := range metas {
			raw, err := os.ReadFile(m)
			if err != nil {
				return nil, err
			}
			o := &object{}
			if err := jsonAPI.Unmarshal(raw, o); err != nil {
				return nil, fmt.Errorf("ossemu: corrupt metadata %s: %w", m, err)
			}
			data := strings.TrimSuffix(m, ".json") + ".data"
			if o.DataFile != "" {
				data = filepath.Join(bdir, filepath.Base(o.DataFile))
			}
			used[data] = true
			o.blob = fileBlob{data}
			b.objects[o.Key] = o
			b.pending = append(b.pending, o.Key)
		}
		// Bytes of versions that were replaced, deleted or never committed
		// when the server stopped.
		leftovers, _ := filepath.Glob(filepath.Join(bdir, "*.data"))
		tmps, _ := filepath.Glob(filepath.Join(bdir, "*.json.tmp"))
		for _, f := range append(leftovers, tmps...) {
			if !used[f] {
				os.Remove(f)
			}
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

// newDataFile names a data file for a new version of key.
func (s *store) newDataFile(key string) string {
	return fmt.Sprintf("%s.%x-%x.data", keyFile(key), time.Now().UnixNano(), s.seq.Add(1))
}

// commit publishes st's bytes as o (o.Size, CRC64 are filled in from st).
// commitSegments publishes in-memory pieces as o (memory store only); o.Size
// and o.CRC64 must be set.
func (s *store) commitSegments(b *bucket, o *object, segs [][]byte) {
	if o.LastModified.IsZero() {
		o.LastModified = time.Now().UTC().Truncate(time.Second)
	}
	o.blob = newSegBlob(segs)
	b.mu.Lock()
	b.publish(o)
	b.mu.Unlock()
}

func (s *store) commit(b *bucket, o *object, st *staging) error {
	o.Size, o.CRC64 = st.size, st.crc
	if o.LastModified.IsZero() {
		o.LastModified = time.Now().UTC().Truncate(time.Second)
	}
	if st.mem != nil {
		o.blob = memBlob(st.mem.Bytes())
		b.mu.Lock()
		b.publish(o)
		b.mu.Unlock()
		return nil
	}
	bdir := filepath.Join(s.dir, "buckets", b.name)
	if err := st.file.Sync(); err != nil {
		st.abort()
		return err
	}
	name := st.file.Name()
	st.file.Close()
	st.file = nil
	o.DataFile = s.newDataFile(o.Key)
	data := filepath.Join(bdir, o.DataFile)
	if err := os.Rename(name, data); err != nil {
		os.Remove(name)
		return err
	}
	o.blob = fileBlob{data}
	// The metadata switch and the removal of the old version's bytes happen
	// under the bucket lock: concurrent writers of one key share its
	// metadata file, and a reader pins bytes under the same lock.
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := s.writeMeta(filepath.Join(bdir, keyFile(o.Key)), o); err != nil {
		os.Remove(data)
		return err
	}
	if old := b.objects[o.Key]; old != nil {
		s.removeData(old)
	}
	b.publish(o)
	return nil
}

// publish makes o the current version of its key; b.mu is held.
func (b *bucket) publish(o *object) {
	if _, exists := b.objects[o.Key]; !exists {
		b.pending = append(b.pending, o.Key)
	}
	b.objects[o.Key] = o
}

// removeData deletes a replaced or deleted version's data file. Readers that
// pinned it keep their open descriptor.
func (s *store) removeData(o *object) {
	if fb, ok := o.blob.(fileBlob); ok {
		os.Remove(fb.path)
	}
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
	// The files go under the lock too, or a concurrent commit of the same key
	// could have its new files removed.
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.objects[key]
	if old == nil {
		return
	}
	delete(b.objects, key)
	b.deleted = true
	if s.dir != "" {
		os.Remove(filepath.Join(s.dir, "buckets", b.name, keyFile(key)) + ".json")
		s.removeData(old)
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
		// Appends extend the version's file in place: readers of the shorter
		// version never read past its size. A new object gets a new file.
		bdir := filepath.Join(s.dir, "buckets", b.name)
		var path string
		if old != nil {
			path, o.DataFile = old.blob.(fileBlob).path, old.DataFile
		} else {
			o.DataFile = s.newDataFile(key)
			path = filepath.Join(bdir, o.DataFile)
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
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
			err = s.writeMeta(filepath.Join(bdir, keyFile(key)), o)
		}
		if err != nil {
			if old == nil {
				os.Remove(path)
			}
			return nil, newErr(500, "InternalError", err.Error())
		}
		o.blob = fileBlob{path}
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
