package newinstance

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdtesting "k8s.io/kubectl/pkg/cmd/testing"

	"github.com/qxsms/kubectl-qxsms/internal/testutil"
)

type result struct {
	out, errOut string
	err         error
}

// run executes `kubectl qxsms new ARGS... --root DIR`; the repo's folder
// reads $ROOT in the output.
func run(t *testing.T, dir string, args ...string) result {
	t.Helper()
	tf := cmdtesting.NewTestFactory()
	t.Cleanup(tf.Cleanup)
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	cmd := NewCmdNew(tf, streams)
	cmd.SetArgs(append([]string{"--root", dir}, args...))
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	_, err := cmd.ExecuteC()
	clean := func(s string) string { return strings.ReplaceAll(s, dir, "$ROOT") }
	return result{clean(out.String()), clean(errOut.String()), err}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		golden string
		args   []string
		// dir is the overlay that must exist afterwards.
		dir string
	}{
		{"from-another-environment", []string{"production", "acme", "--from", "staging/pprd"}, "overlays/production/acme"},
		{"generate-secrets", []string{"production", "acme", "--from", "staging/pprd", "--generate-secrets"}, "overlays/production/acme"},
		{"unqualified-source", []string{"staging", "qa", "--from", "pprd", "--host", "qa.example.com"}, "overlays/staging/qa"},
		{"source-in-the-only-environment", []string{"staging", "acme", "--from", "prod", "--host", "acme.example.com"}, "overlays/staging/acme"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			dir := testutil.CopyProjectRepo(t).Dir
			r := run(t, dir, tc.args...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			testutil.Golden(t, tc.golden, "-- stdout --\n"+r.out+"-- stderr --\n"+r.errOut)
			if _, err := os.Stat(filepath.Join(dir, tc.dir, "kustomization.yml")); err != nil {
				t.Errorf("no overlay written: %v", err)
			}
			// No generated secret value is ever printed.
			_ = filepath.WalkDir(filepath.Join(dir, tc.dir), func(p string, d fs.DirEntry, err error) error {
				if err != nil || !strings.HasSuffix(p, ".generated.env") {
					return err
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				for _, line := range strings.Split(string(b), "\n") {
					if _, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") && v != "" && strings.Contains(r.out+r.errOut, v) {
						t.Errorf("a generated value of %s was printed", p)
					}
				}
				return nil
			})
		})
	}
}

// Bad input is refused with the fix, and writes nothing.
func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no --from", []string{"staging", "qa"}, `required flag(s) "from" not set`},
		{"one argument", []string{"staging", "--from", "pprd"}, "accepts 2 arg(s), received 1"},
		{"bad environment", []string{"Staging", "qa", "--from", "pprd"}, `invalid environment name "Staging"`},
		{"bad instance", []string{"staging", "../qa", "--from", "pprd"}, `invalid instance name "../qa"`},
		{"bad source", []string{"staging", "qa", "--from", "../pprd"}, `--from ../pprd: invalid environment name ".."`},
		{"bad host", []string{"staging", "qa", "--from", "pprd", "--host", "bad_host"}, `--host: invalid host "bad_host"`},
		{"unknown source", []string{"staging", "qa", "--from", "ghost"}, "--from ghost: no instance of that name in any environment (development, production, staging)"},
		{"existing instance", []string{"staging", "demo", "--from", "pprd"}, "already exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testutil.CopyProjectRepo(t).Dir
			before := tree(t, dir)
			r := run(t, dir, tc.args...)
			if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", r.err, tc.want)
			}
			if r.out != "" {
				t.Errorf("stdout: %q", r.out)
			}
			if after := tree(t, dir); after != before {
				t.Errorf("files changed:\n--- before\n%s--- after\n%s", before, after)
			}
		})
	}
}

// tree lists the files under dir with their sizes.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%s %d\n", rel, info.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
