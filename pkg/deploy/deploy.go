package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/rollout"
)

// Plan is one instance's desired objects, mapped to the cluster's resources
// and checked to stay inside the instance.
type Plan struct {
	Instance  overlays.Instance
	Namespace *unstructured.Unstructured
	Objects   []*unstructured.Unstructured
	mappings  map[*unstructured.Unstructured]*meta.RESTMapping
}

// protectedKinds are never pruned: deleting them loses data or the instance.
var protectedKinds = map[schema.GroupKind]bool{
	{Kind: "Namespace"}:             true,
	{Kind: "PersistentVolumeClaim"}: true,
	{Kind: "PersistentVolume"}:      true,
}

var namespaceGK = schema.GroupKind{Kind: "Namespace"}

// Prepare maps every object of every instance and checks that each stays in
// its own namespace. Any error fails all instances: nothing is applied anywhere.
func Prepare(c *kube.Clients, instances []overlays.Instance, built map[string][]*unstructured.Unstructured) ([]*Plan, error) {
	var plans []*Plan
	var errs []error
	for _, inst := range instances {
		p := &Plan{Instance: inst, mappings: map[*unstructured.Unstructured]*meta.RESTMapping{}}
		var mapErrs []error
		scope := func(gvk schema.GroupVersionKind) (bool, error) {
			m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				return false, fmt.Errorf("kind %s is not served by the cluster (is its CRD installed?): %w", gvk, err)
			}
			return m.Scope.Name() == meta.RESTScopeNameNamespace, nil
		}
		objs := built[inst.Name]
		if err := overlays.Check(inst, objs, scope); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, o := range objs {
			o = o.DeepCopy()
			gvk := o.GroupVersionKind()
			if gvk.GroupKind() == (schema.GroupKind{Kind: "ConfigMap"}) && o.GetName() == InventoryName {
				mapErrs = append(mapErrs, fmt.Errorf("the overlay has its own configmap %s, the name of the instance's inventory: rename it (a configMapGenerator's name, or the manifest's metadata.name)", InventoryName))
				continue
			}
			m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				mapErrs = append(mapErrs, err)
				continue
			}
			labels := o.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			labels[overlays.InstanceLabel] = inst.Name
			labels[overlays.EnvironmentLabel] = inst.Env
			labels[ApplySetPartOfLabel] = ApplySetID(inst.Namespace())
			o.SetLabels(labels)
			p.mappings[o] = m
			if gvk.GroupKind() == namespaceGK {
				p.Namespace = o
				continue
			}
			p.Objects = append(p.Objects, o)
		}
		if len(mapErrs) > 0 {
			errs = append(errs, fmt.Errorf("instance %s: %w", inst, utilerrors.NewAggregate(mapErrs)))
			continue
		}
		plans = append(plans, p)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w\nnothing was applied to any instance", utilerrors.NewAggregate(errs))
	}
	return plans, nil
}

// Deployer applies plans.
type Deployer struct {
	Clients *kube.Clients
	Options Options
}

// Run deploys every plan, Options.Parallel instances at a time. One failed
// instance does not stop the others. done is called once per instance, as it
// finishes, from the deploying goroutine.
func (d *Deployer) Run(ctx context.Context, plans []*Plan, done func(*InstanceResult)) []*InstanceResult {
	results := make([]*InstanceResult, len(plans))
	var g errgroup.Group
	g.SetLimit(max(1, d.Options.Parallel))
	for i, p := range plans {
		g.Go(func() error {
			start := d.now()
			r := d.deployInstance(ctx, p)
			r.Duration = d.now().Sub(start)
			results[i] = r
			if done != nil {
				done(r)
			}
			return nil
		})
	}
	_ = g.Wait()
	return results
}

// liveKey identifies an object across the desired and the live sets.
type liveKey struct {
	gk        schema.GroupKind
	namespace string
	name      string
}

func keyOf(o *unstructured.Unstructured) liveKey {
	return liveKey{o.GroupVersionKind().GroupKind(), o.GetNamespace(), o.GetName()}
}

func (d *Deployer) dryRun() bool {
	return d.Options.DryRun != DryRunNone && d.Options.DryRun != "" || d.Options.Diff
}

