// Command ossemu runs the local OSS-compatible server.
//
// It prints its endpoint URL as the first line of standard output and serves
// until SIGINT or SIGTERM. Run "ossemu --help" for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"osstorchconnector/go/ossemu"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// opLatencyFlag collects --op-latency-ms Op=ms (repeatable).
type opLatencyFlag map[string]int

func (m opLatencyFlag) String() string {
	parts := make([]string, 0, len(m))
	for op, ms := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", op, ms))
	}
	return strings.Join(parts, ",")
}

func (m opLatencyFlag) Set(v string) error {
	op, ms, ok := strings.Cut(v, "=")
	n, err := strconv.Atoi(ms)
	if !ok || op == "" || err != nil {
		return fmt.Errorf("want Operation=milliseconds, got %q", v)
	}
	m[op] = n
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ossemu:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("ossemu", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: ossemu [flags]\n\nA local OSS-compatible server. Prints its endpoint URL on the first line of stdout and serves until SIGINT/SIGTERM.\n\nFlags:")
		fs.PrintDefaults()
	}
	var o ossemu.Options
	var buckets, ops listFlag
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on (port 0 picks a free port)")
	fs.Var(&buckets, "bucket", "create this bucket at start (repeatable)")
	fs.StringVar(&o.Region, "region", "", "region the server claims; empty accepts any region in V4 credential scopes")
	fs.StringVar(&o.AccessKeyID, "access-key-id", "", "the AccessKeyId requests must be signed with (or OSSEMU_ACCESS_KEY_ID)")
	fs.StringVar(&o.AccessKeySecret, "access-key-secret", "", "the AccessKeySecret (or OSSEMU_ACCESS_KEY_SECRET, which keeps it out of the process list)")
	fs.StringVar(&o.SecurityToken, "security-token", "", "require this STS security token on every request (or OSSEMU_SECURITY_TOKEN)")
	fs.BoolVar(&o.Anonymous, "anonymous", false, "accept every request without checking signatures")
	fs.StringVar(&o.DataDir, "data-dir", "", "keep objects in this directory so they survive a restart (default: in memory)")
	fs.StringVar(&o.Domain, "domain", "", "host name for virtual-hosted requests (BUCKET.DOMAIN); default: any host that is not an IP, localhost or oss-*")
	fs.BoolVar(&o.Admin, "admin", false, "serve the stats and fault endpoints under /_ossemu/")
	f := &o.Faults
	fs.Int64Var(&f.Seed, "seed", 1, "seed of the generator behind every random fault and jitter")
	fs.Int64Var(&f.ClockOffsetMs, "clock-offset-ms", 0, "shift the server clock (signature time checks, Date header) by this many ms")
	fs.IntVar(&f.LatencyMs, "latency-ms", 0, "first-byte latency added to every request")
	fs.IntVar(&f.LatencyJitterMs, "latency-jitter-ms", 0, "uniform random extra latency, 0..N ms")
	opLatency := opLatencyFlag{}
	fs.Var(opLatency, "op-latency-ms", "extra first-byte latency for one operation, e.g. ListObjectsV2=500 (repeatable)")
	fs.Int64Var(&f.BandwidthPerConn, "bandwidth-per-conn", 0, "bytes/s per response body (0 = unlimited)")
	fs.Int64Var(&f.BandwidthTotal, "bandwidth-total", 0, "bytes/s across all response bodies (0 = unlimited)")
	fs.IntVar(&f.QPSLimit, "qps-limit", 0, "requests/s above which 503 TotalQpsLimitExceeded is answered (0 = unlimited)")
	fs.IntVar(&f.QoSDelayMs, "qos-delay-ms", 100, "x-oss-qos-delay-time sent with throttling 503s")
	fs.Float64Var(&f.ErrorRate500, "error-rate-500", 0, "probability of a 500 InternalError")
	fs.Float64Var(&f.ErrorRate503, "error-rate-503", 0, "probability of a 503 ServiceUnavailable")
	fs.Float64Var(&f.ResetRate, "reset-rate", 0, "probability of a TCP reset after --reset-after-bytes of a body")
	fs.Int64Var(&f.ResetAfterBytes, "reset-after-bytes", 0, "body bytes before an injected reset")
	fs.Float64Var(&f.TruncateRate, "truncate-rate", 0, "probability of a response body cut short after --truncate-after-bytes")
	fs.Int64Var(&f.TruncateAfterBytes, "truncate-after-bytes", 0, "body bytes before an injected truncation")
	fs.Float64Var(&f.StallRate, "stall-rate", 0, "probability of a body pausing --stall-ms after --stall-after-bytes")
	fs.IntVar(&f.StallMs, "stall-ms", 0, "length of an injected stall")
	fs.Int64Var(&f.StallAfterBytes, "stall-after-bytes", 0, "body bytes before an injected stall")
	fs.Float64Var(&f.FlipRate, "flip-rate", 0, "probability of one inverted body byte (the CRC header stays true)")
	fs.Var(&ops, "fault-op", "limit error and body faults to this operation, e.g. GetObject (repeatable)")
	fs.StringVar(&f.KeyPattern, "fault-keys", "", "limit error and body faults to keys matching this path.Match pattern")
	fs.IntVar(&f.FaultLimit, "fault-limit", 0, "inject at most this many faults in total (0 = no limit)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	for flagVal, env := range map[*string]string{&o.AccessKeyID: "OSSEMU_ACCESS_KEY_ID",
		&o.AccessKeySecret: "OSSEMU_ACCESS_KEY_SECRET", &o.SecurityToken: "OSSEMU_SECURITY_TOKEN"} {
		if *flagVal == "" {
			*flagVal = os.Getenv(env)
		}
	}
	o.Buckets, f.Ops = buckets, ops
	if len(opLatency) > 0 {
		f.OpLatencyMs = opLatency
	}
	srv, err := ossemu.New(o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}
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
