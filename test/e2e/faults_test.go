//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// apiServer controls the local cluster's kube-apiserver, started by kwokctl.
type apiServer struct {
	t       *testing.T
	pidFile string
	args    []string
	dir     string
}

func localAPIServer(t *testing.T) *apiServer {
	return &apiServer{t: t, pidFile: filepath.Join(env.repoRoot, ".cluster", "kwok", "clusters", "qxsms", "pids", "kube-apiserver.pid")}
}

// kill stops it hard, remembering how to start it again.
func (a *apiServer) kill() {
	a.t.Helper()
	b, err := os.ReadFile(a.pidFile)
	if err != nil {
		a.t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		a.t.Fatalf("kube-apiserver pid %d: %v", pid, err)
	}
	a.args = strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	a.dir, _ = os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

// start runs it again with the same arguments and waits until it is ready.
func (a *apiServer) start() {
	a.t.Helper()
	logf, err := os.OpenFile(filepath.Join(env.repoRoot, ".cluster", "kwok", "clusters", "qxsms", "logs", "kube-apiserver.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		a.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(a.args[0], a.args[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = a.dir, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	// cluster-down stops it by this pid file, as kwokctl would.
	if err := os.WriteFile(a.pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		a.t.Fatal(err)
	}
	_ = cmd.Process.Release()
	eventually(a.t, 90*time.Second, "kube-apiserver ready", func() error {
		if out := NewTest(a.t).Kubectl("get", "--raw", "/readyz").Run(); out.Code != 0 {
			return fmt.Errorf("%s", out.Stderr)
		}
		return nil
	})
}

// The API server dies in the middle of a deploy of several instances.
func TestFaultAPIServerKilledMidDeploy(t *testing.T) {
	var names []string
	for i := 0; i < 8; i++ {
		names = append(names, uniqueName("e2e-kill"))
	}
	repo := newConfigRepo(t, "staging", names...)
	x := NewTest(t).WithRoot(repo.Dir)
	a := localAPIServer(t)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			a.start()
		}
	})

	deploy := x.Qxsms("deploy", "staging", "--parallel", "2", "--request-timeout", "5s").Start()
	// Mid deploy: once the first instance's namespace exists, not after a
	// fixed delay that a slower start (building, checking) would outlast.
	eventually(t, 60*time.Second, "the deploy's first namespace", func() error {
		out := x.Kubectl("get", "namespaces", "-o", "name").Run().Stdout
		for _, n := range names {
			if strings.Contains(out, "namespace/qxsms-"+n+"\n") {
				return nil
			}
		}
		return fmt.Errorf("no namespace yet")
	})
	a.kill()
	start := time.Now()
	deploy.Wait()
	if deploy.Code == 0 {
		t.Fatalf("deploy succeeded although the API server was killed:\n%s", deploy.Stdout)
	}
	failedLine := ""
	for _, l := range strings.Split(deploy.Stderr, "\n") {
		if strings.Contains(l, "instance(s) failed:") {
			failedLine = l
		}
	}
	named := 0
	for _, n := range names {
		if strings.Contains(failedLine, "staging/"+n) {
			named++
		}
	}
	if failedLine == "" || named == 0 {
		t.Fatalf("the incomplete instances must be named:\n%s", deploy.Stderr)
	}
	t.Logf("deploy stopped %s after the kill, %d of %d instances named as failed", time.Since(start).Round(time.Millisecond), named, len(names))

	a.start()
	restarted = true
	x.Qxsms("deploy", "staging", "--wait").Run().Success()
	// The same state as a clean deploy: nothing left to change.
	x.Qxsms("deploy", "staging", "--diff").Run().ExitCode(0)
	record("Faults", fmt.Sprintf("kube-apiserver killed (SIGKILL) once a deploy of %d instances created its first namespace", len(names)),
		fmt.Sprintf("exit %d after %s, %d incomplete instances named; after a restart the re-run converged (`--diff` exit 0)",
			deploy.Code, time.Since(start).Round(100*time.Millisecond), named))
}

