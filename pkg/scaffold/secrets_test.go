package scaffold

import (
	"encoding/base64"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/qxsms/kubectl-qxsms/internal/testutil"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/secrets"
)

var diskFS = filesys.MakeFsOnDisk()

// Values a source overlay could hold for real; none may reach the new overlay.
var sourceValues = []string{"Vq3xZ8pLmN2rT7wKs9Yb", "hJ4dF6gQw1eRt5yUi0oP", "Xc7vB3nM9kLj2hG5fD8s", "Pz1oI9uY7tR5eW3qA6sD"}

const kustomizationHead = `# QxSMS instance "pprd" in environment "staging".
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: qxsms-pprd
resources:
  - ../../../base
  - namespace.yml
  - ingress.yml
  - env.yml
labels:
  - pairs:
      qxsms.io/instance: pprd
      qxsms.io/environment: staging
    includeTemplates: true
`

// sourceForms rewrite staging/pprd so that its secrets take one form each.
var sourceForms = map[string]struct {
	files    map[string]string
	wantKeys []string // file:key, sorted
}{
	"env file": {map[string]string{
		"kustomization.yml": kustomizationHead + "secretGenerator:\n  - name: qxsms-secrets\n    envs:\n      - secrets.env\n",
		"secrets.env":       "# the pipeline replaces these\nPOSTGRES_PASSWORD=" + sourceValues[0] + "\n\nDJANGO_SECRET_KEY=" + sourceValues[1] + "\n",
	}, []string{"secrets.env:DJANGO_SECRET_KEY", "secrets.env:POSTGRES_PASSWORD"}},
	"literals": {map[string]string{
		"kustomization.yml": kustomizationHead + "secretGenerator:\n  - name: qxsms-secrets\n    literals:\n      - POSTGRES_PASSWORD=" + sourceValues[0] +
			"\n      - \"DJANGO_SECRET_KEY=" + sourceValues[1] + "\"\n",
	}, []string{"kustomization.yml:DJANGO_SECRET_KEY", "kustomization.yml:POSTGRES_PASSWORD"}},
	"plain Secret": {map[string]string{
		"kustomization.yml": strings.Replace(kustomizationHead, "  - env.yml\n", "  - env.yml\n  - secret.yml\n", 1),
		"secret.yml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: qxsms-secrets\ntype: Opaque\ndata:\n  POSTGRES_PASSWORD: " +
			base64.StdEncoding.EncodeToString([]byte(sourceValues[0])) + "\nstringData:\n  DJANGO_SECRET_KEY: " + sourceValues[1] + "\n",
	}, []string{"secret.yml:DJANGO_SECRET_KEY", "secret.yml:POSTGRES_PASSWORD"}},
	"generator files": {map[string]string{
		"kustomization.yml": kustomizationHead + "secretGenerator:\n  - name: qxsms-secrets\n    files:\n      - POSTGRES_PASSWORD=pg.txt\n      - secret-key.txt\n",
		"pg.txt":            sourceValues[0],
		"secret-key.txt":    sourceValues[1] + "\n",
	}, []string{"pg.txt:POSTGRES_PASSWORD", "secret-key.txt:secret-key.txt"}},
	"all at once": {map[string]string{
		"kustomization.yml": strings.Replace(kustomizationHead, "  - env.yml\n", "  - env.yml\n  - secret.yml\n", 1) +
			"secretGenerator:\n  - name: qxsms-secrets\n    envs: [secrets.env]\n    literals: [LITERAL_KEY=" + sourceValues[2] + "]\n",
		"secrets.env": "POSTGRES_PASSWORD=" + sourceValues[0] + "\n",
		"secret.yml":  "apiVersion: v1\nkind: Secret\nmetadata: {name: other}\ndata: {TOKEN: " + base64.StdEncoding.EncodeToString([]byte(sourceValues[3])) + "}\n",
	}, []string{"kustomization.yml:LITERAL_KEY", "secret.yml:TOKEN", "secrets.env:POSTGRES_PASSWORD"}},
}

func sourceWith(t *testing.T, files map[string]string) (*overlays.Repo, overlays.Instance) {
	t.Helper()
	repo := testutil.CopyProjectRepo(t)
	src, err := repo.Select("staging", []string{"pprd"})
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(filepath.Join(src[0].Dir, "secrets.env"))
	_ = os.Remove(filepath.Join(src[0].Dir, "pvc.yml"))
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(src[0].Dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := overlays.Build(diskFS, src[0].Dir); err != nil {
		t.Fatalf("the test's source does not build: %v", err)
	}
	return repo, src[0]
}

// assertNoSourceBytes fails if any substring of at least minLeak bytes of a
// source value, plain or base64, is in any file under dir.
func assertNoSourceBytes(t *testing.T, dir string) {
	t.Helper()
	var all []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		all = append(all, p+"\x00"+string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range sourceValues {
		for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v))} {
			for i := 0; i+minLeak <= len(form); i++ {
				sub := form[i : i+minLeak]
				for _, f := range all {
					if name, content, _ := strings.Cut(f, "\x00"); strings.Contains(content, sub) {
						t.Errorf("%s holds %q, a part of a source value", name, sub)
					}
				}
			}
		}
	}
}

