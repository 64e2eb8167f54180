// Package overlays finds the QxSMS config repo's environments and instances and
// builds their kustomize overlays in-process, as `kubectl apply -k` does.
package overlays

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// NamespacePrefix is the prefix of every instance's namespace.
const NamespacePrefix = "qxsms-"

// Namespace returns the namespace of an instance.
func Namespace(instance string) string { return NamespacePrefix + instance }

// InstanceFromNamespace returns the instance living in ns, if ns is an instance namespace.
func InstanceFromNamespace(ns string) (string, bool) {
	inst, ok := strings.CutPrefix(ns, NamespacePrefix)
	return inst, ok && inst != ""
}

// ValidateName checks an environment or instance name. Both become path
// segments and instance names become part of a namespace name, so both must be
// DNS-1123 labels: that also rules out "..", "/" and other path tricks.
func ValidateName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%s name is empty", what)
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("invalid %s name %q: %s", what, name, strings.Join(errs, "; "))
	}
	if what == "instance" {
		if errs := validation.IsDNS1123Label(Namespace(name)); len(errs) > 0 {
			return fmt.Errorf("invalid instance name %q: its namespace %q is too long: %s", name, Namespace(name), strings.Join(errs, "; "))
		}
	}
	return nil
}

// ValidateHost checks an ingress host name.
func ValidateHost(host string) error {
	if errs := validation.IsDNS1123Subdomain(host); len(errs) > 0 {
		return fmt.Errorf("invalid host %q: %s", host, strings.Join(errs, "; "))
	}
	return nil
}
