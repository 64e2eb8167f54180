package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

const manager = "kubectl-qxsms"

func entry(name string, op metav1.ManagedFieldsOperationType, apiVersion, subresource, fields string) metav1.ManagedFieldsEntry {
	return metav1.ManagedFieldsEntry{Manager: name, Operation: op, APIVersion: apiVersion, Subresource: subresource,
		FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}
}

const (
	ourFields     = `{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"qxsms\"}":{".":{},"f:image":{},"f:name":{}}}}}}}`
	setEnvFields  = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"qxsms\"}":{"f:env":{".":{},"k:{\"name\":\"DEBUG\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}`
	restartFields = `{"f:spec":{"f:template":{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/restartedAt":{}}}}}}`
	pausedFields  = `{"f:spec":{"f:paused":{}}}`
	scaleFields   = `{"f:spec":{"f:replicas":{}}}`
	statusFields  = `{"f:status":{"f:replicas":{}}}`
)

// deployment is a Deployment as the server returns it after the given edits.
func deployment(rv string, replicas int64, image string, env map[string]string, entries ...metav1.ManagedFieldsEntry) *unstructured.Unstructured {
	container := map[string]any{"name": "qxsms", "image": image}
	if len(env) > 0 {
		var list []any
		for k, v := range env {
			list = append(list, map[string]any{"name": k, "value": v})
		}
		container["env"] = list
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "qxsms", "namespace": "qxsms-pprd", "labels": map[string]any{"app": "qxsms"}},
		"spec": map[string]any{"replicas": replicas, "template": map[string]any{
			"metadata": map[string]any{"annotations": map[string]any{"kubectl.kubernetes.io/restartedAt": "t0"}},
			"spec":     map[string]any{"containers": []any{container}}}},
		"status": map[string]any{"replicas": int64(1)},
	}}
	u.SetResourceVersion(rv)
	u.SetManagedFields(entries)
	return u
}

func managers(t *testing.T, patch []byte) map[string]string {
	t.Helper()
	var ops []struct {
		Op    string
		Path  string
		Value json.RawMessage
	}
	if err := json.Unmarshal(patch, &ops); err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops[1].Path != "/metadata/resourceVersion" || string(ops[1].Value) != `"42"` {
		t.Fatalf("the patch must be guarded by the resourceVersion read: %s", patch)
	}
	var entries []metav1.ManagedFieldsEntry
	if err := json.Unmarshal(ops[0].Value, &entries); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		key := e.Manager + "/" + e.APIVersion
		if e.Subresource != "" {
			key += "/" + e.Subresource
		}
		out[key] = e.FieldsV1.GetRawString()
	}
	return out
}

