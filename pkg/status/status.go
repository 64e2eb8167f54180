// Package status reports, per instance, what the overlays declare and what
// the cluster runs: workloads, images, volumes, the last deploy and drift.
package status

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/qxsms/kubectl-qxsms/pkg/deploy"
	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/secrets"
)

// Row is one instance, from the overlays, the cluster, or both.
type Row struct {
	Env       string `json:"environment,omitempty"`
	Instance  string `json:"instance"`
	Overlay   bool   `json:"overlay"`
	Namespace string `json:"namespace"`
	// NamespacePhase is Active, Terminating, or Missing.
	NamespacePhase string     `json:"namespacePhase"`
	WorkloadsReady int        `json:"workloadsReady"`
	WorkloadsTotal int        `json:"workloadsTotal"`
	Images         []string   `json:"images,omitempty"`
	PVCsBound      int        `json:"pvcsBound"`
	PVCsTotal      int        `json:"pvcsTotal"`
	LastDeploy     *time.Time `json:"lastDeploy,omitempty"`
	Revision       string     `json:"revision,omitempty"`
	// Drift is how many objects a deploy would create or change; nil when unknown.
	Drift *int   `json:"drift,omitempty"`
	Error string `json:"error,omitempty"`
	// Orphan says what is missing: "no overlay" or "not deployed".
	Orphan string `json:"orphan,omitempty"`
	// Placeholders are the live Secret keys ("secret/KEY") whose values match
	// the environment's placeholder glob; never the values.
	Placeholders []string `json:"placeholders,omitempty"`
}

// Options tune Collect.
type Options struct {
	// Drift runs a server-side dry run per instance.
	Drift    bool
	Parallel int
}

// Collect reports every instance of envs (all environments when empty), and
// the qxsms-* namespaces that have no overlay.
func Collect(ctx context.Context, c *kube.Clients, repo *overlays.Repo, envs []string, o Options) ([]Row, error) {
	all, err := repo.Environments()
	if err != nil {
		return nil, err
	}
	if len(envs) == 0 {
		envs = all
	}
	// Only for the placeholder globs: a broken config leaves the defaults,
	// deploy reports it.
	cfg, _ := repo.LoadConfig()
	overlayEnv := map[string]string{} // instance -> env, over every environment
	var rows []*Row
	for _, env := range all {
		insts, err := repo.Instances(env)
		if err != nil {
			return nil, err
		}
		for _, inst := range insts {
			overlayEnv[inst] = env
			if slices.Contains(envs, env) {
				rows = append(rows, &Row{Env: env, Instance: inst, Overlay: true, Namespace: overlays.Namespace(inst), NamespacePhase: "Missing"})
			}
		}
	}
	nsList, err := c.Typed.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	byNamespace := map[string]*Row{}
	for _, r := range rows {
		byNamespace[r.Namespace] = r
	}
	for _, ns := range nsList.Items {
		inst, ok := overlays.InstanceFromNamespace(ns.Name)
		if !ok {
			continue
		}
		phase := string(ns.Status.Phase)
		if r := byNamespace[ns.Name]; r != nil {
			r.NamespacePhase = phase
			continue
		}
		env := ns.Labels[overlays.EnvironmentLabel]
		if _, hasOverlay := overlayEnv[inst]; hasOverlay || (env != "" && !slices.Contains(envs, env)) {
			continue // reported under its own environment
		}
		r := &Row{Env: env, Instance: inst, Namespace: ns.Name, NamespacePhase: phase, Orphan: "no overlay"}
		rows = append(rows, r)
		byNamespace[ns.Name] = r
	}

	var g errgroup.Group
	g.SetLimit(max(1, o.Parallel))
	for _, r := range rows {
		if r.NamespacePhase == "Missing" {
			r.Orphan = "not deployed"
			continue
		}
		g.Go(func() error {
			if err := live(ctx, c, r, secrets.PolicyFor(cfg, r.Env).Glob); err != nil {
				r.Error = err.Error()
				return nil
			}
			if o.Drift && r.Overlay && r.NamespacePhase == "Active" {
				drift(ctx, c, repo, r)
			}
			return nil
		})
	}
	_ = g.Wait()
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Env != rows[j].Env {
			return rows[i].Env < rows[j].Env
		}
		return rows[i].Instance < rows[j].Instance
	})
	out := make([]Row, len(rows))
	for i, r := range rows {
		out[i] = *r
	}
	return out, nil
}

