package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

// perInstance is the objects of one instance of the staging/pprd overlay.
const perInstance = 16

// deployment is one side's instances, from their own config repo.
type deployment struct {
	repo  string
	names []string
}

// newDeployment generates a config repo of n fresh instances; side and tag
// keep every scenario's namespaces apart (and findable by cleanup).
func (b *bench) newDeployment(side string, rtt time.Duration, n int) (deployment, error) {
	repo, names, err := makeRepo(b.repoRoot, fmt.Sprintf("b%s%s%dn%d", b.runID, side, rtt.Milliseconds(), n), n)
	return deployment{repo, names}, err
}

func (b *bench) qxsmsDeploy(l *link, d deployment, verbose bool) func() (measurement, error) {
	return func() (measurement, error) {
		args := []string{"qxsms", "deploy", "staging", "--root", d.repo}
		if verbose {
			args = append(args, "-v=6")
		}
		return b.measure(l, "kubectl", args...)
	}
}

// kubectlLoop is the workflow kubectl-qxsms replaces: one `kubectl apply -k`
// per overlay, one after the other.
func (b *bench) kubectlLoop(l *link, d deployment, verbose bool) func() (measurement, error) {
	return func() (measurement, error) {
		var total measurement
		for _, n := range d.names {
			args := []string{"apply", "-k", filepath.Join(d.repo, "overlays", "staging", n)}
			if verbose {
				args = append(args, "-v=6")
			}
			m, err := b.measure(l, "kubectl", args...)
			if err != nil {
				return total, err
			}
			total.add(m)
		}
		return total, nil
	}
}

// settle lets the deployments' rollouts finish (through the direct link), so
// the next scenario does not compete with the controllers still starting
// the pods of this one. With 150 fresh instances the provisioner binds 600
// claims one after the other, and pods that found their claims unbound wait
// for the scheduler's retry: 5 minutes was once too short there.
func (b *bench) settle(ds ...deployment) error {
	b.say("waiting for the rollouts")
	for _, d := range ds {
		if d.repo == "" {
			continue
		}
		if _, err := b.cmd(b.links0(), "kubectl", "qxsms", "deploy", "staging", "--root", d.repo, "--wait", "--timeout", "15m"); err != nil {
			return err
		}
	}
	return nil
}

// pausedDeploy is the fresh deploy of -instances with the controllers paused,
// at RTT 0: the control plane's CPU is then the cost of kubectl-qxsms's own
// requests alone, and the difference with the fresh deploy at RTT 0 is the
// controllers' reaction to them.
func (b *bench) pausedDeploy() (measurement, error) {
	b.say("fresh deploy of %d instances, controllers paused", b.instances)
	d, err := b.newDeployment("p", 0, b.instances)
	if err != nil {
		return measurement{}, err
	}
	m, err := b.sample(func() (measurement, error) {
		resume := b.controlPlane.pauseControllers()
		defer resume()
		return b.qxsmsDeploy(b.links0(), d, false)()
	})
	if err != nil {
		return m, fmt.Errorf("deploy with the controllers paused: %w", err)
	}
	return m, b.settle(d)
}

// deployScenarios measures, at l's RTT, the fresh deploy and the unchanged
// redeploy of -instances, and of the scaling sizes where l's RTT is one of
// -scale-rtt; kubectl's loop only up to -instances. It returns the rows, and
// the -instances deployments, for the restart.
func (b *bench) deployScenarios(l *link) ([]row, [2]deployment, error) {
	sizes := []int{b.instances}
	if slices.Contains(b.scaleRTTs, l.rtt) {
		sizes = append(sizes, b.scale...)
	}
	slices.Sort(sizes)
	var rows []row
	var main [2]deployment
	for _, n := range slices.Compact(sizes) {
		if n == 0 {
			continue
		}
		f, u, ds, err := b.deployPair(l, n, n <= b.instances)
		if err != nil {
			return nil, main, err
		}
		rows = append(rows, f, u)
		if n == b.instances {
			main = ds
		}
	}
	return rows, main, nil
}

