//go:build e2e

package e2e

import (
	"maps"
	"strings"
	"testing"
)

func TestDeployReadyUnchangedAndKubectlAgrees(t *testing.T) {
	a, b := uniqueName("e2e-dep"), uniqueName("e2e-dep")
	repo := newConfigRepo(t, "staging", a, b)
	x := NewTest(t).WithRoot(repo.Dir)

	first := x.Qxsms("deploy", "staging", "--wait", "--timeout", "2m").Run().Success()
	first.StdoutContains("deployment.apps/qxsms created", "instance staging/"+a+": 16 created", "instance staging/"+b+": 16 created")
	first.StderrContains("rolled out")
	for _, inst := range []string{a, b} {
		ns := "qxsms-" + inst
		x.Kubectl("wait", "-n", ns, "--for=condition=Available", "deployment", "--all", "--timeout=10s").Run().Success()
		x.Kubectl("wait", "-n", ns, "--for=jsonpath={.status.readyReplicas}=1", "statefulset", "--all", "--timeout=10s").Run().Success()
		x.Kubectl("wait", "-n", ns, "--for=jsonpath={.status.phase}=Bound", "pvc", "--all", "--timeout=30s").Run().Success()
		// kubectl can read the ApplySet inventory.
		x.Kubectl("get", "configmap", "qxsms-inventory", "-n", ns, "-o", "jsonpath={.metadata.annotations.applyset\\.kubernetes\\.io/contains-group-kinds}").Run().Success().
			StdoutContains("Deployment.apps", "Namespace", "PersistentVolumeClaim")
	}

	before := resourceVersions(t, "qxsms-"+a)
	again := x.Qxsms("deploy", "staging").Run().Success()
	again.StdoutContains("instance staging/"+a+": 0 created, 0 configured, 16 unchanged", "instance staging/"+b+": 0 created, 0 configured, 16 unchanged")
	if strings.Contains(again.Stdout, " configured\n") || strings.Contains(again.Stdout, " created\n") {
		t.Errorf("an unchanged redeploy reported changes:\n%s", again.Stdout)
	}
	if after := resourceVersions(t, "qxsms-"+a); !maps.Equal(before, after) {
		t.Errorf("an unchanged redeploy changed resourceVersions:\nbefore %v\nafter  %v", before, after)
	}

	// What deploy leaves is what kubectl apply -k would produce.
	x.Kubectl("diff", "-k", repo.overlay("staging", a), "--server-side").Run().ExitCode(0)
}

func TestDeployRestoresHandEdits(t *testing.T) {
	inst := uniqueName("e2e-edit")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t).WithRoot(repo.Dir)
	ns := "qxsms-" + inst
	x.Qxsms("deploy", "staging", inst).Run().Success()

	x.Kubectl("scale", "-n", ns, "deployment/worker", "--replicas=3").Run().Success()
	x.Kubectl("set", "env", "-n", ns, "deployment/qxsms", "DEBUG=hacked").Run().Success()

	x.Qxsms("deploy", "staging", inst).Run().Success().
		StdoutContains("deployment.apps/worker configured", "deployment.apps/qxsms configured")
	x.Kubectl("get", "-n", ns, "deployment/worker", "-o", "jsonpath={.spec.replicas}").Run().Success().StdoutContains("1")
	env := x.Kubectl("get", "-n", ns, "deployment/qxsms", "-o", "jsonpath={.spec.template.spec.containers[0].env}").Run().Success()
	if strings.Contains(env.Stdout, "hacked") {
		t.Errorf("kubectl set env survived the deploy: %s", env.Stdout)
	}
}

func TestDeployPruneStaysInsideInstance(t *testing.T) {
	a, b := uniqueName("e2e-prune"), uniqueName("e2e-prune")
	repo := newConfigRepo(t, "staging", a, b)
	x := NewTest(t).WithRoot(repo.Dir)
	x.Qxsms("deploy", "staging").Run().Success()
	otherBefore := identities(t, "qxsms-"+b)

	// The ingress and a PVC leave a's overlay.
	repo.edit("overlays/staging/"+a+"/kustomization.yml", "  - ingress.yml\n", "")
	base := repo.read("base/rabbitmq/kustomization.yml")
	repo.write("base/rabbitmq/kustomization.yml", strings.Replace(base, "  - pvc.yml\n", "", 1))
	repo.edit("overlays/staging/"+a+"/pvc.yml", "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: rabbitmq-data\nspec:\n  resources:\n    requests:\n      storage: 2Gi\n", "")

	// Without --prune, nothing is deleted.
	x.Qxsms("deploy", "staging", a).Run().Success()
	x.Kubectl("get", "-n", "qxsms-"+a, "ingress/qxsms").Run().Success()

	out := x.Qxsms("deploy", "staging", a, "--prune").Run().Success()
	out.StdoutContains("ingress.networking.k8s.io/qxsms pruned", "persistentvolumeclaim/rabbitmq-data kept")
	x.Kubectl("get", "-n", "qxsms-"+a, "ingress/qxsms").Run().ExitCode(1)
	x.Kubectl("get", "-n", "qxsms-"+a, "pvc/rabbitmq-data").Run().Success()
	if after := identities(t, "qxsms-"+b); !maps.Equal(otherBefore, after) {
		t.Errorf("prune of %s touched instance %s:\nbefore %v\nafter  %v", a, b, otherBefore, after)
	}
}

