package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// SoakInterval is how often a soak looks at the pods.
var SoakInterval = 2 * time.Second

// SoakError is a pod that misbehaved during a soak.
type SoakError struct {
	Namespace, Pod, Reason string
}

func (e *SoakError) Error() string {
	return fmt.Sprintf("pod %s/%s %s during the soak", e.Namespace, e.Pod, e.Reason)
}

// podState is what a soak remembers of a pod.
type podState struct {
	ready    bool
	restarts int32
}

// Soak watches the pods of namespaces for d after a rollout: a pod that was
// ready and turns unready, a container that restarts, or a pod that fails
// is a failure, returned with the pod and its reason. Pods that come up
// during the soak must be ready by its end. Pods being deleted (the old
// replica set's) are ignored.
func Soak(ctx context.Context, client kubernetes.Interface, namespaces []string, d time.Duration, progress io.Writer) error {
	if d <= 0 {
		return nil
	}
	fmt.Fprintf(progress, "Soaking %s for %s: any pod that restarts, turns unready or fails stops the rollout\n", strings.Join(namespaces, ", "), d)
	// The pods' states at the previous look; a pod not seen before starts
	// unready with no restarts.
	seen := map[string]podState{}
	first := true
	var failure error
	end := time.Now().Add(d)
	err := wait.PollUntilContextTimeout(ctx, SoakInterval, d+SoakInterval, true, func(ctx context.Context) (bool, error) {
		last := !time.Now().Before(end)
		for _, ns := range namespaces {
			pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, fmt.Errorf("soak: listing the pods of %s: %w", ns, err)
			}
			for i := range pods.Items {
				p := &pods.Items[i]
				if p.DeletionTimestamp != nil {
					continue
				}
				key := ns + "/" + p.Name
				now := stateOf(p)
				if first {
					seen[key] = now
					continue
				}
				if why := soakFailure(p, seen[key], now, last); why != "" {
					failure = &SoakError{Namespace: ns, Pod: p.Name, Reason: why}
					return true, nil
				}
				seen[key] = now
			}
		}
		if first {
			first = false
			return false, nil
		}
		return last, nil
	})
	switch {
	case failure != nil:
		return failure
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("soak interrupted: %w", ctx.Err())
	}
	return err
}

func stateOf(p *corev1.Pod) podState {
	s := podState{}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			s.ready = true
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		s.restarts += cs.RestartCount
	}
	return s
}

// soakFailure says what went wrong with a pod since the soak began, if anything.
func soakFailure(p *corev1.Pod, before, now podState, last bool) string {
	switch {
	case p.Status.Phase == corev1.PodFailed:
		if why := strings.TrimSpace(p.Status.Reason + " " + p.Status.Message); why != "" {
			return "failed (" + why + ")"
		}
		return "failed"
	case now.restarts > before.restarts:
		return fmt.Sprintf("restarted (%d restart(s)%s)", now.restarts-before.restarts, lastTermination(p))
	case before.ready && !now.ready:
		return "turned unready" + unreadyReason(p)
	case last && !now.ready && p.Status.Phase != corev1.PodSucceeded:
		return "is not ready at the end" + unreadyReason(p)
	}
	return ""
}

func unreadyReason(p *corev1.Pod) string {
	var why []string
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue && (c.Reason != "" || c.Message != "") {
			why = append(why, strings.TrimSpace(c.Reason+" "+c.Message))
		}
	}
	sort.Strings(why)
	if len(why) == 0 {
		return ""
	}
	return " (" + strings.Join(why, "; ") + ")"
}

func lastTermination(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.LastTerminationState.Terminated; t != nil {
			return fmt.Sprintf(", container %s last exited %d: %s", cs.Name, t.ExitCode, t.Reason)
		}
	}
	return ""
}
