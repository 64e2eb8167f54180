// Command bench compares kubectl-qxsms with the kubectl workflow it replaces,
// in one run, on the local cluster, and writes BENCHMARKS.md. Every scenario
// uses fresh namespaces, and reports ratios measured side by side.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

type config struct {
	repoRoot, tools, pluginDir, kubeconfig, clusterDir, out string
	instances, restarts, pvs, repeat                        int
	env                                                     []string
	controlPlane                                            controlPlane
}

// measurement is one command's cost, or a loop's.
type measurement struct {
	wall     time.Duration
	maxRSSKB int64
	requests int
	// CPU time of the client process(es), and of the local control plane
	// while they ran: on this one machine both share the same cores.
	clientCPU, serverCPU time.Duration
}

// add accumulates one run of a loop.
func (m *measurement) add(o measurement) {
	m.wall += o.wall
	m.requests += o.requests
	m.maxRSSKB = max(m.maxRSSKB, o.maxRSSKB)
	m.clientCPU += o.clientCPU
}

// busy is the share of the machine's cores the run kept busy.
func (m measurement) busy() float64 {
	return float64(m.clientCPU+m.serverCPU) / float64(m.wall) / float64(runtime.NumCPU())
}

type row struct {
	scenario, qxsmsCmd, kubectlCmd string
	qxsms, kubectl                 measurement
	objects                        int
	target                         string
	// API requests per applied object, 0 when not counted.
	qxsmsRequests, kubectlRequests float64
}

