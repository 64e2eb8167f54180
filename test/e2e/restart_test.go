//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func restartedAt(t *testing.T, ns, deploy string) string {
	return NewTest(t).Kubectl("get", "-n", ns, "deployment/"+deploy, "-o",
		`jsonpath={.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}`).Run().Success().Stdout
}

func TestRestartInstancesAndAll(t *testing.T) {
	a, b := uniqueName("e2e-rst"), uniqueName("e2e-rst")
	repo := newConfigRepo(t, "staging", a, b)
	x := NewTest(t).WithRoot(repo.Dir)
	x.Qxsms("deploy", "staging", "--wait").Run().Success()

	one := x.Qxsms("restart", a).Run().Success()
	if got := strings.Count(one.Stdout, " restarted\n"); got != 2 || !strings.Contains(one.Stdout, "deployment.apps/qxsms restarted") {
		t.Fatalf("restart %s: %d restarted lines, want 2:\n%s", a, got, one.Stdout)
	}
	one.StderrContains("qxsms-"+a+"/deployment.apps/worker: rolled out", "qxsms-"+a+"/deployment.apps/qxsms: rolled out")
	if restartedAt(t, "qxsms-"+a, "qxsms") == "" || restartedAt(t, "qxsms-"+b, "qxsms") != "" {
		t.Fatal("restart of one instance must annotate its Deployments and only those")
	}
	// kubectl rollout keeps working on what restart did.
	x.Kubectl("rollout", "history", "-n", "qxsms-"+a, "deployment/qxsms").Run().Success().StdoutContains("2")
	x.Kubectl("rollout", "status", "-n", "qxsms-"+a, "deployment/qxsms", "--timeout=30s").Run().Success()

	// Twice within the same second: no empty patch.
	x.Qxsms("restart", a, b, "--wait=false").Run().Success()
	x.Qxsms("restart", a, b, "--wait=false", "-o", "name").Run().Success().StdoutContains("deployment.apps/qxsms\n")

	// A deploy afterwards leaves the restart alone (kubectl-rollout's field is not taken over).
	before := restartedAt(t, "qxsms-"+a, "qxsms")
	x.Qxsms("deploy", "staging", a).Run().Success()
	if after := restartedAt(t, "qxsms-"+a, "qxsms"); after != before {
		t.Errorf("deploy changed restartedAt %q -> %q", before, after)
	}

	all := x.Qxsms("restart", "--all", "--timeout", "2m").Run().Success()
	for _, inst := range []string{a, b} {
		all.StderrContains("qxsms-" + inst + "/deployment.apps/worker: rolled out")
	}
}

func TestRestartPausedAndMissing(t *testing.T) {
	inst := uniqueName("e2e-rstp")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t).WithRoot(repo.Dir)
	ns := "qxsms-" + inst
	x.Qxsms("deploy", "staging", inst, "--wait").Run().Success()

	x.Kubectl("rollout", "pause", "-n", ns, "deployment/worker").Run().Success()
	out := x.Qxsms("restart", inst).Run().Failure()
	out.StderrContains("paused", "kubectl rollout resume deployment/worker -n "+ns)
	out.StdoutContains("deployment.apps/qxsms restarted")
	x.Kubectl("rollout", "resume", "-n", ns, "deployment/worker").Run().Success()

	missing := x.Qxsms("restart", inst, "--deployment", "qxsms", "--deployment", "nope").Run().Failure()
	missing.StderrContains(`"nope" not found`, "kubectl get deployments -n "+ns)
	missing.StdoutContains("deployment.apps/qxsms restarted")

	x.Qxsms("restart", "Bad_Name").Run().Failure().StderrContains(`invalid instance name "Bad_Name"`)
	x.Qxsms("restart", inst, "--all").Run().Failure().StderrContains("not both")
}

// A user whose RBAC covers one namespace, authenticated by a real
// ServiceAccount token, restarts that instance and is told clearly it may not
// restart another.
func TestRestartNamespaceScopedUser(t *testing.T) {
	own, other := uniqueName("e2e-rbac"), uniqueName("e2e-rbac")
	repo := newConfigRepo(t, "staging", own, other)
	x := NewTest(t).WithRoot(repo.Dir)
	x.Qxsms("deploy", "staging", "--wait").Run().Success()
	kubeconfig := namespacedUser(t, "qxsms-"+own)

	user := NewTest(t).WithRoot(repo.Dir)
	user.env = append(user.env, "KUBECONFIG="+kubeconfig)
	user.Qxsms("restart", own).Run().Success().StderrContains("rolled out")
	denied := user.Qxsms("restart", other).Run().Failure()
	denied.StderrContains("forbidden in namespace qxsms-"+other, "RoleBinding")
	user.Qxsms("restart", "--all").Run().Failure().StderrContains("--all needs to list namespaces", "forbidden")
}

// namespacedUser creates a ServiceAccount with a Role over ns and returns a
// kubeconfig that authenticates with its token.
func namespacedUser(t *testing.T, ns string) string {
	x := NewTest(t)
	x.Kubectl("create", "serviceaccount", "operator", "-n", ns).Run().Success()
	x.Kubectl("create", "role", "operator", "-n", ns,
		"--verb=get,list,watch,patch,update,create,delete", "--resource=deployments,statefulsets,pods,events,configmaps,secrets,services,persistentvolumeclaims,ingresses").Run().Success()
	x.Kubectl("create", "rolebinding", "operator", "-n", ns, "--role=operator", "--serviceaccount="+ns+":operator").Run().Success()
	token := strings.TrimSpace(x.Kubectl("create", "token", "operator", "-n", ns, "--duration=1h").Run().Success().Stdout)
	server := x.Kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}").Run().Success().Stdout
	ca := x.Kubectl("config", "view", "--minify", "--raw", "-o", "jsonpath={.clusters[0].cluster.certificate-authority-data}").Run().Success().Stdout
	caFile := x.Kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.certificate-authority}").Run().Success().Stdout
	caLine := "certificate-authority-data: " + ca
	if ca == "" {
		caLine = "certificate-authority: " + caFile
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: " + server + "\n    " + caLine +
		"\nusers:\n- name: operator\n  user:\n    token: " + token +
		"\ncontexts:\n- name: operator\n  context: {cluster: local, user: operator, namespace: " + ns + "}\ncurrent-context: operator\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
