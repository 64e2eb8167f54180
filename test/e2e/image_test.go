//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The CI image, as `make image` builds it, unpacked into a root filesystem
// and entered with chroot: the deploy job's script, taken from the template,
// deploys an environment with the image's own shell, kubectl and plugin; the
// host's are out of reach.
func TestImageRunsTheDeployJob(t *testing.T) {
	t.Parallel() // with each other only: parallel tests wait for the sequential ones
	build := exec.Command("make", "--no-print-directory", "image")
	build.Dir = env.repoRoot
	start := time.Now()
	out, err := build.CombinedOutput()
	t.Logf("make image: %s", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^wrote (\S+) .*tag (\S+)\)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("make image did not say what it wrote:\n%s", out)
	}
	archive, version := string(m[1]), string(m[2])
	if !strings.HasPrefix(archive, filepath.Join(env.repoRoot, "dist")+"/") {
		t.Errorf("the image is not under dist/: %s", archive)
	}

	rootfs := t.TempDir()
	cfg := unpackImage(t, archive, runtime.GOARCH, rootfs)
	if cfg.Config.User != "65532:65532" {
		t.Errorf("the image runs as %q, want the non-root 65532:65532", cfg.Config.User)
	}
	for k, want := range map[string]string{"version": version, "licenses": "Apache-2.0", "source": "https://gitlab.com/qxsms/kubectl-qxsms"} {
		if got := cfg.Config.Labels["org.opencontainers.image."+k]; got != want {
			t.Errorf("label org.opencontainers.image.%s = %q, want %q", k, got, want)
		}
	}
	if cfg.Config.Labels["org.opencontainers.image.revision"] == "" {
		t.Error("no org.opencontainers.image.revision label")
	}
	template, err := os.ReadFile(filepath.Join(env.repoRoot, "k8s", "gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(template), "KUBECTL_QXSMS_IMAGE: registry.gitlab.com/qxsms/kubectl-qxsms:"+version+"\n") {
		t.Errorf("k8s/gitlab-ci.yml does not run the image make image built (%s)", version)
	}

	// A project checkout as the runner lays it out, owned by the job's user.
	inst := uniqueName("e2e-img")
	repo := newConfigRepo(t, "staging", inst)
	project := filepath.Join(rootfs, "builds", "qxsms", "qxsms-config")
	if err := os.CopyFS(filepath.Join(project, "k8s"), os.DirFS(repo.Dir)); err != nil {
		t.Fatal(err)
	}
	x := NewTest(t)
	// Certificates inlined: the host's paths do not exist in the image.
	kubeconfig := x.Kubectl("config", "view", "--flatten", "--raw").Run().Success().Stdout
	const secretValue = "from-ci-variable-in-image"
	files := map[string]string{
		"KUBECONFIG": kubeconfig,
		"SECRETS":    "POSTGRES_PASSWORD=" + secretValue + "\nRABBITMQ_PASSWORD=xxxxxxxx\nDJANGO_SECRET_KEY=yyyyyyyy\n",
	}
	for name, content := range files {
		if err := os.MkdirAll(project+".tmp", 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(project+".tmp", name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	chownTree(t, filepath.Join(rootfs, "builds"), 65532)

	type job struct {
		BeforeScript []string `json:"before_script"`
		Script       []string `json:"script"`
	}
	var pipeline struct {
		Qxsms  job `json:".qxsms"`
		Deploy job `json:".deploy"`
	}
	if err := yaml.Unmarshal(template, &pipeline); err != nil {
		t.Fatal(err)
	}
	script := "set -e\ncd /builds/qxsms/qxsms-config\ncommand -v kubectl\ncommand -v kubectl-qxsms\nkubectl qxsms version\n" +
		strings.Join(pipeline.Qxsms.BeforeScript, "\n") + "\n" + strings.Join(pipeline.Deploy.Script, "\n")

	// The job's environment: the image's, plus what GitLab sets. No
	// QXSMS_ROOT: the plugin finds k8s/ from the working directory.
	jobEnv := append([]string{}, cfg.Config.Env...)
	jobEnv = append(jobEnv, "KUBECONFIG=/builds/qxsms/qxsms-config.tmp/KUBECONFIG", "KUBE_CONTEXT=kwok-qxsms",
		"QXSMS_ENV=staging", "CI_COMMIT_SHORT_SHA=img1234",
		"SECRETS_STAGING_"+strings.ToUpper(strings.ReplaceAll(inst, "-", "_"))+"=/builds/qxsms/qxsms-config.tmp/SECRETS")
	// Every command the image puts on PATH through busybox must be an applet
	// of this build of it: Debian's has no printenv, for one.
	list, err := inContainer(t, rootfs, "65532:65532", "/bin/busybox", "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list in the image: %v", err)
	}
	links, _ := os.ReadDir(filepath.Join(rootfs, "bin"))
	for _, l := range links {
		if target, _ := os.Readlink(filepath.Join(rootfs, "bin", l.Name())); target == "busybox" &&
			!slices.Contains(strings.Fields(string(list)), l.Name()) {
			t.Errorf("/bin/%s links to busybox, which has no such applet", l.Name())
		}
	}

	cmd := inContainer(t, rootfs, "65532:65532", "/bin/sh", "-c", script)
	cmd.Env = jobEnv
	jobOut, err := cmd.CombinedOutput()
	t.Logf("deploy job in the image:\n%s", jobOut)
	if err != nil {
		t.Fatalf("deploy job in the image: %v", err)
	}
	for _, want := range []string{
		"/usr/local/bin/kubectl\n", "/usr/local/bin/kubectl-qxsms\n",
		version, // the release build's version, from the image's plugin
		"instance staging/" + inst + ": 16 created", "rolled out",
	} {
		if !strings.Contains(string(jobOut), want) {
			t.Errorf("the job's output lacks %q", want)
		}
	}
	if strings.Contains(string(jobOut), secretValue) {
		t.Error("the job printed the secret's value")
	}
	ns := "qxsms-" + inst
	x.Kubectl("get", "configmap", "qxsms-inventory", "-n", ns, "-o", `jsonpath={.metadata.annotations.qxsms\.io/revision}`).Run().Success().StdoutContains("img1234")
	if got := secretValueOf(t, ns, "POSTGRES_PASSWORD"); got != secretValue {
		t.Error("the job in the image did not deploy the secret from the file-type variable")
	}
}

// imageConfig is the part of an OCI image config the test reads.
type imageConfig struct {
	Architecture string `json:"architecture"`
	Config       struct {
		User   string            `json:"User"`
		Env    []string          `json:"Env"`
		Labels map[string]string `json:"Labels"`
	} `json:"config"`
}

// unpackImage reads an OCI image layout tarball as a runtime would, with
// nothing but the OCI spec: from index.json through the image index to the
// manifest for arch, every blob checked against its digest, and the layers
// applied in order to rootfs.
func unpackImage(t *testing.T, archive, arch, rootfs string) imageConfig {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blobs := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			blobs[h.Name] = b
		}
	}
	var ociLayout struct{ ImageLayoutVersion string }
	if err := json.Unmarshal(blobs["oci-layout"], &ociLayout); err != nil || ociLayout.ImageLayoutVersion != "1.0.0" {
		t.Fatalf("%s is not an OCI image layout: oci-layout is %q", archive, blobs["oci-layout"])
	}
	type descriptor struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Platform  *struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
		} `json:"platform"`
	}
	type manifest struct {
		MediaType string       `json:"mediaType"`
		Manifests []descriptor `json:"manifests"`
		Config    descriptor   `json:"config"`
		Layers    []descriptor `json:"layers"`
	}
	blob := func(d descriptor) []byte {
		algo, hash, _ := strings.Cut(d.Digest, ":")
		b, ok := blobs["blobs/"+algo+"/"+hash]
		if !ok || algo != "sha256" {
			t.Fatalf("blob %s is missing", d.Digest)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != hash {
			t.Fatalf("blob %s does not match its digest", d.Digest)
		}
		return b
	}
	decode := func(b []byte, v any) {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	var m manifest
	decode(blobs["index.json"], &m)
	var platforms []string
	for m.MediaType != "application/vnd.oci.image.manifest.v1+json" {
		var next *descriptor
		for _, d := range m.Manifests {
			if d.Platform != nil {
				platforms = append(platforms, d.Platform.OS+"/"+d.Platform.Architecture)
			}
			if d.Platform == nil && len(m.Manifests) == 1 || d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == arch {
				next = &d
			}
		}
		if next == nil {
			t.Fatalf("no linux/%s image in %s: %v", arch, archive, platforms)
		}
		m = manifest{}
		decode(blob(*next), &m)
	}
	if strings.Join(platforms, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("the image is for %v, want linux/amd64 and linux/arm64", platforms)
	}
	var cfg imageConfig
	decode(blob(m.Config), &cfg)
	if cfg.Architecture != arch {
		t.Fatalf("the linux/%s manifest's config says %s", arch, cfg.Architecture)
	}
	for _, l := range m.Layers {
		if l.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
			t.Fatalf("layer %s has media type %s", l.Digest, l.MediaType)
		}
		zr, err := gzip.NewReader(bytes.NewReader(blob(l)))
		if err != nil {
			t.Fatal(err)
		}
		extractLayer(t, tar.NewReader(zr), rootfs)
	}
	return cfg
}

