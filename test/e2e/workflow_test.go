//go:build e2e

package e2e

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestNewInstanceThenDeploy(t *testing.T) {
	src, fresh := uniqueName("e2e-src"), uniqueName("e2e-new")
	repo := newConfigRepo(t, "staging", src)
	repo.localIsProduction = true // the new instance is deployed to production here
	repo.writeConfig("kwok-qxsms")
	t.Cleanup(func() { cleanupInstances(t, fresh) })
	x := NewTest(t).WithRoot(repo.Dir)
	out := x.Qxsms("new", "production", fresh, "--from", "staging/"+src, "--generate-secrets").Run().Success()
	out.StdoutContains("Created", "git checkout -b add-"+fresh, "production branch")
	out.StderrContains("DEBUG=true in production")
	kust := repo.read("overlays/production/" + fresh + "/kustomization.yml")
	if strings.Contains(kust, src) || !strings.Contains(kust, "namespace: qxsms-"+fresh) {
		t.Fatalf("scaffolded kustomization still ties to %s:\n%s", src, kust)
	}
	x.Qxsms("new", "production", fresh, "--from", src).Run().Failure().StderrContains("already exists")
	// production is protected: the real secrets go where the pipeline would write them from SECRETS_PRODUCTION_*.
	repo.write("overlays/production/"+fresh+"/secrets.env", repo.read("overlays/production/"+fresh+"/secrets.generated.env"))
	x.Qxsms("deploy", "production", fresh, "--wait").Run().Success().StdoutContains("16 created")
	x.Kubectl("get", "ingress", "qxsms", "-n", "qxsms-"+fresh, "-o", "jsonpath={.spec.rules[0].host}").Run().Success().
		StdoutContains(fresh + ".qxsms.example.org")
}

func TestStatusOrphansAndDrift(t *testing.T) {
	deployed, pending, orphan := uniqueName("e2e-st"), uniqueName("e2e-st"), uniqueName("e2e-st")
	repo := newConfigRepo(t, "staging", deployed, pending)
	t.Cleanup(func() { cleanupInstances(t, orphan) })
	x := NewTest(t).WithRoot(repo.Dir)
	x.Qxsms("deploy", "staging", deployed, "--wait", "--revision", "abc123").Run().Success()
	x.Kubectl("create", "namespace", "qxsms-"+orphan).Run().Success()
	x.Kubectl("label", "namespace", "qxsms-"+orphan, "qxsms.io/environment=staging").Run().Success()

	type row struct {
		Instance, NamespacePhase, Orphan, Revision string
		Overlay                                    bool
		WorkloadsReady, WorkloadsTotal             int
		PVCsTotal                                  int
		Drift                                      *int
		LastDeploy                                 *string
		Images                                     []string
	}
	read := func() map[string]row {
		var out struct{ Items []row }
		x.Qxsms("status", "staging", "-o", "json").Run().Success().JSON(&out)
		m := map[string]row{}
		for _, r := range out.Items {
			m[r.Instance] = r
		}
		return m
	}
	rows := read()
	d := rows[deployed]
	if !d.Overlay || d.NamespacePhase != "Active" || d.WorkloadsReady != 4 || d.WorkloadsTotal != 4 || d.PVCsTotal != 4 ||
		d.Drift == nil || *d.Drift != 0 || d.LastDeploy == nil || d.Revision != "abc123" || len(d.Images) == 0 {
		t.Errorf("deployed instance: %+v", d)
	}
	if p := rows[pending]; !p.Overlay || p.NamespacePhase != "Missing" || p.Orphan != "not deployed" {
		t.Errorf("undeployed overlay: %+v", p)
	}
	if o := rows[orphan]; o.Overlay || o.Orphan != "no overlay" {
		t.Errorf("namespace without overlay: %+v", o)
	}
	x.Kubectl("scale", "-n", "qxsms-"+deployed, "deployment/worker", "--replicas=2").Run().Success()
	if d := read()[deployed]; d.Drift == nil || *d.Drift != 1 {
		t.Errorf("drift after a hand edit: %v, want 1", d.Drift)
	}
	x.Qxsms("status", "staging", "-o", "wide").Run().Success().StdoutContains("IMAGES", deployed, "abc123", "no overlay", "not deployed")
}

// The pipeline's deploy job, run as the shell script GitLab would run, with
// the variables it would set, deploys the environment.
func TestGitLabDeployJob(t *testing.T) {
	inst := uniqueName("e2e-ci")
	repo := newConfigRepo(t, "staging", inst)
	b, err := os.ReadFile(filepath.Join(env.repoRoot, "k8s", "gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	type job struct {
		BeforeScript []string `json:"before_script"`
		Script       []string `json:"script"`
	}
	var pipeline struct {
		Qxsms  job `json:".qxsms"`
		Deploy job `json:".deploy"`
	}
	if err := yaml.Unmarshal(b, &pipeline); err != nil {
		t.Fatal(err)
	}
	script := "set -e\n" + strings.Join(pipeline.Qxsms.BeforeScript, "\n") + "\n" + strings.Join(pipeline.Deploy.Script, "\n")

	secrets := filepath.Join(t.TempDir(), "secrets.env")
	if err := os.WriteFile(secrets, []byte("POSTGRES_PASSWORD=from-ci-variable\nRABBITMQ_PASSWORD=x\nDJANGO_SECRET_KEY=y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A private kubeconfig: the job switches contexts.
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	kc, _ := os.ReadFile(env.kubeconfig)
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", script)
	x := NewTest(t)
	cmd.Env = append(x.env, "KUBECONFIG="+kubeconfig, "QXSMS_ROOT="+repo.Dir, "QXSMS_ENV=staging", "KUBE_CONTEXT=kwok-qxsms",
		"CI_COMMIT_SHORT_SHA=ci12345", "SECRETS_STAGING_"+strings.ToUpper(strings.ReplaceAll(inst, "-", "_"))+"="+secrets)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("deploy job failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "instance staging/"+inst+": 16 created") || !strings.Contains(string(out), "rolled out") {
		t.Fatalf("deploy job output:\n%s", out)
	}
	ns := "qxsms-" + inst
	x.Kubectl("get", "configmap", "qxsms-inventory", "-n", ns, "-o", `jsonpath={.metadata.annotations.qxsms\.io/revision}`).Run().Success().StdoutContains("ci12345")
	secretName := x.Kubectl("get", "secret", "-n", ns, "-o", "jsonpath={.items[0].metadata.name}").Run().Success().Stdout
	enc := x.Kubectl("get", "secret", secretName, "-n", ns, "-o", "jsonpath={.data.POSTGRES_PASSWORD}").Run().Success().Stdout
	if dec, _ := base64.StdEncoding.DecodeString(enc); string(dec) != "from-ci-variable" {
		t.Error("the job did not deploy the secrets from the CI variable")
	}

	// Without KUBE_CONTEXT the job stops before touching anything.
	cmd = exec.Command("bash", "-c", script)
	cmd.Env = append(x.env, "KUBECONFIG="+kubeconfig, "QXSMS_ROOT="+repo.Dir, "QXSMS_ENV=staging")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "KUBE_CONTEXT is not set") {
		t.Errorf("job without KUBE_CONTEXT: %v\n%s", err, out)
	}
}
