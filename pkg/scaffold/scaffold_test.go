package scaffold

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qxsms/kubectl-qxsms/internal/testutil"
)

func TestCreateFromAnotherEnvironment(t *testing.T) {
	repo := testutil.CopyProjectRepo(t)
	src, err := repo.Select("staging", []string{"pprd"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Create(repo, Request{Source: src[0], Env: "production", Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if res.OldHost != "pprd.qxsms.example.org" || res.NewHost != "acme.qxsms.example.org" {
		t.Errorf("hosts %s -> %s", res.OldHost, res.NewHost)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "DEBUG=true in production") {
		t.Errorf("warnings: %v", res.Warnings)
	}
	if len(res.Files) != 6 {
		t.Errorf("files: %v", res.Files)
	}
	for _, f := range res.Files {
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(got, []byte("pprd")) {
			t.Errorf("%s still ties to the source:\n%s", f, got)
		}
		testutil.Golden(t, "acme/"+filepath.Base(f), string(got))
	}
	kust, _ := os.ReadFile(filepath.Join(repo.Dir, "overlays/production/acme/kustomization.yml"))
	for _, keep := range []string{"# Placeholders in git", "namespace: qxsms-acme", "qxsms.io/environment: production", "QXSMS_ENVIRONMENT=production", `newTag: "production"`, `# QxSMS instance "acme" in environment "production".`} {
		if !strings.Contains(string(kust), keep) {
			t.Errorf("kustomization.yml lacks %q (comments, order and untied values must stay)", keep)
		}
	}
	// The new instance now exists for Select.
	if _, err := repo.Select("production", []string{"acme"}); err != nil {
		t.Fatal(err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(repo.Dir, "overlays", "production", ".*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary folders left behind: %v", leftovers)
	}
}

func TestCreateRefusals(t *testing.T) {
	repo := testutil.CopyProjectRepo(t)
	src, _ := repo.Select("staging", []string{"pprd"})
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Source: src[0], Env: "staging", Name: "demo"}, "already exists"},
		{Request{Source: src[0], Env: "production", Name: "demo"}, `already exists in environment "staging"`},
		{Request{Source: src[0], Env: "staging", Name: "../x"}, "invalid instance name"},
		{Request{Source: src[0], Env: "Prod", Name: "x"}, "invalid environment name"},
	} {
		if _, err := Create(repo, tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Create(%s/%s) = %v, want %q", tc.req.Env, tc.req.Name, err, tc.want)
		}
	}
	// A host that cannot be derived.
	src[0].Name = "zzz"
	if _, err := Create(repo, Request{Source: src[0], Env: "staging", Name: "fresh"}); err == nil || !strings.Contains(err.Error(), "pass --host") {
		t.Errorf("underivable host: %v", err)
	}
	// A broken source writes nothing.
	broken, _ := repo.Select("staging", []string{"demo"})
	if err := os.WriteFile(filepath.Join(broken[0].Dir, "env.yml"), []byte("kind: ConfigMap\nmetadata: {name: qxsms-env}\ndata: {A: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(repo, Request{Source: broken[0], Env: "staging", Name: "fresh", Host: "fresh.example.org"}); err == nil {
		t.Fatal("a broken source must fail")
	}
	if _, err := os.Stat(filepath.Join(repo.Dir, "overlays", "staging", "fresh")); err == nil {
		t.Error("a failed scaffold left the folder")
	}
}

func TestReplaceToken(t *testing.T) {
	for in, want := range map[string]string{
		"pprd":                        "acme",
		"pprd-noreply@x.org":          "acme-noreply@x.org",
		"https://pprd.example.org":    "https://acme.example.org",
		"pprdx":                       "pprdx",
		"xpprd":                       "xpprd",
		"QXSMS_INSTANCE=pprd":         "QXSMS_INSTANCE=acme",
		"changeme-pprd-pprd-postgres": "changeme-acme-acme-postgres",
	} {
		if got := replaceToken(in, "pprd", "acme"); got != want {
			t.Errorf("replaceToken(%q) = %q, want %q", in, got, want)
		}
	}
}