// deployPair is a fresh deploy of n instances and its unchanged redeploy,
// each measured for both sides (kubectl's only when withKubectl).
func (b *bench) deployPair(l *link, n int, withKubectl bool) (freshRow, unchangedRow row, ds [2]deployment, err error) {
	q, err := b.newDeployment("q", l.rtt, n)
	if err != nil {
		return
	}
	var k deployment
	kubectl := func() (measurement, error) { return measurement{}, nil }
	if withKubectl {
		if k, err = b.newDeployment("k", l.rtt, n); err != nil {
			return
		}
		kubectl = b.kubectlLoop(l, k, false)
	}
	ds = [2]deployment{q, k}
	mk := func(kind scenarioKind, name string) (row, error) {
		b.say("%s, %d instances, %s", name, n, l)
		qm, km, err := b.pair(b.qxsmsDeploy(l, q, false), kubectl)
		if err != nil {
			return row{}, fmt.Errorf("%s, %d instances, %s: %w", name, n, l, err)
		}
		b.sayResult(qm, km)
		return row{kind: kind, scenario: name, rtt: l.rtt, instances: n, objects: n * perInstance,
			qxsmsCmd:   fmt.Sprintf("kubectl qxsms deploy staging  (%d instances)", n),
			kubectlCmd: fmt.Sprintf("for d in k8s/overlays/staging/*; do kubectl apply -k $d; done  (%d instances)", n),
			qxsms:      qm, kubectl: km, hasKubectl: withKubectl, target: target(kind, l.rtt, n == b.instances)}, nil
	}
	if freshRow, err = mk(fresh, "deploy, fresh namespaces"); err != nil {
		return
	}
	if err = b.settle(q, k); err != nil {
		return
	}
	unchangedRow, err = mk(unchanged, "redeploy, unchanged")
	return
}

// restartScenario restarts the first -restarts of the -instances deployed
// at l's RTT, and waits for the rollouts.
func (b *bench) restartScenario(l *link, ds [2]deployment) (row, error) {
	q, k := ds[0], ds[1]
	n := min(b.restarts, len(q.names), len(k.names))
	b.say("restart --wait of %d instances each side, %s", n, l)
	if err := b.settle(q, k); err != nil {
		return row{}, err
	}
	qm, km, err := b.pair(b.qxsmsRestart(l, q.names[:n], false), func() (measurement, error) {
		var total measurement
		for _, inst := range k.names[:n] {
			for _, d := range []string{"qxsms", "worker"} {
				for _, args := range [][]string{
					{"rollout", "restart", "-n", "qxsms-" + inst, "deployment/" + d},
					{"rollout", "status", "-n", "qxsms-" + inst, "deployment/" + d, "--timeout=5m"},
				} {
					m, err := b.measure(l, "kubectl", args...)
					if err != nil {
						return total, err
					}
					total.add(m)
				}
			}
		}
		return total, nil
	})
	if err != nil {
		return row{}, fmt.Errorf("restart, %s: %w", l, err)
	}
	b.sayResult(qm, km)
	return row{kind: restart, scenario: fmt.Sprintf("restart and wait, %d instances x 2 Deployments", n),
		rtt: l.rtt, instances: n, objects: 2 * n,
		qxsmsCmd:   fmt.Sprintf("kubectl qxsms restart INSTANCE x%d --wait", n),
		kubectlCmd: "per Deployment: kubectl rollout restart + kubectl rollout status",
		qxsms:      qm, kubectl: km, hasKubectl: true, target: target(restart, l.rtt, true)}, nil
}

// sayResult reports a pair's times as soon as they are measured, so that a
// run that fails later still shows them.
func (b *bench) sayResult(q, k measurement) {
	if k.wall == 0 {
		b.say("kubectl-qxsms %s", q.wall.Round(time.Millisecond))
		return
	}
	b.say("kubectl-qxsms %s, kubectl %s: %.1fx", q.wall.Round(time.Millisecond), k.wall.Round(time.Millisecond), float64(k.wall)/float64(q.wall))
}

func (b *bench) qxsmsRestart(l *link, names []string, verbose bool) func() (measurement, error) {
	return func() (measurement, error) {
		args := append([]string{"qxsms", "restart", "--wait", "--timeout", "5m"}, names...)
		if verbose {
			args = append(args, "-v=6")
		}
		return b.measure(l, "kubectl", args...)
	}
}

// counts are the requests and rounds of each scenario, from client-go's
// request log (-v=6), in separate runs so logging does not weigh on the
// timings, through a link with latency so that requests sent together
// overlap in the log.
type counts struct {
	rtt       time.Duration
	instances int
	qxsms     map[scenarioKind]measurement
	kubectl   map[scenarioKind]measurement
}

func (b *bench) countRequests(l *link) (counts, error) {
	n := min(5, b.instances, b.restarts)
	b.say("counting API requests and rounds, %d instances, %s", n, l)
	c := counts{rtt: l.rtt, instances: n, qxsms: map[scenarioKind]measurement{}, kubectl: map[scenarioKind]measurement{}}
	q, err := b.newDeployment("cq", l.rtt, n)
	if err != nil {
		return c, err
	}
	k, err := b.newDeployment("ck", l.rtt, n)
	if err != nil {
		return c, err
	}
	for _, kind := range []scenarioKind{fresh, unchanged} {
		if c.qxsms[kind], c.kubectl[kind], err = b.pair(b.qxsmsDeploy(l, q, true), b.kubectlLoop(l, k, true)); err != nil {
			return c, fmt.Errorf("counting requests: %w", err)
		}
		b.say("%d instances: %d requests, %d rounds (qxsms) vs %d, %d (kubectl)",
			n, c.qxsms[kind].requests, c.qxsms[kind].rounds, c.kubectl[kind].requests, c.kubectl[kind].rounds)
		if err := b.settle(q, k); err != nil {
			return c, err
		}
	}
	if c.qxsms[restart], err = b.sample(b.qxsmsRestart(l, q.names, true)); err != nil {
		return c, fmt.Errorf("counting requests: %w", err)
	}
	return c, nil
}

