package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	restfake "k8s.io/client-go/rest/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
	"sigs.k8s.io/yaml"

	"github.com/qxsms/kubectl-qxsms/internal/testutil"
	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

// fakeServer is the API server of the Apply tests. A fake dynamic client's
// tracker holds the objects; the Raw client's handler serves server-side
// apply onto that same tracker, so what one apply writes the next deploy
// reads back. The apply is minimal but honest about what classify relies
// on: a 201 for a new object, 200 otherwise, one managedFields entry for
// the applying manager whose fields and time change only when the apply
// changes the object. It does not model other managers' ownership (a field
// we stop applying is dropped even when someone else shares it), defaulting,
// schema validation, or granular lists (every list is atomic).
type fakeServer struct {
	t      *testing.T
	dyn    *dynamicfake.FakeDynamicClient
	mapper *meta.DefaultRESTMapper
	// mu makes each apply's read-modify-write atomic, and guards the rest.
	mu  sync.Mutex
	now time.Time
	uid int
	rv  int
	// requests are the Raw client's requests: "PATCH /api/v1/... dryRun".
	requests []string
	// forbidden answers 403 to an apply of these paths.
	forbidden map[string]bool
	// refuse answers an apply of these paths with the error.
	refuse map[string]error
}

var testKinds = []struct {
	gvk        schema.GroupVersionKind
	resource   string
	namespaced bool
}{
	{schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, "namespaces", false},
	{schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, "configmaps", true},
	{schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, "secrets", true},
	{schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"}, "persistentvolumeclaims", true},
	{schema.GroupVersionKind{Version: "v1", Kind: "Service"}, "services", true},
	{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, "deployments", true},
}

func newFakeServer(t *testing.T, objs ...runtime.Object) (*fakeServer, *kube.Clients) {
	t.Helper()
	s := &fakeServer{t: t, now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), forbidden: map[string]bool{}}
	// The default versions let the engine map a kind without a version, as
	// it lists the inventory's recorded kinds.
	s.mapper = meta.NewDefaultRESTMapper([]schema.GroupVersion{{Version: "v1"}, {Group: "apps", Version: "v1"}})
	listKinds := map[schema.GroupVersionResource]string{}
	for _, k := range testKinds {
		scope := meta.RESTScopeRoot
		if k.namespaced {
			scope = meta.RESTScopeNamespace
		}
		s.mapper.Add(k.gvk, scope)
		listKinds[k.gvk.GroupVersion().WithResource(k.resource)] = k.gvk.Kind + "List"
	}
	s.dyn = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, objs...)
	// The tracker deletes whatever the options say; a server honours dryRun.
	s.dyn.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if slices.Contains(a.(k8stesting.DeleteActionImpl).DeleteOptions.DryRun, metav1.DryRunAll) {
			return true, nil, nil
		}
		return false, nil, nil
	})
	// The Raw client is built as kube.New builds it, over a fake transport:
	// restfake.RESTClient records each request in a field without a lock,
	// which the race detector rejects under Apply's parallel applies. A
	// negative QPS turns client-side throttling off.
	raw, err := rest.UnversionedRESTClientForConfigAndClient(
		dynamic.ConfigFor(&rest.Config{Host: "https://fake.invalid", QPS: -1}), restfake.CreateHTTPClient(s.serve))
	if err != nil {
		t.Fatal(err)
	}
	return s, &kube.Clients{Typed: kubefake.NewClientset(), Dynamic: s.dyn, Mapper: s.mapper, Raw: raw}
}

