// Command bench compares kubectl-qxsms with the kubectl workflow it replaces,
// in one run, on the local cluster, and writes BENCHMARKS.md. Every scenario
// uses fresh namespaces, and reports ratios measured side by side. Both
// clients reach the API server directly (RTT 0) and through a proxy that adds
// a network's round-trip time, as from a CI runner; the controllers always
// talk to it directly, as in a real cluster.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type config struct {
	repoRoot, tools, pluginDir, kubeconfig, clusterDir, out string
	instances, restarts, pvs, repeat                        int
	canarySoak                                              time.Duration
	// rtts are the networks measured; scale the instance counts of the
	// scaling rows, measured at the RTTs in scaleRTTs.
	rtts, scaleRTTs []time.Duration
	scale           []int
}

// bench is one run's state.
type bench struct {
	config
	runID        string
	env          []string // the direct link's, for setup and settling
	controlPlane controlPlane
	client       kubernetes.Interface
	links        []*link
	// parallel is kubectl qxsms deploy's default --parallel, 0 if unknown.
	parallel int
	start    time.Time
}

// say reports progress, with the time since the start: the run is long.
func (b *bench) say(format string, args ...any) {
	el := time.Since(b.start).Round(time.Second)
	fmt.Fprintf(os.Stderr, "bench: [%02d:%02d] %s\n", int(el.Minutes()), int(el.Seconds())%60, fmt.Sprintf(format, args...))
}

// link is one way for the clients to reach the API server: directly, or
// through a latency proxy with its own kubeconfig.
type link struct {
	rtt   time.Duration
	env   []string
	proxy *latencyProxy
}

func (l *link) String() string { return fmt.Sprintf("RTT %s", fmtRTT(l.rtt)) }

