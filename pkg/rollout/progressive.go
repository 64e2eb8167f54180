package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/waves"
)

// RestartOptions tune RestartInstances.
type RestartOptions struct {
	RestartConfig
	// Wait for the restarted Deployments to roll out; a progressive
	// restart always waits.
	Wait    bool
	Timeout time.Duration
	// Rollout restarts the canaries first, then the others in waves.
	Rollout waves.Spec
	// Soak watches the canaries' pods this long once rolled out.
	Soak time.Duration
	// Progress receives progress lines (stderr in the command).
	Progress io.Writer
	// OnRestarted is called for each Deployment as soon as it is restarted.
	OnRestarted func(Restarted)
}

// RestartResult is one Deployment's restart and rollout.
type RestartResult struct {
	Restarted
	// Waited is whether its rollout was waited for; WaitErr says why it failed.
	Waited  bool
	WaitErr error
	// ImageChanges are the image IDs before → after, per container.
	ImageChanges []string
}

// Failed reports whether the restart or its rollout failed.
func (r RestartResult) Failed() bool { return r.Err != nil || r.WaitErr != nil }

// RestartReport is how a restart of many instances ended.
type RestartReport struct {
	Results []RestartResult
	// Plan and Report describe a progressive restart; nil otherwise.
	Plan   []waves.Wave
	Report *waves.Report
}

// RestartInstances restarts the selected Deployments of each instance's
// namespace and waits for them: all at once, or canaries first (soaked),
// then in waves, stopping as waves.Run says. An interrupt lets the current
// wave's restarts finish and ends the waits.
func RestartInstances(ctx context.Context, c *kube.Clients, namespaces []string, o RestartOptions) (*RestartReport, error) {
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	names := make([]string, len(namespaces))
	for i, ns := range namespaces {
		names[i], _ = overlays.InstanceFromNamespace(ns)
	}
	if !o.Rollout.Progressive() {
		return &RestartReport{Results: restartWave(ctx, c, namespaces, o, progress, false)}, nil
	}
	plan, err := waves.Plan(names, o.Rollout)
	if err != nil {
		return nil, err
	}
	rep := &RestartReport{Plan: plan}
	rep.Report = waves.Run(ctx, plan, o.Rollout.MaxFailures, func(ctx context.Context, w waves.Wave) []string {
		start := time.Now()
		fmt.Fprintf(progress, "%s: %s (%d instance(s))\n", waves.Title(w, plan), strings.Join(w.Names, ", "), len(w.Names))
		nss := make([]string, len(w.Names))
		for i, n := range w.Names {
			nss[i] = overlays.Namespace(n)
		}
		results := restartWave(ctx, c, nss, o, progress, true)
		failed := map[string]bool{}
		for _, r := range results {
			if r.Failed() {
				name, _ := overlays.InstanceFromNamespace(r.Workload.Namespace)
				failed[name] = true
			}
		}
		if w.Canary && len(failed) == 0 && o.Soak > 0 {
			if err := Soak(ctx, c.Typed, nss, o.Soak, progress); err != nil {
				var pod *SoakError
				for i := range results {
					if !errors.As(err, &pod) || pod.Namespace == results[i].Workload.Namespace {
						results[i].WaitErr = err
						name, _ := overlays.InstanceFromNamespace(results[i].Workload.Namespace)
						failed[name] = true
					}
				}
			}
		}
		rep.Results = append(rep.Results, results...)
		fmt.Fprintf(progress, "%s done in %s: %d of %d instance(s) rolled out\n", waves.Title(w, plan), time.Since(start).Round(time.Millisecond), len(w.Names)-len(failed), len(w.Names))
		var out []string
		for _, n := range w.Names {
			if failed[n] {
				out = append(out, n)
			}
		}
		return out
	})
	return rep, nil
}

// restartWave restarts and, when asked (always in a progressive restart),
// waits for one set of namespaces.
func restartWave(ctx context.Context, c *kube.Clients, namespaces []string, o RestartOptions, progress io.Writer, progressive bool) []RestartResult {
	// A restart half sent is worse than one finished: an interrupt ends the wait only.
	restarted := Restart(context.WithoutCancel(ctx), c.Typed, namespaces, o.RestartConfig)
	results := make([]RestartResult, len(restarted))
	var workloads []Workload
	var index []int
	for i, r := range restarted {
		results[i] = RestartResult{Restarted: r}
		if o.OnRestarted != nil {
			o.OnRestarted(r)
		}
		if r.Err == nil {
			workloads = append(workloads, r.Workload)
			index = append(index, i)
		}
	}
	if (!o.Wait && !progressive) || len(workloads) == 0 {
		return results
	}
	fmt.Fprintf(progress, "Waiting for %d rollout(s), up to %s\n", len(workloads), o.Timeout)
	waits := Wait(ctx, c, workloads, o.Timeout, progress)
	parallel(len(waits), restartParallel, func(j int) {
		r := &results[index[j]]
		r.Waited, r.WaitErr = true, waits[j].Err
		if r.WaitErr == nil {
			r.ImageChanges = ImageChanges(ctx, c.Typed, r.Restarted)
		}
	})
	return results
}
