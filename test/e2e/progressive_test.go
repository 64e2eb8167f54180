//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const baseDeployment = "base/qxsms/deployment.yml"

// neverScheduled makes the qxsms pods of what it is applied to unschedulable:
// their rollout never completes, as with an image that never gets ready.
const neverScheduled = "    spec:\n      nodeSelector:\n        qxsms.test/never: \"true\"\n      securityContext:"

// bumpTemplate changes every instance's web pod template (a base change).
func bumpTemplate(r *configRepo, rev string) {
	s := r.read(baseDeployment)
	if i := strings.Index(s, "      annotations:\n        qxsms.test/rev: "); i >= 0 {
		s = regexp.MustCompile(`qxsms.test/rev: "[^"]*"`).ReplaceAllString(s, `qxsms.test/rev: "`+rev+`"`)
		r.write(baseDeployment, s)
		return
	}
	r.edit(baseDeployment, "    metadata:\n      labels:\n        app.kubernetes.io/name: qxsms",
		"    metadata:\n      annotations:\n        qxsms.test/rev: \""+rev+"\"\n      labels:\n        app.kubernetes.io/name: qxsms")
}

// breakInstance gives one instance's overlay the unschedulable patch.
func breakInstance(r *configRepo, envName, inst string) {
	r.edit("overlays/"+envName+"/"+inst+"/kustomization.yml", "patches:\n  - path: pvc.yml",
		"patches:\n  - path: pvc.yml\n  - patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata: {name: qxsms}\n      spec: {template: {spec: {nodeSelector: {qxsms.test/never: \"true\"}}}}")
}

// resumeCommand is the command a stopped rollout prints, as arguments for
// kubectl (the words carry no quoting in these tests).
func resumeCommand(t *testing.T, stderr string) []string {
	t.Helper()
	m := regexp.MustCompile(`resume with:\n  kubectl (.*)\n`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no resume command in:\n%s", stderr)
	}
	return strings.Fields(m[1])
}

func TestProgressiveCanaryStopsABadBaseChange(t *testing.T) {
	p := uniqueName("e2e-can")
	canary, a, b := p+"-a", p+"-b", p+"-c"
	repo := newConfigRepo(t, "staging", canary, a, b)
	x := NewTest(t).WithRoot(repo.Dir)
	x.Qxsms("deploy", "staging", "--wait").Run().Success()
	before := map[string]map[string]string{a: resourceVersions(t, "qxsms-"+a), b: resourceVersions(t, "qxsms-"+b)}

	repo.edit(baseDeployment, "    spec:\n      securityContext:", neverScheduled)
	stop := x.Qxsms("deploy", "staging", "--canary", canary, "--canary-soak", "1s", "--waves", "2", "--timeout", "15s").Run().Failure()
	stop.StderrContains("rollout stopped after the canary: the canary failed ("+canary+")", "2 instance(s) skipped, not touched: "+a+", "+b)
	for _, inst := range []string{a, b} {
		if !regexp.MustCompile(inst + `\s.*\sskipped\n`).MatchString(stop.Stdout) {
			t.Errorf("summary does not list %s as skipped:\n%s", inst, stop.Stdout)
		}
		if got := resourceVersions(t, "qxsms-"+inst); !maps.Equal(got, before[inst]) {
			t.Errorf("%s was touched although the canary failed:\nbefore %v\nafter  %v", inst, before[inst], got)
		}
	}
	if !regexp.MustCompile(canary + `\s.*\sfailed\n`).MatchString(stop.Stdout) {
		t.Errorf("summary does not list the canary as failed:\n%s", stop.Stdout)
	}
	resume := resumeCommand(t, stop.Stderr)
	if want := []string{"qxsms", "deploy", "staging", canary, a, b, "--canary=" + canary}; !slices.Equal(resume[:len(want)], want) {
		t.Fatalf("resume command %v, want it to start with %v", resume, want)
	}

	// The fix, then the printed command: the canary first, then the others.
	repo.edit(baseDeployment, neverScheduled, "    spec:\n      securityContext:")
	bumpTemplate(repo, "fixed")
	done := x.Kubectl(resume...).Run().Success()
	done.StderrContains("Canary: "+canary+" (1 instance(s))", "Wave 1/2: "+a+" (1", "Wave 2/2: "+b+" (1")
	if strings.Index(done.Stderr, "Canary done") > strings.Index(done.Stderr, "Wave 1/2: ") {
		t.Errorf("a wave started before the canary was done:\n%s", done.Stderr)
	}

	// Nothing changes now: no canary to wait for, no soak.
	start := time.Now()
	x.Qxsms("deploy", "staging", "--canary", canary, "--canary-soak", "2m").Run().Success().
		StderrContains("Canary " + canary + " has nothing to change")
	if d := time.Since(start); d > time.Minute {
		t.Errorf("an unchanged deploy with a canary took %s: it must wait for nothing", d)
	}

	// Restart, canary first.
	rst := x.Qxsms("restart", canary, a, b, "--canary", canary, "--canary-soak", "1s", "--waves", "2").Run().Success()
	rst.StderrContains("Canary: "+canary, "Wave 1/2: "+a, "Wave 2/2: "+b)
	if strings.Index(rst.Stderr, "Wave 1/2: ") < strings.Index(rst.Stderr, "qxsms-"+canary+"/deployment.apps/qxsms: rolled out") {
		t.Errorf("restart started wave 1 before the canary rolled out:\n%s", rst.Stderr)
	}
	for _, inst := range []string{canary, a, b} {
		if restartedAt(t, "qxsms-"+inst, "qxsms") == "" {
			t.Errorf("%s was not restarted", inst)
		}
	}
}