func main() {
	c := config{}
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
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run(c config) error {
	cache, err := os.MkdirTemp("", "qxsms-bench-cache-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	c.env = append(os.Environ(),
		"PATH="+c.pluginDir+":"+c.tools+":"+os.Getenv("PATH"),
		"KUBECONFIG="+c.kubeconfig,
		"KUBECACHEDIR="+cache)
	if c.clusterDir == "" {
		c.clusterDir = filepath.Dir(c.kubeconfig)
	}
	if c.controlPlane, err = findControlPlane(c.clusterDir); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 500, 1000
	client := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	runID := fmt.Sprintf("%04x", time.Now().UnixNano()&0xffff)
	// Warm the discovery cache both sides share, so neither pays it alone.
	if _, err := c.cmd("kubectl", "api-resources"); err != nil {
		return err
	}

	var rows []row
	perInstance := 16
	defer cleanup(c, runID)

	// 1. A fresh deploy of N instances, and 2. the unchanged redeploy.
	qRepo, qNames, err := makeRepo(c, "bq"+runID, c.instances)
	if err != nil {
		return err
	}
	kRepo, kNames, err := makeRepo(c, "bk"+runID, c.instances)
	if err != nil {
		return err
	}
	loop := func(repo string, names []string, verbose bool) func() (measurement, error) {
		return func() (measurement, error) {
			var total measurement
			for _, n := range names {
				args := []string{"apply", "-k", filepath.Join(repo, "overlays", "staging", n)}
				if verbose {
					args = append(args, "-v=6")
				}
				m, err := c.measure("kubectl", args...)
				if err != nil {
					return total, err
				}
				total.add(m)
			}
			return total, nil
		}
	}
	qxsmsDeploy := func(repo string, verbose bool) func() (measurement, error) {
		return func() (measurement, error) {
			args := []string{"qxsms", "deploy", "staging", "--root", repo}
			if verbose {
				args = append(args, "-v=6")
			}
			return c.measure("kubectl", args...)
		}
	}
	fmt.Fprintf(os.Stderr, "bench: fresh deploy of %d instances each side\n", c.instances)
	r, err := side(c, "deploy, fresh namespaces", qxsmsDeploy(qRepo, false), loop(kRepo, kNames, false))
	if err != nil {
		return err
	}
	r.qxsmsCmd = fmt.Sprintf("kubectl qxsms deploy staging  (%d instances)", c.instances)
	r.kubectlCmd = fmt.Sprintf("for d in k8s/overlays/staging/*; do kubectl apply -k $d; done  (%d instances)", c.instances)
	r.objects, r.target = c.instances*perInstance, ">= 10x"
	rows = append(rows, r)

	// The same fresh deploy with the controllers paused: the control plane's
	// CPU is then the cost of kubectl-qxsms's own requests alone, and the
	// difference with the run above is the controllers' reaction to them.
	fmt.Fprintf(os.Stderr, "bench: fresh deploy of %d instances, controllers paused\n", c.instances)
	pRepo, _, err := makeRepo(c, "bp"+runID, c.instances)
	if err != nil {
		return err
	}
	paused, err := c.sample(func() (measurement, error) {
		resume := c.controlPlane.pauseControllers()
		defer resume()
		return qxsmsDeploy(pRepo, false)()
	})
	if err != nil {
		return fmt.Errorf("deploy with the controllers paused: %w", err)
	}

	// Let both sides' rollouts finish, so the next scenario does not compete
	// with the controllers still starting the pods of this one.
	settle := func() error {
		for _, repo := range []string{qRepo, kRepo} {
			if _, err := c.cmd("kubectl", "qxsms", "deploy", "staging", "--root", repo, "--wait", "--timeout", "5m"); err != nil {
				return err
			}
		}
		return nil
	}
	if err := settle(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: unchanged redeploy\n")
	r, err = side(c, "redeploy, unchanged", qxsmsDeploy(qRepo, false), loop(kRepo, kNames, false))
	if err != nil {
		return err
	}
	r.qxsmsCmd, r.kubectlCmd = rows[0].qxsmsCmd, rows[0].kubectlCmd
	r.objects, r.target = c.instances*perInstance, ">= 10x"
	rows = append(rows, r)

	// API requests per object, counted from client-go's request log (-v=6),
	// in separate runs so logging does not weigh on the timings above.
	fmt.Fprintf(os.Stderr, "bench: counting API requests\n")
	small := min(5, c.instances)
	qSmall, _, err := makeRepo(c, "rq"+runID, small)
	if err != nil {
		return err
	}
	kSmall, kSmallNames, err := makeRepo(c, "rk"+runID, small)
	if err != nil {
		return err
	}
	for i, label := range []string{"fresh", "unchanged"} {
		qm, err := qxsmsDeploy(qSmall, true)()
		if err != nil {
			return err
		}
		km, err := loop(kSmall, kSmallNames, true)()
		if err != nil {
			return err
		}
		objects := float64(small * perInstance)
		rows[i].qxsmsRequests, rows[i].kubectlRequests = float64(qm.requests)/objects, float64(km.requests)/objects
		fmt.Fprintf(os.Stderr, "bench: %s deploy of %d instances: %d requests (qxsms) vs %d (kubectl)\n", label, small, qm.requests, km.requests)
	}

	// 3. Restart and wait.
	n := min(c.restarts, c.instances)
	fmt.Fprintf(os.Stderr, "bench: restart --wait of %d instances each side\n", n)
	if err := settle(); err != nil {
		return err
	}
	r, err = side(c, fmt.Sprintf("restart and wait, %d instances x 2 Deployments", n),
		func() (measurement, error) {
			return c.measure("kubectl", append([]string{"qxsms", "restart", "--wait", "--timeout", "5m"}, qNames[:n]...)...)
		},
		func() (measurement, error) {
			var total measurement
			for _, inst := range kNames[:n] {
				for _, d := range []string{"qxsms", "worker"} {
					for _, args := range [][]string{
						{"rollout", "restart", "-n", "qxsms-" + inst, "deployment/" + d},
						{"rollout", "status", "-n", "qxsms-" + inst, "deployment/" + d, "--timeout=5m"},
					} {
						m, err := c.measure("kubectl", args...)
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
		return err
	}
	r.qxsmsCmd = fmt.Sprintf("kubectl qxsms restart INSTANCE x%d --wait", n)
	r.kubectlCmd = "per Deployment: kubectl rollout restart + kubectl rollout status"
	r.objects, r.target = 2*n, ">= 5x"
	rows = append(rows, r)

	// 4. Listing Released PVs among many.
	fmt.Fprintf(os.Stderr, "bench: creating %d Released PVs\n", c.pvs)
	if err := createReleasedPVs(ctx, client, runID, c.pvs); err != nil {
		return err
	}
	var qs, ks []measurement
	for i := 0; i < c.repeat; i++ {
		q, k, err := c.pair(func() (measurement, error) { return c.measure("kubectl", "qxsms", "pv-released") },
			func() (measurement, error) { return c.measure("kubectl", "get", "pv") })
		if err != nil {
			return err
		}
		qs, ks = append(qs, q), append(ks, k)
	}
	rows = append(rows, row{
		scenario: fmt.Sprintf("list Released PVs among %d (median of %d)", c.pvs, c.repeat),
		qxsmsCmd: "kubectl qxsms pv-released", kubectlCmd: "kubectl get pv",
		qxsms: median(qs), kubectl: median(ks), objects: c.pvs, target: "time ratio <= 1.0, lower peak memory",
	})
	return writeReport(c, rows, paused)
}

// side measures both commands of a scenario.
func side(c config, scenario string, qxsms, kubectl func() (measurement, error)) (row, error) {
	q, k, err := c.pair(qxsms, kubectl)
	if err != nil {
		return row{}, fmt.Errorf("%s, %w", scenario, err)
	}
	return row{scenario: scenario, qxsms: q, kubectl: k}, nil
}

// pair measures the kubectl baseline first, then kubectl-qxsms, each from a
// quiet cluster, so neither pays for the controllers still busy with the other.
func (c config) pair(qxsms, kubectl func() (measurement, error)) (measurement, measurement, error) {
	k, err := c.sample(kubectl)
	if err != nil {
		return measurement{}, measurement{}, fmt.Errorf("kubectl: %w", err)
	}
	q, err := c.sample(qxsms)
	if err != nil {
		return measurement{}, measurement{}, fmt.Errorf("qxsms: %w", err)
	}
	return q, k, nil
}

// sample runs f once the control plane is quiet, adding the control plane's
// CPU time while f ran.
func (c config) sample(f func() (measurement, error)) (measurement, error) {
	c.controlPlane.quiesce()
	before := c.controlPlane.cpu()
	m, err := f()
	m.serverCPU = c.controlPlane.cpu() - before
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

// requestLine matches client-go's -v=6 log of one API response.
var requestLine = regexp.MustCompile(`"Response" verb="[A-Z]+" url="https?://`)

// measure runs one command, returning its wall time, peak RSS and the API
// requests client-go logged (with -v=6).
func (c config) measure(name string, args ...string) (measurement, error) {
	cmd := exec.Command(filepath.Join(c.tools, name), args...)
	cmd.Env = c.env
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &bytes.Buffer{}, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return measurement{}, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(stderr.String()))
	}
	m := measurement{wall: wall, requests: len(requestLine.FindAllString(stderr.String(), -1)),
		clientCPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.maxRSSKB = ru.Maxrss
	}
	return m, nil
}

func (c config) cmd(name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.tools, name), args...)
	cmd.Env = c.env
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

// makeRepo generates a config repo with n staging instances named prefix-NN,
// from the staging/pprd overlay, whose guard allows the local context.
func makeRepo(c config, prefix string, n int) (string, []string, error) {
	dir, err := os.MkdirTemp("", "qxsms-bench-repo-")
	if err != nil {
		return "", nil, err
	}
	k8s := filepath.Join(dir, "k8s")
	if err := os.CopyFS(filepath.Join(k8s, "base"), os.DirFS(filepath.Join(c.repoRoot, "k8s", "base"))); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(k8s, "qxsms.yaml"), []byte("environments:\n  staging: {contexts: [kwok-qxsms]}\n"), 0o644); err != nil {
		return "", nil, err
	}
	src := filepath.Join(c.repoRoot, "k8s", "overlays", "staging", "pprd")
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", nil, err
	}
	var names []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%02d", prefix, i)
		names = append(names, name)
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				return "", nil, err
			}
			p := filepath.Join(k8s, "overlays", "staging", name, e.Name())
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", nil, err
			}
			if err := os.WriteFile(p, bytes.ReplaceAll(b, []byte("pprd"), []byte(name)), 0o644); err != nil {
				return "", nil, err
			}
		}
	}
	return k8s, names, nil
}

