package main

import "testing"

func TestRoundsOf(t *testing.T) {
	// Discovery, then two instances at once: a's namespace, then three
	// applies of a sent together; b's namespace alone.
	log := `I1204 18:21:41.000000    1 loader.go:408] Config loaded from file
I1204 18:21:41.020000    1 round_trippers.go:632] "Response" verb="GET" url="https://127.0.0.1:1/api?timeout=32s" status="200 OK" milliseconds=20
I1204 18:21:41.045000    1 round_trippers.go:632] "Response" verb="GET" url="https://127.0.0.1:1/api/v1/namespaces/qxsms-a" status="404 Not Found" milliseconds=21
I1204 18:21:41.046000    1 round_trippers.go:632] "Response" verb="GET" url="https://127.0.0.1:1/api/v1/namespaces/qxsms-b" status="404 Not Found" milliseconds=22
I1204 18:21:41.070000    1 round_trippers.go:632] "Response" verb="PATCH" url="https://127.0.0.1:1/api/v1/namespaces/qxsms-a/configmaps/x?fieldManager=qxsms" status="201 Created" milliseconds=22
I1204 18:21:41.071000    1 round_trippers.go:632] "Response" verb="PATCH" url="https://127.0.0.1:1/api/v1/namespaces/qxsms-a/secrets/y" status="201 Created" milliseconds=23
I1204 18:21:41.072000    1 round_trippers.go:632] "Response" verb="PATCH" url="https://127.0.0.1:1/apis/apps/v1/namespaces/qxsms-a/deployments/z" status="201 Created" milliseconds=24
`
	reqs := parseRequestLog(log)
	if len(reqs) != 6 {
		t.Fatalf("parsed %d requests, want 6", len(reqs))
	}
	total, proc, per := roundsOf(reqs)
	if total != 3 || proc != 1 || per["a"] != 2 || per["b"] != 1 {
		t.Errorf("rounds: total %d, own %d, per instance %v; want 3, 1, a:2 b:1", total, proc, per)
	}
}
