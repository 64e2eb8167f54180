package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

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
	sem := make(chan struct{}, max(1, d.Options.Parallel))
	var wg sync.WaitGroup
	for i, p := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			r := d.deployInstance(ctx, p)
			r.Duration = time.Since(start)
			results[i] = r
			if done != nil {
				done(r)
			}
		}()
	}
	wg.Wait()
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

func (d *Deployer) deployInstance(ctx context.Context, p *Plan) *InstanceResult {
	r := &InstanceResult{Instance: p.Instance}
	ns := p.Instance.Namespace()
	dryRun := d.Options.DryRun != DryRunNone || d.Options.Diff

	// The Namespace first, and only then what lives in it. A user whose RBAC
	// stops at the namespace cannot manage the Namespace object itself: it
	// must exist then, and is skipped.
	nsLive, err := d.Clients.Dynamic.Resource(p.mappings[p.Namespace].Resource).Get(ctx, ns, metav1.GetOptions{})
	nsForbidden := apierrors.IsForbidden(err)
	if err != nil && !apierrors.IsNotFound(err) && !nsForbidden {
		r.Err = fmt.Errorf("reading namespace %s: %w", ns, err)
		return r
	}
	nsExists := err == nil || nsForbidden
	if err != nil {
		nsLive = nil
	}
	nsResult := ObjectResult{Name: "namespace/" + ns, GroupKind: namespaceGK, Action: Skipped}
	if !nsForbidden {
		nsResult = d.applyOne(ctx, p.Namespace, p.mappings[p.Namespace], nsLive, nsExists)
		if apierrors.IsForbidden(nsResult.Err) && nsExists {
			nsResult = ObjectResult{Name: "namespace/" + ns, GroupKind: namespaceGK, Action: Skipped}
		}
	}
	r.Objects = append(r.Objects, nsResult)
	if nsResult.Err != nil {
		r.Err = nsResult.Err
		return r
	}
	if nsResult.Action != Skipped {
		if phase, _, _ := unstructured.NestedString(nsResult.Object.Object, "status", "phase"); !dryRun && phase != "Active" {
			if err := waitNamespaceActive(ctx, d.Clients, ns); err != nil {
				r.Err = err
				return r
			}
		}
	}

	// The live members, from the inventory's kinds and the desired kinds: one
	// list per kind serves both change detection and prune.
	inventoryMapping, err := d.Clients.Mapper.RESTMapping(schema.GroupKind{Kind: "ConfigMap"}, "v1")
	if err != nil {
		r.Err = err
		return r
	}
	var liveInventory *unstructured.Unstructured
	gks := map[schema.GroupKind]bool{namespaceGK: true}
	if nsExists {
		liveInventory, err = d.Clients.Dynamic.Resource(inventoryMapping.Resource).Namespace(ns).Get(ctx, InventoryName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			liveInventory = nil
		case err != nil:
			r.Err = fmt.Errorf("reading the inventory %s/configmap/%s: %w", ns, InventoryName, err)
			return r
		default:
			for _, gk := range parseGroupKinds(liveInventory.GetAnnotations()[ApplySetGroupKindsAnn]) {
				gks[gk] = true
			}
		}
	}
	desiredGKs := map[schema.GroupKind]bool{namespaceGK: true}
	for _, o := range p.Objects {
		gk := o.GroupVersionKind().GroupKind()
		gks[gk], desiredGKs[gk] = true, true
	}
	live := map[liveKey]*unstructured.Unstructured{}
	if nsExists {
		if live, err = d.listMembers(ctx, ns, gks); err != nil {
			r.Err = err
			return r
		}
	}

	// Record the superset of kinds before applying, so that an interrupted
	// deploy still lets the next one prune what it created. A new inventory
	// records this deploy at once: it is a change whatever follows.
	inventory := liveInventory
	if !dryRun {
		records := keptAnnotations(liveInventory)
		if liveInventory == nil {
			records = d.deployRecord()
		}
		superset := inventoryObject(p.Instance, d.Options.Tooling, gks, records)
		if !inventoryCovers(liveInventory, superset) {
			res := d.applyOne(ctx, superset, inventoryMapping, liveInventory, liveInventory != nil)
			if res.Err != nil {
				r.Err = fmt.Errorf("recording the inventory: %w", res.Err)
				return r
			}
			inventory = res.Object
		}
	}

	r.Objects = append(r.Objects, d.applyAll(ctx, p, live, nsExists)...)
	var errs []error
	for _, o := range r.Objects {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.Name, o.Err))
		}
	}
	if len(errs) > 0 {
		// Pruning after a partial apply could delete what is still needed.
		r.Err = utilerrors.NewAggregate(errs)
		return r
	}

	desired := map[liveKey]bool{keyOf(p.Namespace): true}
	for _, o := range p.Objects {
		desired[keyOf(o)] = true
	}
	if d.Options.Prune {
		r.Objects = append(r.Objects, d.prune(ctx, live, desired)...)
	}

	if !dryRun {
		recorded := gks
		if d.Options.Prune {
			recorded = desiredGKs
		}
		annotations := keptAnnotations(inventory)
		if r.Changed() && liveInventory != nil {
			annotations = d.deployRecord()
		}
		final := inventoryObject(p.Instance, d.Options.Tooling, recorded, annotations)
		if !inventoryEqual(inventory, final) {
			if res := d.applyOne(ctx, final, inventoryMapping, inventory, true); res.Err != nil {
				r.Err = fmt.Errorf("recording the inventory: %w", res.Err)
				return r
			}
		}
	}

	if d.Options.Wait && !dryRun {
		var workloads []rollout.Workload
		for _, o := range p.Objects {
			if gk := o.GroupVersionKind().GroupKind(); gk == rollout.DeploymentGK || gk == rollout.StatefulSetGK {
				workloads = append(workloads, rollout.Workload{GroupKind: gk, Namespace: ns, Name: o.GetName()})
			}
		}
		r.Waits = rollout.Wait(ctx, d.Clients, workloads, d.Options.Timeout, d.progress())
		for _, w := range r.Waits {
			if w.Err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", w.Workload, w.Err))
			}
		}
		r.Err = utilerrors.NewAggregate(errs)
	}
	return r
}

