// Package redact hides Secret values from anything the plugin prints.
package redact

import (
	"encoding/base64"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Secret returns obj itself when it is not a Secret, and otherwise a copy whose
// data and stringData values are replaced by their length, and without the
// last-applied annotation that would repeat them.
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
		for k, v := range values {
			s, _ := v.(string)
			n := len(s)
			if field == "data" {
				n = base64.StdEncoding.DecodedLen(len(s)) - strings.Count(s, "=")
			}
			values[k] = fmt.Sprintf("*** (%d bytes)", n)
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
