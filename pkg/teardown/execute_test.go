package teardown

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/qxsms/kubectl-qxsms/internal/testutil"
	"github.com/qxsms/kubectl-qxsms/pkg/deploy"
	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

var (
	deployments  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	statefulsets = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	configmaps   = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	services     = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	secrets      = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	namespaces   = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	pvs          = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumes"}
	pvcs         = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
)

func testMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Version: "v1"}, {Group: "apps", Version: "v1"}})
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "apps", Version: "v1", Kind: "Deployment"}, {Group: "apps", Version: "v1", Kind: "StatefulSet"},
		{Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "Service"}, {Version: "v1", Kind: "Secret"},
		{Version: "v1", Kind: "PersistentVolumeClaim"},
	} {
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	return m
}

func object(apiVersion, kind, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetUID(types.UID("uid-" + name))
	return u
}

// cluster is one instance on fake clients that behave as the API server
// does where the teardown depends on it: a delete with dryRun=All persists
// nothing, and once the namespace is deleted its claims go and their Retain
// PVs turn Released.
type cluster struct {
	typed   *fake.Clientset
	dynamic *dynamicfake.FakeDynamicClient
	clients *kube.Clients
}

// desired is what the instance's overlay builds.
func desired() []*unstructured.Unstructured {
	return []*unstructured.Unstructured{
		object("v1", "Namespace", ns),
		object("apps/v1", "Deployment", "qxsms"), object("apps/v1", "StatefulSet", "postgres"),
		object("v1", "ConfigMap", "qxsms-config"), object("v1", "Service", "qxsms"),
	}
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	inventory := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: deploy.InventoryName, Namespace: ns,
		Annotations: map[string]string{deploy.ApplySetGroupKindsAnn: "ConfigMap,Deployment.apps,Secret,Service,StatefulSet.apps"}}}
	typed := fake.NewClientset(namespace(), inventory,
		pvc("qxsms-data", "u1", "pvc-1"), pv("pvc-1", "qxsms-data", "u1", corev1.VolumeBound, corev1.PersistentVolumeReclaimRetain))

	// A Secret that left the overlay but is still in the inventory, and one
	// of another owner in the same namespace, which stays.
	leftover := object("v1", "Secret", "old-credentials")
	leftover.SetLabels(map[string]string{deploy.ApplySetPartOfLabel: deploy.ApplySetID(ns)})
	live := []runtime.Object{leftover, object("v1", "Secret", "not-ours")}
	for _, o := range desired()[1:] {
		live = append(live, o)
	}
	dynamic := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		deployments: "DeploymentList", statefulsets: "StatefulSetList", configmaps: "ConfigMapList",
		services: "ServiceList", secrets: "SecretList",
	}, live...)

	dryRun := func(action clienttesting.Action) (bool, runtime.Object, error) {
		d := action.(clienttesting.DeleteAction)
		return slices.Contains(d.GetDeleteOptions().DryRun, metav1.DryRunAll), nil, nil
	}
	dynamic.PrependReactor("delete", "*", dryRun)
	typed.PrependReactor("delete", "*", dryRun)
	typed.PrependReactor("delete", "namespaces", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if handled, _, _ := dryRun(action); handled {
			return false, nil, nil
		}
		// The tracker, not the clientset: the fake holds its lock while reactors run.
		if err := typed.Tracker().Delete(pvcs, ns, "qxsms-data"); err != nil {
			return true, nil, err
		}
		released := pv("pvc-1", "qxsms-data", "u1", corev1.VolumeReleased, corev1.PersistentVolumeReclaimRetain)
		return false, nil, typed.Tracker().Update(pvs, released, "")
	})
	return &cluster{typed: typed, dynamic: dynamic, clients: &kube.Clients{Typed: typed, Dynamic: dynamic, Mapper: testMapper()}}
}

// deletes lists the delete requests both fakes received, in order, each with
// its dry-run marker.
func (c *cluster) deletes() []string {
	var out []string
	for _, a := range append(c.dynamic.Actions(), c.typed.Actions()...) {
		if d, ok := a.(clienttesting.DeleteAction); ok {
			out = append(out, fmt.Sprintf("%s/%s dryRun=%v", d.GetResource().Resource, d.GetName(), d.GetDeleteOptions().DryRun))
		}
	}
	return out
}