func live(ctx context.Context, c *kube.Clients, r *Row, glob string) error {
	images := map[string]bool{}
	deps, err := c.Typed.AppsV1().Deployments(r.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, d := range deps.Items {
		r.WorkloadsTotal++
		if d.Spec.Replicas != nil && d.Status.AvailableReplicas >= *d.Spec.Replicas && d.Status.UpdatedReplicas >= *d.Spec.Replicas && d.Status.ObservedGeneration >= d.Generation {
			r.WorkloadsReady++
		}
		for _, ct := range d.Spec.Template.Spec.Containers {
			images[ct.Image] = true
		}
	}
	sts, err := c.Typed.AppsV1().StatefulSets(r.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, s := range sts.Items {
		r.WorkloadsTotal++
		if s.Spec.Replicas != nil && s.Status.ReadyReplicas >= *s.Spec.Replicas && s.Status.ObservedGeneration >= s.Generation {
			r.WorkloadsReady++
		}
		for _, ct := range s.Spec.Template.Spec.Containers {
			images[ct.Image] = true
		}
	}
	for img := range images {
		r.Images = append(r.Images, img)
	}
	sort.Strings(r.Images)
	pvcs, err := c.Typed.CoreV1().PersistentVolumeClaims(r.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, p := range pvcs.Items {
		r.PVCsTotal++
		if p.Status.Phase == "Bound" {
			r.PVCsBound++
		}
	}
	if err := placeholders(ctx, c, r, glob); err != nil {
		return err
	}
	inv, err := c.Typed.CoreV1().ConfigMaps(r.Namespace).Get(ctx, deploy.InventoryName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return err
	default:
		if t, err := time.Parse(time.RFC3339, inv.Annotations[deploy.DeployedAtAnnotation]); err == nil {
			r.LastDeploy = &t
		}
		r.Revision = inv.Annotations[deploy.RevisionAnnotation]
	}
	return nil
}

// drift counts what a deploy would create or change, by server-side dry run.
func drift(ctx context.Context, c *kube.Clients, repo *overlays.Repo, r *Row) {
	n, err := countDrift(ctx, c, repo, r)
	if err != nil {
		r.Error = "drift unknown: " + err.Error()
		return
	}
	r.Drift = &n
}

func countDrift(ctx context.Context, c *kube.Clients, repo *overlays.Repo, r *Row) (int, error) {
	insts, err := repo.Select(r.Env, []string{r.Instance})
	if err != nil {
		return 0, err
	}
	built, err := overlays.BuildInstances(filesys.MakeFsOnDisk(), insts)
	if err != nil {
		return 0, err
	}
	res, err := deploy.Apply(ctx, c, insts, built, deploy.Options{FieldManager: deploy.FieldManager, Diff: true, Parallel: 1, ObjectParallel: 4})
	if err != nil {
		return 0, err
	}
	ir := res.Instances[0]
	return ir.Count(deploy.Created) + ir.Count(deploy.Configured), ir.Err
}

// placeholders lists the live Secret keys holding placeholders. The values are
// compared and dropped, never kept, printed or logged. A user who may not
// list Secrets gets no flag rather than no status.
func placeholders(ctx context.Context, c *kube.Clients, r *Row, glob string) error {
	list, err := c.Typed.CoreV1().Secrets(r.Namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, s := range list.Items {
		for k, v := range s.Data {
			if secrets.Match(glob, string(v)) {
				r.Placeholders = append(r.Placeholders, s.Name+"/"+k)
			}
		}
	}
	sort.Strings(r.Placeholders)
	return nil
}