func TestProgressiveSoakCatchesAPodTurningUnready(t *testing.T) {
	p := uniqueName("e2e-soak")
	canary, other := p+"-a", p+"-b"
	repo := newConfigRepo(t, "staging", canary, other)
	x := NewTest(t).WithRoot(repo.Dir)
	x.Qxsms("deploy", "staging", "--wait").Run().Success()
	before := resourceVersions(t, "qxsms-"+other)
	gen := x.Kubectl("get", "deployment/qxsms", "-n", "qxsms-"+canary, "-o", "jsonpath={.metadata.generation}").Run().Success().Stdout

	bumpTemplate(repo, "soak")
	run := x.Qxsms("deploy", "staging", "--canary", canary, "--canary-soak", "40s").Start()
	// Once the canary's new pods are rolled out the soak runs: turn one unready.
	var pod string
	eventually(t, 60*time.Second, "the canary rolled out", func() error {
		st := x.Kubectl("get", "deployment/qxsms", "-n", "qxsms-"+canary, "-o",
			"jsonpath={.metadata.generation} {.status.observedGeneration} {.status.updatedReplicas} {.status.availableReplicas} {.status.replicas}").Run().Success().Stdout
		var g, og, upd, avail, total int
		fmt.Sscan(st, &g, &og, &upd, &avail, &total)
		if fmt.Sprint(g) == gen || og != g || upd != 1 || avail != 1 || total != 1 {
			return fmt.Errorf("not rolled out: %s", st)
		}
		pods := x.Kubectl("get", "pods", "-n", "qxsms-"+canary, "-l", "app.kubernetes.io/name=qxsms", "-o",
			`jsonpath={range .items[*]}{.metadata.name} {.metadata.annotations.qxsms\.test/rev} {.metadata.deletionTimestamp}{"\n"}{end}`).Run().Success().Stdout
		var fresh []string
		for _, line := range strings.Split(strings.TrimSpace(pods), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[1] == "soak" {
				fresh = append(fresh, f[0])
			}
		}
		if len(fresh) != 1 {
			return fmt.Errorf("new pods: %q", pods)
		}
		pod = fresh[0]
		return nil
	})
	time.Sleep(5 * time.Second) // well inside the 40s soak
	x.Kubectl("patch", "pod", pod, "-n", "qxsms-"+canary, "--subresource=status", "--type=strategic",
		"-p", `{"status":{"conditions":[{"type":"Ready","status":"False","reason":"E2EUnready"}]}}`).Run().Success()
	out := run.Wait().Failure()
	out.StderrContains("pod qxsms-"+canary+"/"+pod+" turned unready (E2EUnready", "rollout stopped after the canary", "skipped, not touched: "+other)
	if got := resourceVersions(t, "qxsms-"+other); !maps.Equal(got, before) {
		t.Errorf("%s was deployed although the canary's soak failed", other)
	}
}

