package overlays

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		wantErr  string
	}{
		{"simple", "pprd", ""},
		{"digits and dash", "demo-2", ""},
		{"empty", "", "empty"},
		{"traversal", "../prod", "invalid instance name"},
		{"slash", "a/b", "invalid instance name"},
		{"dot", ".", "invalid instance name"},
		{"upper case", "Prod", "invalid instance name"},
		{"underscore", "my_inst", "invalid instance name"},
		{"leading dash", "-x", "invalid instance name"},
		{"63 chars is too long once prefixed", strings.Repeat("a", 60), "too long"},
		{"57 chars fits in qxsms-", strings.Repeat("a", 57), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateName("instance", tc.in)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateName(%q) = %v, want nil", tc.in, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ValidateName(%q) = %v, want error containing %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"pprd", "../etc", "a/b", "", strings.Repeat("x", 80), "ok-1", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateName("instance", name) != nil {
			return
		}
		// Anything accepted is a safe path segment and a valid namespace suffix.
		if strings.ContainsAny(name, "/\\.\x00") || name == "" || len(Namespace(name)) > 63 || filepath.Base(name) != name {
			t.Fatalf("accepted unsafe name %q", name)
		}
	})
}

// makeRepo writes a config repo with the given overlay folders.
func makeRepo(t testing.TB, overlays ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, o := range overlays {
		dir := filepath.Join(root, "k8s", "overlays", o)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yml"), []byte("resources: []\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestFindRepo(t *testing.T) {
	root := makeRepo(t, "staging/pprd")
	deep := filepath.Join(root, "docs", "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	k8s := filepath.Join(root, "k8s")
	for _, tc := range []struct {
		name, flag, env, cwd, want, wantErr string
	}{
		{name: "nearest ancestor", cwd: deep, want: k8s},
		{name: "flag names the repo", flag: root, cwd: "/", want: k8s},
		{name: "flag names k8s/", flag: k8s, cwd: "/", want: k8s},
		{name: "env", env: root, cwd: "/", want: k8s},
		{name: "flag wins over env", flag: root, env: "/nonexistent", cwd: "/", want: k8s},
		{name: "bad flag", flag: deep, cwd: deep, wantErr: "--root"},
		{name: "bad env", env: deep, cwd: deep, wantErr: "$QXSMS_ROOT"},
		{name: "nothing", cwd: t.TempDir(), wantErr: "no k8s/overlays folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := FindRepo(tc.flag, tc.env, tc.cwd)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || r.Dir != tc.want {
				t.Fatalf("FindRepo = %v, %v; want %s", r, err, tc.want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	root := makeRepo(t, "staging/pprd", "staging/demo", "production/prod")
	// A folder without a kustomization is not an instance.
	if err := os.MkdirAll(filepath.Join(root, "k8s", "overlays", "staging", "notes"), 0o755); err != nil {
		t.Fatal(err)
	}
	repo := &Repo{Dir: filepath.Join(root, "k8s")}
	all, err := repo.Select("staging", nil)
	if err != nil || len(all) != 2 || all[0].Name != "demo" || all[1].Name != "pprd" {
		t.Fatalf("Select(staging) = %v, %v", all, err)
	}
	if all[1].Namespace() != "qxsms-pprd" || all[1].String() != "staging/pprd" {
		t.Errorf("instance naming: %s %s", all[1].Namespace(), all[1])
	}
	one, err := repo.Select("staging", []string{"pprd", "pprd"})
	if err != nil || len(one) != 1 {
		t.Fatalf("duplicates must collapse: %v %v", one, err)
	}
	for _, tc := range []struct {
		env   string
		names []string
		want  string
	}{
		{"qa", nil, "known environments are production, staging"},
		{"staging", []string{"nope"}, "known instances are demo, pprd"},
		{"staging", []string{"notes"}, "known instances are demo, pprd"},
		{"staging", []string{"../production/prod"}, "invalid instance name"},
		{"../k8s", nil, "invalid environment name"},
	} {
		if _, err := repo.Select(tc.env, tc.names); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Select(%q, %v) = %v, want %q", tc.env, tc.names, err, tc.want)
		}
	}
}

func FuzzSelect(f *testing.F) {
	root := makeRepo(f, "staging/pprd")
	repo := &Repo{Dir: filepath.Join(root, "k8s")}
	f.Add("staging", "pprd")
	f.Add("..", "k8s")
	f.Add("staging", "../../etc")
	f.Fuzz(func(t *testing.T, env, inst string) {
		insts, err := repo.Select(env, []string{inst})
		if err != nil {
			return
		}
		for _, i := range insts {
			rel, err := filepath.Rel(repo.Dir, i.Dir)
			if err != nil || strings.HasPrefix(rel, "..") || i.Dir != filepath.Join(repo.Dir, "overlays", env, inst) {
				t.Fatalf("Select(%q, %q) escaped the repo: %s", env, inst, i.Dir)
			}
		}
	})
}

func TestBuildErrorsNameTheCause(t *testing.T) {
	fs := filesys.MakeFsInMemory()
	write := func(p, s string) {
		if err := fs.WriteFile(p, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	write("/k8s/overlays/staging/nobase/kustomization.yml", "resources: [../../../base]\n")
	write("/k8s/overlays/staging/nosecret/kustomization.yml", "secretGenerator:\n- name: s\n  envs: [secrets.env]\n")
	write("/k8s/overlays/staging/badyaml/kustomization.yml", "resources: [env.yml]\n")
	write("/k8s/overlays/staging/badyaml/env.yml", "kind: ConfigMap\nmetadata: [\n")
	write("/k8s/overlays/staging/dup/kustomization.yml", "resources: [a.yml, b.yml]\n")
	write("/k8s/overlays/staging/dup/a.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
	write("/k8s/overlays/staging/dup/b.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
	for dir, want := range map[string]string{
		"nobase":   "base",
		"nosecret": "secrets.env",
		"badyaml":  "env.yml",
		"dup":      "ConfigMap",
	} {
		_, err := BuildInstances(fs, []Instance{{Env: "staging", Name: dir, Dir: "/k8s/overlays/staging/" + dir}})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "instance staging/"+dir) || !strings.Contains(err.Error(), "nothing was applied") {
			t.Errorf("%s: error %v should name the instance, %q and that nothing was applied", dir, err, want)
		}
	}
}

func obj(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func TestCheck(t *testing.T) {
	inst := Instance{Env: "staging", Name: "pprd", Dir: "k8s/overlays/staging/pprd"}
	ns := obj("v1", "Namespace", "", "qxsms-pprd")
	for _, tc := range []struct {
		name string
		objs []*unstructured.Unstructured
		want string
	}{
		{"ok", []*unstructured.Unstructured{ns, obj("apps/v1", "Deployment", "qxsms-pprd", "qxsms")}, ""},
		{"other namespace", []*unstructured.Unstructured{ns, obj("v1", "Service", "qxsms-demo", "s")}, `not the instance's "qxsms-pprd"`},
		{"no namespace field", []*unstructured.Unstructured{ns, obj("v1", "Service", "", "s")}, "set `namespace: qxsms-pprd`"},
		{"missing Namespace", []*unstructured.Unstructured{obj("v1", "Service", "qxsms-pprd", "s")}, "add namespace.yml"},
		{"wrong Namespace", []*unstructured.Unstructured{obj("v1", "Namespace", "", "kube-system")}, "rename it in namespace.yml"},
		{"cluster-scoped", []*unstructured.Unstructured{ns, obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "x")}, "move it to k8s/cluster/"},
		{"no kind", []*unstructured.Unstructured{ns, obj("", "", "qxsms-pprd", "x")}, "no apiVersion or kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(inst, tc.objs, StaticScope)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Check = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestConfigCheckContext(t *testing.T) {
	dir := t.TempDir()
	repo := &Repo{Dir: dir}
	cfg, err := repo.LoadConfig()
	if err != nil || cfg.Path != "" || cfg.CheckContext("production", "anything") != nil {
		t.Fatalf("without qxsms.yaml every context is allowed: %v %v", cfg, err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte("environments:\n  staging: {contexts: [preprod, \"agents:pre*\"]}\n  production: {contexts: [prod], protected: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg, err = repo.LoadConfig(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ env, ctx, want string }{
		{"staging", "preprod", ""},
		{"staging", "agents:preprod-1", ""},
		{"staging", "prod", `may not be deployed to context "prod"`},
		{"production", "preprod", "--allow-context-mismatch"},
		{"qa", "preprod", `environment "qa" is not listed`},
	} {
		err := cfg.CheckContext(tc.env, tc.ctx)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckContext(%s, %s) = %v, want %q", tc.env, tc.ctx, err, tc.want)
		}
	}
	if !cfg.Protected("production") || cfg.Protected("staging") {
		t.Error("protected flags wrong")
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte("environment: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.LoadConfig(); err == nil || !strings.Contains(err.Error(), "is not valid") {
		t.Errorf("a misspelt key must be rejected, got %v", err)
	}
}