func TestTakeOverPatch(t *testing.T) {
	cases := []struct {
		name    string
		entries []metav1.ManagedFieldsEntry
		// want maps manager/apiVersion[/subresource] to substrings of its fields, "" for "absent".
		want map[string][]string
	}{{
		name: "kubectl set env is taken over",
		entries: []metav1.ManagedFieldsEntry{
			entry(manager, metav1.ManagedFieldsOperationApply, "apps/v1", "", ourFields),
			entry("kubectl-set", metav1.ManagedFieldsOperationUpdate, "apps/v1", "", setEnvFields),
			entry("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, "apps/v1", "status", statusFields),
		},
		want: map[string][]string{
			manager + "/apps/v1":                     {"f:image", `DEBUG`},
			"kubectl-set/apps/v1":                    nil,
			"kube-controller-manager/apps/v1/status": {"f:status"},
		},
	}, {
		name: "rollout pause is taken over, restartedAt stays with kubectl-rollout",
		entries: []metav1.ManagedFieldsEntry{
			entry(manager, metav1.ManagedFieldsOperationApply, "apps/v1", "", ourFields),
			entry("kubectl-rollout", metav1.ManagedFieldsOperationUpdate, "apps/v1", "", `{"f:spec":{"f:paused":{},"f:template":{"f:metadata":{"f:annotations":{"f:kubectl.kubernetes.io/restartedAt":{}}}}}}`),
		},
		want: map[string][]string{
			manager + "/apps/v1":      {"f:paused"},
			"kubectl-rollout/apps/v1": {"restartedAt"},
		},
	}, {
		name: "kubectl scale through the scale subresource is taken over",
		entries: []metav1.ManagedFieldsEntry{
			entry(manager, metav1.ManagedFieldsOperationApply, "apps/v1", "", `{"f:metadata":{"f:labels":{"f:app":{}}}}`),
			entry("kubectl", metav1.ManagedFieldsOperationUpdate, "apps/v1", "scale", scaleFields),
		},
		want: map[string][]string{
			manager + "/apps/v1":    {"f:replicas", "f:app"},
			"kubectl/apps/v1/scale": nil,
		},
	}, {
		name: "client-side apply (kubectl apply -k) becomes ours; an entry of another apiVersion keeps its owner",
		entries: []metav1.ManagedFieldsEntry{
			entry("kubectl-client-side-apply", metav1.ManagedFieldsOperationUpdate, "apps/v1", "", ourFields),
			entry("kubectl-client-side-apply", metav1.ManagedFieldsOperationUpdate, "apps/v1beta2", "", pausedFields),
		},
		want: map[string][]string{
			manager + "/apps/v1":                     {"f:image"},
			"kubectl-client-side-apply/apps/v1":      nil,
			"kubectl-client-side-apply/apps/v1beta2": {"f:paused"},
		},
	}, {
		name: "a restart stamped by kubectl patch stays; old kubectl's Apply and Update entries both merge",
		entries: []metav1.ManagedFieldsEntry{
			entry(manager, metav1.ManagedFieldsOperationApply, "apps/v1", "", ourFields),
			entry("kubectl-patch", metav1.ManagedFieldsOperationUpdate, "apps/v1", "", restartFields),
			entry("kubectl", metav1.ManagedFieldsOperationApply, "apps/v1", "", setEnvFields),
			entry("kubectl", metav1.ManagedFieldsOperationUpdate, "apps/v1", "", pausedFields),
			entry("before-first-apply", metav1.ManagedFieldsOperationUpdate, "apps/v1", "", `{"f:spec":{"f:progressDeadlineSeconds":{}}}`),
		},
		want: map[string][]string{
			manager + "/apps/v1":         {"DEBUG", "f:image"},
			"kubectl-patch/apps/v1":      {"restartedAt"},
			"before-first-apply/apps/v1": {"progressDeadlineSeconds"},
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			live := deployment("42", 1, "img:1", nil, tc.entries...)
			patch, err := takeOverPatch(live, manager, "apps/v1")
			if err != nil || patch == nil {
				t.Fatalf("takeOverPatch = %s, %v", patch, err)
			}
			got := managers(t, patch)
			for m, subs := range tc.want {
				fields, ok := got[m]
				if subs == nil {
					if ok {
						t.Errorf("%s must be gone, has %s", m, fields)
					}
					continue
				}
				for _, s := range subs {
					if !strings.Contains(fields, s) {
						t.Errorf("%s lacks %s: %q (all: %v)", m, s, fields, got)
					}
				}
			}
			for m := range got {
				if strings.HasPrefix(m, takeoverPrefix) {
					t.Errorf("temporary manager left behind: %s", m)
				}
			}
			if strings.Contains(got[manager+"/apps/v1"], "restartedAt") {
				t.Error("restartedAt must stay with kubectl-rollout: a deploy must not undo a restart")
			}
			if strings.Contains(got[manager+"/apps/v1"], "f:paused") != (strings.Contains(tc.name, "pause") || strings.Contains(tc.name, "Update entries")) {
				t.Errorf("paused ownership wrong: %s", got[manager+"/apps/v1"])
			}
		})
	}

	t.Run("nothing to take over is no patch", func(t *testing.T) {
		live := deployment("42", 1, "img:1", nil,
			entry(manager, metav1.ManagedFieldsOperationApply, "apps/v1", "", ourFields),
			entry("kubectl-rollout", metav1.ManagedFieldsOperationUpdate, "apps/v1", "", restartFields))
		if patch, err := takeOverPatch(live, manager, "apps/v1"); err != nil || patch != nil {
			t.Errorf("= %s, %v", patch, err)
		}
	})
	t.Run("an admin's labels on the Namespace survive", func(t *testing.T) {
		ns := &unstructured.Unstructured{}
		ns.SetAPIVersion("v1")
		ns.SetKind("Namespace")
		ns.SetManagedFields([]metav1.ManagedFieldsEntry{entry("kubectl-label", metav1.ManagedFieldsOperationUpdate, "v1", "",
			`{"f:metadata":{"f:labels":{"f:pod-security.kubernetes.io/enforce":{}}}}`)})
		if patch, err := takeOverPatch(ns, manager, "v1"); err != nil || patch != nil {
			t.Errorf("the Namespace must not be taken over: %s, %v", patch, err)
		}
	})
}

// After `kubectl set env DEBUG=x`, a dry run answers with DEBUG still there
// (it cannot take fields over); the diff must show the real deploy's removal.
func TestDryRunShowsWhatTheTakeoverRemoves(t *testing.T) {
	live := deployment("42", 1, "img:1", map[string]string{"DEBUG": "x"},
		entry(manager, metav1.ManagedFieldsOperationApply, "apps/v1", "", ourFields),
		entry("kubectl-set", metav1.ManagedFieldsOperationUpdate, "apps/v1", "", setEnvFields))
	out := live.DeepCopy() // what the server's dry-run apply answers: nothing of ours changes
	removed, err := removedByTakeover(live, out, manager)
	if err != nil {
		t.Fatal(err)
	}
	if !removed.Has(fieldpath.MakePathOrDie("spec", "template", "spec", "containers",
		fieldpath.KeyByFields("name", "qxsms"), "env", fieldpath.KeyByFields("name", "DEBUG"))) {
		t.Fatalf("DEBUG must be removed: %s", removed)
	}
	if got := classify(false, live, out, manager, removed); got != Configured {
		t.Errorf("classify = %s, want configured", got)
	}
	shown := out.DeepCopy()
	removeFields(shown.Object, removed)
	d := unifiedDiff("deployment.apps/qxsms", "qxsms-pprd", live, shown)
	if !strings.Contains(d, "-        - name: DEBUG") {
		t.Errorf("the diff must show DEBUG removed:\n%s", d)
	}
	containers, _, _ := unstructured.NestedSlice(shown.Object, "spec", "template", "spec", "containers")
	if env, found := containers[0].(map[string]any)["env"]; found {
		t.Errorf("env left: %v", env)
	}
	if img := containers[0].(map[string]any)["image"]; img != "img:1" {
		t.Errorf("removal touched another field: image %v", img)
	}

	// Without a hand edit, nothing is removed and the object is unchanged.
	clean := deployment("42", 1, "img:1", nil, entry(manager, metav1.ManagedFieldsOperationApply, "apps/v1", "", ourFields))
	removed, _ = removedByTakeover(clean, clean.DeepCopy(), manager)
	if !removed.Empty() || classify(false, clean, clean.DeepCopy(), manager, removed) != Unchanged {
		t.Errorf("a clean object must be unchanged (removed %s)", removed)
	}
}

func TestClassify(t *testing.T) {
	ours := entry(manager, metav1.ManagedFieldsOperationApply, "apps/v1", "", ourFields)
	none := &fieldpath.Set{}
	live := deployment("10", 2, "img:1", nil, ours)
	cases := []struct {
		name    string
		created bool
		live    *unstructured.Unstructured
		out     *unstructured.Unstructured
		removed *fieldpath.Set
		want    Action
	}{
		{"created", true, nil, live, none, Created},
		{"same", false, live, deployment("10", 2, "img:1", nil, ours), none, Unchanged},
		// A controller wrote status between the list and the apply.
		{"status written meanwhile", false, live, func() *unstructured.Unstructured {
			o := deployment("11", 2, "img:1", nil, ours, entry("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, "apps/v1", "status", statusFields))
			o.Object["status"] = map[string]any{"replicas": int64(5)}
			return o
		}(), none, Unchanged},
		// An HPA or controller changed a field we do not own.
		{"other manager's field changed meanwhile", false, live, func() *unstructured.Unstructured {
			o := deployment("11", 2, "img:1", nil, ours)
			o.SetAnnotations(map[string]string{"deployment.kubernetes.io/revision": "2"})
			return o
		}(), none, Unchanged},
		{"our value changed", false, live, deployment("11", 2, "img:2", nil, ours), none, Configured},
		{"our fields changed", false, live, deployment("11", 2, "img:1", nil,
			entry(manager, metav1.ManagedFieldsOperationApply, "apps/v1", "", `{"f:spec":{"f:replicas":{}}}`)), none, Configured},
		{"adopted: not ours before", false, deployment("10", 2, "img:1", nil), deployment("11", 2, "img:1", nil, ours), none, Configured},
		{"existed unseen", false, nil, live, none, Configured},
		{"takeover removes fields", false, live, live, fieldpath.NewSet(fieldpath.MakePathOrDie("spec", "paused")), Configured},
		// Someone changed our image since the read; the apply set it back and
		// the server stamped our entry.
		{"restored since the read", false, live, func() *unstructured.Unstructured {
			stamped := ours
			stamped.Time = &metav1.Time{Time: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}
			return deployment("12", 2, "img:1", nil, stamped)
		}(), none, Configured},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.created, tc.live, tc.out, manager, tc.removed); got != tc.want {
				t.Errorf("classify = %s, want %s", got, tc.want)
			}
		})
	}

	secret := func(v string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{"name": "s"}, "data": map[string]any{"PASSWORD": v}}}
		u.SetManagedFields([]metav1.ManagedFieldsEntry{entry(manager, metav1.ManagedFieldsOperationApply, "v1", "", `{"f:data":{"f:PASSWORD":{}}}`)})
		return u
	}
	// The same length, another value: a real change that masking must not hide.
	if got := classify(false, secret("b2xkLXZhbHVl"), secret("bmV3LXZhbHVl"), manager, none); got != Configured {
		t.Errorf("a Secret value of the same length changed: classify = %s", got)
	}
}

