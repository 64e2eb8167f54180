// Package layers checks the import rules of the module's layers: pkg/ (the
// engine) never imports cobra or the command layer, and the commands under
// plugins/ never import each other.
package layers

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/qxsms/kubectl-qxsms"

// imports maps every package of the module to its direct imports, as `go list` sees them.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	// go test puts its own go first on PATH.
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "list", "-f", `{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}}`, module+"/...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkgs[f[0]] = f[1:]
	}
	return pkgs
}

// violation says why pkg may not import imp, or "".
func violation(pkg, imp string) string {
	rel, _ := strings.CutPrefix(pkg, module+"/")
	impRel, own := strings.CutPrefix(imp, module+"/")
	switch {
	case strings.HasPrefix(rel, "pkg/") && imp == "github.com/spf13/cobra":
		return "the engine (pkg/) knows nothing of cobra: take config structs, return results"
	case strings.HasPrefix(rel, "pkg/") && own && strings.HasPrefix(impRel, "plugins"):
		return "the engine (pkg/) never imports the command layer"
	case strings.HasPrefix(rel, "plugins/") && !strings.HasPrefix(rel, "plugins/internal/") &&
		own && strings.HasPrefix(impRel, "plugins/") && !strings.HasPrefix(impRel, "plugins/internal/") &&
		commandOf(rel) != commandOf(impRel):
		return "commands never import each other: move what they share to plugins/internal/cli or pkg/"
	}
	return ""
}

// commandOf is the command package a path belongs to: plugins/deploy for plugins/deploy/x.
func commandOf(rel string) string {
	parts := strings.SplitN(rel, "/", 3)
	return strings.Join(parts[:min(2, len(parts))], "/")
}

func TestLayers(t *testing.T) {
	pkgs := imports(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for pkg, imps := range pkgs {
		for _, imp := range imps {
			if why := violation(pkg, imp); why != "" {
				t.Errorf("%s imports %s: %s", pkg, imp, why)
			}
		}
	}
}

func TestViolationCatchesEachRule(t *testing.T) {
	for _, tc := range []struct {
		pkg, imp string
		bad      bool
	}{
		{module + "/pkg/deploy", "github.com/spf13/cobra", true},
		{module + "/pkg/deploy", module + "/plugins/internal/cli", true},
		{module + "/plugins/status", module + "/plugins/deploy", true},
		{module + "/plugins/status", module + "/plugins/internal/cli", false},
		{module + "/plugins", module + "/plugins/deploy", false},
		{module + "/plugins/deploy", module + "/pkg/deploy", false},
		{module + "/plugins/deploy", "github.com/spf13/cobra", false},
	} {
		if got := violation(tc.pkg, tc.imp) != ""; got != tc.bad {
			t.Errorf("%s -> %s: violation %v, want %v", tc.pkg, tc.imp, got, tc.bad)
		}
	}
}
