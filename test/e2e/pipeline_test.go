//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The pipeline tests run k8s/gitlab-ci.yml with gitlab-ci-local, which reads
// it as GitLab does (rules, extends, include, variables, manual jobs), on a
// config repo that includes the template as the README says, with its shell
// executor and the plugin and kubectl under test on PATH.

var gitlabCILocal = sync.OnceValues(func() (string, error) {
	out, err := exec.Command(filepath.Join(env.repoRoot, "hack", "gitlab-ci-local", "install.sh")).Output()
	return strings.TrimSpace(string(out)), err
})

// ciProject is a git checkout of a config repo, with the CI/CD variables a
// GitLab project would have.
type ciProject struct {
	t          *testing.T
	repo       *configRepo
	dir        string // the checkout: .gitlab-ci.yml and k8s/
	home       string // gitlab-ci-local's home: the project's CI/CD variables
	kubeconfig string
	fileVars   map[string]string
}

func newCIProject(t *testing.T, repo *configRepo, branch string) *ciProject {
	t.Helper()
	p := &ciProject{t: t, repo: repo, dir: filepath.Dir(repo.Dir), home: t.TempDir(), fileVars: map[string]string{}}
	tmpl, err := os.ReadFile(filepath.Join(env.repoRoot, "k8s", "gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	repo.write("gitlab-ci.yml", string(tmpl))
	if err := os.WriteFile(filepath.Join(p.dir, ".gitlab-ci.yml"), []byte("include:\n  - local: k8s/gitlab-ci.yml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The job switches contexts in its kubeconfig: a private copy.
	p.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	kc, err := os.ReadFile(env.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	p.git("init", "-q", "-b", branch)
	p.git("remote", "add", "origin", "https://gitlab.com/qxsms/qxsms-config.git")
	p.commit("initial")
	// What a clone has: origin's default branch, so gitlab-ci-local need not guess.
	p.git("update-ref", "refs/remotes/origin/"+branch, "HEAD")
	p.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/"+branch)
	return p
}

func (p *ciProject) git(args ...string) string {
	p.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=e2e", "-c", "user.email=e2e@example.org", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = p.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		p.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (p *ciProject) commit(msg string) {
	p.git("add", "-A")
	p.git("commit", "-q", "--allow-empty", "-m", msg)
}

// fileVar sets a file-type CI/CD variable.
func (p *ciProject) fileVar(name, content string) {
	p.fileVars[name] = content
	vars := map[string]any{}
	for k, v := range p.fileVars {
		vars[k] = map[string]any{"type": "file", "values": map[string]string{"*": v}}
	}
	b, err := yaml.Marshal(map[string]any{"global": vars})
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(p.home, ".gitlab-ci-local"), 0o700); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.home, ".gitlab-ci-local", "variables.yml"), b, 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// pipelineRun is one gitlab-ci-local invocation.
type pipelineRun struct {
	Output string // the console output and every job log
	Code   int
}

// run runs gitlab-ci-local with args; the KUBE_CONTEXT variable names the
// local cluster's context, as the environment's CI/CD variable would.
func (p *ciProject) run(args ...string) pipelineRun {
	p.t.Helper()
	gcl, err := gitlabCILocal()
	if err != nil {
		p.t.Fatalf("installing gitlab-ci-local (hack/gitlab-ci-local/install.sh): %v", err)
	}
	outDir := filepath.Join(p.dir, ".gitlab-ci-local", "output")
	_ = os.RemoveAll(outDir)
	base := []string{"--home", p.home, "--force-shell-executor", "--no-color", "--variable", "KUBE_CONTEXT=kwok-qxsms"}
	if !slices.Contains(args, "--json-schema-validation") {
		// A second a run; TestPipelineSchema checks the template once.
		base = append(base, "--no-json-schema-validation")
	}
	cmd := exec.Command(gcl, append(base, args...)...)
	cmd.Dir = p.dir
	cmd.Env = append(NewTest(p.t).env, "KUBECONFIG="+p.kubeconfig)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	r := pipelineRun{Output: string(out)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		p.t.Fatalf("gitlab-ci-local: %v", err)
	}
	logs, _ := filepath.Glob(filepath.Join(outDir, "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		r.Output += "\n--- " + filepath.Base(l) + "\n" + string(b)
	}
	p.t.Logf("gitlab-ci-local %s -> exit %d in %s", strings.Join(args, " "), r.Code, time.Since(start).Round(time.Millisecond))
	return r
}

// jobs lists the jobs of the pipeline the branch and variables make, with
// their `when`, as GitLab would create them.
func (p *ciProject) jobs(args ...string) map[string]string {
	p.t.Helper()
	r := p.run(append(args, "--list-json")...)
	if r.Code != 0 {
		p.t.Fatalf("gitlab-ci-local --list-json: exit %d\n%s", r.Code, r.Output)
	}
	start := strings.Index(r.Output, "\n[")
	end := strings.LastIndex(r.Output, "]")
	if start < 0 || end < start {
		p.t.Fatalf("gitlab-ci-local --list-json printed no list:\n%s", r.Output)
	}
	var list []struct{ Name, When string }
	if err := json.Unmarshal([]byte(r.Output[start+1:end+1]), &list); err != nil {
		p.t.Fatalf("gitlab-ci-local --list-json: %v\n%s", err, r.Output)
	}
	jobs := map[string]string{}
	for _, j := range list {
		if j.When != "never" {
			jobs[j.Name] = j.When
		}
	}
	return jobs
}

func (r pipelineRun) mustPass(t *testing.T, wants ...string) {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("pipeline failed (exit %d):\n%s", r.Code, r.Output)
	}
	r.mustContain(t, wants...)
}

func (r pipelineRun) mustFail(t *testing.T, wants ...string) {
	t.Helper()
	if r.Code == 0 {
		t.Fatalf("pipeline passed, want a failure:\n%s", r.Output)
	}
	r.mustContain(t, wants...)
}

func (r pipelineRun) mustContain(t *testing.T, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(r.Output, w) {
			t.Fatalf("pipeline output lacks %q:\n%s", w, r.Output)
		}
	}
}

func wantJobs(t *testing.T, got map[string]string, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("pipeline jobs %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("pipeline jobs %v, want %v", got, want)
		}
	}
}

func secretsVar(envName, inst string) string {
	return "SECRETS_" + strings.ToUpper(strings.ReplaceAll(envName+"_"+inst, "-", "_"))
}

// A push to staging: the staging deploy job alone deploys every staging
// instance, with the secrets of the file-type variable and none of them in
// the log; the next pipeline changes nothing; the manual teardown job needs
// QXSMS_TEARDOWN and then deletes that instance only.
func TestPipelineStaging(t *testing.T) {
	t.Parallel()
	a, b := uniqueName("e2e-gcl"), uniqueName("e2e-gcl")
	repo := newConfigRepo(t, "staging", a, b)
	p := newCIProject(t, repo, "staging")
	scan := newSecretScan(t)
	secret := "POSTGRES_PASSWORD=gcl-file-variable-secret\nRABBITMQ_PASSWORD=gcl-rabbit-secret\nDJANGO_SECRET_KEY=gcl-django-secret\n"
	scan.secret("gcl-file-variable-secret", "gcl-rabbit-secret", "gcl-django-secret")
	p.fileVar(secretsVar("staging", a), secret)
	sha := p.git("rev-parse", "--short", "HEAD")

	wantJobs(t, p.jobs(), map[string]string{"deploy:staging": "on_success", "teardown:staging": "manual"})

	first := p.run()
	scan.record("the first staging pipeline", []byte(first.Output))
	first.mustPass(t, "deploy:staging", "instance staging/"+a+": 16 created", "instance staging/"+b+": 16 created")
	if strings.Contains(first.Output, "teardown:staging starting") {
		t.Fatal("the manual teardown job ran without being started")
	}
	x := NewTest(t)
	for _, inst := range []string{a, b} {
		x.Kubectl("get", "configmap", "qxsms-inventory", "-n", "qxsms-"+inst, "-o", `jsonpath={.metadata.annotations.qxsms\.io/revision}`).
			Run().Success().StdoutContains(sha)
	}
	if got := secretValueOf(t, "qxsms-"+a, "POSTGRES_PASSWORD"); got != "gcl-file-variable-secret" {
		t.Errorf("%s's secret is not the file-type variable's", a)
	}
	if got := secretValueOf(t, "qxsms-"+b, "POSTGRES_PASSWORD"); got == "gcl-file-variable-secret" {
		t.Errorf("%s got %s's secret", b, a)
	}

	second := p.run()
	scan.record("the second staging pipeline", []byte(second.Output))
	second.mustPass(t, "instance staging/"+a+": 0 created, 0 configured, 16 unchanged", "instance staging/"+b+": 0 created, 0 configured, 16 unchanged")

	p.run("teardown:staging").mustFail(t, "run this job with QXSMS_TEARDOWN=<instance>")
	if !namespaceExists(t, "qxsms-"+a) || !namespaceExists(t, "qxsms-"+b) {
		t.Fatal("the teardown job without QXSMS_TEARDOWN deleted something")
	}
	p.run("teardown:staging", "--variable", "QXSMS_TEARDOWN="+a).mustPass(t)
	eventually(t, 2*time.Minute, "qxsms-"+a+" deleted", func() error {
		if namespaceExists(t, "qxsms-"+a) {
			return os.ErrExist
		}
		return nil
	})
	if !namespaceExists(t, "qxsms-"+b) {
		t.Fatal("tearing down " + a + " deleted " + b)
	}
}

// A push to production runs the production deploy job, and the plugin
// refuses it when KUBE_CONTEXT is not one k8s/qxsms.yaml allows production.
func TestPipelineProductionContext(t *testing.T) {
	t.Parallel()
	inst := uniqueName("e2e-gcl")
	repo := newConfigRepo(t, "production", inst)
	repo.localIsProduction = false // production may target qxsms-prod only
	repo.writeConfig("kwok-qxsms")
	p := newCIProject(t, repo, "production")
	// Real secrets, so the job gets past the protected environment's check.
	p.fileVar(secretsVar("production", inst), repo.read("overlays/production/"+inst+"/secrets.env"))

	wantJobs(t, p.jobs(), map[string]string{"deploy:production": "on_success", "teardown:production": "manual"})
	p.run().mustFail(t, "deploy:production", `may not be deployed to context "kwok-qxsms"`)
	if namespaceExists(t, "qxsms-"+inst) {
		t.Fatal("the refused production deploy created the namespace")
	}
}

// A merge request into staging runs the diff job only: it passes when the
// deploy would change things, and fails when an overlay is broken.
func TestPipelineMergeRequestDiff(t *testing.T) {
	t.Parallel()
	inst := uniqueName("e2e-gcl")
	repo := newConfigRepo(t, "staging", inst)
	p := newCIProject(t, repo, "staging")
	p.git("checkout", "-q", "-b", "bump-"+inst)
	repo.edit("overlays/staging/"+inst+"/kustomization.yml", `newTag: "staging"`, `newTag: "1.2.3-mr"`)
	p.commit("change the overlay")
	// GitLab's merge request pipeline: no CI_COMMIT_BRANCH, the target branch named.
	mr := []string{"--variable", "CI_PIPELINE_SOURCE=merge_request_event", "--variable", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME=staging",
		"--variable", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME=bump-" + inst, "--unset-variable", "CI_COMMIT_BRANCH"}

	wantJobs(t, p.jobs(mr...), map[string]string{"diff": "on_success"})
	p.run(mr...).mustPass(t, "diff", "registry.example.org/qxsms/qxsms:1.2.3-mr")
	if namespaceExists(t, "qxsms-"+inst) {
		t.Fatal("the diff job deployed")
	}

	repo.edit("overlays/staging/"+inst+"/kustomization.yml", "resources:", "resources:\n  - missing-e2e.yaml")
	p.commit("break the overlay")
	p.run(mr...).mustFail(t, "missing-e2e.yaml")
}

// gitlab-ci-local's check of the template against GitLab's JSON schema, and
// proof that the check can fail.
func TestPipelineSchema(t *testing.T) {
	t.Parallel()
	repo := newConfigRepo(t, "staging")
	p := newCIProject(t, repo, "staging")
	if r := p.run("--json-schema-validation", "--list"); r.Code != 0 {
		t.Fatalf("k8s/gitlab-ci.yml fails GitLab's schema:\n%s", r.Output)
	}
	repo.edit("gitlab-ci.yml", "  stage: deploy\n", "  stage: deploy\n  retry: sometimes\n")
	if r := p.run("--json-schema-validation", "--list"); r.Code == 0 || !strings.Contains(r.Output, "retry") {
		t.Fatalf("a template with retry: sometimes passed the schema check:\n%s", r.Output)
	}
}