const benchLabel = "qxsms.io/bench"

// createReleasedPVs creates n PVs whose claim is gone, in phase Released.
func createReleasedPVs(ctx context.Context, client kubernetes.Interface, runID string, n int) error {
	jobs := make(chan int)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				name := fmt.Sprintf("bench-%s-%05d", runID, i)
				pv := &corev1.PersistentVolume{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{benchLabel: runID}},
					Spec: corev1.PersistentVolumeSpec{
						Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
						AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
						PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
						StorageClassName:              "nfs",
						ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: fmt.Sprintf("qxsms-bench-%03d", i%100), Name: "data", UID: "00000000-0000-0000-0000-000000000001"},
						PersistentVolumeSource:        corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs.qxsms.local", Path: "/srv/nfs/" + name}},
					},
				}
				_, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
				if err == nil {
					// The PV controller would get there too (the claim is gone);
					// this is faster, and retries when it got there first.
					err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
						cur, err := client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
						if err != nil || cur.Status.Phase == corev1.VolumeReleased {
							return err
						}
						cur.Status.Phase = corev1.VolumeReleased
						_, err = client.CoreV1().PersistentVolumes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
						return err
					})
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("creating PVs: %w", err)
	default:
		return nil
	}
}

func cleanup(c config, runID string) {
	fmt.Fprintf(os.Stderr, "bench: cleaning up\n")
	_, _ = c.cmd("kubectl", "delete", "pv", "-l", benchLabel+"="+runID, "--wait=false")
	out, _ := c.cmd("kubectl", "get", "namespaces", "-o", "name")
	var victims []string
	for _, ns := range strings.Fields(out) {
		name := strings.TrimPrefix(ns, "namespace/")
		for _, p := range []string{"bq", "bk", "bp", "rq", "rk"} {
			if strings.HasPrefix(name, "qxsms-"+p+runID) {
				victims = append(victims, name)
			}
		}
	}
	if len(victims) == 0 {
		return
	}
	// Once the namespaces are gone their PVs are Released: delete those too.
	_, _ = c.cmd("kubectl", append([]string{"delete", "namespace", "--timeout=3m"}, victims...)...)
	out, _ = c.cmd("kubectl", "get", "pv", "-o", `jsonpath={range .items[*]}{.metadata.name} {.spec.claimRef.namespace}{"\n"}{end}`)
	gone := map[string]bool{}
	for _, v := range victims {
		gone[v] = true
	}
	var pvs []string
	for _, line := range strings.Split(out, "\n") {
		if name, ns, ok := strings.Cut(line, " "); ok && gone[ns] {
			pvs = append(pvs, name)
		}
	}
	if len(pvs) > 0 {
		_, _ = c.cmd("kubectl", append([]string{"delete", "pv", "--wait=false"}, pvs...)...)
	}
}

