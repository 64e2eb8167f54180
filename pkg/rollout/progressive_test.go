package rollout

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/qxsms/kubectl-qxsms/internal/testutil"
	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/waves"
)

// liveDeployment is the Deployment the rollout wait watches (through the
// dynamic client): rolled out, or stuck with no updated replica.
func liveDeployment(ns string, rolledOut bool) *unstructured.Unstructured {
	updated := int64(0)
	if rolledOut {
		updated = 1
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "qxsms", "namespace": ns, "generation": int64(2)},
		"spec":     map[string]any{"replicas": int64(1), "selector": map[string]any{"matchLabels": map[string]any{"app": "qxsms"}}},
		"status": map[string]any{"observedGeneration": int64(2), "replicas": int64(1), "updatedReplicas": updated,
			"availableReplicas": updated, "readyReplicas": updated},
	}}
}

// restartClients serve one qxsms Deployment per instance: the typed fake
// takes the restarts, the dynamic fake answers the waits. The two stores
// are seeded alike and not kept in step: a restart does not change what
// the wait sees, so stuck names the instances whose rollout never ends.
func restartClients(instances []string, stuck ...string) *kube.Clients {
	var typed []runtime.Object
	var live []runtime.Object
	for _, inst := range instances {
		ns := "qxsms-" + inst
		typed = append(typed, deployment(ns, "qxsms"))
		live = append(live, liveDeployment(ns, !slices.Contains(stuck, inst)))
	}
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Group: "apps", Version: "v1"}})
	mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{{Group: "apps", Version: "v1", Resource: "deployments"}: "DeploymentList"}, live...)
	return &kube.Clients{Typed: fake.NewClientset(typed...), Dynamic: dyn, Mapper: mapper}
}

var durations = regexp.MustCompile(`done in [0-9.]+(µs|ms|s)`)

func TestRestartInstancesOrder(t *testing.T) {
	fastSoak(t)
	instances := []string{"a", "b", "c", "d"}
	cases := []struct {
		name  string
		opts  RestartOptions
		stuck []string
		// order is the restarts, in the order they were sent.
		order string
		// status is each instance's end in a progressive restart.
		status  map[string]waves.Status
		stopped string
		golden  string
	}{{
		name:  "all at once without waiting",
		opts:  RestartOptions{Wait: false},
		order: "qxsms-a qxsms-b qxsms-c qxsms-d",
	}, {
		// One instance per wave: the waits of one wave report in any order.
		name:   "canary, then waves",
		opts:   RestartOptions{Rollout: waves.Spec{Canaries: []string{"c"}, Waves: 3}, Soak: 20 * time.Millisecond},
		order:  "qxsms-c qxsms-a qxsms-b qxsms-d",
		status: map[string]waves.Status{"a": waves.Succeeded, "b": waves.Succeeded, "c": waves.Succeeded, "d": waves.Succeeded},
		golden: "progressive-canary-waves",
	}, {
		name:    "a canary that does not roll out stops the restart",
		opts:    RestartOptions{Rollout: waves.Spec{Canaries: []string{"c"}, Waves: 2}, Soak: time.Minute},
		stuck:   []string{"c"},
		order:   "qxsms-c",
		status:  map[string]waves.Status{"a": waves.Skipped, "b": waves.Skipped, "c": waves.Failed, "d": waves.Skipped},
		stopped: "the canary failed (c)",
	}, {
		name:    "more failures than allowed stop after the wave",
		opts:    RestartOptions{Rollout: waves.Spec{Size: "2", MaxFailures: 1}},
		stuck:   []string{"a", "b"},
		order:   "qxsms-a qxsms-b",
		status:  map[string]waves.Status{"a": waves.Failed, "b": waves.Failed, "c": waves.Skipped, "d": waves.Skipped},
		stopped: "2 instance(s) failed, more than --max-failures=1",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := restartClients(instances, tc.stuck...)
			var mu sync.Mutex
			var order []string
			var progress strings.Builder
			tc.opts.Deployments = []string{"qxsms"}
			tc.opts.Timeout = 300 * time.Millisecond
			tc.opts.Progress = &progress
			tc.opts.OnRestarted = func(r Restarted) {
				mu.Lock()
				defer mu.Unlock()
				if r.Err != nil {
					t.Errorf("%s: %v", r.Workload, r.Err)
				}
				order = append(order, r.Workload.Namespace)
			}
			rep, err := RestartInstances(context.Background(), c, []string{"qxsms-a", "qxsms-b", "qxsms-c", "qxsms-d"}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(order, " "); got != tc.order {
				t.Errorf("restarts sent to %s, want %s", got, tc.order)
			}
			if len(rep.Results) != len(order) {
				t.Errorf("%d results for %d restarts", len(rep.Results), len(order))
			}
			for _, r := range rep.Results {
				stuck := slices.Contains(tc.stuck, strings.TrimPrefix(r.Workload.Namespace, "qxsms-"))
				if r.Waited != (tc.opts.Wait || tc.opts.Rollout.Progressive()) || (r.WaitErr != nil) != stuck {
					t.Errorf("%s: waited %v, wait error %v", r.Workload, r.Waited, r.WaitErr)
				}
				if stuck && !strings.Contains(r.WaitErr.Error(), "timed out after 300ms") {
					t.Errorf("%s: %v", r.Workload, r.WaitErr)
				}
			}
			if tc.status == nil {
				if rep.Plan != nil || rep.Report != nil {
					t.Errorf("not progressive, yet a plan: %+v", rep)
				}
				return
			}
			if rep.Report == nil {
				t.Fatal("no report")
			}
			for inst, want := range tc.status {
				if got := rep.Report.Status[inst]; got != want {
					t.Errorf("%s: %s, want %s", inst, got, want)
				}
			}
			if rep.Report.Stopped != tc.stopped {
				t.Errorf("stopped %q, want %q", rep.Report.Stopped, tc.stopped)
			}
			if tc.golden != "" {
				testutil.Golden(t, tc.golden, durations.ReplaceAllString(progress.String(), "done in <duration>"))
			}
		})
	}
}
