// Package deploy applies built QxSMS overlays to a cluster: server-side apply
// in stages (the Namespace first), an ApplySet inventory per instance, prune
// within the instance, diff and dry runs. It knows nothing of cobra.
package deploy

import (
	"io"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/rollout"
)

// DryRun is --dry-run: none (or empty), client or server.
type DryRun string

// The dry-run strategies, as kubectl names them.
const (
	DryRunNone   DryRun = "none"
	DryRunClient DryRun = "client"
	DryRunServer DryRun = "server"
)

// Action is what happened to one object.
type Action string

// The actions, worded as kubectl prints them.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Pruned     Action = "pruned"
	// Kept is a Namespace, PVC or PV that left the overlay: prune never deletes those.
	Kept Action = "kept"
	// Skipped is a Namespace the user may not manage (RBAC limited to the namespace).
	Skipped Action = "skipped"
	Failed  Action = "failed"
)

// Options tune a deploy.
type Options struct {
	// FieldManager owns the applied fields; conflicts are forced (the repo wins).
	FieldManager string
	// Tooling is the ApplySet tooling annotation, "kubectl-qxsms/<version>".
	Tooling string
	DryRun  DryRun
	Prune   bool
	// Diff computes live-vs-desired diffs through a server dry run and applies nothing.
	Diff bool
	// Parallel is how many instances are deployed at once.
	Parallel int
	// ObjectParallel is how many objects of one instance are applied at
	// once; 0 applies each stage's objects all at once, in one round trip.
	ObjectParallel int
	Wait           bool
	Timeout        time.Duration
	// Revision is recorded in the inventory with each deploy that changed something.
	Revision string
	// Progress receives wait progress lines (stderr in the command).
	Progress io.Writer
	// Now is the clock, for tests.
	Now func() time.Time
	// OnInstance is called once per instance as it finishes, from the
	// deploying goroutine.
	OnInstance func(*InstanceResult)
	// Rollout makes the deploy progressive.
	Rollout Rollout
	// finishApplies lets an instance's applies finish after ctx is done
	// (an interrupt stops a rollout after the current wave's applies).
	finishApplies bool
}

// ObjectResult is the outcome for one object.
type ObjectResult struct {
	// Name is kubectl's form: deployment.apps/qxsms.
	Name      string
	Namespace string
	GroupKind schema.GroupKind
	Action    Action
	// Object is the object as the server returned it (nil when pruned or failed).
	Object *unstructured.Unstructured `json:"-"`
	Err    error                      `json:"-"`
	// Diff is the unified diff of live vs desired, Secret values masked (with Options.Diff).
	Diff string `json:"-"`
}

// InstanceResult is the outcome for one instance.
type InstanceResult struct {
	Instance overlays.Instance
	Objects  []ObjectResult
	Waits    []rollout.WaitResult
	Duration time.Duration
	// PruneSkipped says why --prune deleted nothing (the rollout failed).
	PruneSkipped string
	// Skipped instances were not touched: a progressive rollout stopped first.
	Skipped bool
	Err     error
}

// Count returns how many objects ended with action a.
func (r *InstanceResult) Count(a Action) int {
	n := 0
	for _, o := range r.Objects {
		if o.Action == a {
			n++
		}
	}
	return n
}

// Changed reports whether the deploy changed (or would change) anything.
func (r *InstanceResult) Changed() bool {
	return r.Count(Created)+r.Count(Configured)+r.Count(Pruned) > 0
}