func ratio(k, q time.Duration) string {
	if q <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fx", float64(k)/float64(q))
}

// writeReport writes BENCHMARKS.md; paused is the fresh deploy with the
// controllers paused.
func writeReport(c config, rows []row, paused measurement) error {
	var b strings.Builder
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
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (hack/bench) on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %d CPUs (%s), %s memory, %s/%s, %s\n", runtime.NumCPU(), cpu, mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Fprintf(&b, "- Cluster: the local control plane of `make cluster-up` (kube-apiserver, etcd, controller-manager, scheduler v1.37.2, kwok nodes), on the same machine\n")
	fmt.Fprintf(&b, "- Baseline: the kubectl v1.37.2 built in hack/, measured in the same run, on the same cluster; fresh namespaces for every deploy scenario\n\n")
	fmt.Fprintf(&b, "Ratios are kubectl time / kubectl-qxsms time (higher is better for kubectl-qxsms).\n\n")
	fmt.Fprintf(&b, "| scenario | objects | kubectl-qxsms | kubectl | ratio | target | ceiling here | requests/object qxsms | requests/object kubectl | CPU qxsms | CPU kubectl | cores busy qxsms | cores busy kubectl | peak RSS qxsms | peak RSS kubectl |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	reqs := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", v)
	}
	cpuTime := func(m measurement) string {
		return fmt.Sprintf("%.1fs + %.1fs", m.clientCPU.Seconds(), m.serverCPU.Seconds())
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | **%s** | %s | %s | %s | %s | %s | %s | %.0f%% | %.0f%% | %d MiB | %d MiB |\n", r.scenario, r.objects,
			r.qxsms.wall.Round(time.Millisecond), r.kubectl.wall.Round(time.Millisecond), ratio(r.kubectl.wall, r.qxsms.wall), r.target,
			ratio(r.kubectl.wall, r.qxsms.serverCPU/time.Duration(runtime.NumCPU())),
			reqs(r.qxsmsRequests), reqs(r.kubectlRequests), cpuTime(r.qxsms), cpuTime(r.kubectl),
			100*r.qxsms.busy(), 100*r.kubectl.busy(), r.qxsms.maxRSSKB/1024, r.kubectl.maxRSSKB/1024)
	}
	fmt.Fprintf(&b, "\nCPU is the client's CPU time + the local control plane's during the run (etcd, kube-apiserver, "+
		"controller-manager, scheduler, kwok, NFS provisioner: they share this machine's %d cores with the client). "+
		"Cores busy is that total over wall time and cores: near 100%%, a run is bound by the machine, not by waiting. "+
		"Ceiling here is the best ratio any client could reach on this machine: kubectl's time over the control plane's CPU "+
		"during the kubectl-qxsms run spread over every core, that is, with a client costing nothing. "+
		"Each side starts from a quiet control plane (under a fifth of a core for a second).\n", runtime.NumCPU())
	fresh, cores := rows[0], time.Duration(runtime.NumCPU())
	reaction := fresh.qxsms.serverCPU - paused.serverCPU
	fmt.Fprintf(&b, "\nWhat bounds the fresh deploy: the same deploy with the controllers paused (SIGSTOP: controller-manager, scheduler, kwok, provisioner) "+
		"took %s, with %.1fs of control-plane CPU: the cost of kubectl-qxsms's own requests. "+
		"With the controllers running, the control plane spent %.1fs during the deploy: %.1fs of it is the controllers' reaction "+
		"(replica sets, pods, bindings, volumes, endpoints, events), which any client's deploy triggers, on these same %d cores. "+
		"Even with a client and requests costing nothing, that reaction alone bounds the ratio at %s here; "+
		"without it, kubectl-qxsms would reach %s.\n",
		paused.wall.Round(time.Millisecond), paused.serverCPU.Seconds(), fresh.qxsms.serverCPU.Seconds(), reaction.Seconds(), runtime.NumCPU(),
		ratio(fresh.kubectl.wall, reaction/cores), ratio(fresh.kubectl.wall, paused.wall))
	fmt.Fprintf(&b, "\n## Commands\n\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "- %s: `%s` vs `%s`\n", r.scenario, r.qxsmsCmd, r.kubectlCmd)
	}
	fmt.Fprint(&b, "\nPeak RSS is the largest single process (for loops, the largest of the kubectl runs). "+
		fmt.Sprintf("Requests per object are counted from client-go's `-v=6` request log, discovery included, in separate deploys of %d fresh instances, then unchanged.\n", min(5, c.instances))+
		"Reproduce: `make bench` (flags: BENCH_INSTANCES, BENCH_RESTARTS, BENCH_PVS).\n")
	if err := os.WriteFile(c.out, []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(b.String())
	return nil
}
