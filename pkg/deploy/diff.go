package deploy

import (
	"fmt"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/qxsms/kubectl-qxsms/pkg/redact"
)

// forDisplay keeps the desired state only, with Secret values masked:
// controllers change status and resourceVersion at any moment, and
// managedFields are bookkeeping.
func forDisplay(o *unstructured.Unstructured) *unstructured.Unstructured {
	if o == nil {
		return nil
	}
	o = redact.Secret(o).DeepCopy()
	unstructured.RemoveNestedField(o.Object, "metadata", "managedFields")
	unstructured.RemoveNestedField(o.Object, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(o.Object, "status")
	return o
}

// sameContent compares a live object with the server's dry-run answer.
func sameContent(live, out *unstructured.Unstructured) bool {
	return equality.Semantic.DeepEqual(forDisplay(live).Object, forDisplay(out).Object)
}

// unifiedDiff renders live → desired as a unified diff; nil is an absent object.
func unifiedDiff(name, namespace string, live, desired *unstructured.Unstructured) string {
	render := func(o *unstructured.Unstructured) []string {
		if o == nil {
			return nil
		}
		b, err := yaml.Marshal(forDisplay(o).Object)
		if err != nil {
			return []string{fmt.Sprintf("# cannot render: %v\n", err)}
		}
		return difflib.SplitLines(string(b))
	}
	path := name
	if namespace != "" {
		path = namespace + "/" + name
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: render(live), B: render(desired),
		FromFile: "live/" + path, ToFile: "desired/" + path,
		Context: 3,
	})
	if err != nil {
		return fmt.Sprintf("# cannot diff %s: %v\n", path, err)
	}
	return text
}