func (s *fakeServer) serve(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := req.URL.Query()
	rec := req.Method + " " + req.URL.Path
	if q.Get("dryRun") != "" {
		rec += " dryRun"
	}
	s.requests = append(s.requests, rec)
	if req.Method == http.MethodGet && req.URL.Path == "/version" {
		return respond(http.StatusOK, map[string]any{"major": "1", "minor": "37", "gitVersion": "v1.37.2"})
	}
	if req.Method != http.MethodPatch || req.Header.Get("Content-Type") != string(types.ApplyPatchType) {
		s.t.Errorf("unexpected request %s %s (%s)", req.Method, req.URL, req.Header.Get("Content-Type"))
		return status(apierrors.NewMethodNotSupported(schema.GroupResource{}, req.Method))
	}
	if q.Get("fieldManager") != manager || q.Get("force") != "true" || q.Get("fieldValidation") != "Strict" {
		s.t.Errorf("apply %s without kubectl's parameters: %s", req.URL.Path, req.URL.RawQuery)
	}
	gvr, ns, name := s.parse(req.URL.Path)
	if s.forbidden[req.URL.Path] {
		return status(apierrors.NewForbidden(gvr.GroupResource(), name, fmt.Errorf("User %q cannot patch resource %q", "dev", gvr.Resource)))
	}
	if err := s.refuse[req.URL.Path]; err != nil {
		return status(err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	applied := &unstructured.Unstructured{}
	if err := applied.UnmarshalJSON(body); err != nil {
		return status(apierrors.NewBadRequest(err.Error()))
	}
	out, created, err := s.apply(gvr, ns, applied, q.Get("dryRun") == metav1.DryRunAll)
	if err != nil {
		return status(err)
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	return respond(code, out.Object)
}

// parse reads the REST path kube.ResourcePath writes.
func (s *fakeServer) parse(path string) (schema.GroupVersionResource, string, string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var gv schema.GroupVersion
	if parts[0] == "api" {
		gv, parts = schema.GroupVersion{Version: parts[1]}, parts[2:]
	} else {
		gv, parts = schema.GroupVersion{Group: parts[1], Version: parts[2]}, parts[3:]
	}
	ns := ""
	if len(parts) == 4 && parts[0] == "namespaces" {
		ns, parts = parts[1], parts[2:]
	}
	if len(parts) != 2 {
		s.t.Fatalf("path %s names no object", path)
	}
	return gv.WithResource(parts[0]), ns, parts[1]
}

func (s *fakeServer) apply(gvr schema.GroupVersionResource, ns string, applied *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, bool, error) {
	tracker := s.dyn.Tracker()
	appliedSet, err := appliedFields(applied)
	if err != nil {
		return nil, false, apierrors.NewBadRequest(err.Error())
	}
	current, err := tracker.Get(gvr, ns, applied.GetName())
	if apierrors.IsNotFound(err) {
		out := applied.DeepCopy()
		s.uid++
		out.SetUID(types.UID("uid-" + strconv.Itoa(s.uid)))
		out.SetCreationTimestamp(metav1.NewTime(s.now))
		s.stamp(out, appliedSet)
		if out.GetKind() == "Namespace" {
			_ = unstructured.SetNestedField(out.Object, "Active", "status", "phase")
		}
		if dryRun {
			return out, true, nil
		}
		s.now = s.now.Add(time.Second)
		return out, true, tracker.Create(gvr, out, ns)
	}
	if err != nil {
		return nil, false, err
	}
	live := current.(*unstructured.Unstructured)
	owned, err := ownedFields(live, manager)
	if err != nil {
		return nil, false, err
	}
	out := live.DeepCopy()
	removeFields(out.Object, owned.Difference(appliedSet))
	mergeInto(out.Object, applied.Object)
	if owned.Equals(appliedSet) && equalIgnoringMeta(live, out) {
		return live, false, nil // a no-op apply leaves the object, and our entry's time, alone
	}
	s.stamp(out, appliedSet)
	if !dryRun {
		s.now = s.now.Add(time.Second)
		err = tracker.Update(gvr, out, ns)
	}
	return out, false, err
}

// stamp gives out a new resourceVersion and our managedFields entry,
// replacing the previous one, as the server does on a change.
func (s *fakeServer) stamp(out *unstructured.Unstructured, set *fieldpath.Set) {
	raw, err := set.ToJSON()
	if err != nil {
		s.t.Fatal(err)
	}
	entries := slices.DeleteFunc(out.GetManagedFields(), func(e metav1.ManagedFieldsEntry) bool {
		return e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply
	})
	entries = append(entries, metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationApply,
		APIVersion: out.GetAPIVersion(), Time: &metav1.Time{Time: s.now}, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(string(raw))})
	out.SetManagedFields(entries)
	s.rv++
	out.SetResourceVersion(strconv.Itoa(s.rv))
}

// appliedFields is the field set of an applied configuration, without the
// identifying fields the server leaves out of managedFields.
func appliedFields(u *unstructured.Unstructured) (*fieldpath.Set, error) {
	tv, err := typed.DeducedParseableType.FromUnstructured(u.Object)
	if err != nil {
		return nil, err
	}
	set, err := tv.ToFieldSet()
	if err != nil {
		return nil, err
	}
	return set.Difference(fieldpath.NewSet(
		fieldpath.MakePathOrDie("apiVersion"), fieldpath.MakePathOrDie("kind"),
		fieldpath.MakePathOrDie("metadata", "name"), fieldpath.MakePathOrDie("metadata", "namespace"))), nil
}

func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = runtime.DeepCopyJSONValue(v)
	}
}

