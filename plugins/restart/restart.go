// Package restart implements `kubectl qxsms restart`.
package restart

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/rollout"
	"github.com/qxsms/kubectl-qxsms/plugins/internal/cli"
)

var (
	long = templates.LongDesc(`
		Restart the Deployments of one, several or all QxSMS instances, and wait.

		By default the qxsms and worker Deployments of namespace qxsms-INSTANCE are
		restarted, the way kubectl rollout restart does it (the
		kubectl.kubernetes.io/restartedAt pod-template annotation), so kubectl rollout
		status, history and undo keep working. Their imagePullPolicy should be Always:
		a restart then fetches an image rebuilt under the same tag.`)

	example = templates.Examples(`
		# Restart the web app and the worker of one instance, and wait for them
		kubectl qxsms restart pprd

		# Several instances, without waiting
		kubectl qxsms restart pprd demo --wait=false

		# Every qxsms-* namespace of the current context
		kubectl qxsms restart --all

		# Other Deployments, by name or by label
		kubectl qxsms restart pprd --deployment worker
		kubectl qxsms restart pprd -l app.kubernetes.io/part-of=qxsms`)
)

var deploymentGVK = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Options is the state of one restart command.
type Options struct {
	Instances   []string
	All         bool
	Deployments []string
	Selector    string
	Wait        bool
	Timeout     time.Duration

	PrintFlags *genericclioptions.PrintFlags
	clients    func() (*kube.Clients, error)
	genericiooptions.IOStreams
}

// NewCmdRestart returns the restart subcommand.
func NewCmdRestart(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{
		IOStreams:  streams,
		PrintFlags: genericclioptions.NewPrintFlags("restarted").WithTypeSetter(nil),
		Wait:       true,
		Timeout:    5 * time.Minute,
	}
	cmd := &cobra.Command{
		Use:                   "restart (INSTANCE... | --all)",
		DisableFlagsInUseLine: true,
		Short:                 "Restart the Deployments of QxSMS instances and wait for them",
		Long:                  long,
		Example:               example,
		ValidArgsFunction:     cli.CompleteClusterInstances(f, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Instances = args
			o.clients = func() (*kube.Clients, error) { return kube.New(f) }
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "Restart every qxsms-* namespace of the current context.")
	cmd.Flags().StringArrayVar(&o.Deployments, "deployment", nil, "Deployment to restart (repeatable; default qxsms and worker).")
	cmd.Flags().StringVarP(&o.Selector, "selector", "l", "", "Restart the Deployments matching this label selector instead.")
	cmd.Flags().BoolVar(&o.Wait, "wait", o.Wait, "Wait for the restarted Deployments to roll out.")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the rollouts.")
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Validate checks arguments and flags.
func (o *Options) Validate() error {
	switch {
	case o.All && len(o.Instances) > 0:
		return errors.New("name instances or pass --all, not both")
	case !o.All && len(o.Instances) == 0:
		return errors.New("name at least one instance, or pass --all: kubectl qxsms restart INSTANCE")
	case len(o.Deployments) > 0 && o.Selector != "":
		return errors.New("--deployment and --selector cannot be combined: choose Deployments by name or by label")
	case o.Timeout <= 0:
		return fmt.Errorf("--timeout must be positive, got %s", o.Timeout)
	}
	for _, inst := range o.Instances {
		if err := overlays.ValidateName("instance", inst); err != nil {
			return err
		}
	}
	for _, d := range o.Deployments {
		if err := overlays.ValidateName("deployment", d); err != nil {
			return err
		}
	}
	return cli.ValidateOutput(*o.PrintFlags.OutputFormat, "json", "yaml", "name")
}

// Run restarts, then waits.
func (o *Options) Run(ctx context.Context) error {
	c, err := o.clients()
	if err != nil {
		return err
	}
	namespaces, err := o.namespaces(ctx, c)
	if err != nil {
		return err
	}
	if len(namespaces) == 0 {
		fmt.Fprintln(o.ErrOut, "No QxSMS instances (qxsms-* namespaces) found.")
		return nil
	}

	printer, err := o.PrintFlags.ToPrinter()
	if err != nil {
		return err
	}
	results := rollout.Restart(ctx, c.Typed, namespaces, rollout.RestartConfig{Deployments: o.Deployments, Selector: o.Selector})
	var failures []string
	var restarted []rollout.Restarted
	var objs []*unstructured.Unstructured
	for _, r := range results {
		for _, w := range r.Warnings {
			fmt.Fprintf(o.ErrOut, "Warning: %s: %s\n", r.Workload, w)
		}
		if r.Err != nil {
			fmt.Fprintf(o.ErrOut, "error: %v\n", r.Err)
			failures = append(failures, r.Workload.Namespace+"/"+r.Workload.Name)
			continue
		}
		restarted = append(restarted, r)
		u, err := cli.ToUnstructured(r.Deployment, deploymentGVK)
		if err != nil {
			return err
		}
		objs = append(objs, u)
		if *o.PrintFlags.OutputFormat == "" || *o.PrintFlags.OutputFormat == "name" {
			if err := printer.PrintObj(u, o.Out); err != nil {
				return err
			}
		}
	}
	if err := cli.PrintList(o.PrintFlags, objs, o.Out); err != nil {
		return err
	}

	if o.Wait && len(restarted) > 0 {
		workloads := make([]rollout.Workload, len(restarted))
		for i, r := range restarted {
			workloads[i] = r.Workload
		}
		fmt.Fprintf(o.ErrOut, "Waiting for %d rollout(s), up to %s\n", len(workloads), o.Timeout)
		for i, w := range rollout.Wait(ctx, c, workloads, o.Timeout, o.ErrOut) {
			if w.Err != nil {
				fmt.Fprintf(o.ErrOut, "error: %s did not roll out: %v\n", w.Workload, w.Err)
				failures = append(failures, w.Workload.Namespace+"/"+w.Workload.Name)
				continue
			}
			for _, change := range rollout.ImageChanges(ctx, c.Typed, restarted[i]) {
				fmt.Fprintf(o.ErrOut, "%s: %s\n", w.Workload, change)
			}
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d restart(s) failed: %s", len(failures), len(results), strings.Join(failures, ", "))
	}
	return nil
}

func (o *Options) namespaces(ctx context.Context, c *kube.Clients) ([]string, error) {
	if !o.All {
		out := make([]string, len(o.Instances))
		for i, inst := range o.Instances {
			out[i] = overlays.Namespace(inst)
		}
		return out, nil
	}
	list, err := c.Typed.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("--all needs to list namespaces: %w (name the instances instead)", err)
	}
	var out []string
	for _, ns := range list.Items {
		if _, ok := overlays.InstanceFromNamespace(ns.Name); ok && ns.DeletionTimestamp == nil {
			out = append(out, ns.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}
