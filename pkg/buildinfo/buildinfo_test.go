package buildinfo

import (
	"runtime"
	"testing"
)

func TestGet(t *testing.T) {
	old, oldCommit := Version, Commit
	t.Cleanup(func() { Version, Commit = old, oldCommit })
	Version, Commit = "v1.2.3", "abc123"
	got := Get()
	if got.Version != "v1.2.3" || got.Commit != "abc123" || got.GoVersion != runtime.Version() || got.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("Get() = %+v", got)
	}
	// This test binary links no client-go; the plugin's does (see the version command's test).
	if got.ClientGoVersion != "unknown" {
		t.Errorf("client-go version %q in a binary without it", got.ClientGoVersion)
	}
	if dependencyVersion("example.org/not/a/dependency") != "unknown" {
		t.Error("an absent dependency must read unknown")
	}
}
