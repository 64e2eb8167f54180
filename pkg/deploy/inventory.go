package deploy

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

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
