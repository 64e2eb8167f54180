package kube

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// h2Server is an HTTP/2 TLS server that, like kube-apiserver, caps the
// streams of one connection, and counts the connections clients open.
func h2Server(t *testing.T, maxStreams uint32, handler http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(handler)
	srv.EnableHTTP2 = true
	srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: int(maxStreams)}
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// clientFor builds an HTTP client the way every command's clients are built:
// a rest.Config, wrapped with limit when it is not nil.
func clientFor(t *testing.T, srv *httptest.Server, limit *InFlightLimit) *http.Client {
	t.Helper()
	cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: certPEM(srv)}}
	if limit != nil {
		cfg.Wrap(limit.Wrap)
	}
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func certPEM(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return err
}

// A burst of requests larger than the server's streams per connection: two
// clients sharing one limit below it keep to one connection; without the
// limit, net/http dials a connection per overflowing request.
func TestInFlightLimitKeepsOneConnection(t *testing.T) {
	slow := func(w http.ResponseWriter, _ *http.Request) { time.Sleep(20 * time.Millisecond) }
	for _, tc := range []struct {
		name      string
		limit     *InFlightLimit
		wantConns func(int32) bool
	}{
		{"limited", NewInFlightLimit(8), func(n int32) bool { return n == 1 }},
		{"unlimited", nil, func(n int32) bool { return n > 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, conns := h2Server(t, 10, slow)
			clients := []*http.Client{clientFor(t, srv, tc.limit), clientFor(t, srv, tc.limit)}
			// One request first, so the connection exists when the burst comes.
			if err := get(clients[0], srv.URL); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 200)
			for i := range 200 {
				wg.Go(func() { errs <- get(clients[i%2], srv.URL) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if n := conns.Load(); !tc.wantConns(n) {
				t.Errorf("%d connections for 200 requests", n)
			}
		})
	}
}

// Answers without a body, as net/http hands them over from a real HTTP/2
// server, left unclosed the way client-go's HTTP cache leaves a 304's: each
// must give its slot back, or a command stalls once 80 of them came by.
func TestInFlightLimitBodilessAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer http.HandlerFunc
	}{
		{"304 Not Modified", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotModified) }},
		{"204 No Content", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }},
		{"200 with Content-Length 0", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusOK)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := h2Server(t, 10, tc.answer)
			c := clientFor(t, srv, NewInFlightLimit(1))
			for i := range 3 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, err = c.Do(req) // the body is never closed
				cancel()
				if err != nil {
					t.Fatalf("request %d with the earlier answers unclosed: %v", i+1, err)
				}
			}
		})
	}
}

// fakeRT answers from a function and counts the requests in flight.
type fakeRT struct {
	inFlight, peak atomic.Int32
	answer         func(*http.Request) (*http.Response, error)
}

func (f *fakeRT) RoundTrip(req *http.Request) (*http.Response, error) {
	n := f.inFlight.Add(1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	resp, err := f.answer(req)
	if err != nil || resp.Body == nil || resp.Body == http.NoBody {
		f.inFlight.Add(-1)
		return resp, err
	}
	resp.Body = &countingBody{ReadCloser: resp.Body, done: sync.OnceFunc(func() { f.inFlight.Add(-1) })}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	done func()
}

func (b *countingBody) Close() error { b.done(); return b.ReadCloser.Close() }

// ok answers like the API server: a body of unknown length, sent in frames.
func ok(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, ContentLength: -1, Body: io.NopCloser(strings.NewReader("{}"))}, nil
}

