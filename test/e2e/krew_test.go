//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Offline install through krew, built from sigs.k8s.io/krew, from the archive
// and manifest of `make dist`.
func TestKrewInstallFromArchive(t *testing.T) {
	archives, _ := filepath.Glob(filepath.Join(env.repoRoot, "dist", "kubectl-qxsms_*_linux_amd64.tar.gz"))
	if len(archives) != 1 {
		t.Fatalf("want one linux/amd64 archive in dist/, found %v: run make dist first (make test does)", archives)
	}
	krewRoot := t.TempDir()
	// krew list/uninstall read the default index even when none was fetched.
	if out, err := exec.Command("git", "init", "-q", filepath.Join(krewRoot, "index", "default")).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	x := NewTest(t)
	krewBin := filepath.Join(env.toolsDir, "krew")
	if _, err := os.Stat(krewBin); err != nil {
		out, err := exec.Command(filepath.Join(env.repoRoot, "hack", "build-tools.sh"), "krew").CombinedOutput()
		if err != nil {
			t.Fatalf("building krew: %v\n%s", err, out)
		}
	}
	// Only krew's own bin and kubectl: the plugin must come from the install.
	pluginLink := filepath.Join(t.TempDir(), "kubectl-krew")
	if err := os.Symlink(krewBin, pluginLink); err != nil {
		t.Fatal(err)
	}
	x.env = []string{
		"PATH=" + filepath.Join(krewRoot, "bin") + ":" + filepath.Dir(pluginLink) + ":" + env.toolsDir + ":/usr/bin:/bin",
		"KREW_ROOT=" + krewRoot, "KREW_NO_UPGRADE_CHECK=1", "HOME=" + t.TempDir(), "KUBECONFIG=" + env.kubeconfig,
	}
	manifest := filepath.Join(env.repoRoot, "krew-manifest.yaml")
	x.Kubectl("krew", "install", "--manifest="+manifest, "--archive="+archives[0]).Run().Success().StderrContains("Installed plugin: qxsms")
	x.Kubectl("plugin", "list").Run().Success().StdoutContains(filepath.Join(krewRoot, "bin", "kubectl-qxsms"))
	x.Kubectl("qxsms", "version").Run().Success().StdoutContains("Plugin Version: v", "Server Version: v1.37.2")
	x.Kubectl("krew", "list").Run().Success().StdoutContains("qxsms")
	if _, err := os.Stat(filepath.Join(krewRoot, "store", "qxsms")); err != nil {
		t.Fatalf("krew store lacks qxsms: %v", err)
	}
	shims, _ := filepath.Glob(filepath.Join(krewRoot, "store", "qxsms", "*", "kubectl_complete-qxsms"))
	if len(shims) != 1 {
		t.Errorf("the archive must ship the completion shim: %v", shims)
	}
	x.Kubectl("krew", "uninstall", "qxsms").Run().Success()
	if out := x.Kubectl("plugin", "list").Run(); strings.Contains(out.Stdout, "kubectl-qxsms") {
		t.Errorf("still listed after uninstall:\n%s", out.Stdout)
	}
}

// kubectl's own __complete path finds kubectl_complete-qxsms on PATH.
func TestCompletionThroughKubectl(t *testing.T) {
	inst := uniqueName("e2e-comp")
	repo := newConfigRepo(t, "staging", inst)
	shimDir := t.TempDir()
	shim, err := os.ReadFile(filepath.Join(env.repoRoot, "kubectl_complete-qxsms"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shimDir, "kubectl_complete-qxsms"), shim, 0o755); err != nil {
		t.Fatal(err)
	}
	x := NewTest(t).WithRoot(repo.Dir)
	x.env[0] = strings.Replace(x.env[0], "PATH=", "PATH="+shimDir+":", 1)

	x.Kubectl("__complete", "qxsms", "").Run().Success().StdoutContains("deploy", "teardown", "pv-released")
	x.Kubectl("__complete", "qxsms", "deploy", "st").Run().Success().StdoutContains("staging")
	x.Kubectl("__complete", "qxsms", "deploy", "staging", "").Run().Success().StdoutContains(inst)
	x.Kubectl("__complete", "qxsms", "teardown", "staging", "").Run().Success().StdoutContains(inst)

	x.Qxsms("deploy", "staging", inst).Run().Success()
	x.Kubectl("__complete", "qxsms", "restart", "e2e-comp").Run().Success().StdoutContains(inst)
	x.Kubectl("__complete", "qxsms", "pvc-nfs-path", "").Run().Success().StdoutContains(inst)

	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		x.Qxsms("completion", shell).Run().Success().StdoutContains("kubectl-qxsms")
	}
}
