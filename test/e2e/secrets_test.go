//go:build e2e

package e2e

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// secretScan records the output of every command a test runs and, once the
// test is over, fails it if any secret value the test used appears there,
// plain or base64. It never prints a value: only which value (by index) and
// which command.
type secretScan struct {
	t       *testing.T
	outputs []scanned
	values  []string
}

type scanned struct{ what, text string }

func newSecretScan(t *testing.T) *secretScan {
	s := &secretScan{t: t}
	t.Cleanup(s.check)
	return s
}

// secret adds values the output must never hold.
func (s *secretScan) secret(vs ...string) { s.values = append(s.values, vs...) }

// secretsOf adds every value of every secrets*.env file of the repo.
func (s *secretScan) secretsOf(r *configRepo) {
	files, _ := filepath.Glob(filepath.Join(r.Dir, "overlays", "*", "*", "secrets*.env"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			s.t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if _, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
				s.secret(v)
			}
		}
	}
}

// run runs c and records its output.
func (s *secretScan) run(c *Cmd) *Cmd {
	s.t.Helper()
	c.Run()
	s.outputs = append(s.outputs, scanned{"kubectl " + strings.Join(c.args, " "), c.Stdout + "\n" + c.Stderr})
	return c
}

// record adds output of a command run outside the harness.
func (s *secretScan) record(what string, out []byte) {
	s.outputs = append(s.outputs, scanned{what, string(out)})
}

func (s *secretScan) check() {
	if len(s.values) == 0 || len(s.outputs) == 0 {
		s.t.Error("the secret scan had nothing to check")
		return
	}
	for i, v := range s.values {
		if len(v) < 6 {
			s.t.Errorf("secret value #%d is too short to scan for reliably", i)
			continue
		}
		for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v))} {
			for _, o := range s.outputs {
				if strings.Contains(o.text, form) {
					s.t.Errorf("secret value #%d appears in the output of %s", i, o.what)
				}
			}
		}
	}
	s.t.Logf("secret scan: %d values, %d command outputs, none leaked", len(s.values), len(s.outputs))
}

func placeholdersOf(t *testing.T, scan *secretScan, x *Test, envName string) map[string][]string {
	t.Helper()
	var out struct {
		Items []struct {
			Instance     string
			Placeholders []string
		}
	}
	scan.run(x.Qxsms("status", envName, "-o", "json", "--drift=false")).Success().JSON(&out)
	m := map[string][]string{}
	for _, r := range out.Items {
		m[r.Instance] = r.Placeholders
	}
	return m
}

