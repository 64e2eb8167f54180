package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"golang.org/x/sync/semaphore"
)

// MaxInFlight is how many requests a command keeps in flight at once. The
// API server lets one HTTP/2 connection carry 100 concurrent streams (its
// --http2-max-streams-per-connection default); a request over that finds the
// connection full and net/http dials another TLS connection for it, and then
// throws most of them away once a stream frees up (golang/go#16582). A deploy
// of 64 instances issues hundreds of requests at once, so without a bound a
// quarter of its client CPU went into TLS handshakes. Watches are not counted
// (see InFlightLimit): a deploy --wait of many instances still opens more
// streams than one connection carries, and net/http dials a few more for them.
const MaxInFlight = 80

// InFlightLimit bounds the requests in flight across every client that wraps
// its transport with it. Watches are not counted: they hold their stream for
// as long as a rollout takes, and counting them would starve the requests
// that make the rollout happen.
type InFlightLimit struct {
	n   int64
	sem *semaphore.Weighted
}

// NewInFlightLimit returns a limit of n requests in flight.
func NewInFlightLimit(n int64) *InFlightLimit {
	return &InFlightLimit{n: n, sem: semaphore.NewWeighted(n)}
}

// Wrap is a rest.Config WrapTransport: every client built from a config
// wrapped with the same limit shares its n slots.
func (l *InFlightLimit) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &limitedTransport{limit: l, next: rt}
}

type limitedTransport struct {
	limit *InFlightLimit
	next  http.RoundTripper
}

// slotKey marks a request that already holds a slot of a limit, so a
// transport wrapped twice with the same limit does not take two slots for
// one request (and deadlock once every slot is held by an outer wrapper).
type slotKey struct{ limit *InFlightLimit }

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if isStream(req) || ctx.Value(slotKey{t.limit}) != nil {
		return t.next.RoundTrip(req)
	}
	// The request's timeout runs while it waits for a slot: say so, or a
	// request never sent would read as a server that never answered.
	if err := t.limit.sem.Acquire(ctx, 1); err != nil {
		return nil, fmt.Errorf("waiting for one of the %d requests in flight to %s to finish: %w", t.limit.n, req.URL.Host, err)
	}
	resp, err := t.next.RoundTrip(req.WithContext(context.WithValue(ctx, slotKey{t.limit}, true)))
	if err != nil || !holdsStream(resp) {
		t.limit.sem.Release(1)
		return resp, err
	}
	resp.Body = &slotBody{ReadCloser: resp.Body, release: sync.OnceFunc(func() { t.limit.sem.Release(1) })}
	return resp, nil
}

// WrappedRoundTripper lets client-go's debugging wrappers see through.
func (t *limitedTransport) WrappedRoundTripper() http.RoundTripper { return t.next }

// holdsStream reports whether the response still has a body to come on its
// stream. An empty one (a 304, whose body client-go's HTTP cache drops without
// closing it) and a protocol switch (a connection of its own) free the
// stream as soon as they arrive.
func holdsStream(resp *http.Response) bool {
	return resp.Body != nil && resp.Body != http.NoBody && resp.ContentLength != 0 &&
		resp.StatusCode != http.StatusNotModified && resp.StatusCode != http.StatusSwitchingProtocols
}

// isStream reports a request whose response lasts as long as the server
// keeps sending: a watch, or a followed log.
func isStream(req *http.Request) bool {
	q := req.URL.Query()
	return q.Get("watch") == "true" || q.Get("watch") == "1" || q.Get("follow") == "true"
}

// slotBody gives the slot back when the response is read to its end or
// closed, whichever comes first: the stream is free on the connection then.
type slotBody struct {
	io.ReadCloser
	release func()
}

func (b *slotBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.release()
	}
	return n, err
}

func (b *slotBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