func TestDiffMasksSecretsLikeKubectl(t *testing.T) {
	secret := func(v string, extra map[string]any) *unstructured.Unstructured {
		data := map[string]any{"PASSWORD": v, "SAME": "c2FtZQ=="}
		for k, x := range extra {
			data[k] = x
		}
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{"name": "s", "resourceVersion": "1",
				"annotations": map[string]any{lastAppliedAnnotation: `{"data":{"PASSWORD":"` + v + `"}}`}},
			"data": data}}
		return u
	}
	values := []string{"b2xkLXZhbHVl", "bmV3LXZhbHVl", "c2FtZQ==", "bmV3LWtleQ=="}
	d := unifiedDiff("secret/s", "qxsms-pprd", secret("b2xkLXZhbHVl", nil), secret("bmV3LXZhbHVl", map[string]any{"NEW": "bmV3LWtleQ=="}))
	for _, v := range values {
		if strings.Contains(d, v) {
			t.Fatalf("diff shows a Secret value %s:\n%s", v, d)
		}
	}
	for _, want := range []string{"-  PASSWORD: '*** (before)'", "+  PASSWORD: '*** (after)'", "+  NEW: '***'", "   SAME: '***'", "--- live/qxsms-pprd/secret/s"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, "bytes") {
		t.Errorf("no lengths may be shown:\n%s", d)
	}
	if d := unifiedDiff("secret/s", "", nil, secret("eA==", nil)); d == "" || strings.Contains(d, "eA==") {
		t.Errorf("a created Secret is a masked diff:\n%s", d)
	}
	withStringData := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "s"}, "stringData": map[string]any{"TOKEN": "plain-token-value"}}}
	if d := unifiedDiff("secret/s", "", nil, withStringData); strings.Contains(d, "plain-token-value") {
		t.Errorf("stringData shown:\n%s", d)
	}
}

