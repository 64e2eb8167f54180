package deploy

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubectlapply "k8s.io/kubectl/pkg/cmd/apply"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

// The inventory must be a real ApplySet: kubectl computes the same id.
func TestApplySetIDMatchesKubectl(t *testing.T) {
	mapping := &meta.RESTMapping{GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, Scope: meta.RESTScopeNamespace}
	for _, ns := range []string{"qxsms-pprd", "qxsms-a"} {
		parent := &kubectlapply.ApplySetParentRef{Name: InventoryName, Namespace: ns, RESTMapping: mapping}
		want := kubectlapply.NewApplySet(parent, kubectlapply.ApplySetTooling{Name: "kubectl-qxsms"}, nil, nil).ID()
		if got := ApplySetID(ns); got != want {
			t.Errorf("ApplySetID(%s) = %s, kubectl says %s", ns, got, want)
		}
	}
}

func TestInventoryCoversAndEqual(t *testing.T) {
	inst := overlays.Instance{Env: "staging", Name: "pprd"}
	gks := func(names ...string) map[schema.GroupKind]bool {
		m := map[schema.GroupKind]bool{}
		for _, n := range names {
			m[schema.ParseGroupKind(n)] = true
		}
		return m
	}
	live := inventoryObject(inst, "kubectl-qxsms/v1", gks("Deployment.apps", "Service", "Namespace"), map[string]string{DeployedAtAnnotation: "t1"})
	if got := live.GetAnnotations()[ApplySetGroupKindsAnn]; got != "Deployment.apps,Namespace,Service" {
		t.Errorf("kinds annotation %q is not sorted kubectl-style", got)
	}
	if !inventoryCovers(live, inventoryObject(inst, "kubectl-qxsms/v1", gks("Service"), nil)) {
		t.Error("a subset of kinds is covered")
	}
	if inventoryCovers(live, inventoryObject(inst, "kubectl-qxsms/v1", gks("Ingress.networking.k8s.io"), nil)) {
		t.Error("a new kind is not covered")
	}
	if inventoryCovers(live, inventoryObject(inst, "kubectl-qxsms/v2", gks("Service"), nil)) {
		t.Error("another tooling version must be rewritten")
	}
	if !inventoryEqual(live, inventoryObject(inst, "kubectl-qxsms/v1", gks("Deployment.apps", "Service", "Namespace"), map[string]string{DeployedAtAnnotation: "t1"})) {
		t.Error("identical inventories are equal")
	}
	if inventoryEqual(live, inventoryObject(inst, "kubectl-qxsms/v1", gks("Service", "Namespace"), nil)) {
		t.Error("fewer kinds is a change")
	}
	if inventoryEqual(nil, live) {
		t.Error("a missing inventory is never equal")
	}
}

func TestPrepareRefusesWhatLeavesTheInstance(t *testing.T) {
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass"}, meta.RESTScopeRoot)
	c := &kube.Clients{Mapper: mapper}
	obj := func(apiVersion, kind, ns, name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetNamespace(ns)
		u.SetName(name)
		return u
	}
	good := overlays.Instance{Env: "staging", Name: "good"}
	bad := overlays.Instance{Env: "staging", Name: "bad"}
	built := map[string][]*unstructured.Unstructured{
		"good": {obj("v1", "Namespace", "", "qxsms-good"), obj("v1", "ConfigMap", "qxsms-good", "c")},
		"bad": {obj("v1", "Namespace", "", "qxsms-bad"), obj("v1", "ConfigMap", "qxsms-good", "steal"),
			obj("storage.k8s.io/v1", "StorageClass", "", "nfs"), obj("example.com/v1", "Widget", "qxsms-bad", "w")},
	}
	plans, err := Prepare(c, []overlays.Instance{good}, built)
	if err != nil || len(plans) != 1 || plans[0].Namespace == nil || len(plans[0].Objects) != 1 {
		t.Fatalf("Prepare(good) = %v, %v", plans, err)
	}
	if l := plans[0].Objects[0].GetLabels(); l[ApplySetPartOfLabel] != ApplySetID("qxsms-good") || l[overlays.InstanceLabel] != "good" {
		t.Errorf("members must carry the ApplySet and instance labels: %v", l)
	}
	if built["good"][1].GetLabels() != nil {
		t.Error("Prepare must not modify the built objects")
	}
	_, err = Prepare(c, []overlays.Instance{good, bad}, built)
	if err == nil {
		t.Fatal("a bad instance must fail the whole deploy")
	}
	for _, want := range []string{`"qxsms-good", not the instance's "qxsms-bad"`, "cluster-scoped", "is its CRD installed", "nothing was applied to any instance"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestCountsAndParse(t *testing.T) {
	r := &InstanceResult{Objects: []ObjectResult{{Action: Created}, {Action: Unchanged}, {Action: Unchanged}, {Action: Kept}}}
	if r.Count(Unchanged) != 2 || !r.Changed() {
		t.Errorf("counts wrong: %+v", r)
	}
	if (&InstanceResult{Objects: []ObjectResult{{Action: Unchanged}, {Action: Kept}}}).Changed() {
		t.Error("unchanged and kept is no change")
	}
	if got := parseGroupKinds(" Deployment.apps, ,Service"); len(got) != 2 || got[0].Group != "apps" || got[1].Kind != "Service" {
		t.Errorf("parseGroupKinds: %v", got)
	}
}
