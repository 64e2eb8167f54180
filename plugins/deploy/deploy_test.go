package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	restfake "k8s.io/client-go/rest/fake"
	cmdtesting "k8s.io/kubectl/pkg/cmd/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/qxsms/kubectl-qxsms/internal/testutil"
	"github.com/qxsms/kubectl-qxsms/pkg/deploy"
	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/plugins/internal/cli"
)

// repoFiles are a config repo with one staging instance.
var repoFiles = map[string]string{
	"qxsms.yaml": "environments:\n  staging:\n    contexts: [\"kind-staging\"]\n",
	"overlays/staging/pprd/kustomization.yml": "namespace: qxsms-pprd\nresources: [namespace.yml, config.yml]\n",
	"overlays/staging/pprd/namespace.yml":     "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: qxsms-pprd\n",
	"overlays/staging/pprd/config.yml":        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\ndata:\n  LOG_LEVEL: info\n",
}

// emptyCluster is a cluster without the instance. Its API server answers
// every server-side apply as a creation, echoing the object (a Namespace
// Active at once), unless forbidden lists the path; it does not store what
// it is sent: the engine's own tests cover redeploys and prune.
type emptyCluster struct {
	t         *testing.T
	mu        sync.Mutex
	applies   []string
	forbidden map[string]bool
}

func (s *emptyCluster) serve(req *http.Request) (*http.Response, error) {
	reply := func(code int, body any) (*http.Response, error) {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		return &http.Response{StatusCode: code, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(b))}, nil
	}
	if req.Method == http.MethodGet && req.URL.Path == "/version" {
		return reply(http.StatusOK, map[string]string{"gitVersion": "v1.37.2"})
	}
	if req.Method != http.MethodPatch {
		s.t.Errorf("unexpected request %s %s", req.Method, req.URL)
		return reply(http.StatusMethodNotAllowed, nil)
	}
	s.mu.Lock()
	s.applies = append(s.applies, req.URL.Path+" "+req.URL.Query().Get("dryRun"))
	s.mu.Unlock()
	if s.forbidden[req.URL.Path] {
		st := apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "qxsms-pprd", errors.New("RBAC")).Status()
		return reply(int(st.Code), st)
	}
	obj := &unstructured.Unstructured{}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	if err := obj.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	if obj.GetKind() == "Namespace" {
		_ = unstructured.SetNestedField(obj.Object, "Active", "status", "phase")
	}
	return reply(http.StatusCreated, obj.Object)
}

func (s *emptyCluster) clients(t *testing.T) *kube.Clients {
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Version: "v1"}})
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		{Version: "v1", Resource: "namespaces"}: "NamespaceList", {Version: "v1", Resource: "configmaps"}: "ConfigMapList"})
	// As kube.New builds it, over a fake transport; restfake.RESTClient
	// records requests without a lock, which parallel applies race on.
	raw, err := rest.UnversionedRESTClientForConfigAndClient(dynamic.ConfigFor(&rest.Config{Host: "https://fake.invalid", QPS: -1}),
		restfake.CreateHTTPClient(s.serve))
	if err != nil {
		t.Fatal(err)
	}
	return &kube.Clients{Typed: kubefake.NewClientset(), Dynamic: dyn, Mapper: mapper, Raw: raw}
}

// options are what Complete resolves for `deploy staging` against cluster.
func options(t *testing.T, cluster *emptyCluster) (*Options, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := NewDeployOptions(streams)
	o.repo = testutil.WriteRepo(t, repoFiles)
	o.env = "staging"
	instances, err := o.repo.Select("staging", nil)
	if err != nil {
		t.Fatal(err)
	}
	o.instances = instances
	o.dryRun = deploy.DryRunNone
	o.canarySet = true
	o.target = func() (cli.Target, error) {
		return cli.Target{Context: "kind-staging", Server: "https://127.0.0.1:6443", ContextServer: "https://127.0.0.1:6443"}, nil
	}
	c := cluster.clients(t)
	o.clients = func() (*kube.Clients, error) { return c, nil }
	o.fsys = filesys.MakeFsOnDisk()
	return o, out, errOut
}

// exitCode is the code main exits with (plugins.PrintError's rule).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}

var durationCell = regexp.MustCompile(`\b[0-9.]+(µs|ms|s)( *)`)

// stable replaces the measured durations with <d>, keeping the table's
// columns where they were.
func stable(s string) string {
	return durationCell.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasSuffix(m, " ") {
			return fmt.Sprintf("%-*s", max(len(m), 4), "<d>")
		}
		return "<d>"
	})
}

