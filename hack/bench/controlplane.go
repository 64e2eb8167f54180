package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// controlPlane is the local cluster's processes by name (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kwok-controller,
// provisioner): they run on the benchmark's machine, so their CPU time is
// part of its cost.
type controlPlane map[string]int

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// findControlPlane reads the pid files cluster-up.sh and kwokctl write.
func findControlPlane(clusterDir string) (controlPlane, error) {
	files, err := filepath.Glob(filepath.Join(clusterDir, "kwok", "clusters", "*", "pids", "*.pid"))
	if err != nil {
		return nil, err
	}
	files = append(files, filepath.Join(clusterDir, "provisioner.pid"))
	cp := controlPlane{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading the control plane's pids: %w (is the cluster up? run `make cluster-up`)", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		cp[strings.TrimSuffix(filepath.Base(f), ".pid")] = pid
	}
	for _, name := range append([]string{"etcd", "kube-apiserver"}, controllers...) {
		if cp[name] <= 0 {
			return nil, fmt.Errorf("no pid file for %s in %s: is the cluster up? run `make cluster-up`", name, clusterDir)
		}
	}
	return cp, nil
}

// cpu is the control plane's CPU time (user and system) so far.
func (cp controlPlane) cpu() time.Duration {
	var ticks int64
	for _, pid := range cp {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // the next measurement's command fails loudly if the cluster died
		}
		// The fields after the command name, which may hold spaces: state is
		// field 3, utime 14 and stime 15.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) < 13 {
			continue
		}
		for _, f := range fields[11:13] {
			n, _ := strconv.ParseInt(f, 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// quiesce waits until the control plane uses under a fifth of a core, as
// when idle: the controllers have finished reacting to what came before.
func (cp controlPlane) quiesce() {
	const window, idle, limit = time.Second, 0.2, 3 * time.Minute
	deadline := time.Now().Add(limit)
	last := cp.cpu()
	for time.Now().Before(deadline) {
		time.Sleep(window)
		now := cp.cpu()
		if float64(now-last)/float64(window) < idle {
			return
		}
		last = now
	}
	fmt.Fprintf(os.Stderr, "bench: the control plane is still busy after %s; measuring anyway\n", limit)
}

// controllers are what reacts to new objects: everything but etcd and the
// API server.
var controllers = []string{"kube-controller-manager", "kube-scheduler", "kwok-controller", "provisioner"}

// pauseControllers stops the controllers (SIGSTOP) until resume is called, so
// that a run pays only for its own requests. They are resumed after
// maxPause anyway, before their 15 s leader-election leases run out (the
// controller-manager exits when it loses its lease), and on an interrupt.
func (cp controlPlane) pauseControllers() (resume func()) {
	const maxPause = 8 * time.Second
	signalAll := func(sig syscall.Signal) {
		for _, name := range controllers {
			if pid := cp[name]; pid > 0 { // 0 would signal our own process group
				_ = syscall.Kill(pid, sig)
			}
		}
	}
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-interrupted:
			signalAll(syscall.SIGCONT)
			os.Exit(130)
		case <-done:
		}
	}()
	signalAll(syscall.SIGSTOP)
	early := time.AfterFunc(maxPause, func() {
		signalAll(syscall.SIGCONT)
		fmt.Fprintf(os.Stderr, "bench: resumed the controllers after %s, before their leases run out: the paused figures include some of their work\n", maxPause)
	})
	return func() {
		early.Stop()
		signalAll(syscall.SIGCONT)
		signal.Stop(interrupted)
		close(done)
	}
}