func (c *cluster) exists(gvr schema.GroupVersionResource, namespace, name string) bool {
	tracker := c.dynamic.Tracker()
	if gvr == namespaces || gvr == pvcs || gvr == pvs {
		tracker = c.typed.Tracker()
	}
	_, err := tracker.Get(gvr, namespace, name)
	return err == nil
}

func TestExecute(t *testing.T) {
	inst := overlays.Instance{Env: "staging", Name: "pprd"}
	forbid := func(resource string) func(*cluster) {
		return func(c *cluster) {
			c.dynamic.PrependReactor("delete", resource, func(a clienttesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: a.GetResource().Group, Resource: resource},
					a.(clienttesting.DeleteAction).GetName(), errors.New("denied by policy"))
			})
		}
	}
	for _, tc := range []struct {
		name   string
		dryRun bool
		setup  func(*cluster)
		// isErr matches the error by type; nil means success.
		isErr   func(error) bool
		deletes []string
		// gone and kept are checked in the fakes afterwards.
		gone, kept []string
	}{
		{
			name: "workloads first then the rest then the namespace",
			deletes: []string{
				"deployments/qxsms dryRun=[]", "statefulsets/postgres dryRun=[]",
				"configmaps/qxsms-config dryRun=[]", "secrets/old-credentials dryRun=[]", "services/qxsms dryRun=[]",
				"namespaces/" + ns + " dryRun=[]",
			},
			gone: []string{"deployments/qxsms", "secrets/old-credentials", "namespaces/" + ns},
			kept: []string{"secrets/not-ours", "persistentvolumes/pvc-1"},
		},
		{
			name:   "server dry run",
			dryRun: true,
			deletes: []string{
				"deployments/qxsms dryRun=[All]", "statefulsets/postgres dryRun=[All]",
				"configmaps/qxsms-config dryRun=[All]", "secrets/old-credentials dryRun=[All]", "services/qxsms dryRun=[All]",
				"namespaces/" + ns + " dryRun=[All]",
			},
			kept: []string{"deployments/qxsms", "secrets/old-credentials", "namespaces/" + ns, "persistentvolumeclaims/qxsms-data"},
		},
		{
			name:  "failed workload delete stops before the rest",
			setup: forbid("deployments"),
			isErr: apierrors.IsForbidden,
			// The other workload still goes (kubectl's aggregate), nothing after it.
			deletes: []string{"deployments/qxsms dryRun=[]", "statefulsets/postgres dryRun=[]"},
			gone:    []string{"statefulsets/postgres"},
			kept:    []string{"deployments/qxsms", "configmaps/qxsms-config", "namespaces/" + ns},
		},
		{
			name:  "failed delete of the rest keeps the namespace",
			setup: forbid("configmaps"),
			isErr: apierrors.IsForbidden,
			deletes: []string{
				"deployments/qxsms dryRun=[]", "statefulsets/postgres dryRun=[]",
				"configmaps/qxsms-config dryRun=[]", "secrets/old-credentials dryRun=[]", "services/qxsms dryRun=[]",
			},
			gone: []string{"services/qxsms"},
			kept: []string{"configmaps/qxsms-config", "namespaces/" + ns},
		},
		{
			name: "gone or replaced since the plan",
			setup: func(c *cluster) {
				c.dynamic.PrependReactor("delete", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewNotFound(deployments.GroupResource(), "qxsms")
				})
				c.dynamic.PrependReactor("delete", "configmaps", func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewConflict(configmaps.GroupResource(), "qxsms-config", errors.New("precondition failed: UID in precondition"))
				})
			},
			deletes: []string{
				"deployments/qxsms dryRun=[]", "statefulsets/postgres dryRun=[]",
				"configmaps/qxsms-config dryRun=[]", "secrets/old-credentials dryRun=[]", "services/qxsms dryRun=[]",
				"namespaces/" + ns + " dryRun=[]",
			},
			gone: []string{"namespaces/" + ns},
		},
		{
			name: "namespace that does not go",
			setup: func(c *cluster) {
				c.typed.PrependReactor("delete", "namespaces", func(clienttesting.Action) (bool, runtime.Object, error) {
					n := namespace()
					n.Status.Conditions = []corev1.NamespaceCondition{{Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionTrue, Message: "webhook unavailable"}}
					return true, nil, c.typed.Tracker().Update(namespaces, n, "")
				})
			},
			isErr: func(err error) bool { var timeout *TimeoutError; return errors.As(err, &timeout) },
			deletes: []string{
				"deployments/qxsms dryRun=[]", "statefulsets/postgres dryRun=[]",
				"configmaps/qxsms-config dryRun=[]", "secrets/old-credentials dryRun=[]", "services/qxsms dryRun=[]",
				"namespaces/" + ns + " dryRun=[]",
			},
			kept: []string{"namespaces/" + ns},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			plan, err := MakePlan(t.Context(), c.clients, inst, desired(), "ctx")
			if err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(c)
			}
			var progress bytes.Buffer
			res, err := Execute(t.Context(), c.clients, plan, Options{DryRun: tc.dryRun, Timeout: 200 * time.Millisecond,
				Progress: &progress, PollInterval: time.Millisecond, ReleaseWait: time.Second})
			switch {
			case tc.isErr == nil && err != nil:
				t.Fatalf("Execute: %v", err)
			case tc.isErr != nil && (err == nil || !tc.isErr(err)):
				t.Fatalf("Execute = %v, want an error of the expected type", err)
			}
			out := progress.String()
			if err != nil {
				out += "error: " + err.Error() + "\n"
			} else {
				out += fmt.Sprintf("volumes: %d\n", len(res.Volumes))
				for _, v := range res.Volumes {
					out += fmt.Sprintf("  %s %s %s\n", v.PVC, v.PVName(), v.PV.Status.Phase)
				}
			}
			testutil.Golden(t, "execute_"+strings.ReplaceAll(tc.name, " ", "_"), out)

			if got := c.deletes(); !slices.Equal(got, tc.deletes) {
				t.Errorf("delete requests:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.deletes, "\n  "))
			}
			for _, want := range [][]string{tc.gone, tc.kept} {
				for _, ref := range want {
					res, name, _ := strings.Cut(ref, "/")
					gvr := map[string]schema.GroupVersionResource{"deployments": deployments, "statefulsets": statefulsets,
						"configmaps": configmaps, "services": services, "secrets": secrets, "namespaces": namespaces,
						"persistentvolumes": pvs, "persistentvolumeclaims": pvcs}[res]
					namespace := ns
					if gvr == namespaces || gvr == pvs {
						namespace = ""
					}
					if exists, wantExists := c.exists(gvr, namespace, name), slices.Contains(tc.kept, ref); exists != wantExists {
						t.Errorf("%s exists = %v, want %v", ref, exists, wantExists)
					}
				}
			}
		})
	}
}

