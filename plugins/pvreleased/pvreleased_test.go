package pvreleased

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	cmdtesting "k8s.io/kubectl/pkg/cmd/testing"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/qxsms/kubectl-qxsms/internal/testutil"
	"github.com/qxsms/kubectl-qxsms/pkg/kube"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func released(name, ns, claim string, age time.Duration) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), ResourceVersion: "7", CreationTimestamp: metav1.Time{Time: now.Add(-age - time.Hour)}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "nfs",
			ClaimRef:                      &corev1.ObjectReference{Namespace: ns, Name: claim},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs1", Path: "/srv/nfs/" + name}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased, LastPhaseTransitionTime: &metav1.Time{Time: now.Add(-age)}},
	}
}

// cluster is what one command runs against: a fake clientset, the config
// repo of --root and the kubeconfig's current context.
type cluster struct {
	client *fake.Clientset
	// root is the config repo; "" means one without environments.
	root string
	// context is the current kube context; "" means the kubeconfig has none.
	context string
}

func newCluster(objs ...runtime.Object) *cluster { return &cluster{client: fake.NewClientset(objs...)} }

type result struct {
	out, errOut string
	err         error
}

// transcript is what a golden file holds: both streams and the error.
func (r result) transcript() string {
	s := "-- stdout --\n" + r.out + "-- stderr --\n" + r.errOut
	if r.err != nil {
		s += "-- error --\n" + r.err.Error() + "\n"
	}
	return s
}

// run executes `kubectl qxsms pv-released ARGS...` as the root command does,
// with stdin not a terminal.
func (c *cluster) run(t *testing.T, args ...string) result {
	t.Helper()
	tf := cmdtesting.NewTestFactory()
	t.Cleanup(tf.Cleanup)
	if c.context != "" {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://c.example"}
		cfg.Contexts[c.context] = &clientcmdapi.Context{Cluster: "c"}
		cfg.CurrentContext = c.context
		tf.WithClientConfig(clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{}))
	}
	root := c.root
	if root == "" {
		root = testutil.EmptyOverlays(t).Dir
	}
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := NewPVReleasedOptions(streams)
	o.now = func() time.Time { return now }
	o.newClients = func(cmdutil.Factory) func() (*kube.Clients, error) {
		return func() (*kube.Clients, error) { return &kube.Clients{Typed: c.client}, nil }
	}
	cmd := newCmd(tf, o)
	cmd.SetArgs(append([]string{"--root", root}, args...))
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	_, err := cmd.ExecuteC()
	return result{out.String(), errOut.String(), err}
}

// writes are the requests that would change the cluster.
func (c *cluster) writes() []clienttesting.Action {
	var w []clienttesting.Action
	for _, a := range c.client.Actions() {
		if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
			w = append(w, a)
		}
	}
	return w
}

func TestList(t *testing.T) {
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"list-table", nil},
		{"list-wide", []string{"-o", "wide"}},
		{"list-name", []string{"-o", "name"}},
		{"list-json", []string{"-o", "json"}},
		{"list-yaml", []string{"-o", "yaml"}},
		{"list-jsonpath", []string{"-o", "jsonpath", "--template", "{.items[*].spec.nfs.path}"}},
		{"list-instance", []string{"pprd"}},
		{"list-claim-namespace", []string{"--claim-namespace", "team-x", "-o", "name"}},
		{"list-older-than", []string{"--older-than", "24h", "-o", "name"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			c := newCluster(
				released("pvc-a", "qxsms-pprd", "qxsms-data", 3*time.Hour),
				released("pvc-b", "team-x", "db", 50*time.Hour),
			)
			r := c.run(t, tc.args...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			testutil.Golden(t, tc.golden, r.transcript())
			if w := c.writes(); len(w) > 0 {
				t.Errorf("listing wrote to the cluster: %v", w)
			}
		})
	}
}

func TestNoneFound(t *testing.T) {
	r := newCluster(released("pvc-a", "qxsms-pprd", "d", time.Hour)).run(t, "demo")
	if r.err != nil || r.out != "" || r.errOut != "No Released PersistentVolumes found\n" {
		t.Fatalf("%+v", r)
	}
}

