// Package teardown deletes one QxSMS instance: its workloads first, then the
// rest, then its namespace, and never the data of its volumes.
package teardown

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/qxsms/kubectl-qxsms/pkg/deploy"
	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/volumes"
)

// Object is one live object the teardown deletes.
type Object struct {
	GroupKind schema.GroupKind
	Name      string
	// Ref is kubectl's kind.group/name form.
	Ref      string
	UID      string
	mapping  *meta.RESTMapping
	workload bool
}

// Plan is what a teardown will delete, and the volumes it keeps.
type Plan struct {
	Instance        overlays.Instance
	Context         string
	NamespaceExists bool
	Objects         []Object
	Volumes         []volumes.Volume
}

// MakePlan finds the instance's live objects: those its overlay builds, and
// the inventory's members, which include objects that have since left the
// overlay. Only the instance's namespace is read.
func MakePlan(ctx context.Context, c *kube.Clients, inst overlays.Instance, desired []*unstructured.Unstructured, kubeContext string) (*Plan, error) {
	ns := inst.Namespace()
	p := &Plan{Instance: inst, Context: kubeContext}
	if _, err := c.Typed.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
		p.NamespaceExists = true
	} else if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading namespace %s: %w", ns, err)
	}

	names := map[schema.GroupKind]map[string]bool{}
	for _, o := range desired {
		gk := o.GroupVersionKind().GroupKind()
		if gk.Kind == "Namespace" {
			continue
		}
		if names[gk] == nil {
			names[gk] = map[string]bool{}
		}
		names[gk][o.GetName()] = true
	}
	if p.NamespaceExists {
		inv, err := c.Typed.CoreV1().ConfigMaps(ns).Get(ctx, deploy.InventoryName, metav1.GetOptions{})
		if err == nil {
			for _, part := range strings.Split(inv.Annotations[deploy.ApplySetGroupKindsAnn], ",") {
				if gk := schema.ParseGroupKind(strings.TrimSpace(part)); gk.Kind != "" && gk.Kind != "Namespace" && names[gk] == nil {
					names[gk] = map[string]bool{}
				}
			}
		}
		member := deploy.ApplySetID(ns)
		for gk, wanted := range names {
			m, err := c.Mapper.RESTMapping(gk)
			if err != nil {
				return nil, fmt.Errorf("kind %s: %w", gk, err)
			}
			if m.Scope.Name() != meta.RESTScopeNameNamespace {
				continue // never anything outside the namespace
			}
			list, err := c.Dynamic.Resource(m.Resource).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, fmt.Errorf("listing %s in %s: %w", gk, ns, err)
			}
			for _, item := range list.Items {
				if !wanted[item.GetName()] && item.GetLabels()[deploy.ApplySetPartOfLabel] != member {
					continue
				}
				p.Objects = append(p.Objects, Object{GroupKind: gk, Name: item.GetName(), Ref: kube.ObjectName(gk, item.GetName()),
					UID: string(item.GetUID()), mapping: m, workload: kube.IsWorkload(gk)})
			}
		}
	}
	// In deletion order: workloads first.
	sort.Slice(p.Objects, func(i, j int) bool {
		a, b := p.Objects[i], p.Objects[j]
		if a.workload != b.workload {
			return a.workload
		}
		return a.Ref < b.Ref
	})

	vols, err := volumes.ForInstance(ctx, c.Typed, inst.Name, nil)
	if err != nil {
		return nil, err
	}
	p.Volumes = vols
	return p, nil
}

// UnsafeVolumes are the live claims whose data the teardown would destroy:
// bound to a PV with any reclaim policy but Retain, or bound to a PV that
// cannot be read. PVs of earlier generations (claim gone) are not at stake.
func (p *Plan) UnsafeVolumes() []volumes.Volume { return Unsafe(p.Volumes) }

// Unsafe picks the unsafe volumes of vols; see Plan.UnsafeVolumes.
func Unsafe(vols []volumes.Volume) []volumes.Volume {
	var out []volumes.Volume
	for _, v := range vols {
		if !v.Current() {
			continue
		}
		if v.PV == nil {
			if v.Status == string(corev1.ClaimBound) {
				out = append(out, v) // bound, but its PV is not readable: cannot be proven safe
			}
			continue
		}
		if v.PV.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
			out = append(out, v)
		}
	}
	return out
}

