// Command image builds the CI image of a release, the one k8s/gitlab-ci.yml
// runs its jobs in, as an OCI image layout tarball: static kubectl, the
// plugin, busybox for the shell the GitLab runner needs, and a CA bundle,
// for linux/amd64 and linux/arm64. No Docker daemon: layers are appended to
// an empty image with go-containerregistry. The output depends only on its
// inputs and -created, so two builds of one commit are byte-identical.
//
//	go run ./image -inputs "$(image/inputs.sh)" -bin-dir ../dist/bin -version v0.1.0 \
//	  -revision $(git rev-parse HEAD) -created $(git log -1 --format=%ct) \
//	  -template ../k8s/gitlab-ci.yml -out ../dist/kubectl-qxsms_v0.1.0_image.oci.tar
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// The job's user: not root, and the uid distroless images use, so cluster
// policies written for those (runAsNonRoot, runAsUser ranges) fit.
const (
	uid  = 65532
	user = "qxsms"
	home = "/home/" + user
)

// applets are the busybox commands on PATH: what the template's scripts call,
// and what the GitLab runner's generated script needs around them (mkdir,
// rm, chmod, printf for file-type variables; cat and test for its shell
// detection). Everything else busybox can do stays unreachable by name.
var applets = []string{
	"[", "basename", "cat", "chmod", "cp", "dirname", "echo", "env", "grep", "id", "ls",
	"mkdir", "mktemp", "mv", "printf", "rm", "sed", "sh", "sleep", "test", "touch", "tr",
}

type options struct {
	inputs, binDir, version, revision, source, licenses, template, out string
	layerCache                                                         string
	platforms                                                          []string
	created                                                            time.Time
}

func main() {
	var o options
	var platforms string
	var created int64
	flag.StringVar(&o.inputs, "inputs", "", "directory printed by hack/image/inputs.sh")
	flag.StringVar(&o.binDir, "bin-dir", "", "directory holding linux-<arch>/kubectl-qxsms (make dist's dist/bin)")
	flag.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "comma-separated platforms")
	flag.StringVar(&o.version, "version", "", "release version, the image's tag")
	flag.StringVar(&o.revision, "revision", "", "git commit the image is built from")
	flag.StringVar(&o.source, "source", "https://gitlab.com/qxsms/kubectl-qxsms", "source repository URL (label)")
	flag.StringVar(&o.licenses, "licenses", "Apache-2.0", "SPDX licenses of the plugin (label)")
	flag.StringVar(&o.template, "template", "", "k8s/gitlab-ci.yml: its image must be tagged -version")
	flag.StringVar(&o.out, "out", "", "OCI image layout tarball to write")
	flag.StringVar(&o.layerCache, "layer-cache", "", "directory keeping compressed layers by content, for the next build")
	flag.Int64Var(&created, "created", 0, "creation time, Unix seconds (the commit's time, for reproducibility)")
	flag.Parse()
	o.platforms = strings.Split(platforms, ",")
	o.created = time.Unix(created, 0).UTC()
	if o.inputs == "" || o.binDir == "" || o.version == "" || o.revision == "" || o.out == "" {
		fmt.Fprintln(os.Stderr, "image: -inputs, -bin-dir, -version, -revision and -out are required")
		os.Exit(2)
	}
	name, err := build(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s (%s, tag %s); push it with:\n  skopeo copy --all oci-archive:%s docker://%s\n", o.out, strings.Join(o.platforms, ", "), o.version, o.out, name)
}

// imageRef matches the template's KUBECTL_QXSMS_IMAGE line.
var imageRef = regexp.MustCompile(`(?m)^\s*KUBECTL_QXSMS_IMAGE:\s*"?([^"\s]+)"?\s*$`)

