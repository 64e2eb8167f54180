package teardown

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	cmdtesting "k8s.io/kubectl/pkg/cmd/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/qxsms/kubectl-qxsms/internal/testutil"
	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/teardown"
)

const ns = "qxsms-demo"

var (
	deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	configmaps  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	pvcs        = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
	pvs         = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumes"}
)

// testRepo is a config repo with one instance, demo, in staging and in the
// protected production.
func testRepo(t *testing.T) *overlays.Repo {
	const app = `apiVersion: v1
kind: Namespace
metadata:
  name: qxsms-demo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: qxsms
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: qxsms-config
`
	const kustomization = "namespace: qxsms-demo\nresources: [app.yml]\n"
	return testutil.WriteRepo(t, map[string]string{
		"qxsms.yaml": `environments:
  staging:
    contexts: [qxsms-preprod]
  production:
    contexts: [qxsms-prod]
    protected: true
`,
		"overlays/staging/demo/kustomization.yml":    kustomization,
		"overlays/staging/demo/app.yml":              app,
		"overlays/production/demo/kustomization.yml": kustomization,
		"overlays/production/demo/app.yml":           app,
	})
}

// servers are the API servers of the kubeconfig's clusters, by context.
var servers = map[string]string{"qxsms-preprod": "https://preprod.example:6443", "qxsms-prod": "https://prod.example:6443"}

// testFactory is kubectl's test factory on a kubeconfig whose current context
// is kubeContext; server is the URL the flags (--server, --cluster) resolve
// to, the context's own when empty.
func testFactory(t *testing.T, kubeContext, server string) *cmdtesting.TestFactory {
	cfg := clientcmdapi.NewConfig()
	for name, url := range servers {
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: url}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name}
	}
	cfg.CurrentContext = kubeContext
	tf := cmdtesting.NewTestFactory().WithClientConfig(clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{}))
	t.Cleanup(tf.Cleanup)
	if server == "" {
		server = servers[kubeContext]
	}
	tf.ClientConfigVal = &rest.Config{Host: server}
	return tf
}

func liveObject(apiVersion, kind, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetUID(types.UID("uid-" + name))
	return u
}

func persistentVolume(phase corev1.PersistentVolumePhase, policy corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			PersistentVolumeReclaimPolicy: policy,
			ClaimRef:                      &corev1.ObjectReference{Namespace: ns, Name: "qxsms-data", UID: "u1"},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs1", Path: "/srv/nfs/pvc-1"}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: phase},
	}
}

// fakeCluster is the instance on fake clients that behave as the API server
// does where the teardown depends on it: a delete with dryRun=All persists
// nothing, and once the namespace is deleted its claim goes and its Retain
// PV turns Released.
type fakeCluster struct {
	typed   *fake.Clientset
	dynamic *dynamicfake.FakeDynamicClient
}

func newFakeCluster(policy corev1.PersistentVolumeReclaimPolicy) *fakeCluster {
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "qxsms-data", Namespace: ns, UID: "u1"},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pvc-1"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}
	typed := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, claim, persistentVolume(corev1.VolumeBound, policy))
	dynamic := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{deployments: "DeploymentList", configmaps: "ConfigMapList"},
		liveObject("apps/v1", "Deployment", "qxsms"), liveObject("v1", "ConfigMap", "qxsms-config"))
	dryRun := func(action clienttesting.Action) (bool, runtime.Object, error) {
		return slices.Contains(action.(clienttesting.DeleteAction).GetDeleteOptions().DryRun, metav1.DryRunAll), nil, nil
	}
	dynamic.PrependReactor("delete", "*", dryRun)
	typed.PrependReactor("delete", "namespaces", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if handled, _, _ := dryRun(action); handled {
			return true, nil, nil
		}
		// The tracker, not the clientset: the fake holds its lock while reactors run.
		if err := typed.Tracker().Delete(pvcs, ns, "qxsms-data"); err != nil {
			return true, nil, err
		}
		return false, nil, typed.Tracker().Update(pvs, persistentVolume(corev1.VolumeReleased, policy), "")
	})
	return &fakeCluster{typed: typed, dynamic: dynamic}
}

