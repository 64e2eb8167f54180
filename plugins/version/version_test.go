package version

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	apimachineryversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	cmdtesting "k8s.io/kubectl/pkg/cmd/testing"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/qxsms/kubectl-qxsms/internal/testutil"
	"github.com/qxsms/kubectl-qxsms/pkg/buildinfo"
	"github.com/qxsms/kubectl-qxsms/pkg/kube"
)

var build = buildinfo.Info{Version: "v1.2.3", Commit: "abc1234", GoVersion: "go1.26.11", ClientGoVersion: "v0.37.2", Platform: "linux/amd64"}

// server is how the fake API server answers /version.
type server int

const (
	up server = iota
	down
	noClients
)

func run(t *testing.T, s server, args ...string) (stdout, stderr string, err error, asked bool) {
	t.Helper()
	tf := cmdtesting.NewTestFactory()
	t.Cleanup(tf.Cleanup)
	client := fake.NewClientset()
	client.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &apimachineryversion.Info{GitVersion: "v1.37.2", Platform: "linux/amd64"}
	if s == down {
		client.PrependReactor("get", "version", func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
		})
	}
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := NewVersionOptions(streams)
	o.buildInfo = func() buildinfo.Info { return build }
	o.newClients = func(cmdutil.Factory) func() (*kube.Clients, error) {
		return func() (*kube.Clients, error) {
			asked = true
			if s == noClients {
				return nil, errors.New("invalid configuration: no configuration has been provided")
			}
			return &kube.Clients{Typed: client}, nil
		}
	}
	cmd := newCmd(tf, o)
	cmd.SetArgs(append([]string{}, args...))
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	_, err = cmd.ExecuteC()
	return out.String(), errOut.String(), err, asked
}

func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		golden string
		server server
		args   []string
		// asks says whether the server is contacted.
		asks bool
	}{
		{"human", up, nil, true},
		{"human-server-down", down, nil, true},
		{"human-no-kubeconfig", noClients, nil, true},
		{"client", up, []string{"--client"}, false},
		{"client-json", up, []string{"--client", "-o", "json"}, false},
		{"client-yaml", up, []string{"--client", "-o", "yaml"}, false},
		{"json", up, []string{"-o", "json"}, true},
		{"yaml-server-down", down, []string{"-o", "yaml"}, true},
		{"jsonpath", up, []string{"-o", "jsonpath", "--template", "{.plugin.version} {.serverVersion.gitVersion}"}, true},
		{"name", up, []string{"--client", "-o", "name"}, false},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			out, errOut, err, asked := run(t, tc.server, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if asked != tc.asks {
				t.Errorf("contacted the server: %v, want %v", asked, tc.asks)
			}
			testutil.Golden(t, tc.golden, "-- stdout --\n"+out+"-- stderr --\n"+errOut)
		})
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "table"}, `--output "table" is not supported here: use one of json, yaml, kyaml, name, go-template, go-template-file, template, templatefile, jsonpath, jsonpath-as-json, jsonpath-file`},
		{[]string{"-o", "wide"}, `--output "wide" is not supported here: use one of json, yaml, kyaml, name, go-template, go-template-file, template, templatefile, jsonpath, jsonpath-as-json, jsonpath-file`},
		{[]string{"extra"}, `unknown command "extra" for "version"`},
	} {
		out, _, err, asked := run(t, up, tc.args...)
		if err == nil || err.Error() != tc.want || out != "" || asked {
			t.Errorf("%v: err = %v, stdout %q, contacted the server %v; want %q", tc.args, err, out, asked, tc.want)
		}
	}
}
