package overlays

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Labels every instance's objects carry, set by the overlay's kustomization
// and enforced by deploy.
const (
	InstanceLabel    = "qxsms.io/instance"
	EnvironmentLabel = "qxsms.io/environment"
)

// Build runs kustomize in-process on dir with the options `kubectl apply -k`
// uses, so that what deploy applies is exactly what kubectl would.
func Build(fsys filesys.FileSystem, dir string) ([]*unstructured.Unstructured, error) {
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionLegacy
	resMap, err := krusty.MakeKustomizer(opts).Run(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, res := range resMap.Resources() {
		// Through JSON, so numbers are int64/float64 as unstructured expects.
		b, err := res.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, res.CurId(), err)
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(b); err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, res.CurId(), err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// BuildInstances builds every instance before anything touches a cluster; one
// failure fails the whole selection, naming each broken instance.
// Builds run on every CPU: they are the client's main cost in a deploy.
func BuildInstances(fsys filesys.FileSystem, instances []Instance) (map[string][]*unstructured.Unstructured, error) {
	built := make([][]*unstructured.Unstructured, len(instances))
	errs := make([]error, len(instances))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, inst := range instances {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			objs, err := Build(fsys, inst.Dir)
			if err != nil {
				errs[i] = fmt.Errorf("instance %s: %w", inst, err)
			}
			built[i] = objs
		}()
	}
	wg.Wait()
	out := make(map[string][]*unstructured.Unstructured, len(instances))
	for i, inst := range instances {
		out[inst.Name] = built[i]
	}
	if err := utilerrors.NewAggregate(errs); err != nil {
		return nil, fmt.Errorf("%w\nnothing was applied: fix the overlay(s) above, then check with `kubectl kustomize %s`",
			err, filepath.Join("k8s", "overlays", instances[0].Env, "INSTANCE"))
	}
	return out, nil
}

// ScopeFunc reports whether a kind is namespaced; a RESTMapper answers it for
// a live cluster, StaticScope offline.
type ScopeFunc func(schema.GroupVersionKind) (namespaced bool, err error)

// Check enforces what keeps an instance inside its own namespace: every
// namespaced object is in qxsms-<instance>, the only cluster-scoped object is
// that Namespace, and the Namespace is present.
func Check(inst Instance, objs []*unstructured.Unstructured, namespaced ScopeFunc) error {
	var errs []error
	ns := inst.Namespace()
	hasNamespace := false
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		id := fmt.Sprintf("%s %q", gvk.Kind, o.GetName())
		isNamespaced, err := namespaced(gvk)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			continue
		}
		switch {
		case isNamespaced && o.GetNamespace() != ns:
			errs = append(errs, fmt.Errorf("%s is in namespace %q, not the instance's %q: set `namespace: %s` in the kustomization", id, o.GetNamespace(), ns, ns))
		case !isNamespaced && gvk.GroupKind() == (schema.GroupKind{Kind: "Namespace"}):
			if o.GetName() != ns {
				errs = append(errs, fmt.Errorf("%s is not the instance's namespace %q: rename it in namespace.yml", id, ns))
			}
			hasNamespace = true
		case !isNamespaced:
			errs = append(errs, fmt.Errorf("%s is cluster-scoped: an instance may only hold its own Namespace; move it to k8s/cluster/", id))
		}
	}
	if !hasNamespace {
		errs = append(errs, fmt.Errorf("no Namespace %q: add namespace.yml to the overlay's resources", ns))
	}
	if len(errs) > 0 {
		return fmt.Errorf("instance %s (%s): %w", inst, inst.Dir, utilerrors.NewAggregate(errs))
	}
	return nil
}

// clusterScoped lists the built-in cluster-scoped kinds an overlay could hold.
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "StorageClass": true,
	"ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true,
	"PriorityClass": true, "IngressClass": true, "ValidatingWebhookConfiguration": true,
	"MutatingWebhookConfiguration": true, "APIService": true, "CSIDriver": true,
}

// StaticScope answers ScopeFunc for built-in kinds without a cluster.
func StaticScope(gvk schema.GroupVersionKind) (bool, error) {
	if gvk.Kind == "" || strings.TrimSpace(gvk.Version) == "" {
		return false, fmt.Errorf("object has no apiVersion or kind")
	}
	return !clusterScoped[gvk.Kind], nil
}