func fmtRTT(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// measurement is one command's cost, or a loop's.
type measurement struct {
	wall     time.Duration
	maxRSSKB int64
	requests int
	// rounds is the longest chain of API requests one after the other, from
	// client-go's request log (-v=6): the round trips the client waits for.
	// instanceRounds is the same for each instance's requests alone
	// (those in its namespace), procRounds for the rest (discovery, checks).
	rounds, procRounds int
	instanceRounds     map[string]int
	// CPU time of the client process(es), and of the local control plane
	// while they ran: on this one machine both share the same cores.
	clientCPU, serverCPU time.Duration
	processes            int
}

// add accumulates one run of a loop.
func (m *measurement) add(o measurement) {
	m.wall += o.wall
	m.requests += o.requests
	m.rounds += o.rounds
	m.procRounds += o.procRounds
	m.maxRSSKB = max(m.maxRSSKB, o.maxRSSKB)
	m.clientCPU += o.clientCPU
	m.processes += o.processes
}

// busy is the share of the machine's cores the run kept busy.
func (m measurement) busy() float64 {
	return float64(m.clientCPU+m.serverCPU) / float64(m.wall) / float64(runtime.NumCPU())
}

type scenarioKind int

const (
	fresh scenarioKind = iota
	unchanged
	restart
	listPVs
)

type row struct {
	kind                 scenarioKind
	scenario             string
	rtt                  time.Duration
	instances, objects   int
	qxsmsCmd, kubectlCmd string
	qxsms, kubectl       measurement
	// hasKubectl is false for the scaling rows measured on kubectl-qxsms alone.
	hasKubectl bool
	target     string
}

func main() {
	c := config{}
	var rtts, scaleRTTs, scale string
	flag.StringVar(&c.repoRoot, "repo", "", "the kubectl-qxsms checkout")
	flag.StringVar(&c.tools, "tools", "", "directory holding kubectl")
	flag.StringVar(&c.pluginDir, "plugin-dir", "", "directory holding kubectl-qxsms")
	flag.StringVar(&c.kubeconfig, "kubeconfig", "", "the local cluster's kubeconfig")
	flag.StringVar(&c.clusterDir, "cluster-dir", "", "the local cluster's state directory (default: the kubeconfig's)")
	flag.StringVar(&c.out, "out", "BENCHMARKS.md", "report file")
	flag.IntVar(&c.instances, "instances", 50, "instances deployed per side")
	flag.IntVar(&c.restarts, "restarts", 20, "instances restarted per side")
	flag.IntVar(&c.pvs, "pvs", 5000, "Released PVs listed")
	flag.IntVar(&c.repeat, "repeat", 3, "repetitions of the listing benchmark (median)")
	flag.DurationVar(&c.canarySoak, "canary-soak", 10*time.Second, "the progressive deploy's --canary-soak")
	flag.StringVar(&rtts, "rtt", "0,20,50", "round-trip times between the clients and the API server, in ms (0: direct)")
	flag.StringVar(&scale, "scale", "10,50,150", "instance counts of the scaling rows (kubectl's loop only up to -instances)")
	flag.StringVar(&scaleRTTs, "scale-rtt", "20", "round-trip times, in ms, at which the scaling rows run")
	flag.Parse()
	var err error
	if c.rtts, err = parseRTTs(rtts); err == nil {
		if c.scaleRTTs, err = parseRTTs(scaleRTTs); err == nil {
			c.scale, err = parseInts(scale)
		}
	}
	if err == nil {
		err = run(c)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q: want a comma-separated list of non-negative integers", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseRTTs reads milliseconds ("0,20,50"), sorted and without duplicates.
func parseRTTs(s string) ([]time.Duration, error) {
	ms, err := parseInts(s)
	if err != nil {
		return nil, fmt.Errorf("round-trip times %w (milliseconds, e.g. 0,20,50)", err)
	}
	slices.Sort(ms)
	var out []time.Duration
	for _, m := range slices.Compact(ms) {
		out = append(out, time.Duration(m)*time.Millisecond)
	}
	return out, nil
}

func run(c config) error {
	if len(c.rtts) == 0 {
		return fmt.Errorf("no round-trip time to measure: set -rtt (BENCH_RTT), e.g. 0,20,50")
	}
	b := &bench{config: c, start: time.Now(), runID: fmt.Sprintf("%04x", time.Now().UnixNano()&0xffff)}
	cache, err := os.MkdirTemp("", "qxsms-bench-cache-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	b.env = append(os.Environ(),
		"PATH="+c.pluginDir+":"+c.tools+":"+os.Getenv("PATH"),
		"KUBECONFIG="+c.kubeconfig,
		"KUBECACHEDIR="+cache)
	if b.clusterDir == "" {
		b.clusterDir = filepath.Dir(c.kubeconfig)
	}
	if b.controlPlane, err = findControlPlane(b.clusterDir); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 500, 1000
	b.client = kubernetes.NewForConfigOrDie(cfg)
	b.parallel = b.deployParallel()

	// One link per RTT, plus one for counting rounds if only RTT 0 is
	// measured: at 0 ms, requests sent together may not overlap in the log.
	rtts := c.rtts
	if countRTT := c.rtts[len(c.rtts)-1]; countRTT == 0 {
		rtts = append(rtts, 20*time.Millisecond)
	}
	for _, rtt := range rtts {
		l, err := b.newLink(rtt, cache)
		if err != nil {
			return err
		}
		defer l.close()
		b.links = append(b.links, l)
	}
	defer b.cleanup()

	var rows []row
	paused, err := b.pausedDeploy()
	if err != nil {
		return err
	}
	prog, err := b.progressiveScenario(b.progressiveLink())
	if err != nil {
		return err
	}
	for _, l := range b.links[:len(c.rtts)] {
		r, ds, err := b.deployScenarios(l)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
		rr, err := b.restartScenario(l, ds)
		if err != nil {
			return err
		}
		rows = append(rows, rr)
	}
	counts, err := b.countRequests(b.links[len(b.links)-1])
	if err != nil {
		return err
	}
	r, err := b.listReleasedPVs()
	if err != nil {
		return err
	}
	rows = append(rows, r)
	return b.writeReport(rows, paused, counts, prog)
}

// newLink gives the clients a way to the API server at rtt: a kubeconfig
// with the same CA and credentials, its server URL pointing at a proxy.
// Each link warms its own discovery cache (the cache is per server address),
// so neither side pays it alone.
func (b *bench) newLink(rtt time.Duration, cache string) (*link, error) {
	l := &link{rtt: rtt, env: b.env}
	if rtt > 0 {
		kc, err := clientcmd.LoadFromFile(b.kubeconfig)
		if err != nil {
			return nil, err
		}
		for name, cluster := range kc.Clusters {
			host, err := hostPort(cluster.Server)
			if err != nil {
				return nil, fmt.Errorf("cluster %s in %s: %w", name, b.kubeconfig, err)
			}
			p, err := startLatencyProxy(host, rtt)
			if err != nil {
				return nil, err
			}
			l.proxy = p // the local cluster's kubeconfig has one cluster
			cluster.Server = "https://" + p.addr()
		}
		path := filepath.Join(cache, fmt.Sprintf("kubeconfig-rtt-%dms", rtt.Milliseconds()))
		if err := clientcmd.WriteToFile(*kc, path); err != nil {
			return nil, err
		}
		l.env = append(slices.Clone(b.env), "KUBECONFIG="+path)
	}
	if _, err := b.cmd(l, "kubectl", "api-resources"); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *link) close() {
	if l.proxy != nil {
		l.proxy.close()
	}
}

func hostPort(server string) (string, error) {
	rest, ok := strings.CutPrefix(server, "https://")
	if !ok {
		return "", fmt.Errorf("server %q: want an https:// URL", server)
	}
	host, _, _ := strings.Cut(rest, "/")
	return host, nil
}

// deployParallel reads deploy's default --parallel from its help, for the
// lower bounds; 0 if it is not a number (e.g. adaptive).
func (b *bench) deployParallel() int {
	out, err := b.cmd(b.links0(), "kubectl", "qxsms", "deploy", "--help")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "--parallel="); ok {
			n, _ := strconv.Atoi(strings.TrimRight(v, ":"))
			return n
		}
		if strings.HasPrefix(line, "--parallel ") {
			// "(0: all of them, up to N)": all at once, N at the most.
			if _, d, ok := strings.Cut(line, "up to "); ok {
				n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(d), ")."))
				return n
			}
			if _, d, ok := strings.Cut(line, "(default "); ok {
				n, _ := strconv.Atoi(strings.TrimSuffix(d, ")"))
				return n
			}
		}
	}
	return 0
}