// deployInstance runs one instance's stages: read what is live, refuse what
// another tool owns, the Namespace, the inventory's kinds before anything is
// created, the objects, the wait, then prune (only once the rollout is known
// good, so a rollback still finds the old generated ConfigMaps), and the
// inventory's final record.
func (d *Deployer) deployInstance(ctx context.Context, p *Plan) *InstanceResult {
	r := &InstanceResult{Instance: p.Instance}
	waitCtx := ctx
	if d.Options.finishApplies {
		// An interrupt ends the wait, not an apply half done.
		ctx = context.WithoutCancel(ctx)
	}
	st, err := d.readLive(ctx, p)
	if err != nil {
		r.Err = err
		return r
	}
	if err := checkOwnership(p, st, d.Options.FieldManager); err != nil {
		r.Err = err
		return r
	}
	if r.Err = d.applyNamespace(ctx, p, st, r); r.Err != nil {
		return r
	}
	var inv *inventory
	if !d.dryRun() {
		inv = newInventory(d, p, st)
		if r.Err = inv.beforeApply(ctx); r.Err != nil {
			return r
		}
	}

	r.Objects = append(r.Objects, d.applyAll(ctx, p, st.objects, st.nsExists)...)
	if r.Err = objectErrors(r.Objects); r.Err != nil {
		// Pruning after a partial apply could delete what is still needed;
		// the inventory already records every kind, so the next deploy can.
		return r
	}

	rolledOut := true
	if d.Options.Wait && !d.dryRun() {
		r.Waits = d.wait(waitCtx, p)
		if r.Err = waitErrors(r.Waits); r.Err != nil {
			rolledOut = false
			if d.Options.Prune {
				r.PruneSkipped = "the rollout did not succeed: nothing was pruned, so a rollback still finds the previous ConfigMaps and Secrets"
			}
		}
	}
	var keep map[schema.GroupKind]bool
	if d.Options.Prune && rolledOut {
		var pruned []ObjectResult
		pruned, keep = d.prune(ctx, st.members(p.Instance), p.desiredKeys())
		r.Objects = append(r.Objects, pruned...)
		r.Err = objectErrors(pruned)
	}
	if !d.dryRun() {
		if err := inv.afterApply(ctx, r.Changed(), d.Options.Prune && rolledOut, keep); err != nil {
			r.Err = utilerrors.NewAggregate([]error{r.Err, err})
		}
	}
	return r
}

// applyNamespace applies the instance's Namespace and waits until it is
// Active. A user whose RBAC stops at the namespace cannot manage the
// Namespace object itself: it must exist then, and is skipped.
func (d *Deployer) applyNamespace(ctx context.Context, p *Plan, st *liveState, r *InstanceResult) error {
	ns := p.Instance.Namespace()
	skipped := ObjectResult{Name: "namespace/" + ns, GroupKind: namespaceGK, Action: Skipped}
	res := skipped
	if !st.nsForbidden {
		res = d.applyOne(ctx, p.Namespace, p.mappings[p.Namespace], st.namespace, st.nsExists)
		if apierrors.IsForbidden(res.Err) && st.nsExists {
			res = skipped
		}
	}
	r.Objects = append(r.Objects, res)
	if res.Err != nil {
		return res.Err
	}
	if res.Action == Skipped || d.dryRun() {
		return nil
	}
	if phase, _, _ := unstructured.NestedString(res.Object.Object, "status", "phase"); phase == "Active" {
		return nil
	}
	return waitNamespaceActive(ctx, d.Clients, ns, d.Options.Timeout)
}

func (p *Plan) desiredKeys() map[liveKey]bool {
	desired := map[liveKey]bool{keyOf(p.Namespace): true}
	for _, o := range p.Objects {
		desired[keyOf(o)] = true
	}
	return desired
}

func (d *Deployer) wait(ctx context.Context, p *Plan) []rollout.WaitResult {
	var workloads []rollout.Workload
	for _, o := range p.Objects {
		if gk := o.GroupVersionKind().GroupKind(); gk == rollout.DeploymentGK || gk == rollout.StatefulSetGK {
			workloads = append(workloads, rollout.Workload{GroupKind: gk, Namespace: p.Instance.Namespace(), Name: o.GetName()})
		}
	}
	return rollout.Wait(ctx, d.Clients, workloads, d.Options.Timeout, d.progress())
}

func objectErrors(objs []ObjectResult) error {
	var errs []error
	for _, o := range objs {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.Name, o.Err))
		}
	}
	return utilerrors.NewAggregate(errs)
}

func waitErrors(waits []rollout.WaitResult) error {
	var errs []error
	for _, w := range waits {
		if w.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", w.Workload, w.Err))
		}
	}
	return utilerrors.NewAggregate(errs)
}

func (d *Deployer) progress() io.Writer {
	if d.Options.Progress != nil {
		return d.Options.Progress
	}
	return io.Discard
}

func (d *Deployer) now() time.Time {
	if d.Options.Now != nil {
		return d.Options.Now()
	}
	return time.Now()
}

