package deploy

import (
	"fmt"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kubectldiff "k8s.io/kubectl/pkg/cmd/diff"
	"sigs.k8s.io/yaml"
)

// lastAppliedAnnotation is client-side apply's copy of the whole object,
// Secret values included.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// desiredState keeps what a deploy decides: controllers change status and
// resourceVersion at any moment, and managedFields are bookkeeping compared
// on their own.
func desiredState(o *unstructured.Unstructured) *unstructured.Unstructured {
	if o == nil {
		return nil
	}
	o = o.DeepCopy()
	unstructured.RemoveNestedField(o.Object, "metadata", "managedFields")
	unstructured.RemoveNestedField(o.Object, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(o.Object, "status")
	return o
}

func isSecret(o *unstructured.Unstructured) bool {
	return o != nil && o.GetKind() == "Secret" && o.GroupVersionKind().Group == ""
}

// maskSecrets hides Secret values as kubectl diff does: a fixed mask, with
// "before"/"after" markers where a value changes, so that no value and no
// length is ever shown. Client-side apply's annotation repeats the values;
// it is shown only as changed or not.
func maskSecrets(live, desired *unstructured.Unstructured) (*unstructured.Unstructured, *unstructured.Unstructured, error) {
	if !isSecret(live) && !isSecret(desired) {
		return live, desired, nil
	}
	live, desired = desiredStringData(live), desiredStringData(desired)
	lastLive, lastDesired := lastApplied(live), lastApplied(desired)
	// The masker takes interfaces: a nil pointer must arrive as a nil interface.
	var liveObj, desiredObj runtime.Object
	if live != nil {
		liveObj = live
	}
	if desired != nil {
		desiredObj = desired
	}
	var from, to *unstructured.Unstructured
	masker, err := kubectldiff.NewMasker(liveObj, desiredObj)
	if err != nil {
		return nil, nil, err
	}
	// The interfaces are never nil; the pointers inside are when a side is absent.
	from, _ = masker.From().(*unstructured.Unstructured)
	to, _ = masker.To().(*unstructured.Unstructured)
	mark := func(o *unstructured.Unstructured, has bool, marker string) {
		if o == nil || !has {
			return
		}
		ann := o.GetAnnotations()
		ann[lastAppliedAnnotation] = marker
		o.SetAnnotations(ann)
	}
	switch {
	case lastLive != nil && lastDesired != nil && *lastLive != *lastDesired:
		mark(from, true, "*** (before)")
		mark(to, true, "*** (after)")
	default:
		mark(from, lastLive != nil, "***")
		mark(to, lastDesired != nil, "***")
	}
	return from, to, nil
}

// desiredStringData folds stringData into data, as the server does, so that
// the masker (which reads data) sees every value.
func desiredStringData(o *unstructured.Unstructured) *unstructured.Unstructured {
	if o == nil {
		return nil
	}
	o = o.DeepCopy()
	// Not NestedStringMap: it fails on a value YAML read as a number, which
	// would leave that Secret's stringData unmasked.
	strs, found, _ := unstructured.NestedFieldNoCopy(o.Object, "stringData")
	if !found {
		return o
	}
	data, _, _ := unstructured.NestedMap(o.Object, "data")
	if data == nil {
		data = map[string]any{}
	}
	values, _ := strs.(map[string]any)
	for k, v := range values {
		data[k] = fmt.Sprintf("stringData:%v", v)
	}
	_ = unstructured.SetNestedMap(o.Object, data, "data")
	unstructured.RemoveNestedField(o.Object, "stringData")
	return o
}

func lastApplied(o *unstructured.Unstructured) *string {
	if o == nil {
		return nil
	}
	if v, ok := o.GetAnnotations()[lastAppliedAnnotation]; ok {
		return &v
	}
	return nil
}

// unifiedDiff renders live → desired as a unified diff, Secret values masked;
// nil is an absent object.
func unifiedDiff(name, namespace string, live, desired *unstructured.Unstructured) string {
	path := name
	if namespace != "" {
		path = namespace + "/" + name
	}
	from, to, err := maskSecrets(desiredState(live), desiredState(desired))
	if err != nil {
		// Never render a Secret that could not be masked.
		return fmt.Sprintf("# cannot diff %s: %v\n", path, err)
	}
	render := func(o *unstructured.Unstructured) []string {
		if o == nil {
			return nil
		}
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return []string{fmt.Sprintf("# cannot render: %v\n", err)}
		}
		return difflib.SplitLines(string(b))
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: render(from), B: render(to),
		FromFile: "live/" + path, ToFile: "desired/" + path,
		Context: 3,
	})
	if err != nil {
		return fmt.Sprintf("# cannot diff %s: %v\n", path, err)
	}
	return text
}
