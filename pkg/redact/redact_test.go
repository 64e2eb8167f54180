package redact

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestSecret(t *testing.T) {
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "s", "annotations": map[string]any{
			"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"K":"c2VjcmV0"}}`, "keep": "me"}},
		"data":       map[string]any{"K": "c2VjcmV0", "EMPTY": ""},
		"stringData": map[string]any{"S": "plain"},
	}}
	got := Secret(secret)
	want := map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"name": "s", "annotations": map[string]any{"keep": "me"}},
		"data":       map[string]any{"K": Masked, "EMPTY": Masked},
		"stringData": map[string]any{"S": Masked},
	}
	if !reflect.DeepEqual(got.Object, want) {
		t.Errorf("redacted:\n%v\nwant\n%v", got.Object, want)
	}
	if secret.Object["data"].(map[string]any)["K"] != "c2VjcmV0" {
		t.Error("the input was changed")
	}
}

func TestOtherObjectsPassThrough(t *testing.T) {
	for _, obj := range []*unstructured.Unstructured{
		nil,
		{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"K": "v"}}},
		// Another group's kind named Secret is not a core Secret.
		{Object: map[string]any{"apiVersion": "example.org/v1", "kind": "Secret", "data": map[string]any{"K": "v"}}},
	} {
		if got := Secret(obj); got != obj {
			t.Errorf("%v was copied or changed", obj)
		}
	}
}