func equalIgnoringMeta(a, b *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		c := u.DeepCopy()
		c.SetManagedFields(nil)
		c.SetResourceVersion("")
		return c.Object
	}
	ja, _ := json.Marshal(strip(a))
	jb, _ := json.Marshal(strip(b))
	return string(ja) == string(jb)
}

func respond(code int, body any) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: code, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(string(b)))}, nil
}

func status(err error) (*http.Response, error) {
	st := err.(apierrors.APIStatus).Status()
	st.Kind, st.APIVersion = "Status", "v1"
	return respond(int(st.Code), st)
}

// writes are the requests that changed the cluster: Raw applies that were
// not dry runs, and the dynamic client's writes.
func (s *fakeServer) writes() []string {
	s.mu.Lock()
	var out []string
	for _, r := range s.requests {
		if strings.HasPrefix(r, "PATCH ") && !strings.HasSuffix(r, " dryRun") {
			out = append(out, r)
		}
	}
	s.mu.Unlock()
	for _, a := range s.dyn.Actions() {
		switch a := a.(type) {
		case k8stesting.DeleteActionImpl:
			if !slices.Contains(a.DeleteOptions.DryRun, metav1.DryRunAll) {
				out = append(out, "DELETE "+a.GetResource().Resource+"/"+a.GetName())
			}
		case k8stesting.CreateAction, k8stesting.UpdateAction, k8stesting.PatchAction:
			out = append(out, strings.ToUpper(a.GetVerb())+" "+a.GetResource().Resource)
		}
	}
	return out
}