// applyAll applies what the pods need (config, secrets, claims, services)
// before the workloads, so no pod starts against a missing reference.
func (d *Deployer) applyAll(ctx context.Context, p *Plan, live map[liveKey]*unstructured.Unstructured, nsExists bool) []ObjectResult {
	results := make([]ObjectResult, len(p.Objects))
	for _, workloads := range []bool{false, true} {
		var g errgroup.Group
		if d.Options.ObjectParallel > 0 {
			g.SetLimit(d.Options.ObjectParallel)
		}
		for i, o := range p.Objects {
			if kube.IsWorkload(o.GroupVersionKind().GroupKind()) != workloads {
				continue
			}
			g.Go(func() error {
				results[i] = d.applyOne(ctx, o, p.mappings[o], d.inVersion(ctx, p.mappings[o], live[keyOf(o)]), nsExists)
				return nil
			})
		}
		_ = g.Wait()
	}
	return results
}

// inVersion returns live in the version the overlay applies (an HPA of
// autoscaling/v1 is listed as v2): comparing across versions would report a
// change on every deploy.
func (d *Deployer) inVersion(ctx context.Context, m *meta.RESTMapping, live *unstructured.Unstructured) *unstructured.Unstructured {
	if live == nil || live.GetAPIVersion() == m.GroupVersionKind.GroupVersion().String() {
		return live
	}
	fresh, err := d.Clients.Dynamic.Resource(m.Resource).Namespace(live.GetNamespace()).Get(ctx, live.GetName(), metav1.GetOptions{})
	if err != nil {
		return live
	}
	return fresh
}

// applyOne server-side applies obj, after taking over the hand-edit
// managers' fields of live. nsExists false in a dry run means the namespace
// is new, so the server cannot dry-run what would live in it: everything is
// reported as created.
func (d *Deployer) applyOne(ctx context.Context, obj *unstructured.Unstructured, m *meta.RESTMapping, live *unstructured.Unstructured, nsExists bool) ObjectResult {
	res := ObjectResult{
		Name:      kube.ObjectName(m.GroupVersionKind.GroupKind(), obj.GetName()),
		Namespace: obj.GetNamespace(),
		GroupKind: m.GroupVersionKind.GroupKind(),
	}
	dryRun := d.Options.DryRun
	if d.Options.Diff {
		dryRun = DryRunServer
	}
	namespaced := m.Scope.Name() == meta.RESTScopeNameNamespace
	if dryRun == DryRunClient || (dryRun == DryRunServer && namespaced && !nsExists) {
		res.Object = obj
		res.Action = Configured
		if live == nil {
			res.Action = Created
		}
		if d.Options.Diff {
			res.Diff = unifiedDiff(res.Name, obj.GetNamespace(), live, obj)
		}
		return res
	}
	if live != nil && dryRun == DryRunNone {
		if err := d.takeOver(ctx, m, live); err != nil {
			res.Action, res.Err = Failed, err
			return res
		}
	}
	body, err := json.Marshal(obj.Object)
	if err != nil {
		res.Action, res.Err = Failed, err
		return res
	}
	req := d.Clients.Raw.Patch(types.ApplyPatchType).
		AbsPath(kube.ResourcePath(m, obj.GetNamespace(), obj.GetName())).
		Param("fieldManager", d.Options.FieldManager).
		Param("force", "true").
		// As kubectl apply: an unknown or duplicate field is an error, not dropped.
		Param("fieldValidation", "Strict").
		Body(body)
	if dryRun == DryRunServer {
		req = req.Param("dryRun", "All")
	}
	var status int
	result := req.Do(ctx).StatusCode(&status)
	raw, err := result.Raw()
	if err != nil {
		// Error() decodes the server's Status: its message says which field is wrong.
		res.Action, res.Err = Failed, result.Error()
		return res
	}
	out := &unstructured.Unstructured{}
	if err := out.UnmarshalJSON(raw); err != nil {
		res.Action, res.Err = Failed, fmt.Errorf("decoding the server's answer: %w", err)
		return res
	}
	removed := &fieldpath.Set{}
	if live != nil {
		if removed, err = removedByTakeover(live, out, d.Options.FieldManager); err != nil {
			res.Action, res.Err = Failed, err
			return res
		}
		if dryRun == DryRunServer && !removed.Empty() {
			// A dry run cannot take fields over: show what the real deploy removes.
			out = out.DeepCopy()
			removeFields(out.Object, removed)
			out = d.defaulted(ctx, m, out)
		}
	}
	res.Object = out
	res.Action = classify(status == http.StatusCreated, live, out, d.Options.FieldManager, removed)
	if d.Options.Diff && res.Action != Unchanged {
		before := live
		if res.Action == Created {
			before = nil
		}
		res.Diff = unifiedDiff(res.Name, obj.GetNamespace(), before, out)
	}
	return res
}

