package main

import (
	"net"
	"sync"
	"time"
)

// latencyProxy puts a network between the clients and the API server: it
// forwards TCP connections to upstream and delivers every chunk of bytes
// RTT/2 after it arrived, in each direction, in order. It delays without
// serializing (a chunk does not wait for the previous one's delay, only for
// its delivery), so pipelined requests overlap as on a real link. TLS passes
// through untouched: the clients keep the API server's CA and credentials.
// It models latency only, not bandwidth or TCP slow start.
type latencyProxy struct {
	ln       net.Listener
	upstream string
	oneWay   time.Duration
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]bool
	closed   bool
}

// startLatencyProxy listens on a free loopback port.
func startLatencyProxy(upstream string, rtt time.Duration) (*latencyProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &latencyProxy{ln: ln, upstream: upstream, oneWay: rtt / 2, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *latencyProxy) addr() string { return p.ln.Addr().String() }

// close stops listening and cuts every open connection.
func (p *latencyProxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

// track registers c, or closes it if the proxy is closing.
func (p *latencyProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *latencyProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	c.Close()
}

func (p *latencyProxy) serve() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(client)
		}()
	}
}

func (p *latencyProxy) handle(client net.Conn) {
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	// The connect itself is delayed too: a TCP handshake costs a round trip.
	time.Sleep(2 * p.oneWay)
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	if !p.track(up) {
		return
	}
	defer p.untrack(up)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); delayedCopy(up, client, p.oneWay) }()
	go func() { defer wg.Done(); delayedCopy(client, up, p.oneWay) }()
	wg.Wait()
}

// delayedCopy copies src to dst, writing each chunk delay after it was read.
// The reader runs ahead of the writer, so the delay is paid once per chunk
// in flight, not once per chunk in turn.
func delayedCopy(dst, src net.Conn, delay time.Duration) {
	type chunk struct {
		b   []byte
		due time.Time
	}
	// Enough to hold many responses in flight; the reader blocks beyond it,
	// which TCP's flow control then passes back to the sender.
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{append([]byte(nil), buf[:n]...), time.Now().Add(delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	for c := range q {
		if failed {
			continue // drain, so the reader can finish
		}
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.b); err != nil {
			failed = true
			src.Close() // the other side is gone: stop reading
		}
	}
	// Pass the end of the stream on, so the peer sees EOF after the last byte.
	if tc, ok := dst.(*net.TCPConn); ok && !failed {
		_ = tc.CloseWrite()
	} else {
		dst.Close()
	}
}
