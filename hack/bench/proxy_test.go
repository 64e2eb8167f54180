package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer answers every byte with itself.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestLatencyProxy(t *testing.T) {
	const rtt = 40 * time.Millisecond
	// A loaded machine (the benchmark's own control plane) wakes sleepers late.
	const slack = 25 * time.Millisecond
	p, err := startLatencyProxy(echoServer(t), rtt)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()

	c, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)

	// The first exchange pays the upstream connect (one round trip) and its own.
	roundTrip := func() time.Duration {
		t.Helper()
		start := time.Now()
		if _, err := c.Write([]byte("ping\n")); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil || line != "ping\n" {
			t.Fatalf("echo: %q, %v", line, err)
		}
		return time.Since(start)
	}
	if got := roundTrip(); got < 2*rtt || got > 2*rtt+slack {
		t.Errorf("first exchange on a new connection took %s, want %s (connect + request)", got, 2*rtt)
	}
	for i := 0; i < 3; i++ {
		if got := roundTrip(); got < rtt || got > rtt+slack {
			t.Errorf("round trip %d took %s, want %s", i, got, rtt)
		}
	}

	// Pipelined writes overlap: 20 messages 5 ms apart arrive in order, the
	// last one RTT after it was sent, not 20 RTTs later.
	const n, gap = 20, 5 * time.Millisecond
	var msgs []string
	var want bytes.Buffer
	for i := 0; i < n; i++ {
		msgs = append(msgs, fmt.Sprintf("message %02d %s\n", i, bytes.Repeat([]byte("x"), i*997)))
		want.WriteString(msgs[i])
	}
	start := time.Now()
	go func() {
		for _, msg := range msgs {
			if _, err := c.Write([]byte(msg)); err != nil {
				return
			}
			time.Sleep(gap)
		}
	}()
	var got bytes.Buffer
	for i := 0; i < n; i++ {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got.WriteString(line)
	}
	elapsed := time.Since(start)
	if lo, hi := (n-1)*gap+rtt, (n-1)*gap+rtt+2*slack; elapsed < lo || elapsed > hi {
		t.Errorf("%d pipelined messages took %s, want about %s", n, elapsed, lo)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("the bytes came back changed or out of order")
	}

	// Closing the proxy cuts open connections.
	p.close()
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := r.ReadByte(); err == nil {
		t.Errorf("read after the proxy closed: no error")
	}
}