// build writes the image and returns the name the template runs it as.
func build(o options) (string, error) {
	name := "registry.gitlab.com/qxsms/kubectl-qxsms:" + o.version
	if o.template != "" {
		b, err := os.ReadFile(o.template)
		if err != nil {
			return "", err
		}
		m := imageRef.FindSubmatch(b)
		if m == nil {
			return "", fmt.Errorf("%s sets no KUBECTL_QXSMS_IMAGE variable", o.template)
		}
		name = string(m[1])
		if !strings.HasSuffix(name, ":"+o.version) {
			return "", fmt.Errorf("%s runs %s, but this release is %s: set KUBECTL_QXSMS_IMAGE to the %s tag (the Makefile's VERSION is the one source)", o.template, name, o.version, o.version)
		}
	}
	imgs := make([]v1.Image, len(o.platforms))
	var used sync.Map // the cached layers this build uses
	var g errgroup.Group
	for i, p := range o.platforms {
		g.Go(func() (err error) {
			imgs[i], err = platformImage(o, p, &used)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, img := range imgs {
		os, arch, _ := strings.Cut(o.platforms[i], "/")
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: os, Architecture: arch},
		}})
	}
	idx = mutate.Annotations(idx, labels(o)).(v1.ImageIndex)

	dir, err := os.MkdirTemp("", "qxsms-image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return "", err
	}
	// The tag as the ref name: `skopeo copy oci-archive:FILE:v0.1.0` finds it.
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": o.version})); err != nil {
		return "", err
	}
	if err := tarDir(dir, o.out, o.created); err != nil {
		return "", err
	}
	// The cache keeps the last build's layers only: each release of the
	// plugin would otherwise leave two more there.
	if o.layerCache != "" {
		entries, _ := os.ReadDir(o.layerCache)
		for _, e := range entries {
			if _, ok := used.Load(e.Name()); !ok {
				_ = os.Remove(filepath.Join(o.layerCache, e.Name()))
			}
		}
	}
	return name, nil
}

func labels(o options) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "kubectl-qxsms",
		"org.opencontainers.image.description": "kubectl and kubectl-qxsms for the k8s/gitlab-ci.yml pipeline",
		"org.opencontainers.image.source":      o.source,
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.revision":    o.revision,
		"org.opencontainers.image.licenses":    o.licenses,
		"org.opencontainers.image.created":     o.created.Format(time.RFC3339),
	}
}

