package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// RestartedAtAnnotation is the pod-template annotation `kubectl rollout
// restart` sets; using it keeps `kubectl rollout status|history|undo` working.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// RestartFieldManager is kubectl's own manager for restarts, so deploy and
// kubectl treat our restarts and theirs alike.
const RestartFieldManager = "kubectl-rollout"

// DefaultDeployments are restarted when none are named: the ones that run the
// QxSMS image.
var DefaultDeployments = []string{"qxsms", "worker"}

// RestartConfig selects what to restart in each namespace.
type RestartConfig struct {
	// Deployments by name; ignored when Selector is set.
	Deployments []string
	// Selector is a label selector over the namespace's Deployments.
	Selector string
	Now      func() time.Time
}

// Restarted is the outcome of restarting one Deployment.
type Restarted struct {
	Workload   Workload
	Deployment *appsv1.Deployment
	// Warnings are not failures: e.g. an imagePullPolicy that won't refresh images.
	Warnings []string
	// ImagesBefore maps container name to the image IDs its pods ran before the restart.
	ImagesBefore map[string][]string
	Err          error
}

// restartParallel bounds the namespaces restarted at once: each costs a few
// sequential round trips, which overlap across namespaces.
const restartParallel = 16

// Restart restarts the selected Deployments of every namespace, namespaces
// and Deployments concurrently, in the order given. One failure doesn't stop
// the others.
func Restart(ctx context.Context, client kubernetes.Interface, namespaces []string, cfg RestartConfig) []Restarted {
	perNamespace := make([][]Restarted, len(namespaces))
	parallel(len(namespaces), restartParallel, func(i int) {
		ns := namespaces[i]
		deps, errs := selectDeployments(ctx, client, ns, cfg)
		out := make([]Restarted, len(errs)+len(deps))
		for j, err := range errs {
			out[j] = Restarted{Workload: Workload{GroupKind: DeploymentGK, Namespace: ns, Name: err.name}, Err: err.err}
		}
		parallel(len(deps), len(deps), func(j int) {
			out[len(errs)+j] = restartOne(ctx, client, &deps[j], cfg)
		})
		perNamespace[i] = out
	})
	var out []Restarted
	for _, rs := range perNamespace {
		out = append(out, rs...)
	}
	return out
}

// parallel runs f(0..n-1), at most limit at once, and waits for all.
func parallel(n, limit int, f func(i int)) {
	var g errgroup.Group
	g.SetLimit(max(1, limit))
	for i := range n {
		g.Go(func() error { f(i); return nil })
	}
	_ = g.Wait()
}

type namedError struct {
	name string
	err  error
}

func selectDeployments(ctx context.Context, client kubernetes.Interface, ns string, cfg RestartConfig) ([]appsv1.Deployment, []namedError) {
	if cfg.Selector != "" {
		list, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: cfg.Selector})
		if err != nil {
			return nil, []namedError{{"", explain(err, ns)}}
		}
		if len(list.Items) == 0 {
			return nil, []namedError{{"", fmt.Errorf("no Deployment in %s matches selector %q", ns, cfg.Selector)}}
		}
		return list.Items, nil
	}
	names := cfg.Deployments
	if len(names) == 0 {
		names = DefaultDeployments
	}
	found := make([]*appsv1.Deployment, len(names))
	failed := make([]error, len(names))
	parallel(len(names), len(names), func(i int) {
		found[i], failed[i] = client.AppsV1().Deployments(ns).Get(ctx, names[i], metav1.GetOptions{})
	})
	var deps []appsv1.Deployment
	var errs []namedError
	for i, name := range names {
		if failed[i] != nil {
			errs = append(errs, namedError{name, explain(failed[i], ns)})
			continue
		}
		deps = append(deps, *found[i])
	}
	return deps, errs
}

// explain turns API errors into what the user can act on.
func explain(err error, ns string) error {
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: check the name with `kubectl get deployments -n %s`", err, ns)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("forbidden in namespace %s: %w (ask for a RoleBinding that allows get and patch on deployments there)", ns, err)
	}
	return err
}

func restartOne(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment, cfg RestartConfig) Restarted {
	r := Restarted{Workload: Workload{GroupKind: DeploymentGK, Namespace: d.Namespace, Name: d.Name}}
	if d.Spec.Paused {
		r.Err = fmt.Errorf("deployment %s in %s is paused: run `kubectl rollout resume deployment/%s -n %s` first, then restart", d.Name, d.Namespace, d.Name, d.Namespace)
		return r
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.ImagePullPolicy != corev1.PullAlways {
			r.Warnings = append(r.Warnings, fmt.Sprintf("container %s has imagePullPolicy %s: the restart won't fetch an image rebuilt under the same tag (%s); set imagePullPolicy: Always", c.Name, orDefault(string(c.ImagePullPolicy), "unset"), c.Image))
		}
	}
	r.ImagesBefore = podImageIDs(ctx, client, d)

	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	stamp := now().Format(time.RFC3339)
	if d.Spec.Template.Annotations[RestartedAtAnnotation] == stamp {
		// A second restart within the same second would be an empty patch.
		stamp = now().Format(time.RFC3339Nano)
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{RestartedAtAnnotation: stamp}}}}})
	out, err := client.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: RestartFieldManager})
	if err != nil {
		r.Err = explain(err, d.Namespace)
		return r
	}
	r.Deployment = out
	return r
}

// podImageIDs maps container name to the image IDs its running pods report.
func podImageIDs(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment) map[string][]string {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil
	}
	pods, err := client.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil
	}
	ids := map[string]map[string]bool{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.ImageID == "" {
				continue
			}
			if ids[cs.Name] == nil {
				ids[cs.Name] = map[string]bool{}
			}
			ids[cs.Name][cs.ImageID] = true
		}
	}
	out := map[string][]string{}
	for c, set := range ids {
		for id := range set {
			out[c] = append(out[c], id)
		}
		sort.Strings(out[c])
	}
	return out
}

// ImageChanges describes, per container, the image IDs before → after, where
// the cluster reports them.
func ImageChanges(ctx context.Context, client kubernetes.Interface, r Restarted) []string {
	if r.Deployment == nil {
		return nil
	}
	after := podImageIDs(ctx, client, r.Deployment)
	var out []string
	for _, c := range r.Deployment.Spec.Template.Spec.Containers {
		b, a := strings.Join(r.ImagesBefore[c.Name], ","), strings.Join(after[c.Name], ",")
		switch {
		case a == "":
			continue
		case b == a:
			out = append(out, fmt.Sprintf("container %s: image %s unchanged (%s)", c.Name, c.Image, a))
		default:
			out = append(out, fmt.Sprintf("container %s: image %s %s -> %s", c.Name, c.Image, orDefault(b, "(none)"), a))
		}
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
