package rollout

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fastSoak makes the soak look every few milliseconds for the test.
func fastSoak(t *testing.T) {
	t.Helper()
	old := SoakInterval
	SoakInterval = 5 * time.Millisecond
	t.Cleanup(func() { SoakInterval = old })
}

type podSpec struct {
	name     string
	ready    bool
	restarts int32
	phase    corev1.PodPhase
	deleting bool
	reason   string
}

func pod(ns string, s podSpec) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: ns}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	if s.phase != "" {
		p.Status.Phase = s.phase
	}
	if s.phase == corev1.PodFailed {
		p.Status.Reason, p.Status.Message = s.reason, "The node was low on resource: memory."
	}
	ready := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: s.reason}
	if s.ready {
		ready.Status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{ready}
	cs := corev1.ContainerStatus{Name: "qxsms", RestartCount: s.restarts}
	if s.restarts > 0 {
		cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
	if s.deleting {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

// podsByLook serves the pods of each look in turn, the last one from then
// on: the cluster changing between the soak's polls.
func podsByLook(ns string, looks ...[]podSpec) *fake.Clientset {
	client := fake.NewClientset()
	var mu sync.Mutex
	n := 0
	client.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		look := looks[min(n, len(looks)-1)]
		n++
		list := &corev1.PodList{}
		if a.GetNamespace() == ns {
			for _, s := range look {
				list.Items = append(list.Items, pod(ns, s))
			}
		}
		return true, list, nil
	})
	return client
}

func TestSoak(t *testing.T) {
	fastSoak(t)
	web := podSpec{name: "qxsms-1", ready: true}
	cases := []struct {
		name  string
		looks [][]podSpec
		// want is the failure, "" for none.
		want string
	}{{
		name:  "stays ready",
		looks: [][]podSpec{{web, {name: "worker-1", ready: true}}},
	}, {
		name:  "a ready pod turns unready",
		looks: [][]podSpec{{web}, {web}, {{name: "qxsms-1", reason: "ContainersNotReady"}}},
		want:  "pod qxsms-pprd/qxsms-1 turned unready (ContainersNotReady) during the soak",
	}, {
		name:  "a container restarts",
		looks: [][]podSpec{{web}, {{name: "qxsms-1", ready: true, restarts: 1}}},
		want:  "pod qxsms-pprd/qxsms-1 restarted (1 restart(s), container qxsms last exited 137: OOMKilled) during the soak",
	}, {
		name:  "restarts before the soak are not counted",
		looks: [][]podSpec{{{name: "qxsms-1", ready: true, restarts: 3}}},
	}, {
		name:  "a pod fails",
		looks: [][]podSpec{{web}, {{name: "qxsms-1", phase: corev1.PodFailed, reason: "Evicted"}}},
		want:  "pod qxsms-pprd/qxsms-1 failed (Evicted The node was low on resource: memory.) during the soak",
	}, {
		// The old replica set's pods go unready as they terminate.
		name:  "a pod being deleted is ignored",
		looks: [][]podSpec{{web, {name: "old-1", ready: true}}, {web, {name: "old-1", deleting: true}}},
	}, {
		name:  "a new pod must be ready by the end",
		looks: [][]podSpec{{web}, {web, {name: "qxsms-2", reason: "ContainersNotReady"}}},
		want:  "pod qxsms-pprd/qxsms-2 is not ready at the end (ContainersNotReady) during the soak",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var progress strings.Builder
			err := Soak(context.Background(), podsByLook("qxsms-pprd", tc.looks...), []string{"qxsms-pprd"}, 40*time.Millisecond, &progress)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Soak = %v, want nil", err)
				}
			} else {
				var soakErr *SoakError
				if !errors.As(err, &soakErr) || soakErr.Namespace != "qxsms-pprd" {
					t.Fatalf("Soak = %v, want a *SoakError in qxsms-pprd", err)
				}
				if err.Error() != tc.want {
					t.Errorf("Soak = %q\nwant   %q", err, tc.want)
				}
			}
			if want := "Soaking qxsms-pprd for 40ms: any pod that restarts, turns unready or fails stops the rollout\n"; progress.String() != want {
				t.Errorf("progress %q, want %q", progress.String(), want)
			}
		})
	}
}

func TestSoakEdges(t *testing.T) {
	fastSoak(t)
	if err := Soak(context.Background(), fake.NewClientset(), []string{"qxsms-pprd"}, 0, io.Discard); err != nil {
		t.Errorf("no soak asked: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Soak(ctx, fake.NewClientset(), []string{"qxsms-pprd"}, time.Minute, io.Discard); err == nil || !strings.Contains(err.Error(), "soak interrupted") {
		t.Errorf("interrupted soak: %v", err)
	}
	client := fake.NewClientset()
	client.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	if err := Soak(context.Background(), client, []string{"qxsms-pprd"}, time.Minute, io.Discard); err == nil || err.Error() != "soak: listing the pods of qxsms-pprd: connection refused" {
		t.Errorf("list failure: %v", err)
	}
}
