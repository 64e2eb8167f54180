//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"
)

// The old workflow: `kubectl apply -k` (client-side apply). The first deploy
// takes every object over, the second reports everything unchanged, and a
// later --prune deletes what left the overlay.
func TestDeployAdoptsKubectlApplyK(t *testing.T) {
	inst := uniqueName("e2e-adopt")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t).WithRoot(repo.Dir)
	ns := "qxsms-" + inst
	x.Kubectl("apply", "-k", repo.overlay("staging", inst)).Run().Success()

	first := x.Qxsms("deploy", "staging", inst).Run().Success()
	first.StdoutContains("deployment.apps/qxsms configured")
	for _, kind := range []string{"deployment", "configmap", "service", "secret"} {
		out := x.Kubectl("get", "-n", ns, kind, "-o", "json").Run().Success()
		var list struct {
			Items []struct {
				Metadata struct {
					Name          string            `json:"name"`
					Labels        map[string]string `json:"labels"`
					Annotations   map[string]string `json:"annotations"`
					ManagedFields []struct {
						Manager string `json:"manager"`
					} `json:"managedFields"`
				} `json:"metadata"`
			} `json:"items"`
		}
		out.JSON(&list)
		for _, it := range list.Items {
			if it.Metadata.Name == "kube-root-ca.crt" || it.Metadata.Name == "qxsms-inventory" {
				continue
			}
			if _, ok := it.Metadata.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; ok {
				t.Errorf("%s/%s keeps client-side apply's annotation after the first deploy", kind, it.Metadata.Name)
			}
			for _, m := range it.Metadata.ManagedFields {
				if m.Manager == "kubectl-client-side-apply" || m.Manager == "before-first-apply" {
					t.Errorf("%s/%s still has manager %s", kind, it.Metadata.Name, m.Manager)
				}
			}
			if it.Metadata.Labels["applyset.kubernetes.io/part-of"] == "" {
				t.Errorf("%s/%s did not join the inventory", kind, it.Metadata.Name)
			}
		}
	}

	before := resourceVersions(t, ns)
	second := x.Qxsms("deploy", "staging", inst).Run().Success()
	second.StdoutContains("instance staging/" + inst + ": 0 created, 0 configured, 16 unchanged")
	if after := resourceVersions(t, ns); !maps.Equal(before, after) {
		t.Errorf("the second deploy wrote objects:\nbefore %v\nafter  %v", before, after)
	}

	repo.edit("overlays/staging/"+inst+"/kustomization.yml", "  - ingress.yml\n", "")
	x.Qxsms("deploy", "staging", inst, "--prune").Run().Success().StdoutContains("ingress.networking.k8s.io/qxsms pruned")
	x.Kubectl("get", "-n", ns, "ingress/qxsms").Run().Failure().StderrContains("NotFound")
}

