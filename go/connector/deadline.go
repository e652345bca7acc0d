package connector

import (
	"context"
	"net"
	"time"
)

// refreshDeadlines wraps a dialer so that the read/write timeout is measured
// from the start of each read and write. The SDK's connection pushes its
// deadline forward only after an operation succeeds, so a connection that
// sat idle in the pool for longer than the timeout comes back with a deadline
// already in the past: its first write fails at once with "i/o timeout"
// (seen in the soak run under load, where it ended a retry sequence).
func refreshDeadlines(dial func(ctx context.Context, network, addr string) (net.Conn, error), timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if dial == nil || timeout <= 0 {
		return dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return c, err
		}
		return &deadlineConn{Conn: c, timeout: timeout}, nil
	}
}

type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