func request(t *testing.T, ctx context.Context, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestInFlightLimitSlots(t *testing.T) {
	const url = "https://api/api/v1/namespaces"
	t.Run("a slot is held until the body is closed", func(t *testing.T) {
		rt := NewInFlightLimit(1).Wrap(&fakeRT{answer: ok})
		resp, err := rt.RoundTrip(request(t, context.Background(), url))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err = rt.RoundTrip(request(t, ctx, url))
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for one of the 1 requests in flight to api") {
			t.Fatalf("second request with the only slot held: err = %v, want the context's deadline, saying it never left", err)
		}
		resp.Body.Close()
		resp.Body.Close() // a second Close must not give back a second slot
		if _, err := rt.RoundTrip(request(t, context.Background(), url)); err != nil {
			t.Fatalf("after Close: %v", err)
		}
	})
	t.Run("a slot is given back when the body is read to its end", func(t *testing.T) {
		rt := NewInFlightLimit(1).Wrap(&fakeRT{answer: ok})
		resp, err := rt.RoundTrip(request(t, context.Background(), url))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(resp.Body); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := rt.RoundTrip(request(t, ctx, url)); err != nil {
			t.Fatalf("after EOF: %v", err)
		}
	})
	// client-go's HTTP cache answers a 304 from its cache and drops the
	// 304's body without closing it; an upgraded connection is not a stream.
	for _, tc := range []struct {
		name string
		resp http.Response
	}{
		{"a 304 left unclosed holds no slot", http.Response{StatusCode: http.StatusNotModified, ContentLength: -1, Body: io.NopCloser(strings.NewReader(""))}},
		{"an empty body left unclosed holds no slot", http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(""))}},
		{"http.NoBody holds no slot", http.Response{StatusCode: http.StatusOK, ContentLength: -1, Body: http.NoBody}},
		{"a protocol switch holds no slot", http.Response{StatusCode: http.StatusSwitchingProtocols, ContentLength: -1, Body: io.NopCloser(strings.NewReader(""))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := NewInFlightLimit(1).Wrap(&fakeRT{answer: func(*http.Request) (*http.Response, error) {
				resp := tc.resp
				return &resp, nil
			}})
			for range 3 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, err := rt.RoundTrip(request(t, ctx, url))
				cancel()
				if err != nil {
					t.Fatalf("with the earlier answers never closed: %v", err)
				}
			}
		})
	}
	t.Run("a failed request gives its slot back", func(t *testing.T) {
		fail := &fakeRT{answer: func(*http.Request) (*http.Response, error) { return nil, errors.New("connection refused") }}
		rt := NewInFlightLimit(1).Wrap(fail)
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := rt.RoundTrip(request(t, ctx, url))
			cancel()
			if err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want the transport's error", err)
			}
		}
	})
	t.Run("watches and followed logs take no slot", func(t *testing.T) {
		rt := NewInFlightLimit(1).Wrap(&fakeRT{answer: ok})
		for _, stream := range []string{url + "?watch=true", url + "?watch=1&resourceVersion=5", "https://api/api/v1/namespaces/a/pods/p/log?follow=true"} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := rt.RoundTrip(request(t, ctx, stream))
			cancel()
			if err != nil {
				t.Fatalf("%s with the streams before it open: %v", stream, err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := rt.RoundTrip(request(t, ctx, url)); err != nil {
			t.Fatalf("a request with three streams open: %v", err)
		}
	})
	t.Run("a transport wrapped twice takes one slot per request", func(t *testing.T) {
		limit := NewInFlightLimit(1)
		rt := limit.Wrap(limit.Wrap(&fakeRT{answer: ok}))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := rt.RoundTrip(request(t, ctx, url))
		if err != nil {
			t.Fatalf("double wrap: %v", err)
		}
		resp.Body.Close()
	})
	t.Run("never more than the limit in flight", func(t *testing.T) {
		fake := &fakeRT{answer: func(r *http.Request) (*http.Response, error) {
			time.Sleep(time.Millisecond)
			return ok(r)
		}}
		rt := NewInFlightLimit(5).Wrap(fake)
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				resp, err := rt.RoundTrip(request(t, context.Background(), url))
				if err == nil {
					time.Sleep(time.Millisecond)
					resp.Body.Close()
				}
			})
		}
		wg.Wait()
		if p := fake.peak.Load(); p != 5 {
			t.Errorf("peak in flight = %d, want 5", p)
		}
	})
}
