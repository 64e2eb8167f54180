package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/rollout"
)

// handEditManagers are the field managers of kubectl's imperative commands and
// of client-side apply (the `kubectl apply -k` workflow deploy replaces).
// Server-side apply leaves fields it never owned alone, so a field added by
// `kubectl set env` or `kubectl edit` would survive every deploy. Deploy takes
// their fields over first, so the apply that follows removes what the overlay
// lacks: the repo wins. "kubectl" is also the manager of `kubectl scale` (the
// scale subresource) and of `kubectl apply --server-side`. Not taken over:
// "before-first-apply", which the server gives every field present at an
// object's first apply, controllers' and admission's included (a PVC's
// volumeName, finalizers).
var handEditManagers = sets.New(
	"kubectl",
	"kubectl-client-side-apply",
	"kubectl-last-applied",
	"kubectl-edit",
	"kubectl-set",
	"kubectl-patch",
	"kubectl-label",
	"kubectl-annotate",
	"kubectl-replace",
	"kubectl-create",
	"kubectl-scale",
	"kubectl-expose",
	rollout.RestartFieldManager,
)

// restartedAtPath stays with kubectl-rollout: it is how `kubectl rollout
// restart` (and `kubectl qxsms restart`) restart pods, and a deploy must not
// undo a restart. Everything else kubectl-rollout owns (spec.paused from
// `kubectl rollout pause`) is taken over.
var restartedAtPath = fieldpath.MakePathOrDie("spec", "template", "metadata", "annotations", rollout.RestartedAtAnnotation)

// takeoverPrefix renames the entries to take over, one name per original
// manager and subresource, so that csaupgrade merges each into ours.
const takeoverPrefix = "qxsms-takeover:"

// takesOver reports whether a deploy takes the fields of e over.
func takesOver(e metav1.ManagedFieldsEntry) bool {
	return handEditManagers.Has(e.Manager) && (e.Subresource == "" || e.Subresource == "scale")
}

// prepareTakeover returns managedFields with every entry to take over renamed
// to an Update entry of the main resource (a scale subresource entry records
// the main resource's spec.replicas), and the temporary names to hand to
// csaupgrade. apiVersion is the applied object's: field sets are merged only
// between entries of one apiVersion, so an entry recorded under another
// (before a cluster upgrade) keeps its manager, and its fields stay as they
// are, rather than losing its owner. The restartedAt annotation stays with
// whoever wrote it: a deploy must not undo a restart.
func prepareTakeover(entries []metav1.ManagedFieldsEntry, manager, apiVersion string) ([]metav1.ManagedFieldsEntry, sets.Set[string], error) {
	if e := ownEntry(entries, manager); e != nil {
		apiVersion = e.APIVersion
	}
	out := make([]metav1.ManagedFieldsEntry, 0, len(entries)+1)
	names := sets.New[string]()
	for _, e := range entries {
		if !takesOver(e) || e.FieldsV1 == nil || e.APIVersion != apiVersion {
			out = append(out, e)
			continue
		}
		set, err := fieldSet(e)
		if err != nil {
			return nil, nil, err
		}
		// The annotation and the maps that hold it ("." members).
		restart := &fieldpath.Set{}
		for p := range set.All() {
			if isPrefix(p, restartedAtPath) {
				restart.Insert(p)
			}
		}
		if set.Has(restartedAtPath) {
			keep := e.DeepCopy()
			if err := setFieldSet(keep, restart); err != nil {
				return nil, nil, err
			}
			out = append(out, *keep)
			if set = set.Difference(restart); set.Empty() {
				continue
			}
		}
		taken := e.DeepCopy()
		taken.Manager = takeoverPrefix + e.Manager + "/" + e.Subresource + "/" + string(e.Operation)
		taken.Operation = metav1.ManagedFieldsOperationUpdate
		taken.Subresource = ""
		if err := setFieldSet(taken, set); err != nil {
			return nil, nil, err
		}
		out = append(out, *taken)
		names.Insert(taken.Manager)
	}
	return out, names, nil
}

// takeOverPatch returns the JSON patch that moves the hand-edit managers'
// fields of live to manager, or nil when there is nothing to take over. The
// Namespace is never taken over: labels and annotations a cluster admin set
// on it (Pod Security, mesh injection) must survive every deploy.
func takeOverPatch(live *unstructured.Unstructured, manager, apiVersion string) ([]byte, error) {
	if live.GroupVersionKind().GroupKind() == namespaceGK {
		return nil, nil
	}
	prepared, names, err := prepareTakeover(live.GetManagedFields(), manager, apiVersion)
	if err != nil || names.Len() == 0 {
		return nil, err
	}
	obj := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{}}}
	obj.SetManagedFields(prepared)
	if err := csaupgrade.UpgradeManagedFields(obj, names, manager); err != nil {
		return nil, fmt.Errorf("taking over the fields of %s: %w", strings.Join(sets.List(names), ", "), err)
	}
	// The resourceVersion "replace" makes the server refuse the patch with a
	// conflict when the object changed since it was read, as csaupgrade's own
	// patch does.
	return json.Marshal([]map[string]any{
		{"op": "replace", "path": "/metadata/managedFields", "value": obj.GetManagedFields()},
		{"op": "replace", "path": "/metadata/resourceVersion", "value": live.GetResourceVersion()},
	})
}

