package k8s

import (
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/secrets"
)

type job struct {
	Image         string            `json:"image"`
	Extends       string            `json:"extends"`
	Stage         string            `json:"stage"`
	Script        []string          `json:"script"`
	BeforeScript  []string          `json:"before_script"`
	Variables     map[string]string `json:"variables"`
	ResourceGroup string            `json:"resource_group"`
	Rules         []struct {
		If   string `json:"if"`
		When string `json:"when"`
	} `json:"rules"`
	Environment struct {
		Name string `json:"name"`
	} `json:"environment"`
}

func loadPipeline(t *testing.T) map[string]job {
	t.Helper()
	b, err := os.ReadFile("gitlab-ci.yml")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		t.Fatalf("gitlab-ci.yml does not parse: %v", err)
	}
	jobs := map[string]job{}
	for name, v := range raw {
		if name == "variables" || name == "stages" {
			continue
		}
		jb, _ := yaml.Marshal(v)
		var j job
		if err := yaml.UnmarshalStrict(jb, &j); err != nil {
			t.Fatalf("job %s: %v", name, err)
		}
		jobs[name] = j
	}
	return jobs
}

func TestGitLabPipeline(t *testing.T) {
	jobs := loadPipeline(t)
	for _, env := range []string{"staging", "production"} {
		d, ok := jobs["deploy:"+env]
		if !ok {
			t.Fatalf("no deploy:%s job", env)
		}
		if d.ResourceGroup != env || d.Variables["QXSMS_ENV"] != env || d.Environment.Name != env {
			t.Errorf("deploy:%s: resource_group %q, QXSMS_ENV %q, environment %q", env, d.ResourceGroup, d.Variables["QXSMS_ENV"], d.Environment.Name)
		}
		if len(d.Rules) != 1 || !strings.Contains(d.Rules[0].If, `$CI_COMMIT_BRANCH == "`+env+`"`) {
			t.Errorf("deploy:%s must run on the %s branch only: %+v", env, env, d.Rules)
		}
		td := jobs["teardown:"+env]
		if len(td.Rules) != 1 || td.Rules[0].When != "manual" || td.ResourceGroup != env {
			t.Errorf("teardown:%s must be manual and share the resource group: %+v", env, td)
		}
	}
	script := strings.Join(jobs[".deploy"].Script, "\n")
	if !strings.Contains(script, `kubectl qxsms deploy "$QXSMS_ENV"`) || !strings.Contains(script, "--wait") {
		t.Errorf(".deploy script: %s", script)
	}
	if !strings.Contains(strings.Join(jobs[".qxsms"].BeforeScript, "\n"), `kubectl config use-context "$KUBE_CONTEXT"`) {
		t.Error("the jobs must switch to $KUBE_CONTEXT")
	}
	if !strings.Contains(strings.Join(jobs[".teardown"].Script, "\n"), `--confirm="$QXSMS_TEARDOWN"`) {
		t.Error("teardown must confirm explicitly")
	}
}

// Every environment that k8s/qxsms.yaml says needs real secrets has a deploy
// job that stops on a missing SECRETS_<ENV>_<INSTANCE> variable, and the
// script that copies the variables never echoes their values.
func TestGitLabPipelineRequiresSecrets(t *testing.T) {
	jobs := loadPipeline(t)
	cfg, err := (&overlays.Repo{Dir: "."}).LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	required := 0
	for env := range cfg.Environments {
		d, ok := jobs["deploy:"+env]
		if !ok || !secrets.PolicyFor(cfg, env).Required {
			continue
		}
		required++
		if d.Variables["QXSMS_REQUIRE_SECRETS"] != "true" {
			t.Errorf("deploy:%s: %s requires real secrets, but the job does not set QXSMS_REQUIRE_SECRETS: \"true\"", env, cfg.Path)
		}
	}
	if required == 0 {
		t.Error("no deploy job of a protected environment: the test checks nothing")
	}
	if v := jobs["deploy:staging"].Variables["QXSMS_REQUIRE_SECRETS"]; v != "" {
		t.Errorf("deploy:staging sets QXSMS_REQUIRE_SECRETS=%q, but staging is not protected", v)
	}
	before := strings.Join(jobs[".qxsms"].BeforeScript, "\n")
	for _, want := range []string{`QXSMS_REQUIRE_SECRETS" = "true"`, "exit 1", `cp "$file" "$dir/secrets.env"`} {
		if !strings.Contains(before, want) {
			t.Errorf(".qxsms before_script lacks %q", want)
		}
	}
	for _, leak := range []string{"set -x", `echo "$file`, "cat \"$file", `echo "$$var`, "printenv\n"} {
		if strings.Contains(before, leak) {
			t.Errorf(".qxsms before_script may print a secret: %q", leak)
		}
	}
}