// UnsafeError names the volumes that would lose their data, and the fix.
type UnsafeError struct {
	Instance overlays.Instance
	Volumes  []volumes.Volume
	// Stage says what was already done, for a re-check during Execute.
	Stage string
	// Flag is the command's flag that accepts the loss.
	Flag string
}

func (e *UnsafeError) Error() string {
	var fixes []string
	for _, v := range e.Volumes {
		if v.PV == nil {
			fixes = append(fixes, fmt.Sprintf("  PVC %s is Bound but its PV cannot be read: check it with kubectl get pvc -n %s %s -o yaml", v.PVC, v.Namespace, v.PVC))
			continue
		}
		fixes = append(fixes, fmt.Sprintf("  kubectl patch pv %s -p '{\"spec\":{\"persistentVolumeReclaimPolicy\":\"Retain\"}}'   # PVC %s", v.PVName(), v.PVC))
	}
	stage := "nothing was deleted"
	if e.Stage != "" {
		stage = e.Stage
	}
	return fmt.Sprintf("refusing to tear down %s: %d bound PV(s) would lose their data (reclaim policy not Retain); %s. Make them Retain:\n%s\nor pass --%s to accept the loss",
		e.Instance, len(e.Volumes), stage, strings.Join(fixes, "\n"), e.Flag)
}

// Options tune the deletion.
type Options struct {
	// DryRun sends every delete with dryRun=All: the API server checks each
	// one (admission, preconditions) and persists nothing, so nothing is
	// waited for either.
	DryRun bool
	// Timeout bounds the deletion and its waits.
	Timeout  time.Duration
	Progress io.Writer
	// PollInterval is how often pods, the namespace and the PVs are checked.
	PollInterval time.Duration
	// ReleaseWait bounds the wait, once the namespace is gone, for the
	// instance's Retain PVs to turn Released; what is not Released by then is
	// reported as it is.
	ReleaseWait time.Duration
	// AcceptDataLoss skips the Retain re-check before the PVCs and the
	// namespace are deleted; AcceptDataLossFlag names the flag in errors.
	AcceptDataLoss     bool
	AcceptDataLossFlag string
}

// Result is what a teardown leaves behind.
type Result struct {
	// Volumes are the instance's PVs after the teardown, every generation,
	// newest first (nil for a dry run).
	Volumes []volumes.Volume
}

// TimeoutError is a wait that ran out of time, with what still blocked it.
type TimeoutError struct {
	What     string
	Blockers string
}

func (e *TimeoutError) Error() string {
	blockers := e.Blockers
	if blockers == "" {
		blockers = "no reason reported"
	}
	return fmt.Sprintf("timed out waiting for %s; still blocking: %s (raise --timeout, or resolve the blockers)", e.What, blockers)
}

// Unwrap lets errors.Is(err, context.DeadlineExceeded) hold.
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

var namespaceKind = schema.GroupKind{Kind: "Namespace"}

// Execute deletes the plan's workloads and waits for their pods, then the
// rest, then the namespace, and waits until it is gone, saying what blocks;
// then it waits briefly for the instance's Retain PVs to turn Released and
// returns them. Each object is reported deleted once its delete succeeded.
func Execute(ctx context.Context, c *kube.Clients, p *Plan, o Options) (*Result, error) {
	ns := p.Instance.Namespace()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	say := func(format string, args ...any) { fmt.Fprintf(o.Progress, format+"\n", args...) }
	if o.PollInterval == 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.ReleaseWait == 0 {
		o.ReleaseWait = 15 * time.Second
	}
	del := deleter{c: c, ns: ns, dryRun: o.DryRun, say: say}

	if err := del.objects(ctx, p.Objects, true); err != nil {
		return nil, err
	}
	if !o.DryRun {
		if err := waitUntil(ctx, o, say, "the pods of "+ns+" to stop", func(ctx context.Context) (bool, string, error) {
			pods, err := c.Typed.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil || len(pods.Items) == 0 {
				return err == nil, "", err
			}
			// A deploy running at the same time re-creates what was just deleted;
			// only the namespace's deletion stops it from creating more.
			if again := recreatedWorkloads(ctx, c, ns); again != "" {
				say("%s came back (a deploy running at the same time?): deleting the namespace now, which stops any further creation", again)
				return true, "", nil
			}
			return false, describePods(pods.Items), nil
		}); err != nil {
			return nil, err
		}
	}
	// The plan's Retain check may be minutes old (the prompt waited, pods
	// took their time) and PVCs may have been created since: check again
	// right before the PVCs go, and again right before the namespace does.
	if err := recheck(ctx, c, p, o, "the workloads were deleted; the PVCs and the namespace were kept"); err != nil {
		return nil, err
	}
	if err := del.objects(ctx, p.Objects, false); err != nil {
		return nil, err
	}
	if p.NamespaceExists {
		if err := recheck(ctx, c, p, o, "the instance's objects were deleted; the namespace and the PVCs in it were kept"); err != nil {
			return nil, err
		}
		if err := del.namespace(ctx); err != nil {
			return nil, err
		}
	}
	if o.DryRun {
		return &Result{}, nil
	}
	if p.NamespaceExists {
		if err := waitUntil(ctx, o, say, "namespace "+ns+" to go", func(ctx context.Context) (bool, string, error) {
			n, err := c.Typed.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, "", nil
			}
			if err != nil {
				return false, "", err
			}
			return false, namespaceBlockers(ctx, c, n), nil
		}); err != nil {
			return nil, err
		}
	}
	vols, err := released(parent, c, p.Instance.Name, o)
	if err != nil {
		return nil, err
	}
	return &Result{Volumes: vols}, nil
}

