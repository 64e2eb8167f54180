package main

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"
)

func ratio(k, q time.Duration) string {
	if q <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fx", float64(k)/float64(q))
}

func perInst(d time.Duration, n int) time.Duration {
	if n == 0 {
		return 0
	}
	return (d / time.Duration(n)).Round(time.Millisecond)
}

// floors is the model of the lower bound each scenario's design can reach:
// the client's sequential round trips, plus the control plane's CPU for the
// requests themselves spread over every core. Client CPU is not in it.
type floors struct {
	cores    time.Duration
	parallel int
	counts   counts
	// serverPerInstance is the control plane's CPU per instance: for the
	// fresh deploy, with the controllers paused; for the unchanged redeploy
	// (nothing for the controllers to do) and the restart (which needs
	// them), the least any run of the scenario took.
	serverPerInstance map[scenarioKind]time.Duration
}

// handshake is the TCP and TLS 1.3 handshakes of a client's connection: two
// round trips the request log does not show.
const handshake = 2

// rounds is the sequential round trips of one client run over n instances:
// its own (discovery, checks), then each instance's, deploy's instances
// `parallel` at a time; restart's restartParallel at a time.
func (f floors) rounds(kind scenarioKind, n int) float64 {
	m, ok := f.counts.qxsms[kind]
	if !ok || f.counts.instances == 0 {
		return 0
	}
	if kind == restart {
		// restart works on restartParallel namespaces at once.
		return handshake + float64(m.procRounds) + float64(m.rounds-m.procRounds)*ceilDiv(n, restartParallel)/ceilDiv(f.counts.instances, restartParallel)
	}
	waves := 1
	if f.parallel > 0 {
		waves = (n + f.parallel - 1) / f.parallel
	}
	return handshake + float64(m.procRounds) + float64(waves*maxRounds(m))
}

// restartParallel is how many namespaces kubectl qxsms restart works on at once.
const restartParallel = 16

func ceilDiv(n, d int) float64 { return float64((n + d - 1) / d) }

func maxRounds(m measurement) int {
	n := 0
	for _, r := range m.instanceRounds {
		n = max(n, r)
	}
	return n
}

func (f floors) floor(kind scenarioKind, rtt time.Duration, n int) time.Duration {
	s, ok := f.serverPerInstance[kind]
	if !ok {
		return 0
	}
	return time.Duration(f.rounds(kind, n)*float64(rtt)) + s*time.Duration(n)/f.cores
}

func newFloors(rows []row, paused measurement, instances, parallel int, c counts) floors {
	f := floors{cores: time.Duration(runtime.NumCPU()), parallel: parallel, counts: c, serverPerInstance: map[scenarioKind]time.Duration{}}
	if instances > 0 {
		f.serverPerInstance[fresh] = paused.serverCPU / time.Duration(instances)
	}
	for _, r := range rows {
		if (r.kind != unchanged && r.kind != restart) || r.instances == 0 {
			continue
		}
		s := r.qxsms.serverCPU / time.Duration(r.instances)
		if cur, ok := f.serverPerInstance[r.kind]; !ok || s < cur {
			f.serverPerInstance[r.kind] = s
		}
	}
	return f
}

func machine() string {
	cpu := "unknown"
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(info); m != nil {
			cpu = string(m[1])
		}
	}
	mem := "unknown"
	if info, err := os.ReadFile("/proc/meminfo"); err == nil {
		if m := regexp.MustCompile(`MemTotal:\s*(\d+) kB`).FindSubmatch(info); m != nil {
			var kb int64
			fmt.Sscan(string(m[1]), &kb)
			mem = fmt.Sprintf("%.1f GiB", float64(kb)/1024/1024)
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s memory, %s/%s, %s", runtime.NumCPU(), cpu, mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func msList(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprint(d.Milliseconds()))
	}
	return strings.Join(s, ",")
}

