package deploy

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

// liveState is what the cluster holds of one instance before a deploy.
type liveState struct {
	nsExists bool
	// nsForbidden: the user may not read the Namespace; it is taken to exist.
	nsForbidden bool
	namespace   *unstructured.Unstructured
	inventory   *unstructured.Unstructured
	// kinds are the inventory's recorded kinds that are still served, and the
	// overlay's kinds.
	kinds map[schema.GroupKind]bool
	// objects are every object of those kinds in the namespace, members of
	// the instance's ApplySet or not: objects made by `kubectl apply -k`
	// before the first deploy are adopted, and another ApplySet's are seen.
	objects map[liveKey]*unstructured.Unstructured
}

// members are the live objects labelled as the instance's ApplySet members:
// only these are ever pruned.
func (st *liveState) members(inst overlays.Instance) map[liveKey]*unstructured.Unstructured {
	id := ApplySetID(inst.Namespace())
	out := map[liveKey]*unstructured.Unstructured{}
	for k, o := range st.objects {
		if o.GetLabels()[ApplySetPartOfLabel] == id {
			out[k] = o
		}
	}
	return out
}

// readLive reads the Namespace, the inventory and one list per kind, which
// serves adoption, change detection and prune alike. The Namespace, the
// inventory and the overlay's kinds are read in one round trip; the kinds
// only the inventory records (objects that left the overlay) in a second.
func (d *Deployer) readLive(ctx context.Context, p *Plan) (*liveState, error) {
	ns := p.Instance.Namespace()
	st := &liveState{kinds: map[schema.GroupKind]bool{namespaceGK: true}, objects: map[liveKey]*unstructured.Unstructured{}}
	for _, o := range p.Objects {
		st.kinds[o.GroupVersionKind().GroupKind()] = true
	}
	var nsLive, inv *unstructured.Unstructured
	var nsErr, invErr, listErr error
	var unserved []schema.GroupKind
	var g errgroup.Group
	g.Go(func() error {
		nsLive, nsErr = d.Clients.Dynamic.Resource(p.mappings[p.Namespace].Resource).Get(ctx, ns, metav1.GetOptions{})
		return nil
	})
	g.Go(func() error {
		inv, invErr = d.Clients.Dynamic.Resource(configMapsResource).Namespace(ns).Get(ctx, InventoryName, metav1.GetOptions{})
		return nil
	})
	g.Go(func() error {
		unserved, listErr = d.listKinds(ctx, ns, st, maps.Clone(st.kinds))
		return nil
	})
	_ = g.Wait()
	switch {
	case apierrors.IsNotFound(nsErr):
		// A new instance: nothing of it can be live.
		st.objects = map[liveKey]*unstructured.Unstructured{}
		return st, nil
	case apierrors.IsForbidden(nsErr):
		st.nsExists, st.nsForbidden = true, true
	case nsErr != nil:
		return nil, fmt.Errorf("reading namespace %s: %w", ns, nsErr)
	default:
		st.nsExists, st.namespace = true, nsLive
	}
	switch {
	case apierrors.IsNotFound(invErr):
	case invErr != nil:
		return nil, fmt.Errorf("reading the inventory %s/configmap/%s: %w", ns, InventoryName, invErr)
	default:
		st.inventory = inv
	}
	if listErr != nil {
		return nil, listErr
	}
	recorded := map[schema.GroupKind]bool{}
	if st.inventory != nil {
		for _, gk := range parseGroupKinds(st.inventory.GetAnnotations()[ApplySetGroupKindsAnn]) {
			if !st.kinds[gk] {
				recorded[gk] = true
			}
			st.kinds[gk] = true
		}
	}
	if len(recorded) > 0 {
		more, err := d.listKinds(ctx, ns, st, recorded)
		if err != nil {
			return nil, err
		}
		unserved = append(unserved, more...)
	}
	for _, gk := range unserved {
		if !recorded[gk] {
			return nil, fmt.Errorf("kind %s of the overlay is not served by the cluster (is its CRD installed?)", gk)
		}
		// Its CRD went with its objects: nothing is left to prune, and
		// keeping the kind would fail every deploy from now on.
		fmt.Fprintf(d.progress(), "Warning: instance %s: kind %s recorded in its inventory is no longer served (its CRD was removed?): it has no objects left, and is dropped from the inventory\n", p.Instance, gk)
		delete(st.kinds, gk)
	}
	return st, nil
}