// links0 is the direct link, also before the links are made.
func (b *bench) links0() *link { return &link{env: b.env} }

// pair measures the kubectl baseline first, then kubectl-qxsms, each from a
// quiet cluster, so neither pays for the controllers still busy with the other.
func (b *bench) pair(qxsms, kubectl func() (measurement, error)) (measurement, measurement, error) {
	k, err := b.sample(kubectl)
	if err != nil {
		return measurement{}, measurement{}, fmt.Errorf("kubectl: %w", err)
	}
	q, err := b.sample(qxsms)
	if err != nil {
		return measurement{}, measurement{}, fmt.Errorf("qxsms: %w", err)
	}
	return q, k, nil
}

// sample runs f once the control plane is quiet, adding the control plane's
// CPU time while f ran.
func (b *bench) sample(f func() (measurement, error)) (measurement, error) {
	b.controlPlane.quiesce()
	before := b.controlPlane.cpu()
	m, err := f()
	m.serverCPU = b.controlPlane.cpu() - before
	return m, err
}

func median(ms []measurement) measurement {
	sort.Slice(ms, func(i, j int) bool { return ms[i].wall < ms[j].wall })
	m := ms[len(ms)/2]
	for _, x := range ms {
		m.maxRSSKB = max(m.maxRSSKB, x.maxRSSKB)
	}
	return m
}

// measure runs one command, returning its wall time, CPU time, peak RSS and
// the API requests client-go logged (with -v=6).
func (b *bench) measure(l *link, name string, args ...string) (measurement, error) {
	cmd := exec.Command(filepath.Join(b.tools, name), args...)
	cmd.Env = l.env
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &bytes.Buffer{}, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return measurement{}, fmt.Errorf("%s %s (%s): %w\n%s", name, strings.Join(args, " "), l, err, tail(stderr.String()))
	}
	m := measurement{wall: wall, processes: 1,
		clientCPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	reqs := parseRequestLog(stderr.String())
	m.requests = len(reqs)
	m.rounds, m.procRounds, m.instanceRounds = roundsOf(reqs)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.maxRSSKB = ru.Maxrss
	}
	return m, nil
}

func (b *bench) cmd(l *link, name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(b.tools, name), args...)
	cmd.Env = l.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(string(out)))
	}
	return string(out), nil
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}