// get reads an object from the cluster, nil when there is none.
func (s *fakeServer) get(resource, ns, name string) *unstructured.Unstructured {
	s.t.Helper()
	gvr := schema.GroupVersionResource{Version: "v1", Resource: resource}
	if resource == "deployments" {
		gvr.Group = "apps"
	}
	o, err := s.dyn.Tracker().Get(gvr, ns, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return o.(*unstructured.Unstructured)
}

// inventoryYAML is what the inventory says: its labels and annotations.
func (s *fakeServer) inventoryYAML(ns string) string {
	s.t.Helper()
	inv := s.get("configmaps", ns, InventoryName)
	if inv == nil {
		s.t.Fatalf("no inventory in %s (requests %v)", ns, s.requests)
	}
	b, err := yaml.Marshal(map[string]any{"apiVersion": inv.GetAPIVersion(), "kind": inv.GetKind(), "metadata": map[string]any{
		"name": inv.GetName(), "namespace": inv.GetNamespace(), "labels": inv.GetLabels(), "annotations": inv.GetAnnotations()}})
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

var pprd = overlays.Instance{Env: "staging", Name: "pprd"}

func object(apiVersion, kind, ns, name string, fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	for k, v := range fields {
		u.Object[k] = v
	}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetName(name)
	if ns != "" {
		u.SetNamespace(ns)
	}
	return u
}

// overlay is pprd's built overlay: its Namespace, then the named objects.
func overlay(objs ...*unstructured.Unstructured) map[string][]*unstructured.Unstructured {
	return map[string][]*unstructured.Unstructured{pprd.Name: append([]*unstructured.Unstructured{
		object("v1", "Namespace", "", "qxsms-pprd", nil)}, objs...)}
}

func configMap(name, value string) *unstructured.Unstructured {
	return object("v1", "ConfigMap", "qxsms-pprd", name, map[string]any{"data": map[string]any{"KEY": value}})
}

func claim(name string) *unstructured.Unstructured {
	return object("v1", "PersistentVolumeClaim", "qxsms-pprd", name, map[string]any{"spec": map[string]any{
		"accessModes": []any{"ReadWriteMany"}, "resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}}})
}

func webDeployment(image string) *unstructured.Unstructured {
	return object("apps/v1", "Deployment", "qxsms-pprd", "qxsms", map[string]any{"spec": map[string]any{
		"selector": map[string]any{"matchLabels": map[string]any{"app": "qxsms"}},
		"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"app": "qxsms"}},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": "qxsms", "image": image}}}}}})
}

// actions renders an instance's outcome as kubectl would list it.
func actions(r *InstanceResult) string {
	var b strings.Builder
	for _, o := range r.Objects {
		fmt.Fprintf(&b, "%s %s\n", o.Name, o.Action)
	}
	return b.String()
}

func testOptions(now time.Time) Options {
	return Options{FieldManager: manager, Tooling: "kubectl-qxsms/v0.1.0-test", DryRun: DryRunNone, Parallel: 2, ObjectParallel: 4,
		Timeout: time.Second, Revision: "abc1234", Now: func() time.Time { return now }}
}

// applyPprd deploys pprd; wantErr says whether the instance may fail.
func applyPprd(t *testing.T, c *kube.Clients, built map[string][]*unstructured.Unstructured, opts Options, wantErr bool) *InstanceResult {
	t.Helper()
	res, err := Apply(context.Background(), c, []overlays.Instance{pprd}, built, opts)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(res.Instances) != 1 || res.Plan != nil || res.Report != nil {
		t.Fatalf("a plain deploy of one instance: %+v", res)
	}
	if r := res.Instances[0]; (r.Err != nil) != wantErr {
		t.Errorf("instance error = %v, want an error: %v", r.Err, wantErr)
	}
	return res.Instances[0]
}

// Deploys in a row on one cluster: the first creates everything and records
// the inventory, the same again changes nothing (not even the inventory's
// record of the last deploy), a changed value is configured and recorded.
func TestApplyCreatesThenLeavesUnchanged(t *testing.T) {
	s, c := newFakeServer(t)
	first := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		name  string
		built map[string][]*unstructured.Unstructured
		now   time.Time
		want  string
		// golden is the inventory after the step.
		golden string
	}{{
		name:  "first deploy",
		built: overlay(configMap("config", "a"), claim("data"), webDeployment("registry/qxsms:1")),
		now:   first,
		want: "namespace/qxsms-pprd created\nconfigmap/config created\npersistentvolumeclaim/data created\n" +
			"deployment.apps/qxsms created\n",
		golden: "inventory-first-deploy",
	}, {
		name:   "redeploy of the same",
		built:  overlay(configMap("config", "a"), claim("data"), webDeployment("registry/qxsms:1")),
		now:    first.Add(time.Hour),
		want:   "namespace/qxsms-pprd unchanged\nconfigmap/config unchanged\npersistentvolumeclaim/data unchanged\ndeployment.apps/qxsms unchanged\n",
		golden: "inventory-first-deploy",
	}, {
		name:   "a new image",
		built:  overlay(configMap("config", "a"), claim("data"), webDeployment("registry/qxsms:2")),
		now:    first.Add(2 * time.Hour),
		want:   "namespace/qxsms-pprd unchanged\nconfigmap/config unchanged\npersistentvolumeclaim/data unchanged\ndeployment.apps/qxsms configured\n",
		golden: "inventory-new-image",
	}}
	for _, step := range steps {
		s.mu.Lock()
		s.requests = nil
		s.mu.Unlock()
		s.dyn.ClearActions()
		r := applyPprd(t, c, step.built, testOptions(step.now), false)
		if got := actions(r); got != step.want {
			t.Errorf("%s:\n--- got\n%s--- want\n%s", step.name, got, step.want)
		}
		testutil.Golden(t, step.golden, s.inventoryYAML("qxsms-pprd"))
		if step.name == "redeploy of the same" {
			// The applies must still be sent (the repo wins), but nothing is written.
			if inv := s.get("configmaps", "qxsms-pprd", InventoryName); inv.GetAnnotations()[DeployedAtAnnotation] != first.Format(time.RFC3339) {
				t.Errorf("%s: the inventory must keep the record of the deploy that changed something: %v", step.name, inv.GetAnnotations())
			}
			for _, w := range s.writes() {
				if strings.Contains(w, InventoryName) {
					t.Errorf("%s: the inventory was rewritten: %s", step.name, w)
				}
			}
		}
	}
	if img, _, _ := unstructured.NestedSlice(s.get("deployments", "qxsms-pprd", "qxsms").Object, "spec", "template", "spec", "containers"); img[0].(map[string]any)["image"] != "registry/qxsms:2" {
		t.Errorf("the cluster runs %v", img)
	}
	for _, o := range []*unstructured.Unstructured{s.get("configmaps", "qxsms-pprd", "config"), s.get("deployments", "qxsms-pprd", "qxsms")} {
		if l := o.GetLabels(); l[ApplySetPartOfLabel] != ApplySetID("qxsms-pprd") || l[overlays.InstanceLabel] != "pprd" || l[overlays.EnvironmentLabel] != "staging" {
			t.Errorf("%s lacks the ApplySet and instance labels: %v", o.GetName(), l)
		}
	}
}