func platformImage(o options, platform string, used *sync.Map) (v1.Image, error) {
	goos, arch, ok := strings.Cut(platform, "/")
	if !ok || goos != "linux" {
		return nil, fmt.Errorf("unsupported platform %q: linux/<arch> only", platform)
	}
	in := filepath.Join(o.inputs, "linux-"+arch)
	files := map[string][]byte{}
	paths := map[string]string{
		"busybox":           filepath.Join(in, "busybox"),
		"busybox.copyright": filepath.Join(in, "busybox.copyright"),
		"kubectl":           filepath.Join(in, "kubectl"),
		"kubectl-qxsms":     filepath.Join(o.binDir, "linux-"+arch, "kubectl-qxsms"),
		"ca-certificates":   filepath.Join(o.inputs, "ca-certificates.crt"),
	}
	for k, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%w (run make image: it gathers the inputs)", err)
		}
		files[k] = b
	}

	// Three layers, from the least to the most often changed: a new release
	// of the plugin alone re-pushes only the last one.
	base := []entry{
		dir("bin", 0o755, 0), file("bin/busybox", 0o755, 0, files["busybox"]),
		dir("etc", 0o755, 0),
		file("etc/passwd", 0o644, 0, fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:%s:/bin/sh\n", user, uid, uid, user, home)),
		file("etc/group", 0o644, 0, fmt.Appendf(nil, "root:x:0:\n%s:x:%d:\n", user, uid)),
		dir("etc/ssl", 0o755, 0), dir("etc/ssl/certs", 0o755, 0),
		file("etc/ssl/certs/ca-certificates.crt", 0o644, 0, files["ca-certificates"]),
		dir("home", 0o755, 0), dir(home[1:], 0o755, uid),
		dir("tmp", 0o1777, 0),
		dir("usr", 0o755, 0), dir("usr/local", 0o755, 0), dir("usr/local/bin", 0o755, 0),
		dir("usr/share", 0o755, 0), dir("usr/share/doc", 0o755, 0), dir("usr/share/doc/busybox-static", 0o755, 0),
		file("usr/share/doc/busybox-static/copyright", 0o644, 0, files["busybox.copyright"]),
	}
	for _, a := range applets {
		base = append(base, symlink("bin/"+a, "busybox"))
	}
	layers := []struct {
		createdBy string
		entries   []entry
	}{
		{"busybox-static (Debian), CA certificates (Debian), user " + user, base},
		{"kubectl (k8s.io/kubernetes, static)", []entry{file("usr/local/bin/kubectl", 0o755, 0, files["kubectl"])}},
		{"kubectl-qxsms " + o.version, []entry{file("usr/local/bin/kubectl-qxsms", 0o755, 0, files["kubectl-qxsms"])}},
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, l := range layers {
		layer, err := gzipLayer(l.entries, o.created, o.layerCache, used)
		if err != nil {
			return nil, err
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:     layer,
			MediaType: types.OCILayer,
			History:   v1.History{CreatedBy: l.createdBy, Created: v1.Time{Time: o.created}},
		})
		if err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = goos, arch
	cf.Created = v1.Time{Time: o.created}
	cf.Config = v1.Config{
		User: fmt.Sprintf("%d:%d", uid, uid),
		// HOME is writable: kubectl keeps its discovery cache under ~/.kube,
		// and a kubeconfig there is found without KUBECONFIG.
		Env:        []string{"PATH=/usr/local/bin:/bin", "HOME=" + home},
		WorkingDir: home,
		Cmd:        []string{"/bin/sh"},
		Labels:     labels(o),
	}
	return mutate.ConfigFile(img, cf)
}

type entry struct {
	hdr  tar.Header
	data []byte
}

func dir(name string, mode int64, owner int) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: owner, Gid: owner}}
}

func file(name string, mode int64, owner int, data []byte) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: owner, Gid: owner, Size: int64(len(data))}, data: data}
}

func symlink(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

// gzipLayer compresses once, here: go-containerregistry would compress an
// uncompressed layer again for every digest it is asked for. compress/gzip
// writes no timestamp, so the bytes depend on the content alone, and a layer
// compressed before (kubectl's, most builds) is taken from cache.
func gzipLayer(entries []entry, mtime time.Time, cache string, used *sync.Map) (v1.Layer, error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range entries {
		h := e.hdr
		h.ModTime, h.Format = mtime, tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw.Bytes())
	cached := ""
	if cache != "" {
		cached = filepath.Join(cache, hex.EncodeToString(sum[:])+".tar.gz")
		used.Store(filepath.Base(cached), true)
	}
	b, err := os.ReadFile(cached)
	if cached == "" || err != nil {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
		if err != nil {
			return nil, err
		}
		if _, err := zw.Write(raw.Bytes()); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		b = buf.Bytes()
		if cached != "" {
			if err := writeAtomic(cached, b); err != nil {
				return nil, err
			}
		}
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if err := errors.Join(err, f.Close()); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// tarDir archives the layout directory in name order with fixed metadata,
// the form `skopeo copy oci-archive:` reads.
func tarDir(src, out string, mtime time.Time) error {
	var paths []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != src {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mtime, Mode: 0o644, Typeflag: tar.TypeReg, Size: fi.Size(), Format: tar.FormatPAX}
		if fi.IsDir() {
			h.Name, h.Mode, h.Typeflag, h.Size = h.Name+"/", 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.IsDir() {
			r, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, r)
			r.Close()
			if err != nil {
				return err
			}
		}
	}
	if err := errors.Join(tw.Close(), f.Close()); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