func TestCheckOwnership(t *testing.T) {
	inst := overlays.Instance{Env: "staging", Name: "pprd"}
	ns := inst.Namespace()
	cm := func(name string, labels map[string]string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind("ConfigMap")
		u.SetNamespace(ns)
		u.SetName(name)
		u.SetLabels(labels)
		return u
	}
	plan := &Plan{Instance: inst, Objects: []*unstructured.Unstructured{cm("config", nil)}}
	ourInventory := inventoryObject(inst, "kubectl-qxsms/v0.1.0", map[schema.GroupKind]bool{}, nil)
	otherInventory := ourInventory.DeepCopy()
	otherInventory.SetAnnotations(map[string]string{ApplySetToolingAnnot: "kubectl/v1.37.2"})
	cases := []struct {
		name      string
		inventory *unstructured.Unstructured
		live      *unstructured.Unstructured
		want      string
	}{
		{"ours", ourInventory, cm("config", map[string]string{ApplySetPartOfLabel: ApplySetID(ns)}), ""},
		{"adopted from kubectl apply -k", nil, cm("config", nil), ""},
		{"another tool's inventory", otherInventory, nil, "another tool owns it"},
		{"a plain ConfigMap of that name", cm(InventoryName, nil), nil, "not the inventory of kubectl-qxsms"},
		{"another ApplySet's member", ourInventory, cm("config", map[string]string{ApplySetPartOfLabel: "applyset-other-v1"}), "belongs to another ApplySet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &liveState{inventory: tc.inventory, objects: map[liveKey]*unstructured.Unstructured{}}
			if tc.live != nil {
				st.objects[keyOf(tc.live)] = tc.live
			}
			err := checkOwnership(plan, st, "kubectl-qxsms")
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected refusal: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was written")):
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPrepareRefusesAnOverlayConfigMapNamedLikeTheInventory(t *testing.T) {
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	inst := overlays.Instance{Env: "staging", Name: "pprd"}
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	cm.SetNamespace(inst.Namespace())
	cm.SetName(InventoryName)
	nsObj := &unstructured.Unstructured{}
	nsObj.SetAPIVersion("v1")
	nsObj.SetKind("Namespace")
	nsObj.SetName(inst.Namespace())
	_, err := Prepare(&kube.Clients{Mapper: mapper}, []overlays.Instance{inst}, map[string][]*unstructured.Unstructured{"pprd": {nsObj, cm}})
	if err == nil || !strings.Contains(err.Error(), "the name of the instance's inventory") {
		t.Errorf("err = %v", err)
	}
}

// fakeClients serves the instance's namespace and the given objects through
// a fake dynamic client; the mapper knows ConfigMaps and Namespaces only, as
// a cluster whose CRD went away.
func fakeClients(objs ...runtime.Object) (*kube.Clients, *dynamicfake.FakeDynamicClient) {
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Version: "v1"}})
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	scheme := runtime.NewScheme()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{
		{Version: "v1", Resource: "configmaps"}: "ConfigMapList",
		{Version: "v1", Resource: "namespaces"}: "NamespaceList",
	}, objs...)
	return &kube.Clients{Mapper: mapper, Dynamic: dyn}, dyn
}

