package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// fakeInputs lays out what inputs.sh and make dist produce, with small files
// that name themselves, so the test can tell which file went where.
func fakeInputs(t *testing.T) options {
	t.Helper()
	root := t.TempDir()
	w := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{"amd64", "arm64"} {
		w("in/linux-"+a+"/busybox", "busybox-"+a)
		w("in/linux-"+a+"/busybox.copyright", "GPL-2")
		w("in/linux-"+a+"/kubectl", "kubectl-"+a)
		w("bin/linux-"+a+"/kubectl-qxsms", "plugin-"+a)
	}
	w("in/ca-certificates.crt", "certs")
	w("gitlab-ci.yml", "variables:\n  KUBECTL_QXSMS_IMAGE: registry.example.org/ops/kubectl-qxsms:v9.8.7\n")
	return options{
		inputs: filepath.Join(root, "in"), binDir: filepath.Join(root, "bin"), version: "v9.8.7", revision: "abc",
		source: "https://example.org/src", licenses: "Apache-2.0", template: filepath.Join(root, "gitlab-ci.yml"),
		platforms: []string{"linux/amd64", "linux/arm64"}, created: time.Unix(1700000000, 0).UTC(),
	}
}

func TestBuildIsReproducible(t *testing.T) {
	o := fakeInputs(t)
	var outs [][]byte
	cache := t.TempDir()
	for i := range 3 {
		// Without the layer cache, then filling it, then from it.
		if i > 0 {
			o.layerCache = cache
		}
		o.out = filepath.Join(t.TempDir(), "image.tar")
		name, err := build(o)
		if err != nil {
			t.Fatal(err)
		}
		if name != "registry.example.org/ops/kubectl-qxsms:v9.8.7" {
			t.Errorf("name %q, want the template's", name)
		}
		b, err := os.ReadFile(o.out)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
		if i == 0 {
			// Reading from a fresh copy of the inputs must not matter either.
			o.inputs, o.binDir = copyDir(t, o.inputs), copyDir(t, o.binDir)
		}
	}
	if !bytes.Equal(outs[0], outs[1]) || !bytes.Equal(outs[0], outs[2]) {
		t.Fatal("builds from the same inputs differ")
	}
	if cached, _ := os.ReadDir(cache); len(cached) != 6 { // three layers per platform
		t.Errorf("the layer cache holds %d layers, want 6", len(cached))
	}
}

func TestBuildContents(t *testing.T) {
	o := fakeInputs(t)
	o.out = filepath.Join(t.TempDir(), "image.tar")
	if _, err := build(o); err != nil {
		t.Fatal(err)
	}
	dir := untar(t, o.out)
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	outer, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	om, _ := outer.IndexManifest()
	if len(om.Manifests) != 1 || om.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v9.8.7" {
		t.Fatalf("index.json: %+v", om.Manifests)
	}
	idx, err := outer.ImageIndex(om.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	var archs []string
	for _, d := range im.Manifests {
		archs = append(archs, d.Platform.OS+"/"+d.Platform.Architecture)
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != d.Platform.Architecture || cf.OS != "linux" {
			t.Errorf("%s: config says %s/%s", archs[len(archs)-1], cf.OS, cf.Architecture)
		}
		if cf.Config.User != "65532:65532" || !slices.Contains(cf.Config.Env, "HOME=/home/qxsms") {
			t.Errorf("user %q, env %v: want a non-root user with a home", cf.Config.User, cf.Config.Env)
		}
		for k, v := range map[string]string{"source": o.source, "version": "v9.8.7", "revision": "abc", "licenses": "Apache-2.0"} {
			if got := cf.Config.Labels["org.opencontainers.image."+k]; got != v {
				t.Errorf("label %s = %q, want %q", k, got, v)
			}
		}
		files := map[string]string{}
		tr := tar.NewReader(mutate.Extract(img))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			files[h.Name] = string(b)
			if h.Typeflag == tar.TypeSymlink {
				files[h.Name] = "-> " + h.Linkname
			}
			if h.Name == "home/qxsms" && h.Uid != 65532 {
				t.Errorf("home belongs to %d", h.Uid)
			}
		}
		a := d.Platform.Architecture
		for p, want := range map[string]string{
			"usr/local/bin/kubectl": "kubectl-" + a, "usr/local/bin/kubectl-qxsms": "plugin-" + a,
			"bin/busybox": "busybox-" + a, "bin/sh": "-> busybox", "etc/ssl/certs/ca-certificates.crt": "certs",
		} {
			if files[p] != want {
				t.Errorf("%s: %s holds %q, want %q", a, p, files[p], want)
			}
		}
		if _, ok := files["home/qxsms"]; !ok {
			t.Errorf("%s: no home directory", a)
		}
		for p := range files {
			top, _, _ := strings.Cut(p, "/")
			if !slices.Contains([]string{"bin", "etc", "home", "tmp", "usr"}, top) || strings.HasPrefix(p, "usr/bin") {
				t.Errorf("%s: unexpected %s", a, p)
			}
		}
	}
	if !slices.Equal(archs, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("platforms %v", archs)
	}
}

func TestBuildRefusesAnotherVersion(t *testing.T) {
	o := fakeInputs(t)
	o.version, o.out = "v9.9.9", filepath.Join(t.TempDir(), "image.tar")
	_, err := build(o)
	if err == nil || !strings.Contains(err.Error(), "set KUBECTL_QXSMS_IMAGE to the v9.9.9 tag") {
		t.Fatalf("a template naming v9.8.7 built as v9.9.9: %v", err)
	}
	if _, err := os.Stat(o.out); err == nil {
		t.Error("an image was written anyway")
	}
}

func copyDir(t *testing.T, src string) string {
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func untar(t *testing.T, file string) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