// defaulted is the server's dry-run answer to an update to obj: a
// client-side apply's manager owned the fields the server defaulted, and a
// real apply that removes them gets them back, so a diff must not show them
// as removed. On any error obj is returned as it is.
func (d *Deployer) defaulted(ctx context.Context, m *meta.RESTMapping, obj *unstructured.Unstructured) *unstructured.Unstructured {
	body, err := json.Marshal(obj.Object)
	if err != nil {
		return obj
	}
	raw, err := d.Clients.Raw.Put().AbsPath(kube.ResourcePath(m, obj.GetNamespace(), obj.GetName())).
		Param("dryRun", "All").Param("fieldManager", d.Options.FieldManager).Body(body).Do(ctx).Raw()
	if err != nil {
		return obj
	}
	out := &unstructured.Unstructured{}
	if err := out.UnmarshalJSON(raw); err != nil {
		return obj
	}
	return out
}

// classify tells created, configured and unchanged apart from what the
// deploy owns: its managedFields entry and the values of the fields in it,
// and the hand-edited fields the takeover removes. Status, and fields other
// managers own (an HPA's replicas, a controller's annotations), may change
// between the list and the apply without making the object "configured".
func classify(created bool, live, out *unstructured.Unstructured, manager string, removed *fieldpath.Set) Action {
	switch {
	case created:
		return Created
	case live == nil, !removed.Empty():
		return Configured
	}
	liveSet, err1 := ownedFields(live, manager)
	outSet, err2 := ownedFields(out, manager)
	if err1 != nil || err2 != nil || !liveSet.Equals(outSet) {
		return Configured
	}
	// The server stamps our entry only when our apply changed the object: it
	// tells a value someone changed since the read, and the apply set back.
	if !ownedTime(live, manager).Equal(ownedTime(out, manager)) {
		return Configured
	}
	if isSecret(out) {
		// stringData is write-only: its values live on in data.
		outSet = stringDataAsData(outSet)
	}
	if !equality.Semantic.DeepEqual(project(live.Object, outSet), project(out.Object, outSet)) {
		return Configured
	}
	return Unchanged
}

// prune deletes the members that left the overlay, never a protected kind,
// each only if it is still the object that was listed. It returns the kinds
// that keep members: those of kept objects, and those whose prune did not
// fully succeed, so that the next --prune tries again.
func (d *Deployer) prune(ctx context.Context, members map[liveKey]*unstructured.Unstructured, desired map[liveKey]bool) ([]ObjectResult, map[schema.GroupKind]bool) {
	var keys []liveKey
	for k := range members {
		if !desired[k] {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].gk.String()+"/"+keys[i].name < keys[j].gk.String()+"/"+keys[j].name
	})
	var out []ObjectResult
	keep := map[schema.GroupKind]bool{}
	for _, k := range keys {
		o := members[k]
		res := ObjectResult{Name: kube.ObjectName(k.gk, k.name), Namespace: k.namespace, GroupKind: k.gk, Object: o}
		if protectedKinds[k.gk] {
			res.Action = Kept
			keep[k.gk] = true
			out = append(out, res)
			continue
		}
		res.Action = Pruned
		if d.Options.Diff {
			res.Diff = unifiedDiff(res.Name, k.namespace, o, nil)
		}
		if d.Options.DryRun == DryRunClient || d.Options.Diff {
			out = append(out, res)
			continue
		}
		m, err := d.Clients.Mapper.RESTMapping(k.gk, o.GroupVersionKind().Version)
		if err == nil {
			uid := o.GetUID()
			policy := metav1.DeletePropagationBackground
			opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &policy}
			if d.Options.DryRun == DryRunServer {
				opts.DryRun = []string{metav1.DryRunAll}
			}
			err = d.Clients.Dynamic.Resource(m.Resource).Namespace(k.namespace).Delete(ctx, k.name, opts)
			if apierrors.IsNotFound(err) {
				err = nil
			}
		}
		if err != nil {
			res.Action, res.Err = Failed, fmt.Errorf("pruning: %w", err)
			keep[k.gk] = true
		}
		out = append(out, res)
	}
	return out, keep
}

// waitNamespaceActive waits for a new Namespace, within timeout (--timeout).
func waitNamespaceActive(ctx context.Context, c *kube.Clients, ns string, timeout time.Duration) error {
	var phase corev1.NamespacePhase
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		n, err := c.Typed.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("waiting for namespace %s: %w", ns, err)
		}
		if n.DeletionTimestamp != nil {
			return false, fmt.Errorf("namespace %s is being deleted (a teardown is running or stuck): wait for it to go, then deploy again", ns)
		}
		phase = n.Status.Phase
		return phase == corev1.NamespaceActive, nil
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("interrupted while waiting for namespace %s to be Active: %w", ns, ctx.Err())
	case wait.Interrupted(err):
		return fmt.Errorf("namespace %s is not Active after %s (phase %q): raise --timeout, or look at `kubectl describe namespace %s`", ns, timeout, phase, ns)
	}
	return err
}
