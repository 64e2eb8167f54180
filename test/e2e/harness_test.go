//go:build e2e

// Package e2e runs the built kubectl-qxsms through the real kubectl (so plugin
// discovery is exercised) against the local control plane of hack/.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// env is what every test shares: the repo, the tools and the cluster.
var env struct {
	repoRoot   string
	toolsDir   string
	pluginDir  string
	kubeconfig string
	nfsRoot    string
}

func TestMain(m *testing.M) {
	// The kube-apiserver a fault test restarts outlives the run: it must not
	// inherit what the caller left open (a lock held around the run would
	// then be held until the cluster stops). Go's own files are close-on-exec.
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, fd := range fds {
			if n, err := strconv.Atoi(fd.Name()); err == nil && n > 2 {
				syscall.CloseOnExec(n)
			}
		}
	}
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e setup failed: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		writeReliability()
	}
	sweep()
	os.Exit(code)
}

// sweep removes what tests left behind: PVs provisioned after a test's own
// cleanup looked, once their e2e namespaces are gone.
func sweep() {
	kubectl := func(args ...string) ([]byte, error) {
		cmd := exec.Command(filepath.Join(env.toolsDir, "kubectl"), append([]string{"--kubeconfig", env.kubeconfig}, args...)...)
		return cmd.Output()
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out, err := kubectl("get", "namespaces", "-o", "name")
		if err != nil || !strings.Contains(string(out), "namespace/qxsms-e2e-") {
			break
		}
		time.Sleep(time.Second)
	}
	out, err := kubectl("get", "pv", "-o", `jsonpath={range .items[*]}{.metadata.name} {.spec.claimRef.namespace}{"\n"}{end}`)
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		if name, ns, ok := strings.Cut(line, " "); ok && strings.HasPrefix(ns, "qxsms-e2e-") {
			_, _ = kubectl("delete", "pv", name, "--wait=false")
		}
	}
}

func setup() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	env.repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))
	// Builds whatever tool is missing; cached by version outside the clone.
	out, err := exec.Command(filepath.Join(env.repoRoot, "hack", "build-tools.sh")).Output()
	if err != nil {
		return fmt.Errorf("building the tools: %w", err)
	}
	env.toolsDir = strings.TrimSpace(string(out))
	// Reuses a running cluster, else starts one.
	up := exec.Command(filepath.Join(env.repoRoot, "hack", "cluster-up.sh"))
	up.Stdout, up.Stderr = os.Stderr, os.Stderr
	if err := up.Run(); err != nil {
		return fmt.Errorf("starting the local cluster: %w", err)
	}
	env.kubeconfig = filepath.Join(env.repoRoot, ".cluster", "kubeconfig")
	env.nfsRoot = filepath.Join(env.repoRoot, ".cluster", "nfs")
	// The plugin under test, built fresh into a directory of its own on PATH.
	env.pluginDir, err = os.MkdirTemp("", "qxsms-e2e-bin-")
	if err != nil {
		return err
	}
	build := exec.Command("go", "build", "-o", filepath.Join(env.pluginDir, "kubectl-qxsms"), "./cmd/kubectl-qxsms")
	build.Dir = env.repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building kubectl-qxsms: %w", err)
	}
	return nil
}

// Cmd is one command run, in the spirit of krew's integration helpers:
// NewTest(t).Kubectl("qxsms", "deploy", ...).Run().Success().
type Cmd struct {
	t      *testing.T
	args   []string
	env    []string
	dir    string
	stdin  string
	Stdout string
	Stderr string
	Code   int

	proc           *exec.Cmd
	stdout, stderr bytes.Buffer
	started        time.Time
}

// Test is a per-test harness.
type Test struct {
	t    *testing.T
	env  []string
	root string
}

// NewTest returns a harness with the plugin and kubectl on PATH and the local
// cluster's kubeconfig.
func NewTest(t *testing.T) *Test {
	t.Helper()
	return &Test{t: t, env: []string{
		"PATH=" + env.pluginDir + string(os.PathListSeparator) + env.toolsDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"KUBECONFIG=" + env.kubeconfig,
		"HOME=" + os.Getenv("HOME"),
		"KUBECACHEDIR=" + filepath.Join(os.TempDir(), "qxsms-e2e-kubecache"),
	}}
}

// WithRoot sets QXSMS_ROOT for the commands of this test.
func (x *Test) WithRoot(root string) *Test {
	x.root = root
	return x
}