// A user whose RBAC stops at the namespace can deploy into it: the
// Namespace is skipped, everything else applied. If it does not exist, the
// instance fails before anything is written.
func TestApplyForbiddenNamespace(t *testing.T) {
	existing := object("v1", "Namespace", "", "qxsms-pprd", map[string]any{"status": map[string]any{"phase": "Active"}})
	forbidGet := func(s *fakeServer) {
		s.dyn.PrependReactor("get", "namespaces", func(a k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "qxsms-pprd", fmt.Errorf("RBAC"))
		})
	}
	forbidApply := func(s *fakeServer) { s.forbidden["/api/v1/namespaces/qxsms-pprd"] = true }
	cases := []struct {
		name   string
		seed   []runtime.Object
		forbid []func(*fakeServer)
		want   string
		// nsApplied is whether the Namespace's apply was sent.
		nsApplied bool
		wantErr   bool
	}{{
		name:      "apply forbidden, the namespace exists",
		seed:      []runtime.Object{existing},
		forbid:    []func(*fakeServer){forbidApply},
		want:      "namespace/qxsms-pprd skipped\nconfigmap/config created\n",
		nsApplied: true,
	}, {
		name:   "not even allowed to read it",
		seed:   []runtime.Object{existing},
		forbid: []func(*fakeServer){forbidGet, forbidApply},
		want:   "namespace/qxsms-pprd skipped\nconfigmap/config created\n",
	}, {
		name:      "apply forbidden, no namespace",
		forbid:    []func(*fakeServer){forbidApply},
		want:      "namespace/qxsms-pprd failed\n",
		nsApplied: true,
		wantErr:   true,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newFakeServer(t, tc.seed...)
			for _, f := range tc.forbid {
				f(s)
			}
			r := applyPprd(t, c, overlay(configMap("config", "a")), testOptions(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)), tc.wantErr)
			if got := actions(r); got != tc.want {
				t.Errorf("got\n%s--- want\n%s", got, tc.want)
			}
			sent := slices.Contains(s.requests, "PATCH /api/v1/namespaces/qxsms-pprd")
			if sent != tc.nsApplied {
				t.Errorf("Namespace apply sent = %v, want %v (requests %v)", sent, tc.nsApplied, s.requests)
			}
			if r.Err != nil {
				if !apierrors.IsForbidden(r.Err) {
					t.Errorf("err = %v, want the server's Forbidden", r.Err)
				}
				if w := slices.DeleteFunc(s.writes(), func(w string) bool { return strings.HasSuffix(w, "/namespaces/qxsms-pprd") }); len(w) > 0 {
					t.Errorf("a failed Namespace must stop the instance before any write: %v", w)
				}
				return
			}
			if s.get("configmaps", "qxsms-pprd", InventoryName) == nil {
				t.Error("the inventory must be written inside the namespace")
			}
		})
	}
}

