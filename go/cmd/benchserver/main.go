// Command benchserver is ossemu with a bulk loader, for the benchmarks. It
// takes the flags LocalOssServer passes to ossemu (so
// OSSEMU_BINARY=benchserver makes LocalOssServer start it) and serves the
// same handler, plus one endpoint:
//
//	POST /_bench/fill?bucket=B&count=N[&start=S][&key_format=F][&per_dir=M][&size=Z][&body_dir=DIR]
//
// which stores N objects without any HTTP round trip per object: keys
// fmt.Sprintf(F, i) (or fmt.Sprintf(F, i/M, i) with per_dir), bodies the
// files of DIR in name order (object i gets file i mod n) or Z random bytes.
// Over loopback HTTP a 2-core machine stores about 5,000 small objects a
// second, so the million keys of the listing benchmark would take minutes;
// handing the requests to the handler in-process takes seconds. Each object
// still goes through the admin PUT path, so it is stored exactly as a real
// upload would be (ETag, CRC-64, sorted key index).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"osstorchconnector/go/ossemu"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchserver:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("benchserver", flag.ContinueOnError)
	var o ossemu.Options
	var buckets listFlag
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	fs.Var(&buckets, "bucket", "create this bucket at start (repeatable)")
	fs.StringVar(&o.Region, "region", "", "region the server claims")
	fs.StringVar(&o.DataDir, "data-dir", "", "keep objects in this directory (default: in memory)")
	fs.BoolVar(&o.Anonymous, "anonymous", false, "accept unsigned requests")
	fs.BoolVar(&o.Admin, "admin", false, "serve /_ossemu/ (stats, faults, objects)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	o.Buckets = buckets
	o.AccessKeyID = os.Getenv("OSSEMU_ACCESS_KEY_ID")
	o.AccessKeySecret = os.Getenv("OSSEMU_ACCESS_KEY_SECRET")
	o.SecurityToken = os.Getenv("OSSEMU_SECURITY_TOKEN")
	o.Faults.Seed = 1
	// fill goes through the admin PUT path, so the handler must have it
	// even when the caller did not ask for --admin.
	admin := o.Admin
	o.Admin = true
	srv, err := ossemu.New(o)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_bench/fill", func(w http.ResponseWriter, r *http.Request) { serveFill(srv, w, r) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !admin && strings.HasPrefix(r.URL.Path, "/_ossemu/") {
			http.NotFound(w, r)
			return
		}
		srv.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	fmt.Printf("http://%s\n", ln.Addr())
	os.Stdout.Sync()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	return nil
}

func serveFill(srv *ossemu.Server, w http.ResponseWriter, r *http.Request) {
	fail := func(status int, err error) { http.Error(w, err.Error(), status) }
	q := r.URL.Query()
	bucket := q.Get("bucket")
	count, err1 := strconv.Atoi(q.Get("count"))
	start, err2 := atoiDefault(q.Get("start"), 0)
	perDir, err3 := atoiDefault(q.Get("per_dir"), 0)
	size, err4 := atoiDefault(q.Get("size"), 0)
	if err := errors.Join(err1, err2, err3, err4); err != nil || bucket == "" || count <= 0 {
		fail(400, fmt.Errorf("need bucket and a positive count; integers for start, per_dir, size: %v", err))
		return
	}
	format := q.Get("key_format")
	if format == "" {
		format = "obj-%07d"
	}
	bodies, err := loadBodies(q.Get("body_dir"), size)
	if err != nil {
		fail(400, err)
		return
	}
	key := func(i int) string {
		if perDir > 0 {
			return fmt.Sprintf(format, i/perDir, i)
		}
		return fmt.Sprintf(format, i)
	}
	t0 := time.Now()
	var (
		next    atomic.Int64
		failed  atomic.Pointer[string]
		wg      sync.WaitGroup
		nbytes  atomic.Int64
		workers = runtime.GOMAXPROCS(0)
	)
	next.Store(int64(start))
	end := int64(start + count)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				i := next.Add(1) - 1
				if i >= end {
					return
				}
				body := bodies[int(i)%len(bodies)]
				req := httptest.NewRequest(http.MethodPut, "/_ossemu/objects/"+bucket+"/"+escapeKey(key(int(i))), bytes.NewReader(body))
				req.Host = "127.0.0.1" // path-style: httptest's example.com would read as a virtual host
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					msg := fmt.Sprintf("%s: %d %s", key(int(i)), rec.Code, strings.TrimSpace(rec.Body.String()))
					failed.CompareAndSwap(nil, &msg)
					return
				}
				nbytes.Add(int64(len(body)))
			}
		}()
	}
	wg.Wait()
	if m := failed.Load(); m != nil {
		fail(500, errors.New(*m))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"objects\":%d,\"bytes\":%d,\"seconds\":%.3f}\n", count, nbytes.Load(), time.Since(t0).Seconds())
}

func atoiDefault(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	return strconv.Atoi(s)
}

// escapeKey escapes each path segment of a key, keeping the slashes.
func escapeKey(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func loadBodies(dir string, size int) ([][]byte, error) {
	if dir == "" {
		b := make([]byte, size)
		rand.Read(b)
		return [][]byte{b}, nil
	}
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out [][]byte
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err == nil && st.Mode().IsRegular() {
			var b []byte
			b, err = io.ReadAll(f)
			out = append(out, b)
		}
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no files in %s", dir)
	}
	return out, nil
}
