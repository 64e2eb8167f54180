package status

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/qxsms/kubectl-qxsms/pkg/deploy"
	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

func repoWith(t *testing.T, overlayDirs ...string) *overlays.Repo {
	t.Helper()
	root := t.TempDir()
	for _, d := range overlayDirs {
		dir := filepath.Join(root, "overlays", d)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yml"), []byte("resources: []\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &overlays.Repo{Dir: root}
}

func namespace(name, env string) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	if env != "" {
		ns.Labels[overlays.EnvironmentLabel] = env
	}
	return ns
}

func TestCollectOrphansAndLiveState(t *testing.T) {
	repo := repoWith(t, "staging/pprd", "staging/demo", "production/prod")
	ready := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "qxsms", Namespace: "qxsms-pprd", Generation: 2},
		Spec:   appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Image: "reg/qxsms:staging"}}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, AvailableReplicas: 1, UpdatedReplicas: 1}}
	rolling := ready.DeepCopy()
	rolling.Name, rolling.Status.UpdatedReplicas = "worker", 0
	client := fake.NewClientset(
		namespace("qxsms-pprd", "staging"), namespace("qxsms-old", "staging"), namespace("qxsms-prod", "production"),
		namespace("kube-system", ""), namespace("qxsms-qa", "production"),
		ready, rolling,
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "qxsms-pprd"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: "qxsms-pprd"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: deploy.InventoryName, Namespace: "qxsms-pprd",
			Annotations: map[string]string{deploy.DeployedAtAnnotation: "2026-11-27T10:00:00Z", deploy.RevisionAnnotation: "abc123"}}},
	)
	rows, err := Collect(context.Background(), &kube.Clients{Typed: client}, repo, []string{"staging"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Row{}
	for _, r := range rows {
		byName[r.Instance] = r
	}
	if len(rows) != 3 {
		t.Fatalf("staging rows: %+v (want pprd, demo and the orphan old; not prod, qa or kube-system)", rows)
	}
	p := byName["pprd"]
	if !p.Overlay || p.NamespacePhase != "Active" || p.WorkloadsReady != 1 || p.WorkloadsTotal != 2 || p.PVCsBound != 1 || p.PVCsTotal != 2 ||
		p.Revision != "abc123" || p.LastDeploy == nil || len(p.Images) != 1 || p.Drift != nil || p.Orphan != "" {
		t.Errorf("pprd: %+v", p)
	}
	if d := byName["demo"]; !d.Overlay || d.NamespacePhase != "Missing" || d.Orphan != "not deployed" {
		t.Errorf("demo: %+v", d)
	}
	if o := byName["old"]; o.Overlay || o.Orphan != "no overlay" || o.Env != "staging" {
		t.Errorf("old: %+v", o)
	}

	// Every environment: qa (no overlay, labelled production) is an orphan there.
	all, err := Collect(context.Background(), &kube.Clients{Typed: client}, repo, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, r := range all {
		found[r.Instance] = r.Orphan
	}
	if found["qa"] != "no overlay" || found["prod"] != "" || len(all) != 5 {
		t.Errorf("all environments: %v", found)
	}
}

func TestCollectFlagsPlaceholderSecrets(t *testing.T) {
	repo := repoWith(t, "staging/pprd", "staging/demo", "production/prod")
	if err := os.WriteFile(filepath.Join(repo.Dir, overlays.ConfigFile), []byte("environments:\n  staging: {contexts: [x]}\n  production: {contexts: [x], placeholder: \"TODO-*\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := func(ns, name string, data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	client := fake.NewClientset(
		namespace("qxsms-pprd", "staging"), namespace("qxsms-demo", "staging"), namespace("qxsms-prod", "production"),
		secret("qxsms-pprd", "qxsms-secrets-abc", map[string]string{"POSTGRES_PASSWORD": "changeme-pprd-postgres", "DJANGO_SECRET_KEY": "Zq8vT3kLmP0xW"}),
		secret("qxsms-demo", "qxsms-secrets-def", map[string]string{"POSTGRES_PASSWORD": "Rk2pX9vLq7"}),
		// production's glob is TODO-*: changeme-* is a real value there.
		secret("qxsms-prod", "qxsms-secrets-ghi", map[string]string{"A": "TODO-prod-a", "B": "changeme-prod-b"}),
	)
	rows, err := Collect(context.Background(), &kube.Clients{Typed: client}, repo, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range rows {
		got[r.Instance] = r.Placeholders
	}
	want := map[string][]string{"pprd": {"qxsms-secrets-abc/POSTGRES_PASSWORD"}, "demo": nil, "prod": {"qxsms-secrets-ghi/A"}}
	for inst, w := range want {
		if strings.Join(got[inst], ",") != strings.Join(w, ",") {
			t.Errorf("%s: placeholders %v, want %v", inst, got[inst], w)
		}
	}
	b, _ := json.Marshal(rows)
	for _, v := range []string{"changeme-pprd-postgres", "Zq8vT3kLmP0xW", "TODO-prod-a"} {
		if strings.Contains(string(b), v) {
			t.Errorf("a value is in the rows: %s", b)
		}
	}
}