// A protected environment refuses a placeholder before anything is applied
// anywhere; with the value replaced it deploys; staging warns and deploys;
// status flags the instance that still runs placeholders.
func TestSecretsPlaceholders(t *testing.T) {
	good, bad, stg := uniqueName("e2e-sec"), uniqueName("e2e-sec"), uniqueName("e2e-sec")
	repo := newConfigRepo(t, "production", good, bad)
	repo.addInstance("staging", stg)
	t.Cleanup(func() { cleanupInstances(t, stg) })
	scan := newSecretScan(t)
	x := NewTest(t).WithRoot(repo.Dir)

	// Real values in good; one placeholder among real values in bad.
	badEnv := "overlays/production/" + bad + "/secrets.env"
	repo.write("overlays/production/"+good+"/secrets.env", "POSTGRES_PASSWORD=Qv7w-real-pg-"+good+"\nRABBITMQ_PASSWORD=Qv7w-real-mq-"+good+"\nDJANGO_SECRET_KEY=Qv7w-real-dj-"+good+"\n")
	repo.write(badEnv, "POSTGRES_PASSWORD=Rl9x-real-pg-"+bad+"\nRABBITMQ_PASSWORD=changeme-"+bad+"-rabbitmq\nDJANGO_SECRET_KEY=Rl9x-real-dj-"+bad+"\n")
	scan.secretsOf(repo)

	refused := func(args ...string) {
		t.Helper()
		c := scan.run(x.Qxsms(args...)).Failure()
		c.StderrContains(`environment "production" is protected`, "instance production/"+bad, "key RABBITMQ_PASSWORD",
			"SECRETS_PRODUCTION_"+strings.ToUpper(strings.ReplaceAll(bad, "-", "_")), "nothing was applied")
		if strings.Contains(c.Stderr, "instance production/"+good+":") || strings.Contains(c.Stderr, "POSTGRES_PASSWORD") {
			t.Errorf("%v: only bad's placeholder may be reported:\n%s", args, c.Stderr)
		}
		if strings.Contains(c.Stdout+c.Stderr, "created") || strings.Contains(c.Stdout+c.Stderr, "configured") {
			t.Errorf("%v: something was applied:\n%s\n%s", args, c.Stdout, c.Stderr)
		}
	}
	refused("deploy", "production")
	refused("deploy", "production", "--dry-run=server")
	refused("deploy", "production", "--diff")
	for _, inst := range []string{good, bad} {
		if namespaceExists(t, "qxsms-"+inst) {
			t.Fatalf("namespace qxsms-%s exists after a refused deploy", inst)
		}
	}

	// With good deployed, a refused deploy of both writes nothing to good either.
	scan.run(x.Qxsms("deploy", "production", good)).Success()
	appliedAt := regexp.MustCompile(`(?m)\d{4}-\d\d-\d\dT[\d:]+Z$`)
	// Columns only: `-o json` of the Secrets would put their data in the output.
	// Controllers keep writing the workloads' and claims' status after a
	// deploy, so those are compared by what a write of ours would move: the
	// generation and the time of our field manager's entry. Nothing writes
	// the ConfigMaps and Secrets but us: their resourceVersions.
	versions := func() string {
		ours := "custom-columns=KIND:.kind,NAME:.metadata.name,GEN:.metadata.generation,APPLIED:" +
			`.metadata.managedFields[?(@.manager=="kubectl-qxsms")].time`
		rv := "custom-columns=KIND:.kind,NAME:.metadata.name,RV:.metadata.resourceVersion"
		return scan.run(x.Kubectl("get", "namespace", "qxsms-"+good, "-o", ours)).Success().Stdout +
			scan.run(x.Kubectl("get", "deploy,sts,svc,pvc,ingress", "-n", "qxsms-"+good, "-o", ours)).Success().Stdout +
			scan.run(x.Kubectl("get", "cm,secret", "-n", "qxsms-"+good, "-o", rv)).Success().Stdout
	}
	before := versions()
	refused("deploy", "production", good, bad)
	if after := versions(); before != after || len(appliedAt.FindAllString(after, -1)) < 10 {
		t.Errorf("a refused deploy changed %s:\nbefore\n%s\nafter\n%s", good, before, after)
	}
	if namespaceExists(t, "qxsms-"+bad) {
		t.Fatalf("namespace qxsms-%s exists after a refused deploy", bad)
	}

	// The value replaced, as the pipeline would from the CI variable: it deploys.
	repo.edit(badEnv, "changeme-"+bad+"-rabbitmq", "Mk3z-real-rabbit")
	scan.secret("Mk3z-real-rabbit")
	c := scan.run(x.Qxsms("deploy", "production")).Success()
	c.StdoutContains("instance production/" + bad + ": 16 created")
	if strings.Contains(c.Stderr, "placeholder") {
		t.Errorf("a deploy without placeholders mentions them:\n%s", c.Stderr)
	}

	// Staging is not protected: one warning for the instance, and it deploys.
	c = scan.run(x.Qxsms("deploy", "staging", stg)).Success()
	c.StdoutContains("instance staging/" + stg + ": 16 created")
	if n := strings.Count(c.Stderr, "Warning: instance staging/"+stg+" deploys placeholder secrets"); n != 1 {
		t.Errorf("want one placeholder warning for %s, got %d:\n%s", stg, n, c.Stderr)
	}
	c.StderrContains("POSTGRES_PASSWORD", "RABBITMQ_PASSWORD", "DJANGO_SECRET_KEY")

	// status flags the staging instance, and only it.
	ph := placeholdersOf(t, scan, x, "staging")
	if len(ph[stg]) != 3 {
		t.Errorf("status: %s placeholders %v, want its 3 keys", stg, ph[stg])
	}
	ph = placeholdersOf(t, scan, x, "production")
	if len(ph[good]) != 0 || len(ph[bad]) != 0 {
		t.Errorf("status flags production instances with real secrets: %v", ph)
	}
	scan.run(x.Qxsms("status", "staging", "--drift=false")).Success().StdoutContains(stg, "3 placeholder secret key(s)")
}