// released waits, up to ReleaseWait, until no Retain PV of the instance is
// still Bound (the PV controller releases them once their claims are gone),
// and returns the volumes as they are then: a slow controller is no failure.
func released(ctx context.Context, c *kube.Clients, instance string, o Options) ([]volumes.Volume, error) {
	var vols []volumes.Volume
	err := wait.PollUntilContextTimeout(ctx, o.PollInterval, o.ReleaseWait, true, func(ctx context.Context) (bool, error) {
		var err error
		vols, err = volumes.ForInstance(ctx, c.Typed, instance, nil)
		return err == nil && allReleased(vols), err
	})
	if err != nil && (!wait.Interrupted(err) || ctx.Err() != nil) {
		return nil, fmt.Errorf("listing the volumes kept by the teardown: %w", err)
	}
	return vols, nil
}

func allReleased(vols []volumes.Volume) bool {
	for _, v := range vols {
		if v.PV != nil && v.PV.Status.Phase == corev1.VolumeBound && v.PV.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRetain {
			return false
		}
	}
	return true
}

// recheck reads the instance's volumes again and refuses to go on while a
// live claim's PV is not Retain.
func recheck(ctx context.Context, c *kube.Clients, p *Plan, o Options, stage string) error {
	if o.AcceptDataLoss {
		return nil
	}
	vols, err := volumes.ForInstance(ctx, c.Typed, p.Instance.Name, nil)
	if err != nil {
		return fmt.Errorf("re-checking the volumes before deleting the PVCs (%s): %w", stage, err)
	}
	if unsafe := Unsafe(vols); len(unsafe) > 0 {
		return &UnsafeError{Instance: p.Instance, Volumes: unsafe, Stage: stage, Flag: o.AcceptDataLossFlag}
	}
	return nil
}

// deleter sends the deletes of one namespace and reports each outcome.
type deleter struct {
	c      *kube.Clients
	ns     string
	dryRun bool
	say    func(string, ...any)
}

func (d deleter) options(uid *types.UID) metav1.DeleteOptions {
	policy := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &policy}
	if uid != nil {
		// The UID precondition: never delete a same-named object created since the plan.
		opts.Preconditions = &metav1.Preconditions{UID: uid}
	}
	if d.dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return opts
}

// objects deletes the workloads, or the other objects, of objs. A failed
// delete does not stop the others of the same stage (kubectl delete's
// aggregate), but it stops the teardown before the next stage. errors.Join,
// not an Aggregate, so that callers can still match each API error by type.
func (d deleter) objects(ctx context.Context, objs []Object, workloads bool) error {
	var errs []error
	for _, o := range objs {
		if o.workload != workloads {
			continue
		}
		uid := types.UID(o.UID)
		err := d.c.Dynamic.Resource(o.mapping.Resource).Namespace(d.ns).Delete(ctx, o.Name, d.options(&uid))
		switch {
		case apierrors.IsNotFound(err):
			d.say("%s already gone", o.Ref)
		case apierrors.IsConflict(err):
			d.say("%s was replaced since the plan was made: left alone", o.Ref)
		case err != nil:
			errs = append(errs, fmt.Errorf("deleting %s in %s: %w", o.Ref, d.ns, err))
		default:
			d.deleted(o.Ref)
		}
	}
	return errors.Join(errs...)
}