func extractLayer(t *testing.T, tr *tar.Reader, rootfs string) {
	t.Helper()
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(rootfs, filepath.Clean("/"+h.Name))
		mode := os.FileMode(h.Mode & 0o777)
		if h.Mode&0o1000 != 0 {
			mode |= os.ModeSticky
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, mode)
			if err == nil {
				err = os.Chmod(p, mode)
			}
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, b, mode)
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		default:
			err = fmt.Errorf("unexpected entry type %c", h.Typeflag)
		}
		if err == nil && os.Geteuid() == 0 {
			err = os.Lchown(p, h.Uid, h.Gid)
		}
		if err != nil {
			t.Fatalf("unpacking %s: %v", h.Name, err)
		}
	}
}

// inContainer runs argv in rootfs as user, the way a container runtime
// would: chroot, with its own mount and PID namespaces and /proc mounted
// (kubectl reads /proc/self/exe). The namespaces end with the command.
func inContainer(t *testing.T, rootfs, user string, argv ...string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("running the image needs root, for chroot and mounting /proc: run the e2e suite as root, as CI does")
	}
	chroot, err := exec.LookPath("chroot")
	if err != nil {
		t.Fatalf("chroot (coreutils) is missing: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(rootfs, "proc"), 0o555); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--mount", "--pid", "--fork", "--mount-proc=" + filepath.Join(rootfs, "proc"),
		chroot, "--userspec=" + user, rootfs}, argv...)
	return exec.Command("unshare", args...)
}

func chownTree(t *testing.T, dir string, uid int) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// secretValueOf decodes key of the instance's one Secret.
func secretValueOf(t *testing.T, ns, key string) string {
	t.Helper()
	x := NewTest(t)
	name := x.Kubectl("get", "secret", "-n", ns, "-o", "jsonpath={.items[0].metadata.name}").Run().Success().Stdout
	var s struct{ Data map[string][]byte }
	x.Kubectl("get", "secret", name, "-n", ns, "-o", "json").Run().Success().JSON(&s)
	return string(s.Data[key])
}