// Every imperative edit kubectl offers is a difference in --diff and status,
// and a deploy restores the overlay; a restart and an admin's namespace
// labels survive.
func TestDeployHandEditsShowInDiffAndStatus(t *testing.T) {
	inst := uniqueName("e2e-hand")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t).WithRoot(repo.Dir)
	ns := "qxsms-" + inst
	x.Qxsms("deploy", "staging", inst).Run().Success()
	x.Qxsms("deploy", "staging", inst, "--diff").Run().ExitCode(0)

	x.Kubectl("set", "env", "-n", ns, "deployment/qxsms", "DEBUG=x").Run().Success()
	diff := x.Qxsms("deploy", "staging", inst, "--diff").Run().ExitCode(1)
	diff.StdoutContains("deployment.apps/qxsms", "-        - name: DEBUG")
	x.Qxsms("deploy", "staging", inst, "--dry-run=server").Run().Success().StdoutContains("deployment.apps/qxsms configured (server dry run)")
	var rows struct {
		Items []struct {
			Instance string `json:"instance"`
			Drift    *int   `json:"drift"`
		} `json:"items"`
	}
	x.Qxsms("status", "staging", "-o", "json").Run().Success().JSON(&rows)
	found := false
	for _, r := range rows.Items {
		if r.Instance == inst {
			found = true
			if r.Drift == nil || *r.Drift < 1 {
				t.Errorf("status must report drift after kubectl set env: %+v", r)
			}
		}
	}
	if !found {
		t.Fatalf("status lacks %s", inst)
	}

	x.Kubectl("scale", "-n", ns, "deployment/worker", "--replicas=3").Run().Success()
	x.Kubectl("rollout", "pause", "-n", ns, "deployment/qxsms").Run().Success()
	x.Kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=baseline").Run().Success()
	x.Kubectl("annotate", "-n", ns, "service/qxsms", "hand/annotation=x").Run().Success()
	x.Kubectl("rollout", "restart", "-n", ns, "deployment/worker").Run().Success()
	stamp := x.Kubectl("get", "-n", ns, "deployment/worker", "-o", "jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}").Run().Success().Stdout
	if stamp == "" {
		t.Fatal("kubectl rollout restart left no restartedAt")
	}

	x.Qxsms("deploy", "staging", inst).Run().Success().
		StdoutContains("deployment.apps/qxsms configured", "deployment.apps/worker configured", "service/qxsms configured")
	get := func(args ...string) string {
		return x.Kubectl(append([]string{"get", "-n", ns}, args...)...).Run().Success().Stdout
	}
	if env := get("deployment/qxsms", "-o", "jsonpath={.spec.template.spec.containers[0].env}"); strings.Contains(env, "DEBUG") {
		t.Errorf("kubectl set env survived: %s", env)
	}
	if paused := get("deployment/qxsms", "-o", "jsonpath={.spec.paused}"); paused == "true" {
		t.Error("kubectl rollout pause survived the deploy")
	}
	if r := get("deployment/worker", "-o", "jsonpath={.spec.replicas}"); r != "1" {
		t.Errorf("kubectl scale survived: replicas %s", r)
	}
	if a := get("service/qxsms", "-o", "jsonpath={.metadata.annotations}"); strings.Contains(a, "hand/annotation") {
		t.Errorf("kubectl annotate survived: %s", a)
	}
	if s := get("deployment/worker", "-o", "jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}"); s != stamp {
		t.Errorf("the deploy undid a restart: restartedAt %q, was %q", s, stamp)
	}
	if l := x.Kubectl("get", "namespace", ns, "-o", "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}").Run().Success().Stdout; l != "baseline" {
		t.Errorf("the admin's namespace label was removed: %q", l)
	}
	x.Qxsms("deploy", "staging", inst, "--diff").Run().ExitCode(0)
	x.Qxsms("deploy", "staging", inst).Run().Success().StdoutContains("0 created, 0 configured, 16 unchanged")
}

// A Secret value that changes to one of the same length is a difference,
// shown without the value or its length. (Generated Secrets change name with
// their content; a plain Secret manifest keeps its name.)
func TestDeployDiffSecretSameLength(t *testing.T) {
	inst := uniqueName("e2e-sec")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t).WithRoot(repo.Dir)
	const old, replaced = "e2e-value-one-1", "e2e-value-two-2"
	secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\nstringData:\n  TOKEN: %s\n"
	repo.write("overlays/staging/"+inst+"/plain-secret.yml", fmt.Sprintf(secret, old))
	repo.edit("overlays/staging/"+inst+"/kustomization.yml", "  - env.yml\n", "  - env.yml\n  - plain-secret.yml\n")
	x.Qxsms("deploy", "staging", inst).Run().Success()
	x.Qxsms("deploy", "staging", inst, "--diff").Run().ExitCode(0)

	repo.write("overlays/staging/"+inst+"/plain-secret.yml", fmt.Sprintf(secret, replaced))
	d := x.Qxsms("deploy", "staging", inst, "--diff").Run().ExitCode(1)
	d.StdoutContains("secret/plain", "*** (before)", "*** (after)")
	for _, v := range []string{old, replaced, base64.StdEncoding.EncodeToString([]byte(old)), base64.StdEncoding.EncodeToString([]byte(replaced)), "bytes)"} {
		if strings.Contains(d.Stdout+d.Stderr, v) {
			t.Errorf("the diff shows %q:\n%s", v, d.Stdout)
		}
	}
	x.Qxsms("deploy", "staging", inst).Run().Success().StdoutContains("secret/plain configured")
}

