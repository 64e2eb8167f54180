// Package testutil holds what unit tests across the module share: config
// repo fixtures and golden files with one -update flag.
package testutil

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ instead of comparing with them")

// Golden compares got with testdata/NAME.golden of the package under test,
// or rewrites that file with `go test ./PKG -update`.
func Golden(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test with -update to create it)", err)
	}
	if !bytes.Equal(want, []byte(got)) {
		t.Errorf("output differs from %s (if intended, rerun with -update and review the diff):\n--- want\n%s--- got\n%s", path, want, got)
	}
}

// Updating reports whether -update was passed, for goldens written by other means.
func Updating() bool { return *update }

// WriteRepo writes a config repo's k8s/ folder from relative paths to
// contents, e.g. "overlays/staging/pprd/kustomization.yml", and returns it.
func WriteRepo(t testing.TB, files map[string]string) *overlays.Repo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "k8s")
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &overlays.Repo{Dir: dir}
}

// EmptyOverlays writes a repo whose overlays ("ENV/INSTANCE") build to nothing.
func EmptyOverlays(t testing.TB, overlayDirs ...string) *overlays.Repo {
	t.Helper()
	files := map[string]string{}
	for _, d := range overlayDirs {
		files["overlays/"+d+"/kustomization.yml"] = "resources: []\n"
	}
	if len(files) == 0 {
		files["overlays/.keep"] = ""
	}
	return WriteRepo(t, files)
}

// CopyProjectRepo copies this project's own k8s/ tree (base, overlays,
// qxsms.yaml) into a temporary folder: a realistic fixture tests may change.
func CopyProjectRepo(t testing.TB) *overlays.Repo {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "..", "k8s")
	dir := filepath.Join(t.TempDir(), "k8s")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return &overlays.Repo{Dir: dir}
}