// An unreachable or silent API server errors within --request-timeout.
func TestFaultAPIServerUnreachable(t *testing.T) {
	repo := newConfigRepo(t, "staging", uniqueName("e2e-unr"))
	// Accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct{ name, server string }{
		{"silent server (accepts, never answers)", "https://" + ln.Addr().String()},
		{"closed port", "https://" + closedAddr},
	} {
		for _, args := range [][]string{
			{"deploy", "staging", "--allow-context-mismatch"},
			{"restart", "x"},
			{"pv-released"},
			{"status", "staging"},
		} {
			x := NewTest(t).WithRoot(repo.Dir)
			start := time.Now()
			full := append(args, "--server", tc.server, "--insecure-skip-tls-verify", "--request-timeout", "2s")
			x.Qxsms(full...).Run().Failure()
			took := time.Since(start)
			if took > 8*time.Second {
				t.Errorf("%s: kubectl qxsms %s took %s with --request-timeout 2s", tc.name, strings.Join(args, " "), took)
			}
			record("Faults", fmt.Sprintf("%s: `kubectl qxsms %s --request-timeout 2s`", tc.name, strings.Join(args, " ")),
				fmt.Sprintf("error after %s, nothing hangs", took.Round(100*time.Millisecond)))
		}
	}
}

// The API server restarts while restart --wait is waiting: the waits survive.
func TestFaultAPIServerRestartDuringWait(t *testing.T) {
	inst := uniqueName("e2e-rw")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t).WithRoot(repo.Dir)
	ns := "qxsms-" + inst
	x.Qxsms("deploy", "staging", inst, "--wait").Run().Success()
	// New pods cannot be scheduled, so the rollout waits.
	x.Kubectl("patch", "-n", ns, "deployment/worker", "--type=merge", "-p", `{"spec":{"template":{"spec":{"nodeSelector":{"qxsms.io/never":"true"}}}}}`).Run().Success()

	restart := x.Qxsms("restart", inst, "--deployment", "worker", "--timeout", "90s").Start()
	time.Sleep(1500 * time.Millisecond)
	a := localAPIServer(t)
	a.kill()
	time.Sleep(time.Second)
	a.start()
	x.Kubectl("patch", "-n", ns, "deployment/worker", "--type=json", "-p", `[{"op":"remove","path":"/spec/template/spec/nodeSelector"}]`).Run().Success()
	if restart.Wait().Code != 0 {
		t.Fatalf("restart --wait did not survive the API server restart:\n%s", restart.Stderr)
	}
	restart.StderrContains("deployment.apps/worker: rolled out")
	record("Faults", "kube-apiserver killed and restarted while `restart --wait` waited on a blocked rollout",
		"the watch resumed; the rollout was reported complete once unblocked, exit 0")
}

func TestConcurrentDeploysConverge(t *testing.T) {
	a, b := uniqueName("e2e-cc"), uniqueName("e2e-cc")
	repo := newConfigRepo(t, "staging", a, b)
	x := NewTest(t).WithRoot(repo.Dir)
	first, second := x.Qxsms("deploy", "staging").Start(), x.Qxsms("deploy", "staging").Start()
	first.Wait().Success()
	second.Wait().Success()
	x.Qxsms("deploy", "staging", "--diff").Run().ExitCode(0)
	for _, inst := range []string{a, b} {
		if ids := identities(t, "qxsms-"+inst); len(ids) != 17 {
			t.Errorf("%s: %d objects after two concurrent deploys, want 17 (15 applied, the inventory, kube-root-ca.crt): %v", inst, len(ids), ids)
		}
	}
	record("Concurrency", "two `deploy staging` of the same 2 instances at once", "both exit 0; then `--diff` exit 0 and the same objects per instance as after one deploy")
}