// A controller writing status between the list and the apply must not make
// an object "configured", nor move the inventory's record of the last deploy.
func TestDeployUnchangedUnderStatusChurn(t *testing.T) {
	inst := uniqueName("e2e-churn")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t).WithRoot(repo.Dir)
	ns := "qxsms-" + inst
	x.Qxsms("deploy", "staging", inst, "--revision", "r1").Run().Success()
	record := func() string {
		return x.Kubectl("get", "-n", ns, "configmap/qxsms-inventory", "-o", "jsonpath={.metadata.annotations.qxsms\\.io/deployed-at} {.metadata.annotations.qxsms\\.io/revision}").Run().Success().Stdout
	}
	first := record()
	time.Sleep(1100 * time.Millisecond) // a rewritten record would show a later second

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		n := 0
		defer func() { done <- n }()
		for ctx.Err() == nil {
			// As a crash-looping pod's controller would: status only, many times a second.
			patch := `{"status":{"conditions":[{"type":"Churn","status":"True","reason":"R` + time.Now().Format("150405.000000") + `"}]}}`
			if x.Kubectl("patch", "-n", ns, "deployment/qxsms", "--subresource=status", "--type=merge", "-p", patch).Run().Code == 0 {
				n++
			}
		}
	}()
	for i := 0; i < 3; i++ {
		out := x.Qxsms("deploy", "staging", inst, "--revision", "r2").Run().Success()
		out.StdoutContains("deployment.apps/qxsms unchanged", "0 created, 0 configured, 16 unchanged")
	}
	stop()
	if n := <-done; n < 3 {
		t.Fatalf("the status writer made only %d writes: the test proved nothing", n)
	}
	if got := record(); got != first {
		t.Errorf("an unchanged deploy rewrote the deploy record: %q, was %q", got, first)
	}
}

// With --prune --wait, old generated ConfigMaps go only after the rollout
// succeeded; a failed rollout prunes nothing, so a rollback finds them.
func TestDeployPruneAfterWait(t *testing.T) {
	inst := uniqueName("e2e-pw")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t).WithRoot(repo.Dir)
	ns := "qxsms-" + inst
	x.Qxsms("deploy", "staging", inst, "--wait", "--timeout", "2m").Run().Success()
	configMaps := func() []string {
		out := x.Kubectl("get", "-n", ns, "configmap", "-o", "name").Run().Success().Stdout
		var names []string
		for _, n := range strings.Fields(out) {
			if strings.HasPrefix(n, "configmap/qxsms-config-") {
				names = append(names, n)
			}
		}
		return names
	}
	old := configMaps()
	if len(old) != 1 {
		t.Fatalf("generated ConfigMaps: %v", old)
	}

	// A new generated ConfigMap, and a web pod that can never be scheduled.
	kust := "overlays/staging/" + inst + "/kustomization.yml"
	repo.edit(kust, "      - QXSMS_ENVIRONMENT=staging\n", "      - QXSMS_ENVIRONMENT=staging\n      - QXSMS_NEW=1\n")
	repo.write("overlays/staging/"+inst+"/nowhere.yml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: qxsms\nspec:\n  template:\n    spec:\n      nodeSelector:\n        qxsms.io/e2e-nowhere: \"true\"\n")
	repo.edit(kust, "patches:\n", "patches:\n  - path: nowhere.yml\n")
	failed := x.Qxsms("deploy", "staging", inst, "--prune", "--wait", "--timeout", "8s").Run().Failure()
	failed.StderrContains("prune skipped", "nothing was pruned")
	if strings.Contains(failed.Stdout, old[0]+" pruned") {
		t.Errorf("pruned although the rollout failed:\n%s", failed.Stdout)
	}
	if now := configMaps(); len(now) != 2 || !strings.Contains(strings.Join(now, " "), old[0]) {
		t.Fatalf("the old ConfigMap must survive a failed rollout: %v (old %s)", now, old[0])
	}
	x.Kubectl("rollout", "undo", "-n", ns, "deployment/qxsms").Run().Success()
	x.Kubectl("rollout", "status", "-n", ns, "deployment/qxsms", "--timeout=60s").Run().Success()

	// Fixed: the rollout succeeds, then the old ConfigMap goes.
	repo.edit(kust, "  - path: nowhere.yml\n", "")
	ok := x.Qxsms("deploy", "staging", inst, "--prune", "--wait", "--timeout", "2m").Run().Success()
	ok.StdoutContains(old[0] + " pruned")
	if now := configMaps(); len(now) != 1 || now[0] == old[0] {
		t.Errorf("after a good rollout only the new ConfigMap stays: %v", now)
	}
}