func TestProgressiveWavesAndMaxFailures(t *testing.T) {
	p := uniqueName("e2e-wv")
	var insts []string
	for _, s := range strings.Split("abcdefghi", "") {
		insts = append(insts, p+"-"+s)
	}
	repo := newConfigRepo(t, "staging", insts...)
	x := NewTest(t).WithRoot(repo.Dir)
	x.Qxsms("deploy", "staging", "--wait").Run().Success()
	wave3 := insts[6:]
	before := map[string]map[string]string{}
	for _, inst := range wave3 {
		before[inst] = resourceVersions(t, "qxsms-"+inst)
	}

	// Every instance changes; b (wave 1) and e (wave 2) never roll out.
	bumpTemplate(repo, "waves")
	breakInstance(repo, "staging", insts[1])
	breakInstance(repo, "staging", insts[4])
	diff := x.Qxsms("deploy", "staging", "--waves", "3", "--diff").Run().ExitCode(1)
	diff.StderrContains("wave 1: 3 instance(s): "+strings.Join(insts[:3], ", "), "wave 3: 3 instance(s): "+strings.Join(wave3, ", "))

	run := x.Qxsms("deploy", "staging", "--waves", "3", "--max-failures", "1", "--timeout", "15s").Run().Failure()
	run.StderrContains("rollout stopped after wave 2: 2 instance(s) failed, more than --max-failures=1",
		"3 instance(s) skipped, not touched: "+strings.Join(wave3, ", "))
	for _, inst := range wave3 {
		if got := resourceVersions(t, "qxsms-"+inst); !maps.Equal(got, before[inst]) {
			t.Errorf("%s of wave 3 was touched after the rollout stopped", inst)
		}
	}
	// Wave 2 started only once wave 1 was over, in the command's log and on the cluster.
	if i, j := strings.Index(run.Stderr, "Wave 1/3 done"), strings.Index(run.Stderr, "Wave 2/3: "); i < 0 || j < i {
		t.Errorf("wave 2 began before wave 1 was done:\n%s", run.Stderr)
	}
	last1 := latestApply(t, insts[:3])
	for _, inst := range insts[3:6] {
		if first := applyTime(t, inst); first.Before(last1) {
			t.Errorf("%s (wave 2) applied at %s, before wave 1's last apply at %s", inst, first, last1)
		}
	}

	// Fixed, the printed command retries the failed instances first.
	for _, inst := range []string{insts[1], insts[4]} {
		k := "overlays/staging/" + inst + "/kustomization.yml"
		s := repo.read(k)
		repo.write(k, s[:strings.Index(s, "\n  - patch: |-")]+s[strings.Index(s, "\nlabels:"):])
	}
	resume := resumeCommand(t, run.Stderr)
	x.Kubectl(append(resume, "--canary-soak=0s")...).Run().Success().
		StderrContains("Canary: " + insts[1] + ", " + insts[4] + " (2 instance(s))")
}

// applyTime is when kubectl-qxsms last applied the instance's web Deployment.
func applyTime(t *testing.T, inst string) time.Time {
	t.Helper()
	out := NewTest(t).Kubectl("get", "deployment/qxsms", "-n", "qxsms-"+inst, "-o",
		`jsonpath={.metadata.managedFields[?(@.manager=="kubectl-qxsms")].time}`).Run().Success().Stdout
	ts, err := time.Parse(time.RFC3339, strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("managedFields time of %s: %q: %v", inst, out, err)
	}
	return ts
}

func latestApply(t *testing.T, insts []string) time.Time {
	var last time.Time
	for _, inst := range insts {
		if ts := applyTime(t, inst); ts.After(last) {
			last = ts
		}
	}
	return last
}

func TestProgressiveInterruptStopsAfterTheCurrentWave(t *testing.T) {
	p := uniqueName("e2e-int")
	canary, other := p+"-a", p+"-b"
	repo := newConfigRepo(t, "staging", canary, other)
	x := NewTest(t).WithRoot(repo.Dir)
	x.Qxsms("deploy", "staging", "--wait").Run().Success()
	before := resourceVersions(t, "qxsms-"+other)

	bumpTemplate(repo, "interrupt")
	run := x.Qxsms("deploy", "staging", "--canary", canary, "--canary-soak", "2m").Start()
	// Interrupt once the canary is applied (its template changed): the rollout must end
	// its wave and go no further.
	eventually(t, 60*time.Second, "the canary applied", func() error {
		rev := x.Kubectl("get", "deployment/qxsms", "-n", "qxsms-"+canary, "-o", `jsonpath={.spec.template.metadata.annotations.qxsms\.test/rev}`).Run().Success().Stdout
		if rev != "interrupt" {
			return fmt.Errorf("template rev %q", rev)
		}
		return nil
	})
	if err := run.proc.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	out := run.Wait().Failure()
	out.StderrContains("rollout stopped after the canary: interrupted", "1 instance(s) skipped, not touched: "+other, "resume with:")
	if d := time.Since(run.started); d > 90*time.Second {
		t.Errorf("the interrupted rollout took %s: the 2m soak should have ended at the interrupt", d)
	}
	if got := resourceVersions(t, "qxsms-"+other); !maps.Equal(got, before) {
		t.Errorf("%s was deployed after the interrupt", other)
	}
}
