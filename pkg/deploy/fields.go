package deploy

import (
	"k8s.io/utils/ptr"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// removeFields deletes every path of s from the unstructured content obj.
//
// Written by hand: structured-merge-diff removes a set only from a typed
// value, which needs the server's OpenAPI schema for every kind. The paths of
// a managedFields set name list elements by their key fields or value, which
// the unstructured data resolves on its own.
func removeFields(obj map[string]any, s *fieldpath.Set) {
	removeFromMap(obj, s)
}

func removeFromMap(m map[string]any, s *fieldpath.Set) {
	for pe := range s.Members.All() {
		if pe.FieldName != nil {
			delete(m, *pe.FieldName)
		}
	}
	for pe := range s.Children.All() {
		if pe.FieldName == nil {
			continue
		}
		if v, ok := m[*pe.FieldName]; ok {
			child, _ := s.Children.Get(pe)
			m[*pe.FieldName] = removeFromValue(v, child)
		}
	}
}

// removeFromValue returns v without the paths of s.
func removeFromValue(v any, s *fieldpath.Set) any {
	switch t := v.(type) {
	case map[string]any:
		removeFromMap(t, s)
		return t
	case []any:
		var out []any
		for i, item := range t {
			if isMember(&s.Members, item, i) {
				continue
			}
			for pe := range s.Children.All() {
				if matches(pe, item, i) {
					child, _ := s.Children.Get(pe)
					item = removeFromValue(item, child)
				}
			}
			out = append(out, item)
		}
		if out == nil {
			out = []any{}
		}
		return out
	}
	return v
}

func isMember(members *fieldpath.PathElementSet, item any, index int) bool {
	for pe := range members.All() {
		if matches(pe, item, index) {
			return true
		}
	}
	return false
}

// matches reports whether list element item, at index, is the one pe names.
func matches(pe fieldpath.PathElement, item any, index int) bool {
	switch {
	case pe.Index != nil:
		return *pe.Index == index
	case pe.Value != nil:
		return value.Equals(*pe.Value, value.NewValueInterface(item))
	case pe.Key != nil:
		m, ok := item.(map[string]any)
		if !ok {
			return false
		}
		for _, f := range *pe.Key {
			v, found := m[f.Name]
			if !found || !value.Equals(f.Value, value.NewValueInterface(v)) {
				return false
			}
		}
		return true
	}
	return false
}

// project returns the parts of v that s names, for comparing only the
// fields one manager owns. An owned list element or map is compared through
// its owned children when it has any: fields that other managers add inside
// it (an HPA, a mutating webhook) are not ours to compare.
func project(v any, s *fieldpath.Set) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for pe := range s.Children.All() {
			if pe.FieldName == nil {
				continue
			}
			if fv, ok := t[*pe.FieldName]; ok {
				child, _ := s.Children.Get(pe)
				out[*pe.FieldName] = project(fv, child)
			}
		}
		for pe := range s.Members.All() {
			if pe.FieldName == nil {
				continue
			}
			if fv, ok := t[*pe.FieldName]; ok {
				if _, projected := out[*pe.FieldName]; !projected {
					out[*pe.FieldName] = fv
				}
			}
		}
		return out
	case []any:
		out := []any{}
		for i, item := range t {
			projected := false
			for pe := range s.Children.All() {
				if matches(pe, item, i) {
					child, _ := s.Children.Get(pe)
					out = append(out, project(item, child))
					projected = true
				}
			}
			if !projected && isMember(&s.Members, item, i) {
				out = append(out, item)
			}
		}
		return out
	}
	return v
}

// stringDataAsData adds data.KEY for every stringData.KEY of a Secret's set.
func stringDataAsData(s *fieldpath.Set) *fieldpath.Set {
	stringData, ok := s.Children.Get(fieldpath.PathElement{FieldName: ptr.To("stringData")})
	if !ok {
		return s
	}
	out := s.Copy()
	for pe := range stringData.Members.All() {
		if pe.FieldName != nil {
			out.Insert(fieldpath.MakePathOrDie("data", *pe.FieldName))
		}
	}
	return out
}
