// Package rollout restarts workloads and waits for their rollouts, with the
// same status rules as `kubectl rollout status`.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/kubectl/pkg/polymorphichelpers"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
)

// Kinds that have a rollout to wait for.
var (
	DeploymentGK  = kube.DeploymentGK
	StatefulSetGK = kube.StatefulSetGK
)

// Workload is one object whose rollout can be waited for.
type Workload struct {
	GroupKind schema.GroupKind
	Namespace string
	Name      string
}

// String is kubectl's name form with the namespace: qxsms-pprd/deployment.apps/qxsms.
func (w Workload) String() string {
	return w.Namespace + "/" + kube.ObjectName(w.GroupKind, w.Name)
}

// WaitResult is the outcome of waiting for one workload.
type WaitResult struct {
	Workload Workload
	Duration time.Duration
	// Err says why the rollout did not finish: deadline, timeout, and what blocks it.
	Err error
}

// Wait waits for all workloads concurrently, each with one watch, until every
// rollout is complete or timeout passes. Progress lines go to progress.
func Wait(ctx context.Context, c *kube.Clients, workloads []Workload, timeout time.Duration, progress io.Writer) []WaitResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	results := make([]WaitResult, len(workloads))
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(progress, format+"\n", args...)
	}
	var wg sync.WaitGroup
	for i, w := range workloads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := waitOne(ctx, c, w, say)
			switch {
			case err == nil:
			case errors.Is(ctx.Err(), context.Canceled):
				err = fmt.Errorf("interrupted: %w", err)
			case ctx.Err() != nil:
				err = fmt.Errorf("timed out after %s: %w", timeout, err)
			}
			if err != nil {
				// Diagnose with a fresh context: the wait's may be spent.
				dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
				if why := Diagnose(dctx, c, w); why != "" {
					err = fmt.Errorf("%w\n  %s", err, why)
				}
				dcancel()
			}
			results[i] = WaitResult{Workload: w, Duration: time.Since(start), Err: err}
		}()
	}
	wg.Wait()
	return results
}

func waitOne(ctx context.Context, c *kube.Clients, w Workload, say func(string, ...any)) error {
	viewer, err := polymorphichelpers.StatusViewerFor(w.GroupKind)
	if err != nil {
		return err
	}
	mapping, err := c.Mapper.RESTMapping(w.GroupKind)
	if err != nil {
		return err
	}
	ri := c.Dynamic.Resource(mapping.Resource).Namespace(w.Namespace)
	selector := fields.OneTermEqualSelector("metadata.name", w.Name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return ri.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return ri.Watch(ctx, o)
		},
	}
	var last string
	_, err = watchtools.UntilWithSync(ctx, cache.ToListWatcherWithWatchListSemantics(lw, c.Dynamic), &unstructured.Unstructured{}, nil, func(e watch.Event) (bool, error) {
		switch e.Type {
		case watch.Deleted:
			return false, fmt.Errorf("%s was deleted while waiting for it", w)
		case watch.Added, watch.Modified:
			msg, done, err := viewer.Status(e.Object.(runtime.Unstructured), 0)
			if err != nil {
				return false, err
			}
			msg = strings.TrimSpace(msg)
			if done {
				say("%s: rolled out", w)
				return true, nil
			}
			if msg != last {
				say("%s: %s", w, msg)
				last = msg
			}
		}
		return false, nil
	})
	if err != nil && ctx.Err() != nil && last != "" {
		// The last status says more than "context deadline exceeded".
		return errors.New(last)
	}
	return err
}

// Diagnose says why a workload is not rolled out: its conditions, and the
// pods that are not ready with their reasons and latest warning events.
func Diagnose(ctx context.Context, c *kube.Clients, w Workload) string {
	mapping, err := c.Mapper.RESTMapping(w.GroupKind)
	if err != nil {
		return ""
	}
	obj, err := c.Dynamic.Resource(mapping.Resource).Namespace(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Sprintf("cannot read %s: %v", w, err)
	}
	var parts []string
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, raw := range conds {
		cond, _ := raw.(map[string]any)
		if cond["status"] == "True" && cond["type"] != "ReplicaFailure" {
			continue
		}
		parts = append(parts, fmt.Sprintf("condition %v=%v (%v: %v)", cond["type"], cond["status"], cond["reason"], cond["message"]))
	}
	selector, _, _ := unstructured.NestedMap(obj.Object, "spec", "selector", "matchLabels")
	var sel []string
	for k, v := range selector {
		sel = append(sel, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(sel)
	pods, err := c.Typed.CoreV1().Pods(w.Namespace).List(ctx, metav1.ListOptions{LabelSelector: strings.Join(sel, ",")})
	if err == nil {
		for _, p := range pods.Items {
			ready := false
			for _, pc := range p.Status.Conditions {
				if pc.Type == "Ready" && pc.Status == "True" {
					ready = true
				}
			}
			if ready {
				continue
			}
			why := string(p.Status.Phase)
			for _, pc := range p.Status.Conditions {
				if pc.Status != "True" && pc.Reason != "" {
					why += fmt.Sprintf(", %s: %s %s", pc.Type, pc.Reason, pc.Message)
				}
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Waiting != nil {
					why += fmt.Sprintf(", container %s waiting: %s %s", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message)
				}
			}
			if p.DeletionTimestamp != nil {
				why += ", terminating"
			}
			parts = append(parts, fmt.Sprintf("pod %s not ready: %s", p.Name, why))
		}
		if len(pods.Items) == 0 {
			parts = append(parts, "no pods match its selector")
		}
	}
	events, err := c.Typed.CoreV1().Events(w.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"})
	if err == nil {
		sort.Slice(events.Items, func(i, j int) bool { return events.Items[i].LastTimestamp.After(events.Items[j].LastTimestamp.Time) })
		n := 0
		for _, e := range events.Items {
			if !strings.HasPrefix(e.InvolvedObject.Name, w.Name) || n == 3 {
				continue
			}
			parts = append(parts, fmt.Sprintf("event %s %s/%s: %s", e.Reason, strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Name, e.Message))
			n++
		}
	}
	return strings.Join(parts, "\n  ")
}