func (d deleter) namespace(ctx context.Context) error {
	ref := kube.ObjectName(namespaceKind, d.ns)
	err := d.c.Typed.CoreV1().Namespaces().Delete(ctx, d.ns, d.options(nil))
	switch {
	case apierrors.IsNotFound(err):
		d.say("%s already gone", ref)
	case err != nil:
		return fmt.Errorf("deleting %s: %w", ref, err)
	default:
		d.deleted(ref)
	}
	return nil
}

// deleted prints kubectl delete's line, with its dry-run suffix.
func (d deleter) deleted(ref string) {
	if d.dryRun {
		d.say("%s deleted (server dry run)", ref)
		return
	}
	d.say("%s deleted", ref)
}

// waitUntil polls done until it reports true, printing what blocks whenever
// it changes; running out of time is a *TimeoutError naming the blockers.
func waitUntil(ctx context.Context, o Options, say func(string, ...any), what string, done func(context.Context) (bool, string, error)) error {
	last := ""
	err := wait.PollUntilContextTimeout(ctx, o.PollInterval, o.Timeout, true, func(ctx context.Context) (bool, error) {
		ok, blockers, err := done(ctx)
		if err != nil || ok {
			return ok, err
		}
		if blockers != last && blockers != "" {
			say("waiting for %s: %s", what, blockers)
			last = blockers
		}
		return false, nil
	})
	switch {
	case err == nil:
		return nil
	case wait.Interrupted(err) && !errors.Is(context.Cause(ctx), context.Canceled):
		return &TimeoutError{What: what, Blockers: last}
	default:
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
}

// recreatedWorkloads names the Deployments and StatefulSets of ns that are not
// being deleted: after the workloads were deleted, any such one is new.
func recreatedWorkloads(ctx context.Context, c *kube.Clients, ns string) string {
	var names []string
	if deps, err := c.Typed.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, d := range deps.Items {
			if d.DeletionTimestamp == nil {
				names = append(names, kube.ObjectName(kube.DeploymentGK, d.Name))
			}
		}
	}
	if sts, err := c.Typed.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, s := range sts.Items {
			if s.DeletionTimestamp == nil {
				names = append(names, kube.ObjectName(kube.StatefulSetGK, s.Name))
			}
		}
	}
	return strings.Join(names, ", ")
}

func describePods(pods []corev1.Pod) string {
	var parts []string
	for _, p := range pods {
		s := p.Name + " " + string(p.Status.Phase)
		if p.DeletionTimestamp != nil {
			s += " terminating"
		}
		if len(p.Finalizers) > 0 {
			s += " finalizers=" + strings.Join(p.Finalizers, ",")
		}
		parts = append(parts, s)
	}
	sort.Strings(parts)
	if len(parts) > 5 {
		parts = append(parts[:5], fmt.Sprintf("and %d more", len(parts)-5))
	}
	return fmt.Sprintf("%d pod(s) left: %s", len(pods), strings.Join(parts, "; "))
}

// namespaceBlockers reads the namespace controller's conditions and what is left.
func namespaceBlockers(ctx context.Context, c *kube.Clients, n *corev1.Namespace) string {
	var parts []string
	for _, cond := range n.Status.Conditions {
		if cond.Status == corev1.ConditionTrue {
			parts = append(parts, fmt.Sprintf("%s: %s", cond.Type, cond.Message))
		}
	}
	if pvcs, err := c.Typed.CoreV1().PersistentVolumeClaims(n.Name).List(ctx, metav1.ListOptions{}); err == nil {
		for _, pvc := range pvcs.Items {
			if len(pvc.Finalizers) > 0 {
				parts = append(parts, fmt.Sprintf("pvc %s finalizers=%s (kubernetes.io/pvc-protection holds while a pod uses it)", pvc.Name, strings.Join(pvc.Finalizers, ",")))
			}
		}
	}
	if pods, err := c.Typed.CoreV1().Pods(n.Name).List(ctx, metav1.ListOptions{}); err == nil && len(pods.Items) > 0 {
		parts = append(parts, describePods(pods.Items))
	}
	if len(n.Spec.Finalizers) > 0 && len(parts) == 0 {
		parts = append(parts, "namespace finalizers "+fmt.Sprint(n.Spec.Finalizers))
	}
	return strings.Join(parts, "; ")
}
