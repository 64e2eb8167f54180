// Package redact hides Secret values from anything the plugin prints.
package redact

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Masked is what a Secret value is printed as: kubectl diff's mask, without
// the length, which would say something of the value.
const Masked = "***"

// Secret returns obj itself when it is not a Secret, and otherwise a copy whose
// data and stringData values are masked, and without the last-applied
// annotation that would repeat them.
func Secret(obj *unstructured.Unstructured) *unstructured.Unstructured {
	if obj == nil || obj.GetKind() != "Secret" || obj.GroupVersionKind().Group != "" {
		return obj
	}
	out := obj.DeepCopy()
	for _, field := range []string{"data", "stringData"} {
		values, found, _ := unstructured.NestedMap(out.Object, field)
		if !found {
			continue
		}
		for k := range values {
			values[k] = Masked
		}
		_ = unstructured.SetNestedMap(out.Object, values, field)
	}
	if ann := out.GetAnnotations(); ann != nil {
		if _, ok := ann["kubectl.kubernetes.io/last-applied-configuration"]; ok {
			delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
			out.SetAnnotations(ann)
		}
	}
	return out
}
