package status

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	restfake "k8s.io/client-go/rest/fake"
	"k8s.io/utils/ptr"

	"github.com/qxsms/kubectl-qxsms/internal/testutil"
	"github.com/qxsms/kubectl-qxsms/pkg/deploy"
	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/status"
)

func TestNoteFlagsPlaceholderSecrets(t *testing.T) {
	rows := []status.Row{
		{Env: "staging", Instance: "pprd", Overlay: true, NamespacePhase: "Active", Placeholders: []string{"qxsms-secrets-x/A", "qxsms-secrets-x/B"}},
		{Env: "staging", Instance: "demo", Overlay: true, NamespacePhase: "Active"},
		{Env: "staging", Instance: "old", NamespacePhase: "Active", Orphan: "no overlay", Placeholders: []string{"s/K"}},
	}
	var out bytes.Buffer
	printTable(&out, rows, false, time.Now())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for i, want := range []string{"2 placeholder secret key(s)", "-", "no overlay 1 placeholder secret key(s)"} {
		if !strings.HasSuffix(strings.TrimSpace(lines[i+1]), want) {
			t.Errorf("row %d NOTE: %q, want it to end with %q", i, lines[i+1], want)
		}
	}
}

// cluster is what status reads: pprd deployed and ready, demo only in the
// overlays, old only on the cluster.
func cluster() *kube.Clients {
	one := ptr.To[int32](1)
	web := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "qxsms", Namespace: "qxsms-pprd", Generation: 1},
		Spec:   appsv1.DeploymentSpec{Replicas: one, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "qxsms", Image: "registry/qxsms:1.2"}}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, UpdatedReplicas: 1, AvailableReplicas: 1}}
	db := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "postgres", Namespace: "qxsms-pprd", Generation: 1},
		Spec:   appsv1.StatefulSetSpec{Replicas: one, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "postgres", Image: "postgres:17"}}}}},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1}}
	inventory := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: deploy.InventoryName, Namespace: "qxsms-pprd", Annotations: map[string]string{
		deploy.DeployedAtAnnotation: "2026-12-01T10:00:00Z", deploy.RevisionAnnotation: "abc1234"}}}
	active := func(name string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	}
	typed := fake.NewClientset(active("qxsms-pprd"), active("qxsms-old"), active("default"), web, db, inventory,
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "qxsms-pprd"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "media", Namespace: "qxsms-pprd"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "qxsms-secrets", Namespace: "qxsms-old"}, Data: map[string][]byte{"DB_PASSWORD": []byte("changeme-db")}})
	// Status pings the server first; nothing else goes through Raw.
	raw := &restfake.RESTClient{
		NegotiatedSerializer: scheme.Codecs.WithoutConversion(),
		Client: restfake.CreateHTTPClient(func(req *http.Request) (*http.Response, error) {
			if req.URL.Path != "/version" {
				return &http.Response{StatusCode: http.StatusNotFound, Body: io.NopCloser(strings.NewReader(""))}, nil
			}
			return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(`{"gitVersion":"v1.37.2"}`))}, nil
		}),
	}
	return &kube.Clients{Typed: typed, Raw: raw}
}

func TestStatusRun(t *testing.T) {
	repo := testutil.WriteRepo(t, map[string]string{
		"overlays/staging/pprd/kustomization.yml": "resources: []\n",
		"overlays/staging/demo/kustomization.yml": "resources: []\n",
	})
	for _, format := range []string{"", "wide", "json"} {
		t.Run("-o "+format, func(t *testing.T) {
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			o := NewStatusOptions(streams)
			o.Drift = false
			o.repo = repo
			c := cluster()
			o.clients = func() (*kube.Clients, error) { return c, nil }
			o.now = func() time.Time { return time.Date(2026, 12, 1, 12, 30, 0, 0, time.UTC) }
			o.Output.OutputFormat = ptr.To(format)
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := o.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if errOut.Len() > 0 {
				t.Errorf("stderr: %q", errOut)
			}
			golden := "status-" + format
			if format == "" {
				golden = "status-table"
			}
			testutil.Golden(t, golden, out.String())
			if format != "json" {
				return
			}
			var list struct {
				Items []map[string]any `json:"items"`
			}
			if err := json.Unmarshal(out.Bytes(), &list); err != nil {
				t.Fatal(err)
			}
			for _, item := range list.Items {
				if item["apiVersion"] != "qxsms.io/v1alpha1" || item["kind"] != "InstanceStatus" {
					t.Errorf("a record of another kind: %v/%v", item["apiVersion"], item["kind"])
				}
			}
		})
	}
}

func TestStatusValidate(t *testing.T) {
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	o := NewStatusOptions(streams)
	o.repo = testutil.EmptyOverlays(t, "staging/pprd")
	o.envs = []string{"qa"}
	if err := o.Validate(); err == nil || !strings.HasPrefix(err.Error(), `unknown environment "qa"`) {
		t.Errorf("unknown environment: %v", err)
	}
	o.envs = nil
	o.Output.OutputFormat = ptr.To("table")
	if err := o.Validate(); err == nil || !strings.HasPrefix(err.Error(), `--output "table" is not supported here`) {
		t.Errorf("-o table: %v", err)
	}
}