// listKinds lists every kind of kinds in the namespace into st.objects,
// and returns the kinds the cluster no longer serves.
func (d *Deployer) listKinds(ctx context.Context, ns string, st *liveState, kinds map[schema.GroupKind]bool) ([]schema.GroupKind, error) {
	var mu sync.Mutex
	var errs []error
	var unserved []schema.GroupKind
	var wg sync.WaitGroup
	for gk := range kinds {
		if gk == namespaceGK {
			continue // read above; never pruned; listing it needs cluster-wide rights
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := d.Clients.Mapper.RESTMapping(gk)
			var list *unstructured.UnstructuredList
			if err == nil {
				ri := d.Clients.Dynamic.Resource(m.Resource)
				if m.Scope.Name() == meta.RESTScopeNameNamespace {
					list, err = ri.Namespace(ns).List(ctx, metav1.ListOptions{})
				} else {
					// Never list a cluster-wide kind whole: only the members.
					list, err = ri.List(ctx, metav1.ListOptions{LabelSelector: ApplySetPartOfLabel + "=" + ApplySetID(ns)})
				}
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case meta.IsNoMatchError(err), apierrors.IsNotFound(err):
				unserved = append(unserved, gk)
			case err != nil:
				errs = append(errs, fmt.Errorf("listing the instance's %s objects: %w", gk, err))
			default:
				for i := range list.Items {
					o := &list.Items[i]
					o.SetGroupVersionKind(m.GroupVersionKind)
					st.objects[keyOf(o)] = o
				}
			}
		}()
	}
	wg.Wait()
	return unserved, utilerrors.NewAggregate(errs)
}

// checkOwnership follows KEP-3659 where a deploy could overwrite another
// tool's data: the inventory ConfigMap must be this tool's ApplySet parent,
// and no object of the overlay may belong to another ApplySet.
// toolName is the tooling annotation's name part, the deploy's field manager.
func checkOwnership(p *Plan, st *liveState, toolName string) error {
	ns := p.Instance.Namespace()
	id := ApplySetID(ns)
	var errs []error
	if inv := st.inventory; inv != nil {
		tool, _, _ := strings.Cut(inv.GetAnnotations()[ApplySetToolingAnnot], "/")
		if inv.GetLabels()[ApplySetIDLabel] != id || tool != toolName {
			errs = append(errs, fmt.Errorf("configmap %s/%s is not the inventory of kubectl-qxsms (applyset id %q, tooling %q): another tool owns it; move that tool's inventory elsewhere, or delete the ConfigMap if it is stale",
				ns, InventoryName, inv.GetLabels()[ApplySetIDLabel], inv.GetAnnotations()[ApplySetToolingAnnot]))
		}
	}
	objects := p.Objects
	if st.namespace != nil {
		objects = append([]*unstructured.Unstructured{st.namespace}, objects...)
	}
	for _, o := range objects {
		live := st.objects[keyOf(o)]
		if o == st.namespace {
			live = o
		}
		if live == nil {
			continue
		}
		if other := live.GetLabels()[ApplySetPartOfLabel]; other != "" && other != id {
			errs = append(errs, fmt.Errorf("%s in %s belongs to another ApplySet (%s=%s): remove it from that tool first, or rename it in the overlay",
				kube.ObjectName(o.GroupVersionKind().GroupKind(), o.GetName()), ns, ApplySetPartOfLabel, other))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("refusing to deploy instance %s, nothing was written: %w", p.Instance, utilerrors.NewAggregate(errs))
	}
	return nil
}