func TestOlderThanSkipsUnknownAndListsReserved(t *testing.T) {
	unknown := released("pvc-unknown", "qxsms-pprd", "data", time.Hour)
	unknown.Status.LastPhaseTransitionTime = nil
	unknown.CreationTimestamp = metav1.Time{Time: now.Add(-1000 * time.Hour)}
	reserved := released("pvc-reserved", "qxsms-pprd", "media", 5*time.Hour)
	reserved.Status.Phase = corev1.VolumeAvailable
	r := newCluster(unknown, reserved).run(t, "--older-than", "2h")
	if r.err != nil {
		t.Fatal(r.err)
	}
	testutil.Golden(t, "older-than-unknown-and-reserved", r.transcript())
}

// Bad input is refused before anything is read or written, naming the flag.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"rebind needs one PV", []string{"--rebind", "ns/pvc"}, "--rebind takes exactly one PV name as argument: kubectl qxsms pv-released PV --rebind NAMESPACE/PVC"},
		{"rebind needs only one PV", []string{"a", "b", "--rebind", "ns/pvc"}, "--rebind takes exactly one PV name"},
		{"rebind format", []string{"pvc-a", "--rebind", "nopvc"}, `--rebind "nopvc": want NAMESPACE/PVC, a DNS-1123 label and a DNS-1123 subdomain`},
		{"rebind claim not a subdomain", []string{"pvc-a", "--rebind", "ns/Bad_Name"}, `--rebind "ns/Bad_Name": want NAMESPACE/PVC`},
		{"rebind PV name", []string{"../x", "--rebind", "ns/pvc"}, `invalid volume name "../x"`},
		{"rebind with delete", []string{"pvc-a", "--rebind", "a/b", "--delete"}, "--rebind cannot be combined with --delete or --export"},
		{"rebind wide", []string{"pvc-a", "--rebind", "a/b", "-o", "wide"}, "--rebind prints the claim to create: use -o yaml (the default), json or name, not wide"},
		{"delete with export", []string{"pprd", "--delete", "--export", "/tmp/x"}, "--delete and --export cannot be combined: export first, then delete"},
		{"dry run without delete", []string{"--dry-run=client"}, "--dry-run applies to --delete and --rebind"},
		{"dry run value", []string{"pprd", "--delete", "--dry-run=maybe"}, `--dry-run: Invalid dry-run value (maybe). Must be "none", "server", or "client".`},
		{"bad instance", []string{"../x"}, `invalid instance name "../x"`},
		{"bad claim namespace", []string{"--claim-namespace", "A"}, `--claim-namespace: invalid namespace name "A"`},
		{"bad output", []string{"-o", "csv"}, `--output "csv" is not supported here: use one of wide, json, yaml, kyaml, name, go-template, go-template-file, template, templatefile, jsonpath, jsonpath-as-json, jsonpath-file`},
		{"negative age", []string{"--older-than", "-1h"}, "--older-than must not be negative, got -1h0m0s"},
		{"delete without a scope", []string{"--delete", "--yes"}, "refusing to --delete the Released PVs of every namespace: name the instances, or pass --claim-namespace NS, or --all to mean the whole cluster"},
		{"all with an instance", []string{"pprd", "--delete", "--all"}, "--all cannot be combined with instances or --claim-namespace"},
		{"include-non-retain without delete", []string{"--include-non-retain"}, "--include-non-retain and --confirm apply to --delete"},
		{"confirm without delete", []string{"--confirm", "pprd"}, "--include-non-retain and --confirm apply to --delete"},
		{"confirm not a name", []string{"pprd", "--delete", "--confirm", "Prod!"}, `--confirm: invalid instance name "Prod!"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(released("pvc-a", "qxsms-pprd", "data", time.Hour))
			r := c.run(t, tc.args...)
			if r.err == nil || !strings.HasPrefix(r.err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", r.err, tc.want)
			}
			if r.out != "" || len(c.client.Actions()) > 0 {
				t.Errorf("refused input printed %q or talked to the cluster: %v", r.out, c.client.Actions())
			}
		})
	}
}
