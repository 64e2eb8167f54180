package teardown

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/teardown"
	"github.com/qxsms/kubectl-qxsms/pkg/volumes"
	"github.com/qxsms/kubectl-qxsms/plugins/internal/cli"
)

// Protection follows the cluster: a context of a protected environment
// needs --confirm=INSTANCE whatever ENV was typed (the context guard may have
// been passed with --allow-context-mismatch).
func TestConfirmFollowsTheContext(t *testing.T) {
	cfg := &overlays.Config{Path: "qxsms.yaml", Environments: map[string]overlays.EnvironmentConfig{
		"staging":    {Contexts: []string{"preprod"}},
		"production": {Contexts: []string{"prod", "agents:prod*"}, Protected: true},
	}}
	for _, tc := range []struct {
		name, env, context, confirm string
		yes                         bool
		want                        string
	}{
		{"staging on its own context with --yes", "staging", "preprod", "", true, ""},
		{"staging typed, production context, --yes", "staging", "prod", "", true, `context "prod" belongs to the protected environment "production"`},
		{"staging typed, production agent context, --yes", "staging", "agents:prod-eu", "", true, "--confirm=demo"},
		{"staging typed, production context, --confirm", "staging", "prod", "demo", false, ""},
		{"production typed, --yes", "production", "prod", "", true, `environment "production" is protected`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			streams, _, _, _ := genericiooptions.NewTestIOStreams()
			o := &Options{Env: tc.env, Instance: "demo", ConfirmFlags: cli.ConfirmFlags{Yes: tc.yes, Confirm: tc.confirm}, IOStreams: streams,
				instance: overlays.Instance{Env: tc.env, Name: "demo"}, isTerminal: func() bool { return false }}
			err := o.confirm(cfg, tc.context)
			if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("confirm() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestWarnsAboutDeleteClasses(t *testing.T) {
	del := corev1.PersistentVolumeReclaimDelete
	ret := corev1.PersistentVolumeReclaimRetain
	client := fake.NewClientset(
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, ReclaimPolicy: &del},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "nfs"}, ReclaimPolicy: &ret},
	)
	streams, _, _, errOut := genericiooptions.NewTestIOStreams()
	o := &Options{IOStreams: streams}
	o.warnDeleteClasses(t.Context(), &kube.Clients{Typed: client}, &teardown.Plan{Volumes: []volumes.Volume{
		{PVC: "a", Status: "Bound", StorageClass: "fast"}, {PVC: "b", Status: "Bound", StorageClass: "nfs"},
		{PVC: "old", Status: volumes.StatusDeleted, StorageClass: "fast"},
	}})
	if got := errOut.String(); strings.Count(got, "Warning: StorageClass fast") != 1 || strings.Contains(got, "StorageClass nfs") {
		t.Fatalf("warnings:\n%s", got)
	}
}
