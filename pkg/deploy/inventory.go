package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

// The inventory follows kubectl's ApplySet specification (KEP-3659), so that
// `kubectl get -l applyset.kubernetes.io/part-of=<id>` finds an instance's
// objects. Its parent is a ConfigMap in the instance's namespace.
const (
	InventoryName = "qxsms-inventory"

	ApplySetIDLabel       = "applyset.kubernetes.io/id"
	ApplySetPartOfLabel   = "applyset.kubernetes.io/part-of"
	ApplySetToolingAnnot  = "applyset.kubernetes.io/tooling"
	ApplySetGroupKindsAnn = "applyset.kubernetes.io/contains-group-kinds"

	// DeployedAtAnnotation and RevisionAnnotation record the last deploy that changed something.
	DeployedAtAnnotation = "qxsms.io/deployed-at"
	RevisionAnnotation   = "qxsms.io/revision"
)

// ApplySetID is the ApplySet id of an instance, computed as kubectl does:
// base64url(sha256(name.namespace.kind.group)) with the v1 prefix and suffix.
func ApplySetID(namespace string) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{InventoryName, namespace, "ConfigMap", ""}, ".")))
	return fmt.Sprintf("applyset-%s-v1", base64.RawURLEncoding.EncodeToString(sum[:]))
}

// parseGroupKinds reads the contains-group-kinds annotation ("Deployment.apps,Service").
func parseGroupKinds(s string) []schema.GroupKind {
	var out []schema.GroupKind
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, schema.ParseGroupKind(part))
		}
	}
	return out
}