func intList(ns []int) string {
	var s []string
	for _, n := range ns {
		s = append(s, fmt.Sprint(n))
	}
	return strings.Join(s, ",")
}

// writeReport writes BENCHMARKS.md; paused is the fresh deploy with the
// controllers paused, counts the request-log runs, prog the progressive
// rollout against the plain one.
func (b *bench) writeReport(rows []row, paused measurement, c counts, prog progressiveRun) error {
	var w strings.Builder
	cores := time.Duration(runtime.NumCPU())
	fl := newFloors(rows, paused, b.instances, b.parallel, c)
	fmt.Fprintf(&w, "# Benchmarks\n\nWritten by `make bench` (hack/bench) on %s, in one run:\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&w, "    make bench BENCH_INSTANCES=%d BENCH_RESTARTS=%d BENCH_PVS=%d BENCH_REPEAT=%d BENCH_RTT=%s BENCH_SCALE=%s BENCH_SCALE_RTT=%s BENCH_CANARY_SOAK=%s\n\n",
		b.instances, b.restarts, b.pvs, b.repeat, msList(b.rtts), intList(b.scale), msList(b.scaleRTTs), b.canarySoak)
	fmt.Fprintf(&w, "- Machine: %s\n", machine())
	fmt.Fprintf(&w, "- Cluster: the local control plane of `make cluster-up` (kube-apiserver, etcd, controller-manager, scheduler v1.37.2, kwok nodes), on the same machine\n")
	fmt.Fprintf(&w, "- Baseline: the kubectl v1.37.2 built in hack/, measured in the same run, on the same cluster; fresh namespaces for every deploy scenario\n")
	fmt.Fprintf(&w, "- Network: at RTT 0 the clients reach the API server directly on loopback. At RTT r, both clients (kubectl and kubectl-qxsms) "+
		"go through a TCP proxy (hack/bench/proxy.go) that delays each direction by r/2, in order, without limiting bandwidth: "+
		"the same CA and credentials, the server URL pointing at the proxy. 20 ms is a CI runner and a cluster in the same region; "+
		"50 ms the GitLab agent's tunnel, or another region. The controllers always talk to the API server directly, as in a real cluster.\n\n")
	fmt.Fprintf(&w, "Ratios are kubectl time / kubectl-qxsms time (higher is better for kubectl-qxsms), each pair measured at the same RTT.\n\n")

	// 1. Side by side, at -instances.
	var main []row
	for _, r := range rows {
		if r.hasKubectl && (r.kind == restart || r.kind == listPVs || r.instances == b.instances) {
			main = append(main, r)
		}
	}
	slices.SortStableFunc(main, func(x, y row) int {
		if x.kind != y.kind {
			return int(x.kind) - int(y.kind)
		}
		return int(x.rtt - y.rtt)
	})
	fmt.Fprintf(&w, "| scenario | RTT | objects | kubectl-qxsms | kubectl | ratio | target | floor (measured/floor) | ceiling here | CPU qxsms | CPU kubectl | client CPU ratio | cores busy qxsms | cores busy kubectl | peak RSS qxsms | peak RSS kubectl |\n")
	fmt.Fprintf(&w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	cpuTime := func(m measurement) string {
		return fmt.Sprintf("%.1fs + %.1fs", m.clientCPU.Seconds(), m.serverCPU.Seconds())
	}
	for _, r := range main {
		floor := "-"
		if f := fl.floor(r.kind, r.rtt, r.instances); f > 0 {
			floor = fmt.Sprintf("%s (%.1fx)", f.Round(time.Millisecond), float64(r.qxsms.wall)/float64(f))
		}
		ceiling := r.qxsms.serverCPU / cores
		ceil := ratio(r.kubectl.wall, ceiling)
		if ceiling > 0 && r.kind != listPVs {
			ceil += fmt.Sprintf(" (reached %.0f%%)", 100*float64(ceiling)/float64(r.qxsms.wall))
		}
		fmt.Fprintf(&w, "| %s | %s | %d | %s | %s | **%s** | %s | %s | %s | %s | %s | %s | %.0f%% | %.0f%% | %d MiB | %d MiB |\n",
			r.scenario, fmtRTT(r.rtt), r.objects, r.qxsms.wall.Round(time.Millisecond), r.kubectl.wall.Round(time.Millisecond),
			ratio(r.kubectl.wall, r.qxsms.wall), r.target, floor, ceil, cpuTime(r.qxsms), cpuTime(r.kubectl),
			ratio(r.kubectl.clientCPU, r.qxsms.clientCPU), 100*r.qxsms.busy(), 100*r.kubectl.busy(), r.qxsms.maxRSSKB/1024, r.kubectl.maxRSSKB/1024)
	}
	fmt.Fprintf(&w, "\nCPU is the client's CPU time + the local control plane's during the run (etcd, kube-apiserver, "+
		"controller-manager, scheduler, kwok, NFS provisioner: they share this machine's %d cores with the client). "+
		"Client CPU ratio is kubectl's over kubectl-qxsms's: on a real cluster, the client's CPU is all a CI runner pays (target: >= 10x). "+
		"Cores busy is the CPU total over wall time and cores: near 100%%, a run is bound by the machine, not by waiting. "+
		"Ceiling here is the best ratio any client could reach on this machine, with the network of its row adding nothing: kubectl's time over the control plane's CPU "+
		"during the kubectl-qxsms run spread over every core, that is, with a client costing nothing; \"reached\" is how much of it kubectl-qxsms reaches. "+
		"Each side starts from a quiet control plane (under a fifth of a core for a second).\n", runtime.NumCPU())
	fmt.Fprintf(&w, "\nFloor is the lower bound kubectl-qxsms's design can reach at the row's RTT r: its sequential round trips "+
		"(connection setup, %d round trips; its own requests; then each instance's sequential rounds N, %s) times r, "+
		"plus the control plane's CPU for the requests themselves spread over %d cores "+
		"(fresh deploy: measured with the controllers paused; unchanged redeploy and restart: the least any of their runs took, the restart's including the controllers, which a rollout needs). "+
		"The figure in brackets is how far the measured time is from it. Round trips are counted below.\n",
		handshake, parallelText(b.parallel), runtime.NumCPU())
	if f, ok := find(rows, fresh, 0, b.instances); ok {
		reaction := f.qxsms.serverCPU - paused.serverCPU
		fmt.Fprintf(&w, "\nWhat bounds the fresh deploy at RTT 0: the same deploy with the controllers paused (SIGSTOP: controller-manager, scheduler, kwok, provisioner) "+
			"took %s, with %.1fs of control-plane CPU: the cost of kubectl-qxsms's own requests. "+
			"With the controllers running, the control plane spent %.1fs during the deploy: %.1fs of it is the controllers' reaction "+
			"(replica sets, pods, bindings, volumes, endpoints, events), which any client's deploy triggers, on these same %d cores. "+
			"Even with a client and requests costing nothing, that reaction alone bounds the ratio at %s here; "+
			"without it, kubectl-qxsms would reach %s. Across a network the reaction overlaps the round trips, and bounds the ratio less.\n",
			paused.wall.Round(time.Millisecond), paused.serverCPU.Seconds(), f.qxsms.serverCPU.Seconds(), reaction.Seconds(), runtime.NumCPU(),
			ratio(f.kubectl.wall, reaction/cores), ratio(f.kubectl.wall, paused.wall))
	}

	// 2. How cost grows.
	var scaled []row
	for _, r := range rows {
		if (r.kind == fresh || r.kind == unchanged) && slices.Contains(b.scaleRTTs, r.rtt) {
			scaled = append(scaled, r)
		}
	}
	if len(scaled) > 0 {
		slices.SortStableFunc(scaled, func(x, y row) int {
			if x.kind != y.kind {
				return int(x.kind) - int(y.kind)
			}
			if x.rtt != y.rtt {
				return int(x.rtt - y.rtt)
			}
			return x.instances - y.instances
		})
		fmt.Fprintf(&w, "\n## How cost grows with the number of instances\n\n")
		fmt.Fprintf(&w, "Each size is a fresh deploy of new instances, then their unchanged redeploy; kubectl's loop is measured up to %d instances. "+
			"Growth is kubectl-qxsms's time per instance over its time per instance at the smallest size (target: <= 1.5x at %d vs %d instances).\n\n",
			b.instances, slices.Max(b.scale), slices.Min(b.scale))
		fmt.Fprintf(&w, "| scenario | RTT | instances | kubectl-qxsms | per instance | growth | floor per instance (measured/floor) | client CPU per instance | kubectl | per instance | ratio | client CPU per instance kubectl |\n")
		fmt.Fprintf(&w, "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		base := map[[2]int64]time.Duration{}
		for _, r := range scaled {
			key := [2]int64{int64(r.kind), int64(r.rtt)}
			per := perInst(r.qxsms.wall, r.instances)
			if _, ok := base[key]; !ok {
				base[key] = per
			}
			floor := "-"
			if f := fl.floor(r.kind, r.rtt, r.instances); f > 0 {
				floor = fmt.Sprintf("%s (%.1fx)", perInst(f, r.instances), float64(r.qxsms.wall)/float64(f))
			}
			k, kPer, rat, kCPU := "-", "-", "-", "-"
			if r.hasKubectl {
				k, kPer = r.kubectl.wall.Round(time.Millisecond).String(), perInst(r.kubectl.wall, r.instances).String()
				rat, kCPU = "**"+ratio(r.kubectl.wall, r.qxsms.wall)+"**", perInst(r.kubectl.clientCPU, r.instances).String()
			}
			fmt.Fprintf(&w, "| %s | %s | %d | %s | %s | %.2fx | %s | %s | %s | %s | %s | %s |\n",
				r.scenario, fmtRTT(r.rtt), r.instances, r.qxsms.wall.Round(time.Millisecond), per,
				float64(per)/float64(base[key]), floor, perInst(r.qxsms.clientCPU, r.instances), k, kPer, rat, kCPU)
		}
	}

	// 3. What a progressive rollout costs.
	fmt.Fprintf(&w, "\n## Progressive rollout\n\n")
	fmt.Fprintf(&w, "A fresh deploy of %d instances at RTT %s, both sides kubectl-qxsms with `--wait`: a canary (rolled out, then watched for `--canary-soak %s`), "+
		"then the other instances in %d waves, each rolled out before the next, against all instances at once. "+
		"Target: the progressive deploy takes less than twice the plain deploy's time plus the soak.\n\n",
		prog.instances, fmtRTT(prog.rtt), prog.soak, progressiveWaves)
	fmt.Fprintf(&w, "| scenario | RTT | instances | all at once | progressive | progressive minus soak / all at once | bound: 2x + soak | within | client CPU all at once | client CPU progressive |\n")
	fmt.Fprintf(&w, "|---|---|---|---|---|---|---|---|---|---|\n")
	within := "yes"
	if prog.progressive.wall >= prog.bound() {
		within = "**no**"
	}
	fmt.Fprintf(&w, "| deploy --wait, fresh namespaces | %s | %d | %s | %s | %.2fx | %s | %s | %.1fs | %.1fs |\n",
		fmtRTT(prog.rtt), prog.instances, prog.plain.wall.Round(time.Millisecond), prog.progressive.wall.Round(time.Millisecond),
		float64(prog.progressive.wall-prog.soak)/float64(prog.plain.wall), prog.bound().Round(time.Millisecond), within,
		prog.plain.clientCPU.Seconds(), prog.progressive.clientCPU.Seconds())

	// 4. Requests and round trips.
	fmt.Fprintf(&w, "\n## Requests and round trips\n\n")
	fmt.Fprintf(&w, "From client-go's request log (`-v=6`), in separate runs of %d instances at RTT %s, so that logging does not weigh on the timings above "+
		"and requests sent together overlap in the log. Rounds are the longest chain of requests each sent after the previous one's answer: "+
		"the round trips a client waits for one after the other (connection setup not included: %d per connection). "+
		"Per instance: each instance's requests alone (kubectl: each process's, discovery from its cache included); own: kubectl-qxsms's requests outside the instances' namespaces (discovery, checks).\n\n",
		c.instances, fmtRTT(c.rtt), handshake)
	fmt.Fprintf(&w, "| scenario | requests/object qxsms | requests/object kubectl | rounds per instance qxsms | own rounds qxsms | rounds per instance kubectl | rounds in all qxsms | wall qxsms | wall kubectl |\n")
	fmt.Fprintf(&w, "|---|---|---|---|---|---|---|---|---|\n")
	for _, kind := range []scenarioKind{fresh, unchanged, restart} {
		q, ok := c.qxsms[kind]
		if !ok {
			continue
		}
		name := map[scenarioKind]string{fresh: "deploy, fresh namespaces", unchanged: "redeploy, unchanged", restart: "restart and wait (2 Deployments per instance)"}[kind]
		objects := float64(c.instances * perInstance)
		if kind == restart {
			objects = float64(2 * c.instances)
		}
		kReq, kRounds, kWall := "-", "-", "-"
		if k, ok := c.kubectl[kind]; ok {
			kReq = fmt.Sprintf("%.2f", float64(k.requests)/objects)
			kRounds = fmt.Sprintf("%.1f", float64(k.rounds)/float64(c.instances))
			kWall = k.wall.Round(time.Millisecond).String()
		}
		fmt.Fprintf(&w, "| %s | %.2f | %s | %d | %d | %s | %d | %s | %s |\n", name, float64(q.requests)/objects, kReq,
			maxRounds(q), q.procRounds, kRounds, q.rounds, q.wall.Round(time.Millisecond), kWall)
	}

	fmt.Fprintf(&w, "\n## Commands\n\n")
	seen := map[string]bool{}
	for _, r := range main {
		if line := fmt.Sprintf("- %s: `%s` vs `%s`\n", r.scenario, r.qxsmsCmd, r.kubectlCmd); !seen[line] {
			seen[line] = true
			w.WriteString(line)
		}
	}
	fmt.Fprintf(&w, "- progressive rollout: `kubectl qxsms deploy staging --wait --canary INSTANCE --canary-soak %s --waves %d` vs `kubectl qxsms deploy staging --wait`\n",
		prog.soak, progressiveWaves)
	fmt.Fprint(&w, "\nPeak RSS is the largest single process (for loops, the largest of the kubectl runs).\n"+
		"Reproduce: `make bench` (variables: BENCH_INSTANCES, BENCH_RESTARTS, BENCH_PVS, BENCH_REPEAT, BENCH_RTT, BENCH_SCALE, BENCH_SCALE_RTT, BENCH_CANARY_SOAK).\n")
	if err := os.WriteFile(b.out, []byte(w.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(w.String())
	return nil
}

func parallelText(p int) string {
	if p <= 0 {
		return "every instance at once (deploy's --parallel default is not a number)"
	}
	return fmt.Sprintf("deploy's instances all at once up to %d (its default --parallel), restart's %d at a time", p, restartParallel)
}

func find(rows []row, kind scenarioKind, rtt time.Duration, instances int) (row, bool) {
	for _, r := range rows {
		if r.kind == kind && r.rtt == rtt && r.instances == instances && r.hasKubectl {
			return r, true
		}
	}
	return row{}, false
}