// listReleasedPVs lists the Released PVs among many, directly.
func (b *bench) listReleasedPVs() (row, error) {
	b.say("creating %d Released PVs", b.pvs)
	if err := createReleasedPVs(context.Background(), b.client, b.runID, b.pvs); err != nil {
		return row{}, err
	}
	var qs, ks []measurement
	l := b.links0()
	for i := 0; i < b.repeat; i++ {
		q, k, err := b.pair(func() (measurement, error) { return b.measure(l, "kubectl", "qxsms", "pv-released") },
			func() (measurement, error) { return b.measure(l, "kubectl", "get", "pv") })
		if err != nil {
			return row{}, err
		}
		qs, ks = append(qs, q), append(ks, k)
	}
	return row{kind: listPVs,
		scenario: fmt.Sprintf("list Released PVs among %d (median of %d)", b.pvs, b.repeat),
		qxsmsCmd: "kubectl qxsms pv-released", kubectlCmd: "kubectl get pv",
		qxsms: median(qs), kubectl: median(ks), hasKubectl: true, objects: b.pvs, target: "time ratio <= 1.0, lower peak memory",
	}, nil
}

// target is the goal set for the rows at -instances (and -restarts).
func target(kind scenarioKind, rtt time.Duration, main bool) string {
	if !main {
		return "-"
	}
	switch kind {
	case fresh:
		switch {
		case rtt == 0:
			return ">= 85% of ceiling here"
		case rtt < 50*time.Millisecond:
			return ">= 15x"
		}
		return ">= 20x"
	case unchanged:
		if rtt == 0 {
			return ">= 20x"
		}
		return ">= 30x"
	case restart:
		if rtt == 0 {
			return ">= 85% of ceiling here"
		}
		return ">= 5x"
	}
	return "-"
}

// progressiveWaves is the waves after the canary in the progressive scenario.
const progressiveWaves = 5

// progressiveRun is a fresh deploy of -instances with a canary and waves
// against the plain parallel deploy, both with --wait, at one RTT: what the
// safety of a progressive rollout costs.
type progressiveRun struct {
	rtt                time.Duration
	instances          int
	soak               time.Duration
	plain, progressive measurement
}

// bound is the most the progressive deploy may take: twice the plain
// deploy's time, plus the soak.
func (p progressiveRun) bound() time.Duration { return 2*p.plain.wall + p.soak }

// progressiveLink is where the progressive scenario runs: the RTT of the
// scaling rows (a CI runner's), else the first one measured.
func (b *bench) progressiveLink() *link {
	for _, l := range b.links[:len(b.rtts)] {
		if slices.Contains(b.scaleRTTs, l.rtt) {
			return l
		}
	}
	return b.links[0]
}

func (b *bench) progressiveScenario(l *link) (progressiveRun, error) {
	p := progressiveRun{rtt: l.rtt, instances: b.instances, soak: b.canarySoak}
	b.say("deploy --wait of %d instances: --canary, --waves %d, --canary-soak %s against all at once, %s", p.instances, progressiveWaves, p.soak, l)
	plain, err := b.newDeployment("pw", l.rtt, p.instances)
	if err != nil {
		return p, err
	}
	prog, err := b.newDeployment("pc", l.rtt, p.instances)
	if err != nil {
		return p, err
	}
	deploy := func(d deployment, extra ...string) func() (measurement, error) {
		return func() (measurement, error) {
			args := append([]string{"qxsms", "deploy", "staging", "--root", d.repo, "--wait", "--timeout", "10m"}, extra...)
			return b.measure(l, "kubectl", args...)
		}
	}
	p.progressive, p.plain, err = b.pair(
		deploy(prog, "--canary", prog.names[0], "--canary-soak", p.soak.String(), "--waves", fmt.Sprint(progressiveWaves)),
		deploy(plain))
	if err != nil {
		return p, fmt.Errorf("progressive deploy, %s: %w", l, err)
	}
	b.say("progressive %s, all at once %s (bound: %s)", p.progressive.wall.Round(time.Millisecond), p.plain.wall.Round(time.Millisecond), p.bound().Round(time.Millisecond))
	return p, nil
}