// Prune deletes the members that left the overlay, never a PVC, nor an
// object that is not the instance's; the inventory keeps the PVC's kind, so
// a later prune still sees it.
func TestApplyPruneKeepsClaims(t *testing.T) {
	foreign := object("v1", "ConfigMap", "qxsms-pprd", "made-by-hand", map[string]any{"data": map[string]any{"K": "v"}})
	s, c := newFakeServer(t, foreign)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	oldService := object("v1", "Service", "qxsms-pprd", "old", map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": int64(80)}}}})
	applyPprd(t, c, overlay(configMap("config", "a"), configMap("old", "x"), claim("data"), oldService, webDeployment("registry/qxsms:1")), testOptions(now), false)
	uid := s.get("configmaps", "qxsms-pprd", "old").GetUID()
	s.dyn.ClearActions()

	opts := testOptions(now.Add(time.Hour))
	opts.Prune = true
	r := applyPprd(t, c, overlay(configMap("config", "a"), webDeployment("registry/qxsms:1")), opts, false)
	want := "namespace/qxsms-pprd unchanged\nconfigmap/config unchanged\ndeployment.apps/qxsms unchanged\n" +
		"configmap/old pruned\npersistentvolumeclaim/data kept\nservice/old pruned\n"
	if got := actions(r); got != want {
		t.Errorf("got\n%s--- want\n%s", got, want)
	}
	if s.get("configmaps", "qxsms-pprd", "old") != nil {
		t.Error("configmap/old is still there")
	}
	if s.get("services", "qxsms-pprd", "old") != nil {
		t.Error("service/old is still there")
	}
	if s.get("persistentvolumeclaims", "qxsms-pprd", "data") == nil || s.get("configmaps", "qxsms-pprd", "made-by-hand") == nil {
		t.Error("prune deleted a PVC or an object that is not a member")
	}
	var deletes []k8stesting.DeleteActionImpl
	for _, a := range s.dyn.Actions() {
		if d, ok := a.(k8stesting.DeleteActionImpl); ok {
			deletes = append(deletes, d)
		}
	}
	if len(deletes) != 2 {
		t.Fatalf("deletes: %v", deletes)
	}
	// Only the object that was listed: one recreated since keeps its new uid.
	if o := deletes[0].DeleteOptions; o.Preconditions == nil || o.Preconditions.UID == nil || *o.Preconditions.UID != uid ||
		o.PropagationPolicy == nil || *o.PropagationPolicy != metav1.DeletePropagationBackground {
		t.Errorf("delete options: %+v", o)
	}
	// A prune is a change: the deploy is recorded. Service, whose last
	// member went, leaves the kinds; PersistentVolumeClaim stays for data.
	testutil.Golden(t, "inventory-after-prune", s.inventoryYAML("qxsms-pprd"))
}

// No dry run writes anything, prune included; each reports what a deploy
// would do.
func TestApplyDryRunsWriteNothing(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	changed := overlay(configMap("config", "b"), claim("data"), configMap("new", "n"))
	cases := []struct {
		name string
		opts func(*Options)
		want string
		// diffs are the objects that must carry a diff.
		diffs []string
	}{{
		name: "client",
		opts: func(o *Options) { o.DryRun = DryRunClient },
		// A client dry run cannot tell unchanged from configured.
		want: "namespace/qxsms-pprd configured\nconfigmap/config configured\npersistentvolumeclaim/data configured\nconfigmap/new created\n" +
			"configmap/old pruned\n",
	}, {
		name: "server",
		opts: func(o *Options) { o.DryRun = DryRunServer },
		want: "namespace/qxsms-pprd unchanged\nconfigmap/config configured\npersistentvolumeclaim/data unchanged\nconfigmap/new created\n" +
			"configmap/old pruned\n",
	}, {
		name:  "diff",
		opts:  func(o *Options) { o.Diff = true },
		want:  "namespace/qxsms-pprd unchanged\nconfigmap/config configured\npersistentvolumeclaim/data unchanged\nconfigmap/new created\nconfigmap/old pruned\n",
		diffs: []string{"configmap/config", "configmap/new", "configmap/old"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newFakeServer(t)
			applyPprd(t, c, overlay(configMap("config", "a"), configMap("old", "x"), claim("data")), testOptions(now), false)
			before, err := s.dyn.Resource(configMapsResource).Namespace("qxsms-pprd").List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			s.requests = nil
			s.mu.Unlock()
			s.dyn.ClearActions()

			opts := testOptions(now.Add(time.Hour))
			opts.Prune = true
			tc.opts(&opts)
			r := applyPprd(t, c, changed, opts, false)
			if got := actions(r); got != tc.want {
				t.Errorf("got\n%s--- want\n%s", got, tc.want)
			}
			if w := s.writes(); len(w) > 0 {
				t.Errorf("a dry run wrote: %v", w)
			}
			after, _ := s.dyn.Resource(configMapsResource).Namespace("qxsms-pprd").List(context.Background(), metav1.ListOptions{})
			if !equalLists(before, after) {
				t.Errorf("the cluster changed:\n%v\n%v", before.Items, after.Items)
			}
			for _, o := range r.Objects {
				if hasDiff := o.Diff != ""; hasDiff != slices.Contains(tc.diffs, o.Name) {
					t.Errorf("%s diff = %q", o.Name, o.Diff)
				}
			}
		})
	}
}

func equalLists(a, b *unstructured.UnstructuredList) bool {
	ja, _ := json.Marshal(a.Items)
	jb, _ := json.Marshal(b.Items)
	return string(ja) == string(jb)
}

// An apply the server refuses fails the instance with the server's own
// words: they say which field is wrong.
func TestApplyErrorSaysWhatTheServerSaid(t *testing.T) {
	s, c := newFakeServer(t)
	s.refuse = map[string]error{"/apis/apps/v1/namespaces/qxsms-pprd/deployments/qxsms": apierrors.NewInvalid(
		schema.GroupKind{Group: "apps", Kind: "Deployment"}, "qxsms", field.ErrorList{field.Required(field.NewPath("spec", "template", "spec", "containers").Index(0).Child("image"), "")})}
	r := applyPprd(t, c, overlay(configMap("config", "a"), webDeployment("")), testOptions(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)), true)
	want := "namespace/qxsms-pprd created\nconfigmap/config created\ndeployment.apps/qxsms failed\n"
	if got := actions(r); got != want {
		t.Errorf("got\n%s--- want\n%s", got, want)
	}
	if r.Err == nil || !strings.Contains(r.Err.Error(), "spec.template.spec.containers[0].image: Required value") {
		t.Errorf("the error must carry the server's message: %v", r.Err)
	}
}