func (d *Deployer) progress() io.Writer {
	if d.Options.Progress != nil {
		return d.Options.Progress
	}
	return io.Discard
}

// deployRecord is what the inventory says of a deploy that changed something.
func (d *Deployer) deployRecord() map[string]string {
	rec := map[string]string{DeployedAtAnnotation: d.now().UTC().Format(time.RFC3339)}
	if d.Options.Revision != "" {
		rec[RevisionAnnotation] = d.Options.Revision
	}
	return rec
}

func (d *Deployer) now() time.Time {
	if d.Options.Now != nil {
		return d.Options.Now()
	}
	return time.Now()
}

func (d *Deployer) listMembers(ctx context.Context, ns string, gks map[schema.GroupKind]bool) (map[liveKey]*unstructured.Unstructured, error) {
	selector := ApplySetPartOfLabel + "=" + ApplySetID(ns)
	live := map[liveKey]*unstructured.Unstructured{}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for gk := range gks {
		if gk == namespaceGK {
			continue // read above; never pruned; listing it needs cluster-wide rights
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := d.Clients.Mapper.RESTMapping(gk)
			var list *unstructured.UnstructuredList
			if err == nil {
				ri := d.Clients.Dynamic.Resource(m.Resource)
				if m.Scope.Name() == meta.RESTScopeNameNamespace {
					list, err = ri.Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
				} else {
					list, err = ri.List(ctx, metav1.ListOptions{LabelSelector: selector})
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("listing the instance's %s objects: %w", gk, err))
				return
			}
			for i := range list.Items {
				o := &list.Items[i]
				o.SetGroupVersionKind(m.GroupVersionKind)
				live[keyOf(o)] = o
			}
		}()
	}
	wg.Wait()
	return live, utilerrors.NewAggregate(errs)
}

// applyAll applies what the pods need (config, secrets, claims, services)
// before the workloads, so no pod starts against a missing reference.
func (d *Deployer) applyAll(ctx context.Context, p *Plan, live map[liveKey]*unstructured.Unstructured, nsExists bool) []ObjectResult {
	results := make([]ObjectResult, len(p.Objects))
	sem := make(chan struct{}, max(1, d.Options.ObjectParallel))
	for _, workloads := range []bool{false, true} {
		var wg sync.WaitGroup
		for i, o := range p.Objects {
			if isWorkload(o) != workloads {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				results[i] = d.applyOne(ctx, o, p.mappings[o], live[keyOf(o)], nsExists)
			}()
		}
		wg.Wait()
	}
	return results
}

// workloadKinds run pods.
var workloadKinds = map[schema.GroupKind]bool{
	{Group: "apps", Kind: "Deployment"}: true, {Group: "apps", Kind: "StatefulSet"}: true,
	{Group: "apps", Kind: "DaemonSet"}: true, {Group: "batch", Kind: "Job"}: true,
	{Group: "batch", Kind: "CronJob"}: true, {Kind: "Pod"}: true,
}

func isWorkload(o *unstructured.Unstructured) bool {
	return workloadKinds[o.GroupVersionKind().GroupKind()]
}

