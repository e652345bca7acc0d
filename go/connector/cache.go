package connector

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"osstorchconnector/go/fastcrc"
)

// The node-local cache (datasetConfig.cachePath, docs/cache.md): whole
// objects and tar members read once are kept as files in a directory that
// every process of the machine shares. An entry is written aside and renamed into place, so a
// reader only ever opens complete files; each carries the object's ETag and
// the CRC-64 of its bytes, and both are checked on every read. The total is
// kept under a byte budget, least recently used entries evicted first.
//
// Layout of the directory:
//
//	lock          flock'ed while the budget is reserved or entries evicted;
//	              its first 8 bytes hold the bytes reserved (little-endian)
//	xx/<hash>     an entry: xx is the first byte of hash, in hex; hash is
//	              SHA-256 of bucket NUL key (for a tar member, the names
//	              rangeEntry gives its bytes)
//	xx/.tmp-<random>-<bytes>
//	              an entry being written, with the bytes it reserved
//
// An entry is a header then the body:
//
//	"OSC1" u32 bucket_len u32 key_len u32 etag_len u64 body_len u64 crc64
//	bucket key etag body
//
// Entries are named for the object, not for its ETag: the ETag in the header
// is compared with the one the caller knows (from the listing, or a HEAD),
// so an old entry is never served, and the new version replaces it instead
// of waiting for eviction.

const (
	cacheMagic      = "OSC1"
	cacheHeaderSize = 4 + 4 + 4 + 4 + 8 + 8
	cacheLockName   = "lock"
	cacheTmpPrefix  = ".tmp-"

	// cacheTouchEvery bounds how stale an entry's recorded use may be: a hit
	// refreshes the entry's mtime only when it is older than this, so a hot
	// entry costs one utimes call per interval, not one per read.
	cacheTouchEvery = time.Minute
	// cacheTmpStale is the age after which a temporary file is taken for the
	// leftover of a process that died while writing it.
	cacheTmpStale = 10 * time.Minute
)

// ErrCacheCorrupt is wrapped by errors for a cache entry whose bytes fail
// their CRC-64 or whose header does not parse.
var ErrCacheCorrupt = errors.New("cache entry corrupt")

// diskCache is one process's handle on a cache directory. Processes share
// the directory, not this struct.
type diskCache struct {
	dir    string
	budget int64
	lock   *os.File
	// flock locks belong to an open file, which every goroutine of the
	// process shares: mu keeps them from taking it at once.
	mu sync.Mutex
}

// openCaches holds the caches this process has opened, by directory and
// budget: clients come and go (one per dataset and worker), and each would
// otherwise hold a lock file open for good.
var (
	openCachesMu sync.Mutex
	openCaches   = map[string]*diskCache{}
)

// openCache opens (creating it if needed) the cache directory at dir with a
// budget of budget bytes, once per process.
func openCache(dir string, budget int64) (*diskCache, error) {
	if budget <= 0 {
		return nil, invalidf("datasetConfig.cacheBytes must be positive with a cachePath, got %d", budget)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, cacheErr(dir, err)
	}
	id := abs + "\x00" + strconv.FormatInt(budget, 10)
	openCachesMu.Lock()
	defer openCachesMu.Unlock()
	if d := openCaches[id]; d != nil {
		return d, nil
	}
	d, err := newDiskCache(abs, budget)
	if err != nil {
		return nil, err
	}
	openCaches[id] = d
	return d, nil
}