func TestDeployRun(t *testing.T) {
	cases := []struct {
		name       string
		setup      func(*Options, *emptyCluster)
		wantCode   int
		wantErr    string
		wantOut    string
		wantErrOut string
		// dryRunOnly: every apply must carry dryRun=All.
		dryRunOnly bool
	}{{
		name:       "deploy",
		wantCode:   0,
		wantOut:    "deploy",
		wantErrOut: "Deploying 1 instance(s) of staging to context \"kind-staging\"\n",
	}, {
		name:       "name output",
		setup:      func(o *Options, _ *emptyCluster) { o.Output.OutputFormat = ptr.To("name") },
		wantOut:    "namespace/qxsms-pprd\nconfigmap/config\n",
		wantErrOut: "deploy-name-stderr",
	}, {
		name:       "diff with differences",
		setup:      func(o *Options, _ *emptyCluster) { o.Diff = true },
		wantCode:   1,
		wantOut:    "diff",
		wantErrOut: "diff-stderr",
		dryRunOnly: true,
	}, {
		name: "a failure under --diff",
		setup: func(o *Options, c *emptyCluster) {
			o.Diff = true
			c.forbidden = map[string]bool{"/api/v1/namespaces/qxsms-pprd": true}
		},
		wantCode:   2,
		wantErr:    "1 of 1 instance(s) failed: staging/pprd (see the errors above; re-run deploy once fixed, it converges)",
		dryRunOnly: true,
	}, {
		name: "a failure",
		setup: func(_ *Options, c *emptyCluster) {
			c.forbidden = map[string]bool{"/api/v1/namespaces/qxsms-pprd": true}
		},
		wantCode: 1,
		wantErr:  "1 of 1 instance(s) failed: staging/pprd (see the errors above; re-run deploy once fixed, it converges)",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cluster := &emptyCluster{t: t}
			o, out, errOut := options(t, cluster)
			if tc.setup != nil {
				tc.setup(o, cluster)
			}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			err := o.Run(context.Background())
			if code := exitCode(err); code != tc.wantCode {
				t.Errorf("exit code %d (%v), want %d", code, err, tc.wantCode)
			}
			if got := fmt.Sprint(err); tc.wantErr != "" && got != tc.wantErr {
				t.Errorf("error %q\nwant  %q", got, tc.wantErr)
			}
			if tc.wantErr == "" && err != nil && err.Error() != "" {
				t.Errorf("a deploy that succeeds, or only differs, prints no error: %q", err)
			}
			expect(t, "stdout", tc.wantOut, stable(out.String()))
			expect(t, "stderr", tc.wantErrOut, stable(errOut.String()))
			for _, a := range cluster.applies {
				if tc.dryRunOnly && !strings.HasSuffix(a, " All") {
					t.Errorf("--diff applied for real: %s", a)
				}
			}
			if len(cluster.applies) == 0 {
				t.Error("nothing reached the server")
			}
		})
	}
}

// expect compares with a literal when want ends in a newline, else with
// the golden file of that name; an empty want is not checked.
func expect(t *testing.T, what, want, got string) {
	t.Helper()
	switch {
	case want == "":
	case strings.HasSuffix(want, "\n"):
		if got != want {
			t.Errorf("%s:\n%s--- want\n%s", what, got, want)
		}
	default:
		testutil.Golden(t, want, got)
	}
}

// Flag combinations are refused before anything is built or sent; under
// --diff, with kubectl diff's exit code 2.
func TestDeployRefusesFlagCombinations(t *testing.T) {
	root := testutil.WriteRepo(t, repoFiles).Dir
	cases := []struct {
		args []string
		want string
		code int
	}{
		{[]string{"--diff", "--wait"}, "--diff and --wait cannot be combined: --diff applies nothing to wait for", 2},
		{[]string{"--diff", "--dry-run=server"}, "--diff and --dry-run cannot be combined: --diff already applies nothing", 2},
		{[]string{"--diff", "-o", "yaml"}, "--diff and --output cannot be combined: --diff prints a unified diff", 2},
		{[]string{"--wait=false", "--canary", "pprd"}, "--wait=false cannot be combined with --canary, --waves or --wave-size: a progressive rollout waits for each wave", 1},
		{[]string{"--wait=false", "--waves", "2"}, "--wait=false cannot be combined with --canary, --waves or --wave-size: a progressive rollout waits for each wave", 1},
		{[]string{"--parallel", "-1"}, "--parallel must be 0 (all at once) or more, got -1", 1},
		{[]string{"--canary-soak=-1s"}, "--canary-soak must not be negative, got -1s", 1},
		{[]string{"--canary", "Bad_Name"}, "--canary: ", 1},
		{[]string{"--timeout", "0s"}, "--timeout must be positive, got 0s", 1},
		{[]string{"-o", "wide"}, "--output \"wide\" is not supported here", 1},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			tf := cmdtesting.NewTestFactory()
			defer tf.Cleanup()
			streams, _, out, _ := genericiooptions.NewTestIOStreams()
			cmd := NewCmdDeploy(tf, streams)
			cmd.SetArgs(append([]string{"staging", "--root", root}, tc.args...))
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if code := exitCode(err); code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			if out.Len() > 0 {
				t.Errorf("stdout: %q", out)
			}
		})
	}
}

func TestLessGC(t *testing.T) {
	for _, tc := range []struct {
		name, gogc string
		unset      bool
		want       int
	}{
		{name: "GOGC unset: the deploy's own setting", unset: true, want: deployGCPercent},
		{name: "GOGC set: the user's choice stays", gogc: "50", want: 77},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc) // restores the variable after the test
			if tc.unset {
				os.Unsetenv("GOGC")
			}
			// 77 stands for whatever the runtime took from GOGC at start.
			defer debug.SetGCPercent(debug.SetGCPercent(77))
			lessGC()
			if got := debug.SetGCPercent(77); got != tc.want {
				t.Errorf("GC percent = %d, want %d", got, tc.want)
			}
		})
	}
}
