package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
)

// handEditManagers are the field managers of kubectl's imperative commands.
// Server-side apply leaves fields it never owned alone, so a field added by
// `kubectl set env` or `kubectl edit` would survive every deploy. Deploy takes
// their fields over first, so the apply that follows removes what the overlay
// lacks: the repo wins. "kubectl-rollout" is left alone: its restartedAt
// annotation is how restarts work.
var handEditManagers = map[string]bool{
	"kubectl":                   true,
	"kubectl-client-side-apply": true,
	"kubectl-edit":              true,
	"kubectl-set":               true,
	"kubectl-patch":             true,
	"kubectl-label":             true,
	"kubectl-annotate":          true,
	"kubectl-replace":           true,
	"kubectl-create":            true,
	"kubectl-scale":             true,
	"before-first-apply":        true,
}

// takeOverPatch returns the JSON patch that moves the hand-edit managers'
// fields to manager, or nil when live has none.
func takeOverPatch(live *unstructured.Unstructured, manager string) ([]byte, error) {
	entries := live.GetManagedFields()
	var kept []metav1.ManagedFieldsEntry
	taken := &fieldpath.Set{}
	apiVersion := ""
	found := false
	for _, e := range entries {
		if !handEditManagers[e.Manager] || e.Operation != metav1.ManagedFieldsOperationUpdate || e.Subresource != "" || e.FieldsV1 == nil {
			kept = append(kept, e)
			continue
		}
		s := &fieldpath.Set{}
		if err := s.FromJSON(bytes.NewReader(e.FieldsV1.Raw)); err != nil {
			return nil, fmt.Errorf("reading the fields of manager %s: %w", e.Manager, err)
		}
		taken = taken.Union(s)
		apiVersion = e.APIVersion
		found = true
	}
	if !found {
		return nil, nil
	}
	ours := -1
	for i, e := range kept {
		if e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
			ours = i
		}
	}
	if ours < 0 {
		kept = append(kept, metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationApply, APIVersion: apiVersion, FieldsType: "FieldsV1"})
		ours = len(kept) - 1
	}
	if f := kept[ours].FieldsV1; f != nil {
		s := &fieldpath.Set{}
		if err := s.FromJSON(bytes.NewReader(f.Raw)); err != nil {
			return nil, fmt.Errorf("reading the fields of manager %s: %w", manager, err)
		}
		taken = taken.Union(s)
	}
	raw, err := taken.ToJSON()
	if err != nil {
		return nil, err
	}
	kept[ours].FieldsV1 = &metav1.FieldsV1{Raw: raw}
	// The test makes the patch fail rather than clobber a concurrent change.
	return json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": live.GetResourceVersion()},
		{"op": "replace", "path": "/metadata/managedFields", "value": kept},
	})
}

// takeOver moves the hand-edit managers' fields of live to the deploy's field
// manager. The patch's resourceVersion test fails when a controller wrote the
// object since it was listed (a rollout's status): read it again and retry.
func (d *Deployer) takeOver(ctx context.Context, m *meta.RESTMapping, live *unstructured.Unstructured) error {
	for attempt := 1; ; attempt++ {
		patch, err := takeOverPatch(live, d.Options.FieldManager)
		if err != nil || patch == nil {
			return err
		}
		err = d.Clients.Raw.Patch(types.JSONPatchType).
			AbsPath(kube.ResourcePath(m, live.GetNamespace(), live.GetName())).
			Body(patch).Do(ctx).Error()
		if err == nil {
			return nil
		}
		if attempt == 5 {
			return fmt.Errorf("taking over hand-edited fields: %w", err)
		}
		if live, err = d.Clients.Dynamic.Resource(m.Resource).Namespace(live.GetNamespace()).Get(ctx, live.GetName(), metav1.GetOptions{}); err != nil {
			return fmt.Errorf("taking over hand-edited fields: %w", err)
		}
	}
}