// The pipeline's production deploy job fails before deploying when an
// instance's SECRETS_ variable is missing or is not a file, naming the
// variable; with every variable set it deploys. Its log never holds a value.
func TestGitLabDeployJobRequiresSecrets(t *testing.T) {
	withVar, missing := uniqueName("e2e-cis"), uniqueName("e2e-cis")
	repo := newConfigRepo(t, "production", withVar, missing)
	// In git the overlays hold placeholders; the CI variables hold the real values.
	for _, inst := range []string{withVar, missing} {
		f := "overlays/production/" + inst + "/secrets.env"
		repo.write(f, "POSTGRES_PASSWORD=changeme-"+inst+"-postgres\nRABBITMQ_PASSWORD=changeme-"+inst+"-rabbitmq\nDJANGO_SECRET_KEY=changeme-"+inst+"-secret-key\n")
	}
	scan := newSecretScan(t)
	scan.secretsOf(repo)

	b, err := os.ReadFile(filepath.Join(env.repoRoot, "k8s", "gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	type job struct {
		BeforeScript []string          `json:"before_script"`
		Script       []string          `json:"script"`
		Variables    map[string]string `json:"variables"`
	}
	var pipeline struct {
		Qxsms      job `json:".qxsms"`
		Deploy     job `json:".deploy"`
		Production job `json:"deploy:production"`
	}
	if err := yaml.Unmarshal(b, &pipeline); err != nil {
		t.Fatal(err)
	}
	script := "set -e\n" + strings.Join(pipeline.Qxsms.BeforeScript, "\n") + "\n" + strings.Join(pipeline.Deploy.Script, "\n")
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	kc, _ := os.ReadFile(env.kubeconfig)
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	variable := func(inst string) string {
		return "SECRETS_PRODUCTION_" + strings.ToUpper(strings.ReplaceAll(inst, "-", "_"))
	}
	secretFile := func(inst, tag string) string {
		values := []string{"Pg7k-" + tag + "-" + inst, "Mq4j-" + tag + "-" + inst, "Dj2h-" + tag + "-" + inst}
		scan.secret(values...)
		p := filepath.Join(t.TempDir(), "secrets.env")
		content := "POSTGRES_PASSWORD=" + values[0] + "\nRABBITMQ_PASSWORD=" + values[1] + "\nDJANGO_SECRET_KEY=" + values[2] + "\n"
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	x := NewTest(t)
	runJob := func(what string, vars ...string) (string, error) {
		cmd := exec.Command("bash", "-c", script)
		cmd.Env = append(append([]string{}, x.env...), "KUBECONFIG="+kubeconfig, "QXSMS_ROOT="+repo.Dir, "KUBE_CONTEXT=kwok-qxsms", "CI_COMMIT_SHORT_SHA=ci54321")
		for k, v := range pipeline.Production.Variables {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Env = append(cmd.Env, vars...)
		out, err := cmd.CombinedOutput()
		scan.record("deploy:production job, "+what, out)
		return string(out), err
	}
	if pipeline.Production.Variables["QXSMS_ENV"] != "production" {
		t.Fatalf("deploy:production variables: %v", pipeline.Production.Variables)
	}
	noNamespaces := func() {
		t.Helper()
		for _, inst := range []string{withVar, missing} {
			if namespaceExists(t, "qxsms-"+inst) {
				t.Fatalf("namespace qxsms-%s exists: the job deployed", inst)
			}
		}
	}

	// One variable missing: the job stops before deploying, naming it.
	out, err := runJob("one variable missing", variable(withVar)+"="+secretFile(withVar, "a"))
	if err == nil || !strings.Contains(out, variable(missing)) || !strings.Contains(out, "nothing was deployed") || strings.Contains(out, "Deploying") {
		t.Fatalf("job with %s missing: %v\n%s", variable(missing), err, out)
	}
	if strings.Contains(out, variable(withVar)) {
		t.Errorf("the job names %s, which is set:\n%s", variable(withVar), out)
	}
	noNamespaces()

	// A variable-type variable holds the value itself: refused, never echoed.
	leaky := "Vt8s-plain-variable-value"
	scan.secret(leaky)
	out, err = runJob("a variable that is not a file", variable(withVar)+"="+secretFile(withVar, "b"), variable(missing)+"="+leaky)
	if err == nil || !strings.Contains(out, variable(missing)+" must be a file-type CI/CD variable") {
		t.Fatalf("job with a variable-type %s: %v\n%s", variable(missing), err, out)
	}
	noNamespaces()

	// Every variable set: it deploys both, with the values of the variables.
	out, err = runJob("every variable set", variable(withVar)+"="+secretFile(withVar, "c"), variable(missing)+"="+secretFile(missing, "c"))
	if err != nil || !strings.Contains(out, "instance production/"+withVar+": 16 created") || !strings.Contains(out, "instance production/"+missing+": 16 created") {
		t.Fatalf("job with every variable: %v\n%s", err, out)
	}
	ph := placeholdersOf(t, scan, x.WithRoot(repo.Dir), "production")
	if len(ph[withVar]) != 0 || len(ph[missing]) != 0 {
		t.Errorf("placeholders deployed despite the variables: %v", ph)
	}
}