// takeOver moves the hand-edit managers' fields of live to the deploy's field
// manager. A conflict means a controller wrote the object since it was read
// (a rollout's status): read it again and retry with backoff; any other error
// is final.
func (d *Deployer) takeOver(ctx context.Context, m *meta.RESTMapping, live *unstructured.Unstructured) error {
	apiVersion := m.GroupVersionKind.GroupVersion().String()
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		patch, err := takeOverPatch(live, d.Options.FieldManager, apiVersion)
		if err != nil || patch == nil {
			return err
		}
		err = d.Clients.Raw.Patch(types.JSONPatchType).
			AbsPath(kube.ResourcePath(m, live.GetNamespace(), live.GetName())).
			Body(patch).Do(ctx).Error()
		if apierrors.IsNotFound(err) {
			return nil // deleted since the list: the apply creates it
		}
		if apierrors.IsConflict(err) {
			fresh, getErr := d.Clients.Dynamic.Resource(m.Resource).Namespace(live.GetNamespace()).Get(ctx, live.GetName(), metav1.GetOptions{})
			if getErr != nil {
				return getErr
			}
			live = fresh
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("taking over hand-edited fields: %w", err)
	}
	return nil
}

func fieldSet(e metav1.ManagedFieldsEntry) (*fieldpath.Set, error) {
	s := &fieldpath.Set{}
	if e.FieldsV1 == nil {
		return s, nil
	}
	if err := s.FromJSON(e.FieldsV1.GetRawReader()); err != nil {
		return nil, fmt.Errorf("reading the fields of manager %s: %w", e.Manager, err)
	}
	return s, nil
}

func setFieldSet(e *metav1.ManagedFieldsEntry, s *fieldpath.Set) error {
	raw, err := s.ToJSON()
	if err != nil {
		return err
	}
	e.FieldsV1 = metav1.NewFieldsV1(string(raw))
	return nil
}

// removedByTakeover is what the takeover of live's hand-edit managers makes
// the apply whose answer is out remove: their fields that the applied
// configuration does not set and that no other manager shares. In a dry run
// the server could not take them over, so they are still in out.
func removedByTakeover(live, out *unstructured.Unstructured, manager string) (*fieldpath.Set, error) {
	if live.GroupVersionKind().GroupKind() == namespaceGK {
		return &fieldpath.Set{}, nil
	}
	prepared, names, err := prepareTakeover(live.GetManagedFields(), manager, out.GetAPIVersion())
	if err != nil || names.Len() == 0 {
		return &fieldpath.Set{}, err
	}
	taken, err := unionOf(prepared, names.Has)
	if err != nil {
		return nil, err
	}
	prepared, names, err = prepareTakeover(out.GetManagedFields(), manager, out.GetAPIVersion())
	if err != nil {
		return nil, err
	}
	kept, err := unionOf(prepared, func(m string) bool { return !names.Has(m) })
	if err != nil {
		return nil, err
	}
	removed := &fieldpath.Set{}
	for p := range taken.Difference(kept).All() {
		// A map or list whose children another manager still owns stays.
		if !hasDescendant(kept, p) {
			removed.Insert(p)
		}
	}
	return removed, nil
}

func isPrefix(p, of fieldpath.Path) bool {
	if len(p) > len(of) {
		return false
	}
	for i := range p {
		if !p[i].Equals(of[i]) {
			return false
		}
	}
	return true
}

// hasDescendant reports whether s holds a path below p.
func hasDescendant(s *fieldpath.Set, p fieldpath.Path) bool {
	for _, pe := range p {
		child, ok := s.Children.Get(pe)
		if !ok {
			return false
		}
		s = child
	}
	return !s.Empty()
}

func unionOf(entries []metav1.ManagedFieldsEntry, include func(manager string) bool) (*fieldpath.Set, error) {
	out := &fieldpath.Set{}
	for _, e := range entries {
		if !include(e.Manager) {
			continue
		}
		s, err := fieldSet(e)
		if err != nil {
			return nil, err
		}
		out = out.Union(s)
	}
	return out, nil
}

// ownedFields is the set manager applied, empty when it applied nothing.
func ownedFields(o *unstructured.Unstructured, manager string) (*fieldpath.Set, error) {
	if e := ownEntry(o.GetManagedFields(), manager); e != nil {
		return fieldSet(*e)
	}
	return &fieldpath.Set{}, nil
}

// ownEntry is manager's Apply entry of the main resource, or nil.
func ownEntry(entries []metav1.ManagedFieldsEntry, manager string) *metav1.ManagedFieldsEntry {
	for i, e := range entries {
		if e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
			return &entries[i]
		}
	}
	return nil
}

// ownedTime is when manager's apply last changed the object.
func ownedTime(o *unstructured.Unstructured, manager string) *metav1.Time {
	if e := ownEntry(o.GetManagedFields(), manager); e != nil {
		return e.Time
	}
	return nil
}