func newDiskCache(dir string, budget int64) (*diskCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, cacheErr(dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, cacheLockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, cacheErr(dir, err)
	}
	// A directory that can be opened but not written fails here, not at the
	// first store, where it would only be a log line.
	probe, err := os.CreateTemp(dir, cacheTmpPrefix+"probe-")
	if err != nil {
		lock.Close()
		return nil, cacheErr(dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return &diskCache{dir: dir, budget: budget, lock: lock}, nil
}

func cacheErr(dir string, err error) error {
	e := wrap("OpenCache", "", "", err).(*Error)
	e.Message = fmt.Sprintf("datasetConfig.cachePath %q cannot be used as a cache directory: %v", dir, err)
	if e.Kind != KindPermission {
		e.Kind = KindInvalid // a path that cannot be made a directory is a configuration error
	}
	return e
}

// entryPath is where the entry of bucket/key lives.
func (d *diskCache) entryPath(bucket, key string) string {
	h := sha256.New()
	io.WriteString(h, bucket)
	h.Write([]byte{0})
	io.WriteString(h, key)
	name := hex.EncodeToString(h.Sum(nil))
	return filepath.Join(d.dir, name[:2], name)
}

// rangeEntry is the (bucket, key) a byte range of an object is kept under,
// as if it were an object of its own: a tar member's bytes, which a ranged
// read fetched. The bucket gets a suffix after a '/', which no bucket name
// holds, so no whole object's entry ever has its name; the range goes after
// the key and a NUL, and holds none itself, so the name is the range's alone.
// The entry's ETag is the whole object's.
func rangeEntry(bucket, key string, off, n int64) (string, string) {
	return bucket + "/range", key + "\x00" + strconv.FormatInt(off, 10) + "+" + strconv.FormatInt(n, 10)
}

// normETag is an ETag as compared here: OSS quotes it in some answers and
// not in others.
func normETag(etag string) string { return strings.Trim(etag, `"`) }

// cacheEntry is an open entry whose header has been read.
type cacheEntry struct {
	f      *os.File
	path   string
	info   fs.FileInfo
	etag   string
	bodyAt int64
	size   int64
	crc    uint64
}

// open returns the entry of bucket/key, or nil when there is none or it is
// unreadable (a corrupt header drops it).
func (d *diskCache) open(bucket, key string) *cacheEntry {
	path := d.entryPath(bucket, key)
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	e, err := readEntryHeader(f, path, bucket, key)
	if err != nil {
		if errors.Is(err, ErrCacheCorrupt) {
			d.drop(f, path)
		}
		f.Close()
		return nil
	}
	return e
}

func readEntryHeader(f *os.File, path, bucket, key string) (*cacheEntry, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var hdr [cacheHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrCacheCorrupt, err)
	}
	le := binary.LittleEndian
	if string(hdr[:4]) != cacheMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrCacheCorrupt)
	}
	bl, kl, el := int64(le.Uint32(hdr[4:])), int64(le.Uint32(hdr[8:])), int64(le.Uint32(hdr[12:]))
	size, crc := int64(le.Uint64(hdr[16:])), le.Uint64(hdr[24:])
	bodyAt := cacheHeaderSize + bl + kl + el
	if size < 0 || bodyAt+size != info.Size() {
		return nil, fmt.Errorf("%w: %d bytes, header says %d", ErrCacheCorrupt, info.Size(), bodyAt+size)
	}
	names := make([]byte, bl+kl+el)
	if _, err := f.ReadAt(names, cacheHeaderSize); err != nil {
		return nil, fmt.Errorf("%w: names: %v", ErrCacheCorrupt, err)
	}
	if string(names[:bl]) != bucket || string(names[bl:bl+kl]) != key {
		return nil, fmt.Errorf("%w: holds another object", ErrCacheCorrupt)
	}
	return &cacheEntry{f: f, path: path, info: info, etag: string(names[bl+kl:]), bodyAt: bodyAt, size: size, crc: crc}, nil
}

// read reads the entry's body into dst when it is exactly the body's size,
// else into a block from b, and checks its CRC-64. A body that fails is
// dropped from the cache. The returned slice is dst or a block the caller
// owns; on error nothing is held.
func (d *diskCache) read(e *cacheEntry, dst []byte, b bufs) ([]byte, error) {
	buf := dst
	if int64(len(dst)) != e.size {
		var err error
		if buf, err = b.get(e.size); err != nil {
			return nil, err
		}
	}
	_, err := e.f.ReadAt(buf, e.bodyAt)
	if err == nil && fastcrc.Checksum(buf) != e.crc {
		err = fmt.Errorf("%w: crc64 mismatch", ErrCacheCorrupt)
	}
	if err != nil {
		if !sameBlock(buf, dst) {
			b.put(buf)
		}
		d.drop(e.f, e.path)
		return nil, err
	}
	if time.Since(e.info.ModTime()) > cacheTouchEvery {
		now := time.Now()
		os.Chtimes(e.path, now, now) // recency for eviction; an entry evicted meanwhile is no loss
	}
	return buf, nil
}

