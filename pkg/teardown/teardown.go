// Package teardown deletes one QxSMS instance: its workloads first, then the
// rest, then its namespace, and never the data of its volumes.
package teardown

import (
	"context"
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

// workloadKinds own pods; they go first so the pods stop before their config.
var workloadKinds = map[schema.GroupKind]bool{
	{Group: "apps", Kind: "Deployment"}:  true,
	{Group: "apps", Kind: "StatefulSet"}: true,
	{Group: "apps", Kind: "DaemonSet"}:   true,
	{Group: "apps", Kind: "ReplicaSet"}:  true,
	{Group: "batch", Kind: "Job"}:        true,
	{Group: "batch", Kind: "CronJob"}:    true,
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
					UID: string(item.GetUID()), mapping: m, workload: workloadKinds[gk]})
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
	Timeout  time.Duration
	Progress io.Writer
	// PollInterval is how often the namespace is checked while it goes.
	PollInterval time.Duration
	// AcceptDataLoss skips the Retain re-check before the PVCs and the
	// namespace are deleted; AcceptDataLossFlag names the flag in errors.
	AcceptDataLoss     bool
	AcceptDataLossFlag string
}

// Execute deletes the plan's workloads and waits for their pods, then the
// rest, then the namespace, and waits until it is gone, saying what blocks.
func Execute(ctx context.Context, c *kube.Clients, p *Plan, o Options) error {
	ns := p.Instance.Namespace()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	say := func(format string, args ...any) { fmt.Fprintf(o.Progress, format+"\n", args...) }
	poll := o.PollInterval
	if poll == 0 {
		poll = 500 * time.Millisecond
	}

	if err := deleteObjects(ctx, c, ns, p.Objects, true, say); err != nil {
		return err
	}
	if err := waitUntil(ctx, poll, say, "the pods of "+ns+" to stop", func() (bool, string, error) {
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
		return err
	}
	// The plan's Retain check may be minutes old (the prompt waited, pods
	// took their time) and PVCs may have been created since: check again
	// right before the PVCs go, and again right before the namespace does.
	if err := recheck(ctx, c, p, o, "the workloads were deleted; the PVCs and the namespace were kept"); err != nil {
		return err
	}
	if err := deleteObjects(ctx, c, ns, p.Objects, false, say); err != nil {
		return err
	}
	if !p.NamespaceExists {
		return nil
	}
	if err := recheck(ctx, c, p, o, "the instance's objects were deleted; the namespace and the PVCs in it were kept"); err != nil {
		return err
	}
	say("namespace/%s deleted", ns)
	policy := metav1.DeletePropagationBackground
	err := c.Typed.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting namespace %s: %w", ns, err)
	}
	return waitUntil(ctx, poll, say, "namespace "+ns+" to go", func() (bool, string, error) {
		n, err := c.Typed.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		if err != nil {
			return false, "", err
		}
		return false, namespaceBlockers(ctx, c, n), nil
	})
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

func deleteObjects(ctx context.Context, c *kube.Clients, ns string, objs []Object, workloads bool, say func(string, ...any)) error {
	policy := metav1.DeletePropagationBackground
	for _, o := range objs {
		if o.workload != workloads {
			continue
		}
		uid := types.UID(o.UID)
		// The UID precondition: never delete a same-named object created since the plan.
		err := c.Dynamic.Resource(o.mapping.Resource).Namespace(ns).Delete(ctx, o.Name, metav1.DeleteOptions{
			PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &uid},
		})
		switch {
		case apierrors.IsNotFound(err):
			say("%s already gone", o.Ref)
		case apierrors.IsConflict(err):
			say("%s was replaced since the plan was made: left alone", o.Ref)
		case err != nil:
			return fmt.Errorf("deleting %s in %s: %w", o.Ref, ns, err)
		default:
			say("%s deleted", o.Ref)
		}
	}
	return nil
}

// waitUntil polls done until it reports true, printing what blocks whenever it changes.
func waitUntil(ctx context.Context, every time.Duration, say func(string, ...any), what string, done func() (bool, string, error)) error {
	last := ""
	for {
		ok, blockers, err := done()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if blockers != last && blockers != "" {
			say("waiting for %s: %s", what, blockers)
			last = blockers
		}
		select {
		case <-ctx.Done():
			if last == "" {
				last = "no reason reported"
			}
			return fmt.Errorf("timed out waiting for %s; still blocking: %s (raise --timeout, or resolve the blockers)", what, last)
		case <-time.After(every):
		}
	}
}

// recreatedWorkloads names the Deployments and StatefulSets of ns that are not
// being deleted: after the workloads were deleted, any such one is new.
func recreatedWorkloads(ctx context.Context, c *kube.Clients, ns string) string {
	var names []string
	if deps, err := c.Typed.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, d := range deps.Items {
			if d.DeletionTimestamp == nil {
				names = append(names, "deployment.apps/"+d.Name)
			}
		}
	}
	if sts, err := c.Typed.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, s := range sts.Items {
			if s.DeletionTimestamp == nil {
				names = append(names, "statefulset.apps/"+s.Name)
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
