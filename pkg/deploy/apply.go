package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/rollout"
	"github.com/qxsms/kubectl-qxsms/pkg/waves"
)

// FieldManager owns every field deploy applies.
const FieldManager = "kubectl-qxsms"

// Rollout asks for a progressive deploy: canaries, then waves.
type Rollout struct {
	waves.Spec
	// Soak watches the canaries' pods this long once they are rolled out.
	Soak time.Duration
}

// Result is the outcome of Apply.
type Result struct {
	// Instances in the order they were deployed; those a stopped rollout
	// never reached have Skipped set.
	Instances []*InstanceResult
	// Plan is the progressive rollout's waves over the instances that
	// change; nil without Options.Rollout.
	Plan []waves.Wave
	// Report says how the rollout ended; nil without a rollout, and in
	// dry runs, which only plan.
	Report *waves.Report
}

// Apply deploys built instances: it maps and checks every one of them first
// (nothing is applied anywhere if one fails), then runs each instance's
// stages, Options.Parallel at a time. With Options.Rollout, only the
// instances a server dry run finds changing take part, canaries first,
// then in waves, each rolled out before the next starts.
func Apply(ctx context.Context, c *kube.Clients, instances []overlays.Instance, built map[string][]*unstructured.Unstructured, opts Options) (*Result, error) {
	plans, err := Prepare(c, instances, built)
	if err != nil {
		return nil, err
	}
	d := &Deployer{Clients: c, Options: opts}
	if !opts.Rollout.Progressive() {
		return &Result{Instances: d.Run(ctx, plans, opts.OnInstance)}, nil
	}
	if _, err := waves.Plan(names(plans), opts.Rollout.Spec); err != nil {
		return nil, err
	}
	if d.dryRun() {
		return d.planRollout(ctx, plans)
	}
	return d.progressive(ctx, plans)
}

func names(plans []*Plan) []string {
	out := make([]string, len(plans))
	for i, p := range plans {
		out[i] = p.Instance.Name
	}
	return out
}

// planRollout is a dry run's rollout: every instance is dry-run at once,
// and the waves are planned over those that would change.
func (d *Deployer) planRollout(ctx context.Context, plans []*Plan) (*Result, error) {
	results := d.Run(ctx, plans, d.Options.OnInstance)
	var changed []string
	for _, r := range results {
		if r.Changed() || r.Err != nil {
			changed = append(changed, r.Instance.Name)
		}
	}
	plan, err := waves.Plan(changed, d.changedSpec(changed))
	return &Result{Instances: results, Plan: plan}, err
}

// changedSpec drops the canaries that have nothing to change: they would
// test nothing, and the first wave is then the first to get the change.
func (d *Deployer) changedSpec(changed []string) waves.Spec {
	spec := d.Options.Rollout.Spec
	spec.Canaries = nil
	for _, c := range d.Options.Rollout.Canaries {
		if slices.Contains(changed, c) {
			spec.Canaries = append(spec.Canaries, c)
		} else {
			fmt.Fprintf(d.progress(), "Canary %s has nothing to change: the first wave is the first to get this change\n", c)
		}
	}
	return spec
}

// progressive probes every instance with a server dry run, then deploys the
// changing ones wave by wave. An interrupt (ctx done) lets the current
// wave's applies finish, stops waiting, and skips the later waves.
func (d *Deployer) progressive(ctx context.Context, plans []*Plan) (*Result, error) {
	probe := &Deployer{Clients: d.Clients, Options: d.Options}
	probe.Options.Diff, probe.Options.Wait, probe.Options.Prune = true, false, d.Options.Prune
	fmt.Fprintf(d.progress(), "Finding the instances this deploy changes (server dry run of %d)\n", len(plans))
	probed := probe.Run(ctx, plans, nil)

	byName := map[string]*Plan{}
	res := &Result{}
	var changed []string
	for i, r := range probed {
		if r.Changed() || r.Err != nil {
			changed = append(changed, r.Instance.Name)
			byName[r.Instance.Name] = plans[i]
			continue
		}
		res.Instances = append(res.Instances, r)
		if d.Options.OnInstance != nil {
			d.Options.OnInstance(r)
		}
	}
	plan, err := waves.Plan(changed, d.changedSpec(changed))
	if err != nil {
		return nil, err
	}
	res.Plan = plan
	real := &Deployer{Clients: d.Clients, Options: d.Options}
	real.Options.Wait = true
	real.Options.finishApplies = true
	results := map[string]*InstanceResult{}
	res.Report = waves.Run(ctx, plan, d.Options.Rollout.MaxFailures, func(ctx context.Context, w waves.Wave) []string {
		start := time.Now()
		fmt.Fprintf(d.progress(), "%s: %s (%d instance(s))\n", waves.Title(w, plan), strings.Join(w.Names, ", "), len(w.Names))
		var wavePlans []*Plan
		for _, n := range w.Names {
			wavePlans = append(wavePlans, byName[n])
		}
		var failed []string
		rs := real.Run(ctx, wavePlans, nil)
		if w.Canary && d.Options.Rollout.Soak > 0 && waveSucceeded(rs) {
			d.soak(ctx, rs)
		}
		for _, r := range rs {
			results[r.Instance.Name] = r
			if r.Err != nil {
				failed = append(failed, r.Instance.Name)
			}
			if d.Options.OnInstance != nil {
				d.Options.OnInstance(r)
			}
		}
		fmt.Fprintf(d.progress(), "%s done in %s: %d of %d rolled out\n", waves.Title(w, plan), time.Since(start).Round(time.Millisecond), len(w.Names)-len(failed), len(w.Names))
		return failed
	})
	for _, w := range plan {
		for _, n := range w.Names {
			r := results[n]
			if r == nil {
				r = &InstanceResult{Instance: byName[n].Instance, Skipped: true}
				if d.Options.OnInstance != nil {
					d.Options.OnInstance(r)
				}
			}
			res.Instances = append(res.Instances, r)
		}
	}
	return res, nil
}

// soak watches the canaries' pods; a failure fails the canary whose pod it was.
func (d *Deployer) soak(ctx context.Context, rs []*InstanceResult) {
	var namespaces []string
	for _, r := range rs {
		namespaces = append(namespaces, r.Instance.Namespace())
	}
	err := rollout.Soak(ctx, d.Clients.Typed, namespaces, d.Options.Rollout.Soak, d.progress())
	if err == nil {
		return
	}
	var podErr *rollout.SoakError
	for _, r := range rs {
		if !errors.As(err, &podErr) || podErr.Namespace == r.Instance.Namespace() {
			r.Err = err
		}
	}
}

func waveSucceeded(rs []*InstanceResult) bool {
	for _, r := range rs {
		if r.Err != nil {
			return false
		}
	}
	return true
}
