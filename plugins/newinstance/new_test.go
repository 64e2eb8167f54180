package newinstance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func TestRunSaysWhatItDid(t *testing.T) {
	for _, tc := range []struct {
		generate bool
		want     []string
		wantNot  []string
	}{
		{false, []string{"no value was copied from staging/pprd", "These keys hold placeholders", "POSTGRES_PASSWORD", "Secret qxsms-secrets", "in secrets.env",
			"SECRETS_PRODUCTION_ACME", "deploy refuses the placeholders in protected environments"}, []string{"random", "generated.env", "changeme"}},
		{true, []string{"no value was copied", "Strong random values for DJANGO_SECRET_KEY, POSTGRES_PASSWORD, RABBITMQ_PASSWORD", "secrets.generated.env",
			"which git ignores", ".gitignore", "Next: store", "SECRETS_PRODUCTION_ACME", "Then delete the file"}, []string{"These keys hold placeholders", "changeme"}},
	} {
		dir := filepath.Join(t.TempDir(), "k8s")
		if err := os.CopyFS(dir, os.DirFS("../../k8s")); err != nil {
			t.Fatal(err)
		}
		streams, _, out, errOut := genericiooptions.NewTestIOStreams()
		o := &Options{Root: dir, From: "staging/pprd", GenerateSecrets: tc.generate, IOStreams: streams}
		if err := o.Complete([]string{"production", "acme"}); err != nil {
			t.Fatal(err)
		}
		if err := o.Run(); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("generate=%v: output lacks %q:\n%s", tc.generate, w, out)
			}
		}
		for _, w := range tc.wantNot {
			if strings.Contains(out.String(), w) {
				t.Errorf("generate=%v: output has %q:\n%s", tc.generate, w, out)
			}
		}
		if tc.generate {
			b, _ := os.ReadFile(filepath.Join(dir, "overlays/production/acme/secrets.generated.env"))
			for _, line := range strings.Split(string(b), "\n") {
				if _, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") && strings.Contains(out.String()+errOut.String(), v) {
					t.Errorf("a generated value was printed")
				}
			}
		}
	}
}
