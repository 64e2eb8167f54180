//go:build e2e

package e2e

import (
	"maps"
	"os"
	"strings"
	"testing"
)

func TestTeardownKeepsDataAndOthers(t *testing.T) {
	inst, other := uniqueName("e2e-td"), uniqueName("e2e-td")
	repo := newConfigRepo(t, "staging", inst, other)
	x := NewTest(t).WithRoot(repo.Dir)
	ns := "qxsms-" + inst
	x.Qxsms("deploy", "staging", "--wait").Run().Success()
	x.Kubectl("wait", "-n", ns, "--for=jsonpath={.status.phase}=Bound", "pvc", "--all", "--timeout=30s").Run().Success()
	pvs := pvsOf(t, inst)
	for _, p := range pvs {
		if err := os.WriteFile(hostDir(p)+"/data.txt", []byte(p.Metadata.Name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	otherBefore := identities(t, "qxsms-"+other)

	// Without confirmation (stdin is not a terminal): refused, nothing deleted.
	x.Qxsms("teardown", "staging", inst).Run().Failure().StderrContains("pass --yes", "nothing was changed")
	// A server dry run has the API server check every delete and persists none.
	x.Qxsms("teardown", "staging", inst, "--dry-run=server").Run().Success().
		StderrContains("deployment.apps/qxsms deleted (server dry run)", "namespace/"+ns+" deleted (server dry run)", "nothing was deleted")
	// A client dry run shows the plan and sends nothing.
	plan := x.Qxsms("teardown", "staging", inst, "--dry-run=client").Run().Success()
	plan.StdoutContains("deployment.apps/qxsms", "namespace/"+ns, "Retain", "nfs.qxsms.local:/srv/nfs/pvc-", `context "kwok-qxsms"`)
	if strings.Index(plan.Stdout, "statefulset.apps/postgres") > strings.Index(plan.Stdout, "configmap/") {
		t.Errorf("plan does not list workloads first:\n%s", plan.Stdout)
	}
	// The guard checks the server the flags lead to, not only the context's name.
	x.Qxsms("teardown", "staging", inst, "--yes", "--server", "https://127.0.0.1:1").Run().Failure().
		StderrContains("through server https://127.0.0.1:1", "--allow-context-mismatch")
	if !namespaceExists(t, ns) {
		t.Fatal("refused or dry-run teardown deleted the namespace")
	}
	x.Qxsms("teardown", "staging", inst, "--confirm=wrong").Run().Failure().StderrContains("does not match")

	out := x.Qxsms("teardown", "staging", inst, "--yes", "--timeout", "2m").Run().Success()
	out.StdoutContains("Released", "kubectl qxsms pvc-nfs-path "+inst+" --rsync DEST", "kubectl qxsms pv-released "+inst,
		"Remove k8s/overlays/staging/"+inst)
	out.StderrContains("deployment.apps/qxsms deleted", "namespace/"+ns+" deleted")
	if namespaceExists(t, ns) {
		t.Fatal("namespace still exists after teardown")
	}
	after := pvsOf(t, inst)
	if len(after) != len(pvs) || len(after) != 4 {
		t.Fatalf("%d PVs after teardown, want the 4 of before", len(after))
	}
	for _, p := range after {
		if p.Status.Phase != "Released" {
			t.Errorf("PV %s is %s, want Released", p.Metadata.Name, p.Status.Phase)
		}
		if b, err := os.ReadFile(hostDir(p) + "/data.txt"); err != nil || string(b) != p.Metadata.Name {
			t.Errorf("PV %s lost its data: %v", p.Metadata.Name, err)
		}
	}
	if got := identities(t, "qxsms-"+other); !maps.Equal(otherBefore, got) {
		t.Errorf("teardown of %s touched %s", inst, other)
	}

	// The same instance deploys again afterwards.
	x.Qxsms("deploy", "staging", inst, "--wait").Run().Success().StdoutContains("16 created")
}

func TestTeardownRefusesDeletePolicy(t *testing.T) {
	inst := uniqueName("e2e-tdp")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t).WithRoot(repo.Dir)
	ns := "qxsms-" + inst
	x.Qxsms("deploy", "staging", inst).Run().Success()
	x.Kubectl("wait", "-n", ns, "--for=jsonpath={.status.phase}=Bound", "pvc", "--all", "--timeout=30s").Run().Success()
	victim := pvsOf(t, inst)[0].Metadata.Name
	x.Kubectl("patch", "pv", victim, "-p", `{"spec":{"persistentVolumeReclaimPolicy":"Delete"}}`).Run().Success()

	x.Qxsms("teardown", "staging", inst, "--yes").Run().Failure().
		StderrContains("would lose their data", "kubectl patch pv "+victim, "Retain", "nothing was deleted", "--accept-data-loss")
	if !namespaceExists(t, ns) {
		t.Fatal("teardown refused but deleted the namespace")
	}
	x.Kubectl("get", "-n", ns, "deployment/qxsms").Run().Success()
}

func TestTeardownProductionNeedsConfirm(t *testing.T) {
	inst := uniqueName("e2e-tdprod")
	repo := newConfigRepo(t, "production", inst)
	x := NewTest(t).WithRoot(repo.Dir)
	x.Qxsms("deploy", "production", inst).Run().Success()
	x.Qxsms("teardown", "production", inst, "--yes").Run().Failure().StderrContains("protected", "--confirm="+inst)
	if !namespaceExists(t, "qxsms-"+inst) {
		t.Fatal("--yes alone tore down a production instance")
	}
	x.Qxsms("teardown", "production", inst, "--confirm="+inst, "--timeout", "2m").Run().Success()
	if namespaceExists(t, "qxsms-"+inst) {
		t.Fatal("namespace still exists after a confirmed teardown")
	}
}