// The waits stop at the first check that finds nothing left, and report
// what still blocks when time runs out.
func TestWaitUntil(t *testing.T) {
	ctx := context.Background()
	o := Options{Timeout: 30 * time.Millisecond, PollInterval: time.Millisecond}
	var said []string
	say := func(format string, args ...any) { said = append(said, fmt.Sprintf(format, args...)) }

	calls := 0
	if err := waitUntil(ctx, o, say, "x", func(context.Context) (bool, string, error) { calls++; return true, "", nil }); err != nil || calls != 1 {
		t.Fatalf("done at once: err %v after %d calls, want nil after 1", err, calls)
	}
	err := waitUntil(ctx, o, say, "namespace x to go", func(context.Context) (bool, string, error) { return false, "pod a Running", nil })
	var timeout *TimeoutError
	if !errors.As(err, &timeout) || timeout.Blockers != "pod a Running" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waitUntil = %#v, want a TimeoutError naming the blocker", err)
	}
	if want := []string{"waiting for namespace x to go: pod a Running"}; !slices.Equal(said, want) {
		t.Errorf("said %q, want the blocker once: %q", said, want)
	}
	boom := errors.New("boom")
	if err := waitUntil(ctx, o, say, "x", func(context.Context) (bool, string, error) { return false, "", boom }); !errors.Is(err, boom) {
		t.Fatalf("waitUntil = %v, want the check's error", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := waitUntil(canceled, o, say, "x", func(context.Context) (bool, string, error) { return false, "", nil }); errors.As(err, &timeout) || !errors.Is(err, context.Canceled) {
		t.Fatalf("waitUntil on a canceled context = %v, want context.Canceled, not a timeout", err)
	}
}
