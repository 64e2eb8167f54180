package secrets

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		glob, value string
		want        bool
	}{
		{"changeme-*", "changeme-pprd-postgres", true},
		{"changeme-*", "changeme-", true},
		{"changeme-*", "changeme", false},
		{"changeme-*", "xchangeme-pprd", false},
		{"changeme-*", "s3cr3t/with/slashes", false},
		{"", "changeme-a/b", true}, // the default glob; * crosses '/'
		{"*-placeholder", "pprd-db-placeholder", true},
		{"*-placeholder", "pprd-db-placeholder-no", false},
		{"TODO?*", "TODO1", true},
		{"TODO?*", "TODO", false},
		{"a*b*c", "a-b-x-c", true},
		{"a*b*c", "a-c-b", false},
		{"exact", "exact", true},
	} {
		if got := Match(tc.glob, tc.value); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.glob, tc.value, got, tc.want)
		}
	}
}

func TestPlaceholderMatchesItsGlob(t *testing.T) {
	for glob, want := range map[string]string{
		"":              "changeme-acme-postgres-password",
		"changeme-*":    "changeme-acme-postgres-password",
		"*-placeholder": "acme-postgres-password-placeholder",
		"TODO-*-*":      "TODO-acme-postgres-password-",
		"fixed":         "fixed",
	} {
		got := Placeholder(glob, "acme", "POSTGRES_PASSWORD")
		if got != want || !Match(glob, got) {
			t.Errorf("Placeholder(%q) = %q (matches: %v), want %q", glob, got, Match(glob, got), want)
		}
	}
}

func TestGenerate(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate()
	if a == b || len(a) != 43 || Match(DefaultPlaceholder, a) || strings.ContainsAny(a, "\n=#") {
		t.Errorf("Generate() = %q, %q: want distinct 43-byte env-safe values", a, b)
	}
}

// overlay writes files into a temp overlay dir and builds it.
func overlay(t *testing.T, files map[string]string) (string, []*unstructured.Unstructured) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := overlays.Build(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, objs
}

// The three forms an overlay can hold a Secret in, with one placeholder each
// among real values.
var forms = map[string]map[string]string{
	"env file": {
		"kustomization.yml": "secretGenerator:\n  - name: app\n    envs: [secrets.env]\n",
		"secrets.env":       "# comment\nPOSTGRES_PASSWORD=changeme-x-postgres\nRABBITMQ_PASSWORD=Kx9q2RealValue\n",
	},
	"literals": {
		"kustomization.yml": "secretGenerator:\n  - name: app\n    literals:\n      - POSTGRES_PASSWORD=changeme-x-postgres\n      - RABBITMQ_PASSWORD=Kx9q2RealValue\n",
	},
	"plain Secret": {
		"kustomization.yml": "resources: [secret.yml]\n",
		"secret.yml": "apiVersion: v1\nkind: Secret\nmetadata: {name: app}\n" +
			"data: {POSTGRES_PASSWORD: Y2hhbmdlbWUteC1wb3N0Z3Jlcw==}\nstringData: {RABBITMQ_PASSWORD: Kx9q2RealValue}\n",
	},
	"plain Secret, stringData placeholder": {
		"kustomization.yml": "resources: [secret.yml]\n",
		"secret.yml":        "apiVersion: v1\nkind: Secret\nmetadata: {name: app}\nstringData: {POSTGRES_PASSWORD: changeme-x-postgres, RABBITMQ_PASSWORD: Kx9q2RealValue}\n",
	},
	"generator files": {
		"kustomization.yml": "secretGenerator:\n  - name: app\n    files: [POSTGRES_PASSWORD=pg.txt, RABBITMQ_PASSWORD=mq.txt]\n",
		"pg.txt":            "changeme-x-postgres",
		"mq.txt":            "Kx9q2RealValue",
	},
}

func TestScanEveryForm(t *testing.T) {
	wantFile := map[string]string{"env file": "secrets.env", "literals": "kustomization.yml", "plain Secret": "secret.yml",
		"plain Secret, stringData placeholder": "secret.yml", "generator files": "pg.txt"}
	for name, files := range forms {
		t.Run(name, func(t *testing.T) {
			dir, objs := overlay(t, files)
			got := Scan("", objs)
			if len(got) != 1 || got[0].Key != "POSTGRES_PASSWORD" || !strings.HasPrefix(got[0].Secret, "app") {
				t.Fatalf("Scan = %+v, want only app's POSTGRES_PASSWORD", got)
			}
			Locate(dir, got)
			if got[0].File != wantFile[name] {
				t.Errorf("Locate: file %q, want %q", got[0].File, wantFile[name])
			}
			if none := Scan("nomatch-*", objs); len(none) != 0 {
				t.Errorf("another glob found %+v", none)
			}
		})
	}
}

