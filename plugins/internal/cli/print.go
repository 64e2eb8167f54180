package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"sigs.k8s.io/yaml"

	"github.com/qxsms/kubectl-qxsms/pkg/redact"
)

// PrintList prints objects as one v1 List with -o json|yaml, Secret values
// masked. Other formats print nothing here.
func PrintList(pf *genericclioptions.PrintFlags, objs []*unstructured.Unstructured, out io.Writer) error {
	if f := *pf.OutputFormat; f != "json" && f != "yaml" {
		return nil
	}
	list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List"}}
	for _, o := range objs {
		list.Items = append(list.Items, *redact.Secret(o))
	}
	p, err := pf.ToPrinter()
	if err != nil {
		return err
	}
	return p.PrintObj(list, out)
}

// PrintItems prints non-Kubernetes rows as {"items": [...]} with -o json|yaml;
// it reports whether it printed.
func PrintItems(format string, items any, out io.Writer) (bool, error) {
	var b []byte
	var err error
	switch format {
	case "json":
		b, err = json.MarshalIndent(map[string]any{"items": items}, "", "  ")
		b = append(b, '\n')
	case "yaml":
		b, err = yaml.Marshal(map[string]any{"items": items})
	default:
		return false, nil
	}
	if err != nil {
		return true, err
	}
	_, err = out.Write(b)
	return true, err
}

// ToUnstructured converts a typed object, setting its apiVersion and kind.
func ToUnstructured(obj runtime.Object, gvk schema.GroupVersionKind) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %s: %w", gvk.Kind, err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// ValidateOutput accepts the formats the plugin's commands support.
func ValidateOutput(format string, allowed ...string) error {
	if format == "" {
		return nil
	}
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return fmt.Errorf("--output %q is not supported here: use one of %v", format, allowed)
}

// Dash stands in for an empty table cell, as kubectl prints it.
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