// A teardown while a deploy runs: the teardown wins, the deploy reports the
// instances it could not finish, and no PV or data is lost.
func TestTeardownDuringDeploy(t *testing.T) {
	inst := uniqueName("e2e-race")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t).WithRoot(repo.Dir)
	ns := "qxsms-" + inst
	x.Qxsms("deploy", "staging", inst, "--wait").Run().Success()
	x.Kubectl("wait", "-n", ns, "--for=jsonpath={.status.phase}=Bound", "pvc", "--all", "--timeout=30s").Run().Success()
	before := pvsOf(t, inst)
	repo.edit("overlays/staging/"+inst+"/env.yml", `DEBUG: "true"`, `DEBUG: "false"`)

	deploy := x.Qxsms("deploy", "staging", inst, "--wait", "--timeout", "60s").Start()
	x.Qxsms("teardown", "staging", inst, "--yes", "--timeout", "2m").Run().Success()
	outcome := "deploy finished first"
	if deploy.Wait().Code != 0 {
		outcome = "deploy failed naming the instance"
		deploy.StderrContains("staging/" + inst)
	}
	// Whatever the order, the namespace ends up gone or redeployed, and no PV is lost.
	after := pvsOf(t, inst)
	kept := 0
	for _, b := range before {
		for _, p := range after {
			if p.Metadata.Name == b.Metadata.Name {
				if _, err := os.Stat(hostDir(p)); err == nil {
					kept++
				}
			}
		}
	}
	if kept != len(before) {
		t.Fatalf("%d of %d PVs (with their data) survived a teardown racing a deploy", kept, len(before))
	}
	x.Qxsms("deploy", "staging", inst, "--wait").Run().Success()
	record("Concurrency", "`teardown --yes` started while `deploy --wait` of the same instance ran",
		fmt.Sprintf("teardown exit 0; %s; %d/%d PVs and their directories kept; a later deploy succeeds", outcome, kept, len(before)))
}

// A namespace-scoped user deploys and restarts its own instance, and gets a
// clear forbidden message for the rest.
func TestPermissionsNamespaceScopedUser(t *testing.T) {
	own, other := uniqueName("e2e-perm"), uniqueName("e2e-perm")
	repo := newConfigRepo(t, "staging", own, other)
	admin := NewTest(t).WithRoot(repo.Dir)
	admin.Qxsms("deploy", "staging", "--wait").Run().Success()
	kubeconfig := namespacedUser(t, "qxsms-"+own)
	repo.edit("overlays/staging/"+own+"/env.yml", `DEBUG: "true"`, `DEBUG: "false"`)
	repo.edit("overlays/staging/"+other+"/env.yml", `DEBUG: "true"`, `DEBUG: "false"`)

	user := NewTest(t).WithRoot(repo.Dir)
	user.env = append(user.env, "KUBECONFIG="+kubeconfig)
	user.Qxsms("deploy", "staging", own, "--allow-context-mismatch").Run().Success().
		StdoutContains("configmap/qxsms-env configured", "namespace/qxsms-"+own+" skipped")
	user.Qxsms("restart", own).Run().Success()
	both := user.Qxsms("deploy", "staging", "--allow-context-mismatch").Run().Failure()
	both.StderrContains("1 of 2 instance(s) failed: staging/"+other, "forbidden")
	both.StdoutContains("instance staging/" + own + ":")
	user.Qxsms("pv-released").Run().Failure().StderrContains("cluster-wide permission", "forbidden")
	user.Qxsms("restart", other).Run().Failure().StderrContains("forbidden in namespace qxsms-" + other)
	// The other instance was not changed by the user.
	admin.Kubectl("get", "configmap", "qxsms-env", "-n", "qxsms-"+other, "-o", "jsonpath={.data.DEBUG}").Run().Success().StdoutContains("true")
	record("Permissions", "ServiceAccount token, Role on its own namespace only: deploy + restart of its instance", "succeed; the Namespace object is reported `skipped` (cluster-scoped)")
	record("Permissions", "the same user: deploy of both instances, restart and pv-released outside its namespace",
		"forbidden, named per namespace; partial work reported (`1 of 2 instance(s) failed`), the other instance unchanged")
}