// drop removes the entry at path if it is still the file f (another process
// may have put a fresh one there since f was opened).
func (d *diskCache) drop(f *os.File, path string) {
	fi, err := f.Stat()
	if err != nil {
		return
	}
	if cur, err := os.Stat(path); err == nil && os.SameFile(fi, cur) {
		os.Remove(path)
	}
}

// put stores body as the entry of bucket/key at etag (crc is its CRC-64).
// Failures are not errors for the caller: the object was read, only not
// kept; put reports them for the log.
func (d *diskCache) put(bucket, key, etag string, body []byte, crc uint64) error {
	etag = normETag(etag)
	if etag == "" {
		return nil // nothing to validate it against later
	}
	n := int64(cacheHeaderSize+len(bucket)+len(key)+len(etag)) + int64(len(body))
	if n > d.budget {
		return nil // larger than the whole cache
	}
	path := d.entryPath(bucket, key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := d.reserve(filepath.Dir(path), n)
	if err == errCacheFull {
		return nil // not kept this time, as with an object larger than the cache
	}
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			d.release(tmp.Name(), n)
		}
	}()
	hdr := make([]byte, cacheHeaderSize, cacheHeaderSize+len(bucket)+len(key)+len(etag))
	le := binary.LittleEndian
	copy(hdr, cacheMagic)
	le.PutUint32(hdr[4:], uint32(len(bucket)))
	le.PutUint32(hdr[8:], uint32(len(key)))
	le.PutUint32(hdr[12:], uint32(len(etag)))
	le.PutUint64(hdr[16:], uint64(len(body)))
	le.PutUint64(hdr[24:], crc)
	hdr = append(append(append(hdr, bucket...), key...), etag...)
	if _, err := tmp.Write(hdr); err != nil {
		return err
	}
	if _, err := tmp.Write(body); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Renamed under the lock: a scan that ran between the temporary file
	// leaving its name and the entry taking its own would count neither.
	if err := d.withLock(func() error { return os.Rename(tmp.Name(), path) }); err != nil {
		return err
	}
	ok = true
	return nil
}

// withLock runs fn holding the cache's exclusive lock, across processes.
func (d *diskCache) withLock(fn func() error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	fd := int(d.lock.Fd())
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX)
		if err == nil {
			break
		}
		if err != syscall.EINTR {
			return err
		}
	}
	defer syscall.Flock(fd, syscall.LOCK_UN)
	return fn()
}

func (d *diskCache) reserved() int64 {
	var b [8]byte
	if n, _ := d.lock.ReadAt(b[:], 0); n < 8 {
		return 0
	}
	return int64(binary.LittleEndian.Uint64(b[:]))
}

func (d *diskCache) setReserved(v int64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(max(v, 0)))
	_, err := d.lock.WriteAt(b[:], 0)
	return err
}

// errCacheFull: the bytes being written by others leave no room for an
// entry even after eviction; it is not stored.
var errCacheFull = errors.New("cache full of entries being written")

// reserve adds n bytes to the recorded total, evicting first when that
// would pass the budget, and creates the temporary file the entry is
// written to, both under the lock: a scan by another process then counts the
// file at its full reserved size, however much of it is written yet.
// Entries being written cannot be evicted, so when they alone leave too
// little room the entry is not stored (errCacheFull) rather than let the
// directory pass the budget.
func (d *diskCache) reserve(dir string, n int64) (*os.File, error) {
	var tmp *os.File
	err := d.withLock(func() error {
		total := d.reserved()
		if total+n > d.budget {
			var err error
			if total, err = d.evict(n); err != nil {
				if err == errCacheFull {
					d.setReserved(total) // the scan's figure, drift corrected
				}
				return err
			}
		}
		var rnd [8]byte
		rand.Read(rnd[:])
		name := filepath.Join(dir, cacheTmpPrefix+hex.EncodeToString(rnd[:])+"-"+strconv.FormatInt(n, 10))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if err := d.setReserved(total + n); err != nil {
			f.Close()
			os.Remove(name)
			return err
		}
		tmp = f
		return nil
	})
	return tmp, err
}