func TestUnservedInventoryKindIsDroppedWithAWarning(t *testing.T) {
	inst := overlays.Instance{Env: "staging", Name: "pprd"}
	nsObj := &unstructured.Unstructured{}
	nsObj.SetAPIVersion("v1")
	nsObj.SetKind("Namespace")
	nsObj.SetName(inst.Namespace())
	inv := inventoryObject(inst, "kubectl-qxsms/v0.1.0", map[schema.GroupKind]bool{
		{Kind: "ConfigMap"}: true, {Group: "example.com", Kind: "Widget"}: true, namespaceGK: true}, nil)
	c, _ := fakeClients(nsObj, inv)
	var warnings strings.Builder
	d := &Deployer{Clients: c, Options: Options{FieldManager: manager, Progress: &warnings}}
	plans, err := Prepare(c, []overlays.Instance{inst}, map[string][]*unstructured.Unstructured{"pprd": {nsObj}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.readLive(context.Background(), plans[0])
	if err != nil {
		t.Fatalf("an unserved recorded kind must not fail the deploy: %v", err)
	}
	if st.kinds[schema.GroupKind{Group: "example.com", Kind: "Widget"}] {
		t.Error("the unserved kind must be dropped from the kinds to record")
	}
	if !st.kinds[schema.GroupKind{Kind: "ConfigMap"}] {
		t.Error("served kinds stay recorded")
	}
	if !strings.Contains(warnings.String(), "Warning: instance staging/pprd: kind Widget.example.com recorded in its inventory is no longer served") {
		t.Errorf("warning: %q", warnings.String())
	}
}

func TestFailedPruneFailsAndKeepsTheKind(t *testing.T) {
	member := func(name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind("ConfigMap")
		u.SetNamespace("qxsms-pprd")
		u.SetName(name)
		return u
	}
	c, dyn := fakeClients(member("old-a"), member("old-b"))
	dyn.PrependReactor("delete", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.DeleteAction).GetName() == "old-b" {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "old-b", errors.New("RBAC"))
		}
		return false, nil, nil
	})
	d := &Deployer{Clients: c, Options: Options{FieldManager: manager}}
	members := map[liveKey]*unstructured.Unstructured{keyOf(member("old-a")): member("old-a"), keyOf(member("old-b")): member("old-b")}
	results, failed := d.prune(context.Background(), members, map[liveKey]bool{})
	if len(results) != 2 || results[0].Action != Pruned || results[1].Action != Failed || !apierrors.IsForbidden(errors.Unwrap(results[1].Err)) {
		t.Fatalf("results: %+v", results)
	}
	if err := objectErrors(results); err == nil || !strings.Contains(err.Error(), "configmap/old-b") {
		t.Errorf("the failed prune must fail the instance, naming the object: %v", err)
	}
	if !failed[schema.GroupKind{Kind: "ConfigMap"}] {
		t.Error("the kind whose prune failed must stay in the inventory")
	}

	inst := overlays.Instance{Env: "staging", Name: "pprd"}
	kinds := recordedKinds(&Plan{Instance: inst}, map[schema.GroupKind]bool{{Kind: "ConfigMap"}: true, {Kind: "Service"}: true}, true, failed)
	if !kinds[schema.GroupKind{Kind: "ConfigMap"}] || kinds[schema.GroupKind{Kind: "Service"}] || !kinds[namespaceGK] {
		t.Errorf("recorded after a partly failed prune: %v", kinds)
	}
	kinds = recordedKinds(&Plan{Instance: inst}, map[schema.GroupKind]bool{{Kind: "Service"}: true}, false, nil)
	if !kinds[schema.GroupKind{Kind: "Service"}] {
		t.Errorf("without prune every kind stays: %v", kinds)
	}
}
