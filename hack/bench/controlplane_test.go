package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFindControlPlane(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "kwok", "clusters", "qxsms", "pids")
	if err := os.MkdirAll(pids, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path string, pid int) {
		if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := findControlPlane(dir); err == nil || !strings.Contains(err.Error(), "make cluster-up") {
		t.Fatalf("no pid files: got %v, want an error naming make cluster-up", err)
	}
	write(filepath.Join(dir, "provisioner.pid"), 200)
	if _, err := findControlPlane(dir); err == nil || !strings.Contains(err.Error(), "no pid file for etcd") {
		t.Fatalf("kwok's pid files missing: got %v, want an error naming etcd", err)
	}
	for i, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller"} {
		write(filepath.Join(pids, name+".pid"), 100+i)
	}
	cp, err := findControlPlane(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cp) != 6 || cp["kube-apiserver"] != 101 || cp["provisioner"] != 200 {
		t.Fatalf("got %v", cp)
	}
}

// TestCPU reads this test's own CPU time from /proc: it must agree with
// getrusage, to the clock tick, and skip processes that are gone.
func TestCPU(t *testing.T) {
	cp := controlPlane{"self": os.Getpid(), "gone": 1 << 30}
	before, beforeUsage := cp.cpu(), selfCPU(t)
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
	}
	got, want := cp.cpu()-before, selfCPU(t)-beforeUsage
	if want < 50*time.Millisecond {
		t.Fatalf("getrusage saw only %s of CPU: the test did not burn any", want)
	}
	if diff := got - want; diff < -30*time.Millisecond || diff > 30*time.Millisecond {
		t.Fatalf("/proc says %s of CPU, getrusage %s", got, want)
	}
}

func selfCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestPauseControllers(t *testing.T) {
	cp := controlPlane{}
	for _, name := range controllers {
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		cp[name] = cmd.Process.Pid
	}
	resume := cp.pauseControllers()
	waitState(t, cp, "T")
	resume()
	waitState(t, cp, "S")
}

// waitState waits until every process is in state (T stopped, S sleeping).
func waitState(t *testing.T, cp controlPlane, state string) {
	t.Helper()
	for name, pid := range cp {
		var got string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				t.Fatal(err)
			}
			if got = strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))[0]; got == state {
				break
			}
		}
		if got != state {
			t.Fatalf("%s (pid %d) is in state %s, want %s", name, pid, got, state)
		}
	}
}