func TestCreateNeverCarriesSecrets(t *testing.T) {
	for name, form := range sourceForms {
		for _, generate := range []bool{false, true} {
			t.Run(name+map[bool]string{true: " --generate-secrets"}[generate], func(t *testing.T) {
				repo, src := sourceWith(t, form.files)
				res, err := Create(repo, Request{Source: src, Env: "staging", Name: "acme", GenerateSecrets: generate})
				if err != nil {
					t.Fatal(err)
				}
				assertNoSourceBytes(t, res.Instance.Dir)
				var got []string
				for _, k := range res.Secrets {
					got = append(got, k.File+":"+k.Key)
					if (k.Generated != "") != (generate && strings.HasSuffix(k.File, ".env")) {
						t.Errorf("%s: generated %q", k.Key, k.Generated)
					}
				}
				if strings.Join(got, " ") != strings.Join(form.wantKeys, " ") {
					t.Errorf("keys needing values: %v, want %v", got, form.wantKeys)
				}
				objs, err := overlays.Build(diskFS, res.Instance.Dir)
				if err != nil {
					t.Fatal(err)
				}
				if real := secrets.Real("", objs); len(real) > 0 {
					t.Errorf("not placeholders: %v", real)
				}
				if n := len(secrets.Scan("", objs)); n != len(form.wantKeys) {
					t.Errorf("%d placeholders built, want %d", n, len(form.wantKeys))
				}
				if generate && (name == "env file" || name == "all at once") {
					checkGenerated(t, repo, res)
				} else if len(res.Generated) != 0 || res.Gitignore != "" {
					t.Errorf("generated %v, %q without env files", res.Generated, res.Gitignore)
				}
			})
		}
	}
}

func checkGenerated(t *testing.T, repo *overlays.Repo, res *Result) {
	t.Helper()
	if len(res.Generated) != 1 || filepath.Base(res.Generated[0]) != "secrets.generated.env" {
		t.Fatalf("generated files: %v", res.Generated)
	}
	fi, err := os.Stat(res.Generated[0])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated file: %v, mode %v", err, fi)
	}
	b, _ := os.ReadFile(res.Generated[0])
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		_, v, _ := strings.Cut(line, "=")
		if len(v) != 43 || secrets.Match("", v) {
			t.Errorf("generated value of %q is not a strong random value", line[:strings.Index(line, "=")])
		}
	}
	// git itself says the file is ignored, with the repo's root above k8s/.
	root := filepath.Dir(repo.Dir)
	if out, err := exec.Command("git", "-C", root, "init", "-q").CombinedOutput(); err != nil {
		t.Skipf("git init: %v %s", err, out) // no git: the pattern is checked below anyway
	}
	if out, err := exec.Command("git", "-C", root, "check-ignore", "-q", res.Generated[0]).CombinedOutput(); err != nil {
		t.Errorf("git does not ignore %s: %v %s", res.Generated[0], err, out)
	}
	if out, err := exec.Command("git", "-C", root, "check-ignore", "-q", filepath.Join(res.Instance.Dir, "secrets.env")).CombinedOutput(); err == nil {
		t.Errorf("git ignores the placeholder secrets.env, which must stay tracked: %s", out)
	}
	if res.Gitignore != filepath.Join(repo.Dir, ".gitignore") {
		t.Errorf("gitignore %q", res.Gitignore)
	}
}

func TestCreateSkipsSourceGeneratedFile(t *testing.T) {
	repo, src := sourceWith(t, sourceForms["env file"].files)
	if err := os.WriteFile(filepath.Join(src.Dir, "secrets.generated.env"), []byte("POSTGRES_PASSWORD="+sourceValues[2]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Create(repo, Request{Source: src, Env: "staging", Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	assertNoSourceBytes(t, res.Instance.Dir)
}

func TestCreateRefusesAValueOutsideSecrets(t *testing.T) {
	files := map[string]string{}
	for k, v := range sourceForms["env file"].files {
		files[k] = v
	}
	files["env.yml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: qxsms-env\ndata:\n  # old password " + sourceValues[0] + "\n  A: b\n"
	repo, src := sourceWith(t, files)
	_, err := Create(repo, Request{Source: src, Env: "staging", Name: "acme"})
	if err == nil || !strings.Contains(err.Error(), "env.yml would carry a secret value") || strings.Contains(err.Error(), sourceValues[0]) {
		t.Fatalf("Create = %v, want a refusal naming env.yml and not the value", err)
	}
	if _, err := os.Stat(filepath.Join(repo.Dir, "overlays", "staging", "acme")); err == nil {
		t.Error("a refused scaffold left the folder")
	}
}

func TestCreateUsesTheEnvironmentsPlaceholder(t *testing.T) {
	repo, src := sourceWith(t, sourceForms["literals"].files)
	res, err := Create(repo, Request{Source: src, Env: "staging", Name: "acme", Placeholder: "TODO-*"})
	if err != nil {
		t.Fatal(err)
	}
	kust, _ := os.ReadFile(filepath.Join(res.Instance.Dir, "kustomization.yml"))
	if !strings.Contains(string(kust), "POSTGRES_PASSWORD=TODO-acme-postgres-password") {
		t.Errorf("kustomization.yml:\n%s", kust)
	}
}