// release gives back a reservation whose entry was not stored.
// The temporary file goes under the lock too: a scan between its removal and
// the release would count it neither as a file nor as a reservation.
func (d *diskCache) release(tmp string, n int64) {
	d.withLock(func() error {
		os.Remove(tmp)
		return d.setReserved(d.reserved() - n)
	})
}

type cacheFile struct {
	path  string
	size  int64
	mtime time.Time
}

// evict scans the directory (the recorded total may have drifted: entries
// replaced, processes killed mid-write), removes least recently used
// entries until need more bytes fit below the low-water mark, and returns
// the bytes that remain. Called under the lock. Evicting below the budget,
// not just to it, keeps a full cache from scanning on every store. When the
// entries being written leave no room for need, it removes nothing and
// returns errCacheFull.
func (d *diskCache) evict(need int64) (int64, error) {
	subs, err := os.ReadDir(d.dir)
	if err != nil {
		return 0, err
	}
	var files []cacheFile
	var total, done int64 // every file's bytes; those of finished entries
	now := time.Now()
	for _, s := range subs {
		if !s.IsDir() || len(s.Name()) != 2 {
			continue
		}
		sub := filepath.Join(d.dir, s.Name())
		names, err := os.ReadDir(sub)
		if err != nil {
			continue
		}
		for _, de := range names {
			info, err := de.Info()
			if err != nil || !info.Mode().IsRegular() {
				continue
			}
			p := filepath.Join(sub, de.Name())
			if strings.HasPrefix(de.Name(), cacheTmpPrefix) {
				if now.Sub(info.ModTime()) > cacheTmpStale {
					os.Remove(p)
					continue
				}
				total += tmpReserved(de.Name(), info.Size())
				continue
			}
			files = append(files, cacheFile{p, info.Size(), info.ModTime()})
			total += info.Size()
			done += info.Size()
		}
	}
	if total-done+need > d.budget {
		// Entries being written cannot be evicted: when they alone leave
		// no room, evicting the others would empty the cache for nothing.
		return total, errCacheFull
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mtime.Before(files[j].mtime) })
	low := d.budget - d.budget/8
	for _, f := range files {
		if total+need <= low {
			break
		}
		if err := os.Remove(f.path); err == nil || errors.Is(err, fs.ErrNotExist) {
			total -= f.size
		}
	}
	return total, nil
}

// tmpReserved is the reservation a temporary file's name records (its
// size when the name does not parse).
func tmpReserved(name string, size int64) int64 {
	i := strings.LastIndexByte(name, '-')
	if n, err := strconv.ParseInt(name[i+1:], 10, 64); i >= 0 && err == nil && n >= size {
		return n
	}
	return size
}

// cachedItem serves it from the cache when the entry there holds the
// object's current ETag: the item's own (from a listing) when it has one,
// else the one a HEAD request answers. ok false: fetch it.
func (c *Client) cachedItem(ctx context.Context, it Item, dst []byte, b bufs) (data []byte, ok bool) {
	e := c.cache.open(it.Bucket, it.Key)
	if e == nil {
		return nil, false
	}
	defer e.f.Close()
	etag := it.ETag
	if etag == "" {
		oi, err := c.Stat(ctx, it.Bucket, it.Key)
		if err != nil {
			return nil, false // the GET that follows reports what is wrong
		}
		etag = oi.ETag
	}
	if normETag(etag) != e.etag {
		c.stats.cacheStale.Add(1)
		return nil, false
	}
	data, err := c.cache.read(e, dst, b)
	if err != nil {
		c.stats.cacheCorrupt.Add(1)
		c.log.Warn("cache entry dropped, fetching again", zapKey(it.Bucket, it.Key), zapErr(err))
		return nil, false
	}
	return data, true
}