func (c *fakeCluster) clients() *kube.Clients {
	m := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Version: "v1"}, {Group: "apps", Version: "v1"}})
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	return &kube.Clients{Typed: c.typed, Dynamic: c.dynamic, Mapper: m}
}

// writes lists the requests that would change the cluster, each with its
// dry-run marker: reads are all a refused teardown may send.
func (c *fakeCluster) writes() []string {
	var out []string
	for _, a := range append(c.dynamic.Actions(), c.typed.Actions()...) {
		switch a := a.(type) {
		case clienttesting.DeleteAction:
			out = append(out, fmt.Sprintf("delete %s/%s dryRun=%v", a.GetResource().Resource, a.GetName(), a.GetDeleteOptions().DryRun))
		case clienttesting.GetAction, clienttesting.ListAction:
		default:
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

func TestTeardown(t *testing.T) {
	deletes := []string{"delete deployments/qxsms dryRun=[]", "delete configmaps/qxsms-config dryRun=[]", "delete namespaces/qxsms-demo dryRun=[]"}
	for _, tc := range []struct {
		name        string
		args, flags []string
		// kubeContext is the kubeconfig's current context; server is where
		// --server or --cluster point, the context's own when empty.
		kubeContext, server string
		policy              corev1.PersistentVolumeReclaimPolicy
		// stdin, when set, is a terminal on which this is typed.
		stdin string
		setup func(*fakeCluster)
		// isErr matches the error by type; nil means success.
		isErr  func(error) bool
		writes []string
	}{
		{name: "refused without confirmation on a non-terminal", isErr: isAny},
		{name: "confirmed at the prompt", stdin: "demo\n", writes: deletes},
		{name: "wrong name at the prompt", stdin: "prod\n", isErr: isAny},
		{name: "yes", flags: []string{"--yes"}, writes: deletes},
		{name: "dry run client", flags: []string{"--dry-run=client"}},
		{name: "dry run server", flags: []string{"--dry-run=server"}, writes: []string{
			"delete deployments/qxsms dryRun=[All]", "delete configmaps/qxsms-config dryRun=[All]", "delete namespaces/qxsms-demo dryRun=[All]"}},
		{name: "protected environment refuses yes", args: []string{"production", "demo"}, kubeContext: "qxsms-prod",
			flags: []string{"--yes"}, isErr: isAny},
		{name: "protected environment with confirm", args: []string{"production", "demo"}, kubeContext: "qxsms-prod",
			flags: []string{"--confirm=demo"}, writes: deletes},
		{name: "protected context under another environment", kubeContext: "qxsms-prod",
			flags: []string{"--yes", "--allow-context-mismatch"}, isErr: isAny},
		{name: "unsafe volumes refused", flags: []string{"--yes"}, policy: corev1.PersistentVolumeReclaimDelete,
			isErr: func(err error) bool { var unsafe *teardown.UnsafeError; return errors.As(err, &unsafe) }},
		{name: "unsafe volumes refused in a dry run", flags: []string{"--dry-run=server"}, policy: corev1.PersistentVolumeReclaimDelete,
			isErr: func(err error) bool { var unsafe *teardown.UnsafeError; return errors.As(err, &unsafe) }},
		{name: "server flag pointing elsewhere refused", flags: []string{"--yes"}, server: "https://prod.example:6443",
			isErr: isContextMismatch},
		{name: "context of another environment refused", flags: []string{"--yes"}, kubeContext: "qxsms-prod",
			isErr: isContextMismatch},
		{
			name: "failed delete reported", flags: []string{"--yes"},
			setup: func(c *fakeCluster) {
				c.dynamic.PrependReactor("delete", "configmaps", func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(configmaps.GroupResource(), "qxsms-config", errors.New("denied by policy"))
				})
			},
			isErr:  apierrors.IsForbidden,
			writes: deletes[:2],
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.args == nil {
				tc.args = []string{"staging", "demo"}
			}
			if tc.kubeContext == "" {
				tc.kubeContext = "qxsms-preprod"
			}
			if tc.policy == "" {
				tc.policy = corev1.PersistentVolumeReclaimRetain
			}
			cluster := newFakeCluster(tc.policy)
			if tc.setup != nil {
				tc.setup(cluster)
			}
			repo := testRepo(t)
			stdout, stderr, err := runTeardown(t, testFactory(t, tc.kubeContext, tc.server), cluster, tc.stdin,
				append(tc.flags, "--root", repo.Dir), tc.args)

			switch {
			case tc.isErr == nil && err != nil:
				t.Fatalf("teardown: %v\nstderr:\n%s", err, stderr)
			case tc.isErr != nil && (err == nil || !tc.isErr(err)):
				t.Fatalf("teardown = %v, want an error of the expected type", err)
			}
			got := "--- stdout\n" + stdout + "--- stderr\n" + stderr
			if err != nil {
				got += "--- error\n" + err.Error() + "\n"
			}
			testutil.Golden(t, strings.ReplaceAll(tc.name, " ", "_"), strings.ReplaceAll(got, repo.Dir, "$REPO"))
			if isContextMismatch(err) {
				if a := append(cluster.dynamic.Actions(), cluster.typed.Actions()...); len(a) != 0 {
					t.Errorf("%d requests sent to a refused cluster, want none", len(a))
				}
			}
			if w := cluster.writes(); !slices.Equal(w, tc.writes) {
				t.Errorf("requests that change the cluster:\n  %s\nwant:\n  %s", strings.Join(w, "\n  "), strings.Join(tc.writes, "\n  "))
			}
		})
	}
}

func isAny(error) bool { return true }

func isContextMismatch(err error) bool {
	var mismatch *overlays.ContextMismatchError
	return errors.As(err, &mismatch)
}

// runTeardown runs the command's Complete, Validate and Run on flags bound
// by the command itself, with the clients of cluster.
func runTeardown(t *testing.T, tf *cmdtesting.TestFactory, cluster *fakeCluster, stdin string, flags, args []string) (string, string, error) {
	t.Helper()
	streams, in, out, errOut := genericiooptions.NewTestIOStreams()
	in.WriteString(stdin)
	o := NewTeardownOptions(streams)
	cmd := newCmd(tf, o)
	if err := cmd.ParseFlags(flags); err != nil {
		return "", "", err
	}
	err := o.Complete(tf, cmd, args)
	if err != nil {
		return out.String(), errOut.String(), err
	}
	o.clients = func() (*kube.Clients, error) { return cluster.clients(), nil }
	o.isTerminal = func() bool { return stdin != "" }
	o.clock = clocktesting.NewFakeClock(time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC))
	if err := o.Validate(); err != nil {
		return out.String(), errOut.String(), err
	}
	err = o.Run(t.Context())
	return out.String(), errOut.String(), err
}

