package kube

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestObjectName(t *testing.T) {
	for gk, want := range map[schema.GroupKind]string{
		DeploymentGK:  "deployment.apps/x",
		{Kind: "Pod"}: "pod/x",
		{Group: "networking.k8s.io", Kind: "Ingress"}: "ingress.networking.k8s.io/x",
	} {
		if got := ObjectName(gk, "x"); got != want {
			t.Errorf("ObjectName(%v) = %q, want %q", gk, got, want)
		}
	}
}

func TestResourcePath(t *testing.T) {
	ns := &meta.RESTMapping{Resource: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, Scope: meta.RESTScopeNamespace}
	core := &meta.RESTMapping{Resource: schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumes"}, Scope: meta.RESTScopeRoot}
	for _, tc := range []struct {
		m               *meta.RESTMapping
		namespace, name string
		want            string
	}{
		{ns, "qxsms-a", "web", "/apis/apps/v1/namespaces/qxsms-a/deployments/web"},
		{ns, "qxsms-a", "", "/apis/apps/v1/namespaces/qxsms-a/deployments"},
		{core, "", "pv-1", "/api/v1/persistentvolumes/pv-1"},
	} {
		if got := ResourcePath(tc.m, tc.namespace, tc.name); got != tc.want {
			t.Errorf("ResourcePath = %q, want %q", got, tc.want)
		}
	}
}

func TestIsWorkload(t *testing.T) {
	for gk, want := range map[schema.GroupKind]bool{
		DeploymentGK: true, StatefulSetGK: true, {Group: "batch", Kind: "CronJob"}: true, {Kind: "Pod"}: true,
		{Kind: "ConfigMap"}: false, {Kind: "PersistentVolumeClaim"}: false, {Group: "example.org", Kind: "Deployment"}: false,
	} {
		if IsWorkload(gk) != want {
			t.Errorf("IsWorkload(%v) != %v", gk, want)
		}
	}
}