// Kubectl prepares `kubectl ARGS...`.
func (x *Test) Kubectl(args ...string) *Cmd {
	e := append([]string{}, x.env...)
	if x.root != "" {
		e = append(e, "QXSMS_ROOT="+x.root)
	}
	return &Cmd{t: x.t, args: args, env: e}
}

// Qxsms prepares `kubectl qxsms ARGS...`.
func (x *Test) Qxsms(args ...string) *Cmd { return x.Kubectl(append([]string{"qxsms"}, args...)...) }

// WithStdin feeds s to the command.
func (c *Cmd) WithStdin(s string) *Cmd { c.stdin = s; return c }

// WithEnv adds environment variables.
func (c *Cmd) WithEnv(kv ...string) *Cmd { c.env = append(c.env, kv...); return c }

// InDir runs the command in dir.
func (c *Cmd) InDir(dir string) *Cmd { c.dir = dir; return c }

// Run runs the command through kubectl and records its output and exit code.
func (c *Cmd) Run() *Cmd {
	c.t.Helper()
	return c.Start().Wait()
}

// Start starts the command in the background; Wait collects it.
func (c *Cmd) Start() *Cmd {
	c.t.Helper()
	c.proc = exec.Command(filepath.Join(env.toolsDir, "kubectl"), c.args...)
	c.proc.Env, c.proc.Dir = c.env, c.dir
	c.proc.Stdin = strings.NewReader(c.stdin)
	c.proc.Stdout, c.proc.Stderr = &c.stdout, &c.stderr
	c.started = time.Now()
	if err := c.proc.Start(); err != nil {
		c.t.Fatalf("kubectl %s: %v", strings.Join(c.args, " "), err)
	}
	return c
}

// Wait waits for a started command and records its output and exit code.
func (c *Cmd) Wait() *Cmd {
	c.t.Helper()
	err := c.proc.Wait()
	c.Stdout, c.Stderr = c.stdout.String(), c.stderr.String()
	if ee, ok := err.(*exec.ExitError); ok {
		c.Code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("kubectl %s: %v", strings.Join(c.args, " "), err)
	}
	c.t.Logf("kubectl %s -> exit %d in %s", strings.Join(c.args, " "), c.Code, time.Since(c.started).Round(time.Millisecond))
	return c
}

// Success fails the test unless the command exited 0.
func (c *Cmd) Success() *Cmd {
	c.t.Helper()
	if c.Code != 0 {
		c.t.Fatalf("kubectl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(c.args, " "), c.Code, c.Stdout, c.Stderr)
	}
	return c
}

// ExitCode fails the test unless the command exited with code.
func (c *Cmd) ExitCode(code int) *Cmd {
	c.t.Helper()
	if c.Code != code {
		c.t.Fatalf("kubectl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(c.args, " "), c.Code, code, c.Stdout, c.Stderr)
	}
	return c
}

// Failure fails the test unless the command exited non-zero.
func (c *Cmd) Failure() *Cmd {
	c.t.Helper()
	if c.Code == 0 {
		c.t.Fatalf("kubectl %s succeeded, want a failure\nstdout:\n%s\nstderr:\n%s", strings.Join(c.args, " "), c.Stdout, c.Stderr)
	}
	return c
}

// StderrContains fails the test unless stderr holds every s.
func (c *Cmd) StderrContains(ss ...string) *Cmd {
	c.t.Helper()
	return c.contains("stderr", c.Stderr, ss)
}

// StdoutContains fails the test unless stdout holds every s.
func (c *Cmd) StdoutContains(ss ...string) *Cmd {
	c.t.Helper()
	return c.contains("stdout", c.Stdout, ss)
}

func (c *Cmd) contains(stream, text string, ss []string) *Cmd {
	c.t.Helper()
	for _, s := range ss {
		if !strings.Contains(text, s) {
			c.t.Fatalf("kubectl %s: %s lacks %q:\n%s", strings.Join(c.args, " "), stream, s, text)
		}
	}
	return c
}

// JSON decodes stdout into v.
func (c *Cmd) JSON(v any) {
	c.t.Helper()
	if err := json.Unmarshal([]byte(c.Stdout), v); err != nil {
		c.t.Fatalf("kubectl %s: stdout is not JSON: %v\n%s", strings.Join(c.args, " "), err, c.Stdout)
	}
}

// uniqueName returns a DNS-1123 instance name unique to this run.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%04x", prefix, rand.IntN(0xffff))
}