func TestDeployBrokenOverlayAppliesNothing(t *testing.T) {
	good, bad := uniqueName("e2e-good"), uniqueName("e2e-bad")
	repo := newConfigRepo(t, "staging", good, bad)
	repo.write("overlays/staging/"+bad+"/env.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: qxsms-env\ndata: [unclosed\n")
	x := NewTest(t).WithRoot(repo.Dir)
	out := x.Qxsms("deploy", "staging").Run().Failure()
	out.StderrContains("instance staging/"+bad, "env.yml", "nothing was applied")
	for _, inst := range []string{good, bad} {
		if namespaceExists(t, "qxsms-"+inst) {
			t.Errorf("namespace qxsms-%s was created although an overlay was broken", inst)
		}
	}
}

func TestDeployDiffExitCodes(t *testing.T) {
	inst := uniqueName("e2e-diff")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t).WithRoot(repo.Dir)

	// A new instance differs from nothing.
	x.Qxsms("deploy", "staging", inst, "--diff").Run().ExitCode(1).StdoutContains("+++ desired/qxsms-" + inst + "/deployment.apps/qxsms")
	if namespaceExists(t, "qxsms-"+inst) {
		t.Fatal("--diff created the namespace")
	}
	x.Qxsms("deploy", "staging", inst).Run().Success()
	x.Qxsms("deploy", "staging", inst, "--diff").Run().ExitCode(0)

	repo.edit("overlays/staging/"+inst+"/env.yml", `DEBUG: "true"`, `DEBUG: "false"`)
	repo.edit("overlays/staging/"+inst+"/secrets.env", "changeme-"+inst+"-postgres", "s3cr3t-value-never-printed")
	d := x.Qxsms("deploy", "staging", inst, "--diff").Run().ExitCode(1)
	d.StdoutContains(`-  DEBUG: "true"`, `+  DEBUG: "false"`)
	if strings.Contains(d.Stdout+d.Stderr, "s3cr3t-value-never-printed") || strings.Contains(d.Stdout, "czNjcjN0") {
		t.Fatalf("--diff printed a Secret value:\n%s", d.Stdout)
	}
	// Nothing was applied by --diff.
	x.Qxsms("deploy", "staging", inst, "--diff").Run().ExitCode(1)

	repo.write("overlays/staging/"+inst+"/kustomization.yml", "resources: [missing.yml]\n")
	x.Qxsms("deploy", "staging", inst, "--diff").Run().ExitCode(2)
}

func TestDeployContextGuard(t *testing.T) {
	inst := uniqueName("e2e-guard")
	repo := newConfigRepo(t, "staging", inst)
	repo.writeConfig("qxsms-preprod")
	x := NewTest(t).WithRoot(repo.Dir)
	x.Qxsms("deploy", "staging", inst).Run().Failure().StderrContains(`"kwok-qxsms"`, "qxsms-preprod", "--allow-context-mismatch")
	if namespaceExists(t, "qxsms-"+inst) {
		t.Fatal("the guard refused, yet the namespace exists")
	}
	x.Qxsms("deploy", "staging", inst, "--allow-context-mismatch").Run().Success().StderrContains(`Warning: acting on environment "staging" in context "kwok-qxsms"`)
}

func TestDeployOutputFormats(t *testing.T) {
	inst := uniqueName("e2e-out")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t).WithRoot(repo.Dir)
	names := x.Qxsms("deploy", "staging", inst, "-o", "name").Run().Success()
	if !strings.HasPrefix(names.Stdout, "namespace/qxsms-"+inst+"\n") || strings.Contains(names.Stdout, "INSTANCE") {
		t.Errorf("-o name: stdout should hold only names:\n%s", names.Stdout)
	}
	var list struct {
		Kind  string
		Items []struct {
			Kind string
			Data map[string]string
		}
	}
	x.Qxsms("deploy", "staging", inst, "-o", "json").Run().Success().JSON(&list)
	if list.Kind != "List" || len(list.Items) != 16 {
		t.Fatalf("-o json: %s with %d items, want a List of 16", list.Kind, len(list.Items))
	}
	for _, it := range list.Items {
		for k, v := range it.Data {
			if it.Kind == "Secret" && !strings.HasPrefix(v, "***") {
				t.Errorf("-o json printed Secret key %s in clear", k)
			}
		}
	}
}
