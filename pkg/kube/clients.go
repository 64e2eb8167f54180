// Package kube bundles the Kubernetes clients the engines use, built once per
// command from kubectl's Factory and shared by every goroutine.
package kube

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Clients are what the engines talk to the API server with.
type Clients struct {
	Typed   kubernetes.Interface
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
	// Raw serves requests whose HTTP status matters (201 Created on apply).
	Raw rest.Interface
}

// Getter is the part of kubectl's Factory the engines need; an interface so
// tests can hand in fakes.
type Getter interface {
	ToRESTConfig() (*rest.Config, error)
	ToRESTMapper() (meta.RESTMapper, error)
}

// New builds the clients from one REST config and one RESTMapper (shared
// discovery).
func New(g Getter) (*Clients, error) {
	cfg, err := g.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	mapper, err := g.ToRESTMapper()
	if err != nil {
		return nil, err
	}
	typed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := rest.UnversionedRESTClientFor(dynamic.ConfigFor(cfg))
	if err != nil {
		return nil, err
	}
	return &Clients{Typed: typed, Dynamic: dyn, Mapper: mapper, Raw: raw}, nil
}

// Ping asks the server for its version: one request, bounded by
// --request-timeout, so an unreachable server fails fast instead of after
// every discovery request has timed out in turn.
func (c *Clients) Ping(ctx context.Context) error {
	if err := c.Raw.Get().AbsPath("/version").Do(ctx).Error(); err != nil {
		return fmt.Errorf("the API server does not answer: %w (check --context, --server and the network)", err)
	}
	return nil
}

// ResourcePath is the REST path of one object, or of a collection when name is "".
func ResourcePath(m *meta.RESTMapping, namespace, name string) string {
	gv := m.Resource.GroupVersion()
	p := "/apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		p = "/api/" + gv.Version
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		p += "/namespaces/" + namespace
	}
	p += "/" + m.Resource.Resource
	if name != "" {
		p += "/" + name
	}
	return p
}

// ObjectName is kubectl's kind.group/name form, as in "deployment.apps/qxsms".
func ObjectName(gk schema.GroupKind, name string) string {
	kind := strings.ToLower(gk.Kind)
	if gk.Group == "" {
		return fmt.Sprintf("%s/%s", kind, name)
	}
	return fmt.Sprintf("%s.%s/%s", kind, gk.Group, name)
}

// Kinds of the workloads a QxSMS instance runs, with the pods they own.
var (
	DeploymentGK  = schema.GroupKind{Group: "apps", Kind: "Deployment"}
	StatefulSetGK = schema.GroupKind{Group: "apps", Kind: "StatefulSet"}
)

// workloadKinds run pods: deploy applies them after what their pods
// reference, teardown deletes them before it.
var workloadKinds = map[schema.GroupKind]bool{
	DeploymentGK: true, StatefulSetGK: true,
	{Group: "apps", Kind: "DaemonSet"}: true, {Group: "apps", Kind: "ReplicaSet"}: true,
	{Group: "batch", Kind: "Job"}: true, {Group: "batch", Kind: "CronJob"}: true,
	{Kind: "Pod"}: true, {Kind: "ReplicationController"}: true,
}

// IsWorkload reports whether objects of kind gk run pods.
func IsWorkload(gk schema.GroupKind) bool { return workloadKinds[gk] }
