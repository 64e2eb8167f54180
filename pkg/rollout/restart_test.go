package rollout

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func deployment(ns, name string, mutate ...func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: name, Image: "registry/qxsms:staging", ImagePullPolicy: corev1.PullAlways}}}},
		},
	}
	for _, m := range mutate {
		m(d)
	}
	return d
}

func annotation(t *testing.T, r Restarted) string {
	t.Helper()
	if r.Deployment == nil {
		t.Fatalf("%s not restarted: %v", r.Workload, r.Err)
	}
	return r.Deployment.Spec.Template.Annotations[RestartedAtAnnotation]
}

func TestRestartDefaultsAndSameSecond(t *testing.T) {
	client := fake.NewClientset(deployment("qxsms-a", "qxsms"), deployment("qxsms-a", "worker"), deployment("qxsms-b", "qxsms"))
	now := func() time.Time { return time.Date(2026, 11, 27, 10, 0, 0, 5, time.UTC) }
	res := Restart(context.Background(), client, []string{"qxsms-a"}, RestartConfig{Now: now})
	if len(res) != 2 || res[0].Workload.Name != "qxsms" || res[1].Workload.Name != "worker" {
		t.Fatalf("default restart: %+v", res)
	}
	if got := annotation(t, res[0]); got != "2026-11-27T10:00:00Z" {
		t.Errorf("restartedAt %q, want kubectl's RFC3339", got)
	}
	again := Restart(context.Background(), client, []string{"qxsms-a"}, RestartConfig{Now: now, Deployments: []string{"qxsms"}})
	if got := annotation(t, again[0]); got == "2026-11-27T10:00:00Z" || !strings.HasPrefix(got, "2026-11-27T10:00:00.") {
		t.Errorf("second restart within the second: %q, want a finer stamp rather than an empty patch", got)
	}
	b, _ := client.AppsV1().Deployments("qxsms-b").Get(context.Background(), "qxsms", metav1.GetOptions{})
	if b.Spec.Template.Annotations[RestartedAtAnnotation] != "" {
		t.Error("another namespace was restarted")
	}
}

func TestRestartRefusalsAndWarnings(t *testing.T) {
	paused := deployment("qxsms-a", "qxsms", func(d *appsv1.Deployment) { d.Spec.Paused = true })
	ifNotPresent := deployment("qxsms-a", "worker", func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
	})
	client := fake.NewClientset(paused, ifNotPresent)
	res := Restart(context.Background(), client, []string{"qxsms-a"}, RestartConfig{Deployments: []string{"qxsms", "worker", "gone"}})
	byName := map[string]Restarted{}
	for _, r := range res {
		byName[r.Workload.Name] = r
	}
	if err := byName["qxsms"].Err; err == nil || !strings.Contains(err.Error(), "kubectl rollout resume deployment/qxsms -n qxsms-a") {
		t.Errorf("paused: %v", err)
	}
	if err := byName["gone"].Err; err == nil || !strings.Contains(err.Error(), "kubectl get deployments -n qxsms-a") {
		t.Errorf("missing: %v", err)
	}
	w := byName["worker"]
	if w.Err != nil || len(w.Warnings) != 1 || !strings.Contains(w.Warnings[0], "IfNotPresent") {
		t.Errorf("imagePullPolicy warning: %+v", w)
	}
}

func TestRestartSelectorAndForbidden(t *testing.T) {
	client := fake.NewClientset(deployment("qxsms-a", "qxsms"), deployment("qxsms-a", "worker"))
	res := Restart(context.Background(), client, []string{"qxsms-a"}, RestartConfig{Selector: "app=worker"})
	if len(res) != 1 || res[0].Workload.Name != "worker" || res[0].Err != nil {
		t.Fatalf("selector: %+v", res)
	}
	if res := Restart(context.Background(), client, []string{"qxsms-a"}, RestartConfig{Selector: "app=none"}); res[0].Err == nil {
		t.Error("an empty selection must be an error")
	}
	client.PrependReactor("get", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "qxsms", errors.New("no"))
	})
	res = Restart(context.Background(), client, []string{"qxsms-b"}, RestartConfig{Deployments: []string{"qxsms"}})
	if err := res[0].Err; err == nil || !strings.Contains(err.Error(), "forbidden in namespace qxsms-b") || !strings.Contains(err.Error(), "RoleBinding") {
		t.Errorf("forbidden: %v", err)
	}
}

func TestImageChanges(t *testing.T) {
	d := deployment("qxsms-a", "qxsms")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "qxsms-a", Labels: map[string]string{"app": "qxsms"}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "qxsms", ImageID: "sha256:new"}}}}
	client := fake.NewClientset(d, pod)
	got := ImageChanges(context.Background(), client, Restarted{Deployment: d, ImagesBefore: map[string][]string{"qxsms": {"sha256:old"}}})
	if len(got) != 1 || !strings.Contains(got[0], "sha256:old -> sha256:new") {
		t.Errorf("image changes: %v", got)
	}
	got = ImageChanges(context.Background(), client, Restarted{Deployment: d, ImagesBefore: map[string][]string{"qxsms": {"sha256:new"}}})
	if len(got) != 1 || !strings.Contains(got[0], "unchanged") {
		t.Errorf("same image: %v", got)
	}
}