// Machine output stays machine output when an instance fails.
func TestDeployJSONOutputWithAFailure(t *testing.T) {
	good, bad := uniqueName("e2e-jsg"), uniqueName("e2e-jsb")
	repo := newConfigRepo(t, "staging", good, bad)
	x := NewTest(t).WithRoot(repo.Dir)
	x.Qxsms("deploy", "staging", bad).Run().Success()
	// Another tool's inventory makes bad fail at deploy time.
	x.Kubectl("annotate", "--overwrite", "-n", "qxsms-"+bad, "configmap/qxsms-inventory", "applyset.kubernetes.io/tooling=kubectl/v1.37.2").Run().Success()
	for _, format := range []string{"json", "yaml", "name"} {
		out := x.Qxsms("deploy", "staging", "-o", format).Run().Failure()
		switch format {
		case "json":
			var v map[string]any
			if err := json.Unmarshal([]byte(out.Stdout), &v); err != nil {
				t.Errorf("-o json stdout is not JSON: %v\n%s", err, out.Stdout)
			}
		case "name":
			for _, line := range strings.Split(strings.TrimSpace(out.Stdout), "\n") {
				if !strings.Contains(line, "/") || strings.Contains(line, " ") {
					t.Errorf("-o name stdout has a non-name line %q", line)
				}
			}
		}
		if strings.Contains(out.Stdout, "error:") || strings.Contains(out.Stdout, "UNCHANGED") {
			t.Errorf("-o %s: failures or the summary reached stdout:\n%s", format, out.Stdout)
		}
		out.StderrContains("another tool owns it", "failed")
	}
}

// KEP-3659: a deploy never overwrites another ApplySet's objects or inventory.
func TestDeployRefusesAnotherApplySet(t *testing.T) {
	inst := uniqueName("e2e-own")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t).WithRoot(repo.Dir)
	ns := "qxsms-" + inst
	// Rolled out first, so that no controller writes while the test compares.
	x.Qxsms("deploy", "staging", inst, "--wait", "--timeout", "2m").Run().Success()
	x.Kubectl("label", "--overwrite", "-n", ns, "service/qxsms", "applyset.kubernetes.io/part-of=applyset-someone-else-v1").Run().Success()
	before := resourceVersions(t, ns)
	x.Qxsms("deploy", "staging", inst).Run().Failure().StderrContains("belongs to another ApplySet", "nothing was written")
	if after := resourceVersions(t, ns); !maps.Equal(before, after) {
		t.Errorf("a refused deploy wrote objects:\nbefore %v\nafter  %v", before, after)
	}

	other := repo.clone(t)
	other.write("overlays/staging/"+inst+"/inventory.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: qxsms-inventory\n")
	other.edit("overlays/staging/"+inst+"/kustomization.yml", "  - env.yml\n", "  - env.yml\n  - inventory.yml\n")
	NewTest(t).WithRoot(other.Dir).Qxsms("deploy", "staging", inst).Run().Failure().
		StderrContains("the name of the instance's inventory", "nothing was applied")
}

// The guard compares the server the flags lead to, not only the context's name.
func TestDeployGuardChecksTheServer(t *testing.T) {
	inst := uniqueName("e2e-srv")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t).WithRoot(repo.Dir)
	out := x.Qxsms("deploy", "staging", inst, "--server", "https://127.0.0.1:1").Run().Failure()
	out.StderrContains("may not be deployed through server https://127.0.0.1:1", "servers")
	if namespaceExists(t, "qxsms-"+inst) {
		t.Error("a refused deploy created the namespace")
	}
}