// applyOne server-side applies obj. The HTTP status tells created from
// updated, and an unchanged resourceVersion tells unchanged from configured.
// nsExists false in a dry run means the namespace is new, so the server cannot
// dry-run what would live in it: everything is reported as created.
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
	raw, err := req.Do(ctx).StatusCode(&status).Raw()
	if err != nil {
		res.Action, res.Err = Failed, err
		return res
	}
	out := &unstructured.Unstructured{}
	if err := out.UnmarshalJSON(raw); err != nil {
		res.Action, res.Err = Failed, fmt.Errorf("decoding the server's answer: %w", err)
		return res
	}
	res.Object = out
	switch {
	case status == http.StatusCreated:
		res.Action = Created
	case live == nil:
		// It existed without being an inventory member (adopted, or deployed by
		// kubectl apply before): the labels alone change it.
		res.Action = Configured
	case dryRun == DryRunServer:
		// A dry run keeps the resourceVersion: compare content instead, with a
		// fresh read when the listed copy differs, since controllers (a PVC
		// being bound) may have changed it since the list.
		res.Action = Unchanged
		if !sameContent(live, out) {
			if fresh, err := d.Clients.Dynamic.Resource(m.Resource).Namespace(obj.GetNamespace()).Get(ctx, obj.GetName(), metav1.GetOptions{}); err == nil {
				live = fresh
			}
			if !sameContent(live, out) {
				res.Action = Configured
			}
		}
	case out.GetResourceVersion() == live.GetResourceVersion():
		res.Action = Unchanged
	default:
		res.Action = Configured
	}
	if d.Options.Diff && res.Action != Unchanged {
		var before *unstructured.Unstructured
		if res.Action != Created {
			before = live
			if before == nil {
				before, _ = d.Clients.Dynamic.Resource(m.Resource).Namespace(obj.GetNamespace()).Get(ctx, obj.GetName(), metav1.GetOptions{})
			}
		}
		res.Diff = unifiedDiff(res.Name, obj.GetNamespace(), before, out)
	}
	return res
}

func (d *Deployer) prune(ctx context.Context, live map[liveKey]*unstructured.Unstructured, desired map[liveKey]bool) []ObjectResult {
	var keys []liveKey
	for k := range live {
		if !desired[k] {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].gk.String()+"/"+keys[i].name < keys[j].gk.String()+"/"+keys[j].name
	})
	var out []ObjectResult
	for _, k := range keys {
		o := live[k]
		res := ObjectResult{Name: kube.ObjectName(k.gk, k.name), Namespace: k.namespace, GroupKind: k.gk, Object: o}
		if protectedKinds[k.gk] {
			res.Action = Kept
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
		}
		out = append(out, res)
	}
	return out
}

func waitNamespaceActive(ctx context.Context, c *kube.Clients, ns string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := c.Typed.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("waiting for namespace %s: %w", ns, err)
		}
		switch {
		case n.DeletionTimestamp != nil:
			return fmt.Errorf("namespace %s is being deleted (a teardown is running or stuck): wait for it to go, then deploy again", ns)
		case n.Status.Phase == "Active":
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("namespace %s is not Active after 30s (phase %q)", ns, n.Status.Phase)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keptAnnotations are the inventory's deploy records, carried over unchanged.
func keptAnnotations(inv *unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	if inv == nil {
		return out
	}
	for _, k := range []string{DeployedAtAnnotation, RevisionAnnotation} {
		if v, ok := inv.GetAnnotations()[k]; ok {
			out[k] = v
		}
	}
	return out
}

// inventoryCovers reports whether live already records every kind of want.
func inventoryCovers(live, want *unstructured.Unstructured) bool {
	if live == nil || live.GetAnnotations()[ApplySetToolingAnnot] != want.GetAnnotations()[ApplySetToolingAnnot] ||
		live.GetLabels()[ApplySetIDLabel] != want.GetLabels()[ApplySetIDLabel] {
		return false
	}
	have := map[schema.GroupKind]bool{}
	for _, gk := range parseGroupKinds(live.GetAnnotations()[ApplySetGroupKindsAnn]) {
		have[gk] = true
	}
	for _, gk := range parseGroupKinds(want.GetAnnotations()[ApplySetGroupKindsAnn]) {
		if !have[gk] {
			return false
		}
	}
	return true
}

// inventoryEqual reports whether live already carries want's labels and annotations.
func inventoryEqual(live, want *unstructured.Unstructured) bool {
	if live == nil {
		return false
	}
	for k, v := range want.GetLabels() {
		if live.GetLabels()[k] != v {
			return false
		}
	}
	for k, v := range want.GetAnnotations() {
		if live.GetAnnotations()[k] != v {
			return false
		}
	}
	return true
}
