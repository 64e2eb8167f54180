package plugins

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/qxsms/kubectl-qxsms/plugins/internal/cli"
)

func execute(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	cmd := NewCmdQxsms(streams)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestRootHelpAndFlags(t *testing.T) {
	out, _, err := execute(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kubectl qxsms [command]", "deploy", "restart", "teardown", "pv-released", "pvc-nfs-path", "version",
		"--kubeconfig", "--context", "--namespace", "--request-timeout", "-v, --v"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if strings.Contains(out, "--log_dir") || strings.Contains(out, "--alsologtostderr") {
		t.Error("only klog's -v may be exposed")
	}
	for _, sub := range []string{"deploy", "restart", "teardown", "pv-released", "pvc-nfs-path"} {
		out, _, err := execute(t, sub, "--help")
		if err != nil || !strings.Contains(out, "kubectl qxsms "+sub) {
			t.Errorf("%s --help must show kubectl qxsms examples (err %v)", sub, err)
		}
	}
}

func TestVersionClientJSON(t *testing.T) {
	out, _, err := execute(t, "version", "--client", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Plugin        struct{ Version, ClientGoVersion string }
		ServerVersion any
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Plugin.Version == "" || v.ServerVersion != nil {
		t.Fatalf("version -o json: %s (%v)", out, err)
	}
}

func TestBadInputBeforeAnyCluster(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy"}, "requires at least 1 arg"},
		{[]string{"deploy", "staging", "--parallel", "-1", "--root", "../k8s"}, "--parallel must be 0 (all at once) or more"},
		{[]string{"deploy", "staging", "--diff", "--dry-run=server", "--root", "../k8s"}, "--diff and --dry-run cannot be combined"},
		{[]string{"deploy", "staging", "--diff", "-o", "json", "--root", "../k8s"}, "--diff and --output cannot be combined"},
		{[]string{"deploy", "staging", "-o", "wide", "--root", "../k8s"}, `--output "wide" is not supported`},
		{[]string{"deploy", "nope", "--root", "../k8s"}, "known environments are development, production, staging"},
		{[]string{"deploy", "staging", "../production", "--root", "../k8s"}, "invalid instance name"},
		{[]string{"deploy", "staging", "--root", "/nonexistent"}, "--root \"/nonexistent\" holds no overlays/"},
		{[]string{"restart"}, "name at least one instance, or pass --all"},
		{[]string{"restart", "a", "--deployment", "x", "-l", "a=b"}, "cannot be combined"},
		{[]string{"teardown", "staging"}, "accepts 2 arg(s)"},
		{[]string{"teardown", "staging", "ghost", "--root", "../k8s"}, `unknown instance "ghost"`},
		{[]string{"pvc-nfs-path", "pprd", "--ssh-user", "x"}, "--ssh-user goes with --rsync"},
		{[]string{"pvc-nfs-path", "pprd", "--export-root", "nope"}, "want EXPORT=FSPATH"},
		{[]string{"pvc-nfs-path", "Bad"}, "invalid instance name"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, _, err := execute(t, append(tc.args, "--kubeconfig", "/nonexistent/kubeconfig")...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPrintError(t *testing.T) {
	var buf bytes.Buffer
	if code := PrintError(&buf, nil); code != 0 || buf.Len() != 0 {
		t.Errorf("nil: %d %q", code, buf.String())
	}
	if code := PrintError(&buf, errors.New("boom")); code != 1 || buf.String() != "error: boom\n" {
		t.Errorf("plain: %d %q", code, buf.String())
	}
	buf.Reset()
	if code := PrintError(&buf, cli.WithCode(1, nil)); code != 1 || buf.Len() != 0 {
		t.Errorf("silent diff exit: %d %q", code, buf.String())
	}
	if code := PrintError(&buf, cli.WithCode(2, errors.New("x"))); code != 2 {
		t.Errorf("coded: %d", code)
	}
}