// Bad flags are refused before anything is read from the cluster.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"confirm names another instance", []string{"--confirm=prod"}, `--confirm=prod does not match the instance "demo": pass --confirm=demo; nothing was deleted`},
		{"confirm is no instance name", []string{"--confirm=Demo!"}, "--confirm: "},
		{"dry run of unknown strategy", []string{"--dry-run=maybe"}, `--dry-run: Invalid dry-run value (maybe). Must be "none", "server", or "client".`},
		{"timeout not positive", []string{"--timeout=0s"}, "--timeout must be positive, got 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := newFakeCluster(corev1.PersistentVolumeReclaimRetain)
			_, _, err := runTeardown(t, testFactory(t, "qxsms-preprod", ""), cluster, "", append(tc.flags, "--root", testRepo(t).Dir), []string{"staging", "demo"})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to start with %q", err, tc.want)
			}
			if a := append(cluster.dynamic.Actions(), cluster.typed.Actions()...); len(a) != 0 {
				t.Errorf("%d requests sent, want none", len(a))
			}
		})
	}
}

// The command takes only --timeout of the shared wait flags: a teardown
// always waits, so --wait would mean nothing.
func TestFlags(t *testing.T) {
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	cmd := NewCmdTeardown(cmdtesting.NewTestFactory(), streams)
	if cmd.Flags().Lookup("wait") != nil {
		t.Error("teardown has a --wait flag")
	}
	if f := cmd.Flags().Lookup("timeout"); f == nil || f.DefValue != "5m0s" {
		t.Errorf("--timeout = %+v, want a default of 5m0s", f)
	}
	if f := cmd.Flags().Lookup("dry-run"); f == nil || f.DefValue != "none" {
		t.Errorf("--dry-run = %+v, want kubectl's, default none", f)
	}
}
