package teardown

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/volumes"
)

const ns = "qxsms-pprd"

func pv(name, claim, uid string, phase corev1.PersistentVolumePhase, policy corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			PersistentVolumeReclaimPolicy: policy,
			ClaimRef:                      &corev1.ObjectReference{Namespace: ns, Name: claim, UID: types.UID(uid)},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs1", Path: "/srv/nfs/" + name}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: phase},
	}
}

func pvc(name, uid, volume string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(uid)},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: volume}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}
}

// The old generation's Retain PV names the same claim as the current one,
// whose policy is Delete: the check must look at the current one, whatever
// order the PVs are listed in.
func TestUnsafeLooksAtTheCurrentPV(t *testing.T) {
	for _, order := range []string{"old first", "old last"} {
		t.Run(order, func(t *testing.T) {
			old := pv("pvc-old", "data", "uid-1", corev1.VolumeReleased, corev1.PersistentVolumeReclaimRetain)
			cur := pv("pvc-new", "data", "uid-2", corev1.VolumeBound, corev1.PersistentVolumeReclaimDelete)
			objs := []runtime.Object{old, cur}
			if order == "old last" {
				objs = []runtime.Object{cur, old}
			}
			client := fake.NewClientset(append(objs, pvc("data", "uid-2", "pvc-new"))...)
			vols, err := volumes.ForInstance(context.Background(), client, "pprd", nil)
			if err != nil {
				t.Fatal(err)
			}
			unsafe := Unsafe(vols)
			if len(unsafe) != 1 || unsafe[0].PVName() != "pvc-new" {
				t.Fatalf("unsafe = %+v, want the current PV pvc-new", unsafe)
			}
		})
	}
}

func namespace() *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
}

// Between the plan (and its prompt) and the deletion, a PV turned Delete, or
// a new PVC came with a Delete PV: Execute must refuse before the PVCs and
// the namespace go.
func TestExecuteRechecksBeforeDeleting(t *testing.T) {
	inst := overlays.Instance{Env: "staging", Name: "pprd"}
	for _, tc := range []struct {
		name   string
		before []runtime.Object
		change func(*fake.Clientset)
		accept bool
		want   string
	}{
		{"policy changed after the plan", []runtime.Object{namespace(), pvc("data", "u1", "pvc-1"), pv("pvc-1", "data", "u1", corev1.VolumeBound, corev1.PersistentVolumeReclaimRetain)},
			func(c *fake.Clientset) {
				p, _ := c.CoreV1().PersistentVolumes().Get(context.Background(), "pvc-1", metav1.GetOptions{})
				p.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
				_, _ = c.CoreV1().PersistentVolumes().Update(context.Background(), p, metav1.UpdateOptions{})
			}, false, "kubectl patch pv pvc-1"},
		{"PVC created after the plan", []runtime.Object{namespace()},
			func(c *fake.Clientset) {
				_, _ = c.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), pvc("late", "u9", "pvc-9"), metav1.CreateOptions{})
				_, _ = c.CoreV1().PersistentVolumes().Create(context.Background(), pv("pvc-9", "late", "u9", corev1.VolumeBound, corev1.PersistentVolumeReclaimDelete), metav1.CreateOptions{})
			}, false, "kubectl patch pv pvc-9"},
		{"loss accepted", []runtime.Object{namespace()},
			func(c *fake.Clientset) {
				_, _ = c.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), pvc("late", "u9", "pvc-9"), metav1.CreateOptions{})
				_, _ = c.CoreV1().PersistentVolumes().Create(context.Background(), pv("pvc-9", "late", "u9", corev1.VolumeBound, corev1.PersistentVolumeReclaimDelete), metav1.CreateOptions{})
			}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.before...)
			c := &kube.Clients{Typed: client}
			plan, err := MakePlan(context.Background(), c, inst, nil, "ctx")
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.UnsafeVolumes()) != 0 {
				t.Fatalf("the plan is unsafe already: %+v", plan.UnsafeVolumes())
			}
			tc.change(client)
			var progress bytes.Buffer
			_, err = Execute(context.Background(), c, plan, Options{Timeout: 50 * time.Millisecond, Progress: &progress, PollInterval: time.Millisecond,
				ReleaseWait: time.Millisecond, AcceptDataLoss: tc.accept, AcceptDataLossFlag: "accept"})
			_, nsErr := client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
			if tc.want == "" {
				if err != nil || nsErr == nil {
					t.Fatalf("accepted loss: Execute = %v, namespace read = %v; want the namespace deleted", err, nsErr)
				}
				return
			}
			var unsafe *UnsafeError
			if !errors.As(err, &unsafe) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--accept") {
				t.Fatalf("Execute = %v, want an UnsafeError naming %q", err, tc.want)
			}
			if nsErr != nil {
				t.Fatalf("the namespace was deleted despite the re-check: %v", nsErr)
			}
		})
	}
}