func TestScanIgnoresNonSecrets(t *testing.T) {
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"},
		"data": map[string]any{"A": "changeme-x"}}}
	other := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.org/v1", "kind": "Secret", "metadata": map[string]any{"name": "s"},
		"data": map[string]any{"A": "Y2hhbmdlbWUteA=="}}}
	if got := Scan("", []*unstructured.Unstructured{cm, other, nil}); len(got) != 0 {
		t.Errorf("Scan = %+v, want nothing", got)
	}
}

func TestPolicyFor(t *testing.T) {
	cfg := &overlays.Config{Path: "qxsms.yaml", Environments: map[string]overlays.EnvironmentConfig{
		"production": {Protected: true},
		"staging":    {Placeholder: "TODO-*"},
		"pre":        {RealSecrets: "required"},
	}}
	for _, tc := range []struct {
		cfg  *overlays.Config
		env  string
		want Policy
	}{
		{cfg, "production", Policy{Glob: "changeme-*", Required: true}},
		{cfg, "staging", Policy{Glob: "TODO-*"}},
		{cfg, "pre", Policy{Glob: "changeme-*", Required: true}},
		{cfg, "development", Policy{Glob: "changeme-*"}},
		{nil, "production", Policy{Glob: "changeme-*", Required: true}},
		{&overlays.Config{}, "staging", Policy{Glob: "changeme-*"}},
	} {
		if got := PolicyFor(tc.cfg, tc.env); got != tc.want {
			t.Errorf("PolicyFor(%s) = %+v, want %+v", tc.env, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	dir, objs := overlay(t, forms["env file"])
	_, clean := overlay(t, map[string]string{
		"kustomization.yml": "secretGenerator:\n  - name: app\n    literals: [POSTGRES_PASSWORD=Zr7RealOne]\n",
	})
	cfg := &overlays.Config{Path: "qxsms.yaml", Environments: map[string]overlays.EnvironmentConfig{
		"production": {Protected: true}, "staging": {}, "pre": {RealSecrets: "required"},
	}}
	for _, tc := range []struct {
		env      string
		wantErr  []string
		wantWarn []string
	}{
		{"production", []string{`environment "production" is protected`, "instance production/web:", "key POSTGRES_PASSWORD (secrets.env)",
			"SECRETS_PRODUCTION_WEB", "nothing was applied"}, nil},
		{"pre", []string{"realSecrets: required", "SECRETS_PRE_WEB"}, nil},
		{"staging", nil, []string{"Warning: instance staging/web deploys placeholder secrets", "key POSTGRES_PASSWORD (secrets.env)", "SECRETS_STAGING_WEB"}},
	} {
		t.Run(tc.env, func(t *testing.T) {
			insts := []overlays.Instance{{Env: tc.env, Name: "web", Dir: dir}, {Env: tc.env, Name: "ok", Dir: t.TempDir()}}
			built := map[string][]*unstructured.Unstructured{"web": objs, "ok": clean}
			var warn bytes.Buffer
			err := Check(cfg, tc.env, insts, built, &warn)
			out := warn.String()
			if err != nil {
				out += err.Error()
			}
			for _, value := range []string{"changeme-x-postgres", "Kx9q2RealValue", "Zr7RealOne"} {
				if strings.Contains(out, value) {
					t.Errorf("a value leaked: %q in\n%s", value, out)
				}
			}
			if strings.Contains(out, "ok") && strings.Contains(out, "/ok") {
				t.Errorf("the clean instance is reported:\n%s", out)
			}
			if tc.wantErr == nil && err != nil {
				t.Fatalf("Check: %v", err)
			}
			if tc.wantErr != nil && err == nil {
				t.Fatal("Check passed, want a refusal")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			for _, w := range tc.wantWarn {
				if !strings.Contains(warn.String(), w) {
					t.Errorf("warning lacks %q:\n%s", w, warn.String())
				}
			}
			if tc.wantWarn != nil && strings.Count(warn.String(), "\n") != 1 {
				t.Errorf("want one warning line per instance with placeholders:\n%s", warn.String())
			}
			if tc.wantErr != nil && warn.Len() != 0 {
				t.Errorf("a refusal also warned:\n%s", warn.String())
			}
		})
	}
}

func TestCIVariable(t *testing.T) {
	if got := CIVariable("production", "e2e-ci-00af"); got != "SECRETS_PRODUCTION_E2E_CI_00AF" {
		t.Errorf("CIVariable = %q", got)
	}
}

func TestJoinFindingsGroupsBySecretAndFile(t *testing.T) {
	got := joinFindings([]Finding{{"a", "K1", "secrets.env"}, {"a", "K2", "secrets.env"}, {"a", "L", "kustomization.yml"}, {"b", "M", ""}})
	want := "Secret a keys K1, K2 (secrets.env); Secret a key L (kustomization.yml); Secret b key M"
	if got != want {
		t.Errorf("joinFindings = %q, want %q", got, want)
	}
}