func formatGroupKinds(gks map[schema.GroupKind]bool) string {
	var parts []string
	for gk := range gks {
		parts = append(parts, gk.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// inventoryObject is the ApplySet parent as deploy applies it.
func inventoryObject(inst overlays.Instance, tooling string, gks map[schema.GroupKind]bool, annotations map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("ConfigMap")
	u.SetName(InventoryName)
	u.SetNamespace(inst.Namespace())
	u.SetLabels(map[string]string{
		ApplySetIDLabel:           ApplySetID(inst.Namespace()),
		overlays.InstanceLabel:    inst.Name,
		overlays.EnvironmentLabel: inst.Env,
	})
	ann := map[string]string{
		ApplySetToolingAnnot:  tooling,
		ApplySetGroupKindsAnn: formatGroupKinds(gks),
	}
	for k, v := range annotations {
		ann[k] = v
	}
	u.SetAnnotations(ann)
	return u
}

var configMapsResource = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// inventory is an instance's ApplySet parent through one deploy, as
// kubectl's ApplySet: before the apply it records the superset of the kinds
// recorded so far and the overlay's kinds, so that an interrupted deploy
// still lets the next one prune what it created; after the apply it records
// the kinds that may still have members. The kinds shrink only after a
// prune that fully succeeded for them: before that, objects of a kind that
// left the overlay are still there, and only the record finds them.
type inventory struct {
	d        *Deployer
	plan     *Plan
	mapping  *meta.RESTMapping
	live     *unstructured.Unstructured
	existed  bool
	kinds    map[schema.GroupKind]bool
	nsExists bool
}

func newInventory(d *Deployer, p *Plan, st *liveState) *inventory {
	return &inventory{d: d, plan: p, live: st.inventory, existed: st.inventory != nil, kinds: st.kinds, nsExists: st.nsExists}
}

func (inv *inventory) apply(ctx context.Context, kinds map[schema.GroupKind]bool, records map[string]string) error {
	want := inventoryObject(inv.plan.Instance, inv.d.Options.Tooling, kinds, records)
	if inventoryEqual(inv.live, want) {
		return nil
	}
	if inv.mapping == nil {
		m, err := inv.d.Clients.Mapper.RESTMapping(schema.GroupKind{Kind: "ConfigMap"}, "v1")
		if err != nil {
			return err
		}
		inv.mapping = m
	}
	res := inv.d.applyOne(ctx, want, inv.mapping, inv.live, inv.nsExists)
	if res.Err != nil {
		return fmt.Errorf("recording the inventory: %w", res.Err)
	}
	inv.live = res.Object
	return nil
}

// beforeApply records the superset of kinds. A new inventory records this
// deploy at once: it is a change whatever follows.
func (inv *inventory) beforeApply(ctx context.Context) error {
	records := keptAnnotations(inv.live)
	if !inv.existed {
		records = inv.d.deployRecord()
	}
	superset := inventoryObject(inv.plan.Instance, inv.d.Options.Tooling, inv.kinds, records)
	if inventoryCovers(inv.live, superset) {
		return nil
	}
	return inv.apply(ctx, inv.kinds, records)
}

// afterApply records the kinds that may still have members, and the deploy
// (time and revision) only when it changed something: a deploy that changed
// nothing leaves the record of the last one that did.
func (inv *inventory) afterApply(ctx context.Context, changed, pruned bool, keep map[schema.GroupKind]bool) error {
	kinds := recordedKinds(inv.plan, inv.kinds, pruned, keep)
	records := keptAnnotations(inv.live)
	if changed && inv.existed {
		records = inv.d.deployRecord()
	}
	return inv.apply(ctx, kinds, records)
}

// recordedKinds are the kinds that may still have members after a deploy:
// all of them without a prune; after one, the overlay's kinds and keep: the
// kinds whose prune did not fully succeed, and those of kept objects (a PVC
// that left the overlay is still a labelled member).
func recordedKinds(p *Plan, kinds map[schema.GroupKind]bool, pruned bool, keep map[schema.GroupKind]bool) map[schema.GroupKind]bool {
	if !pruned {
		return kinds
	}
	out := map[schema.GroupKind]bool{namespaceGK: true}
	for _, o := range p.Objects {
		out[o.GroupVersionKind().GroupKind()] = true
	}
	for gk := range keep {
		out[gk] = true
	}
	return out
}

// deployRecord is what the inventory says of a deploy that changed something.
func (d *Deployer) deployRecord() map[string]string {
	rec := map[string]string{DeployedAtAnnotation: d.now().UTC().Format(time.RFC3339)}
	if d.Options.Revision != "" {
		rec[RevisionAnnotation] = d.Options.Revision
	}
	return rec
}

// keptAnnotations are the inventory's deploy records, carried over unchanged.
func keptAnnotations(inv *unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	if inv == nil {
		return out
	}
	for _, k := range []string{DeployedAtAnnotation, RevisionAnnotation} {
		if v, ok := inv.GetAnnotations()[k]; ok {
			out[k] = v
		}
	}
	return out
}

// inventoryCovers reports whether live already records every kind of want.
func inventoryCovers(live, want *unstructured.Unstructured) bool {
	if live == nil || live.GetAnnotations()[ApplySetToolingAnnot] != want.GetAnnotations()[ApplySetToolingAnnot] ||
		live.GetLabels()[ApplySetIDLabel] != want.GetLabels()[ApplySetIDLabel] {
		return false
	}
	have := map[schema.GroupKind]bool{}
	for _, gk := range parseGroupKinds(live.GetAnnotations()[ApplySetGroupKindsAnn]) {
		have[gk] = true
	}
	for _, gk := range parseGroupKinds(want.GetAnnotations()[ApplySetGroupKindsAnn]) {
		if !have[gk] {
			return false
		}
	}
	return true
}

// inventoryEqual reports whether live already carries want's labels and annotations.
func inventoryEqual(live, want *unstructured.Unstructured) bool {
	if live == nil {
		return false
	}
	for k, v := range want.GetLabels() {
		if live.GetLabels()[k] != v {
			return false
		}
	}
	for k, v := range want.GetAnnotations() {
		if live.GetAnnotations()[k] != v {
			return false
		}
	}
	return true
}
