package status

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/qxsms/kubectl-qxsms/pkg/status"
)

func TestNoteFlagsPlaceholderSecrets(t *testing.T) {
	rows := []status.Row{
		{Env: "staging", Instance: "pprd", Overlay: true, NamespacePhase: "Active", Placeholders: []string{"qxsms-secrets-x/A", "qxsms-secrets-x/B"}},
		{Env: "staging", Instance: "demo", Overlay: true, NamespacePhase: "Active"},
		{Env: "staging", Instance: "old", NamespacePhase: "Active", Orphan: "no overlay", Placeholders: []string{"s/K"}},
	}
	var out bytes.Buffer
	printTable(&out, rows, false, time.Now())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for i, want := range []string{"2 placeholder secret key(s)", "-", "no overlay 1 placeholder secret key(s)"} {
		if !strings.HasSuffix(strings.TrimSpace(lines[i+1]), want) {
			t.Errorf("row %d NOTE: %q, want it to end with %q", i, lines[i+1], want)
		}
	}
}
