// Package restart implements `kubectl qxsms restart`.
package restart

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/rollout"
	"github.com/qxsms/kubectl-qxsms/pkg/waves"
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

		# One instance first, watched for a minute, then the others in 4 waves
		kubectl qxsms restart --all --canary pprd --waves 4

		# Other Deployments, by name or by label
		kubectl qxsms restart pprd --deployment worker
		kubectl qxsms restart pprd -l app.kubernetes.io/part-of=qxsms`)
)

var deploymentGVK = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Options are the flags of one restart command and what Complete resolves.
type Options struct {
	All         bool
	Deployments []string
	Selector    string
	WaitFlags   *cli.WaitFlags
	Output      *cli.OutputFlags
	Canaries    []string
	CanarySoak  time.Duration
	Waves       int
	WaveSize    string
	MaxFailures int

	instances   []string
	resumeFlags []string
	clients     func() (*kube.Clients, error)
	genericiooptions.IOStreams
}

// NewRestartOptions returns the defaults of restart.
func NewRestartOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{
		IOStreams:  streams,
		WaitFlags:  cli.NewWaitFlags(true, 5*time.Minute),
		Output:     cli.NewOutputFlags("restarted", false),
		CanarySoak: time.Minute,
	}
}

// NewCmdRestart returns the restart subcommand.
func NewCmdRestart(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewRestartOptions(streams)
	cmd := &cobra.Command{
		Use:                   "restart (INSTANCE... | --all)",
		DisableFlagsInUseLine: true,
		Short:                 "Restart the Deployments of QxSMS instances and wait for them",
		Long:                  long,
		Example:               example,
		ValidArgsFunction:     cli.CompleteClusterInstances(f, 0),
		RunE:                  func(cmd *cobra.Command, args []string) error { return cli.Run(f, o, cmd, args) },
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "Restart every qxsms-* namespace of the current context.")
	cmd.Flags().StringArrayVar(&o.Deployments, "deployment", nil, "Deployment to restart (repeatable; default qxsms and worker).")
	cmd.Flags().StringVarP(&o.Selector, "selector", "l", "", "Restart the Deployments matching this label selector instead.")
	o.WaitFlags.AddFlags(cmd, "the restarted Deployments are rolled out (a progressive restart always waits)")
	o.Output.AddFlags(cmd)
	cmd.Flags().StringSliceVar(&o.Canaries, "canary", nil, "Instances to restart, roll out and soak first.")
	cmd.Flags().DurationVar(&o.CanarySoak, "canary-soak", o.CanarySoak, "How long to watch the canaries' pods once rolled out.")
	cmd.Flags().IntVar(&o.Waves, "waves", 0, "Restart the instances after the canaries in this many waves, each rolled out before the next.")
	cmd.Flags().StringVar(&o.WaveSize, "wave-size", "", "Instead of --waves: instances per wave, N or P% of them.")
	cmd.Flags().IntVar(&o.MaxFailures, "max-failures", 0, "In a progressive restart, how many failed instances to tolerate before stopping (a failed canary always stops it).")
	return cmd
}

// Complete takes the instances and builds the printer and the clients.
func (o *Options) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.instances = args
	o.Canaries = slices.DeleteFunc(o.Canaries, func(s string) bool { return s == "" })
	if !o.WaitFlags.Wait && cmd.Flags().Changed("wait") && o.rollout().Progressive() {
		return errors.New("--wait=false cannot be combined with --canary, --waves or --wave-size: a progressive restart waits for each wave")
	}
	o.resumeFlags = cli.TypedFlags(cmd, "canary", "all")
	o.clients = cli.NewClients(f)
	return nil
}

func (o *Options) rollout() waves.Spec {
	return waves.Spec{Canaries: o.Canaries, Waves: o.Waves, Size: o.WaveSize, MaxFailures: o.MaxFailures}
}

// Validate checks arguments and flags.
func (o *Options) Validate() error {
	switch {
	case o.All && len(o.instances) > 0:
		return errors.New("name instances or pass --all, not both")
	case !o.All && len(o.instances) == 0:
		return errors.New("name at least one instance, or pass --all: kubectl qxsms restart INSTANCE")
	case len(o.Deployments) > 0 && o.Selector != "":
		return errors.New("--deployment and --selector cannot be combined: choose Deployments by name or by label")
	case o.CanarySoak < 0:
		return fmt.Errorf("--canary-soak must not be negative, got %s", o.CanarySoak)
	}
	for _, inst := range append(slices.Clone(o.instances), o.Canaries...) {
		if err := overlays.ValidateName("instance", inst); err != nil {
			return err
		}
	}
	for _, d := range o.Deployments {
		if err := overlays.ValidateName("deployment", d); err != nil {
			return err
		}
	}
	if err := o.WaitFlags.Validate(); err != nil {
		return err
	}
	return o.Output.Validate()
}

// Run restarts and waits, through the engine, and prints what it did.
func (o *Options) Run(ctx context.Context) error {
	printer, err := o.Output.ToPrinter()
	if err != nil {
		return err
	}
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
	var objs []*unstructured.Unstructured
	var printErr error
	rep, err := rollout.RestartInstances(ctx, c, namespaces, rollout.RestartOptions{
		RestartConfig: rollout.RestartConfig{Deployments: o.Deployments, Selector: o.Selector},
		Wait:          o.WaitFlags.Wait,
		Timeout:       o.WaitFlags.Timeout,
		Rollout:       o.rollout(),
		Soak:          o.CanarySoak,
		Progress:      o.ErrOut,
		OnRestarted: func(r rollout.Restarted) {
			for _, w := range r.Warnings {
				fmt.Fprintf(o.ErrOut, "Warning: %s: %s\n", r.Workload, w)
			}
			if r.Err != nil {
				fmt.Fprintf(o.ErrOut, "error: %v\n", r.Err)
				return
			}
			u, err := cli.ToUnstructured(r.Deployment, deploymentGVK)
			if err != nil {
				printErr = err
				return
			}
			objs = append(objs, u)
			if !o.Output.Machine() || o.Output.Format() == "name" {
				printErr = errors.Join(printErr, printer.PrintObj(u, o.Out))
			}
		},
	})
	if err != nil {
		return err
	}
	if printErr != nil {
		return printErr
	}
	if o.Output.Machine() && o.Output.Format() != "name" {
		if err := o.Output.PrintObjects(objs, o.Out); err != nil {
			return err
		}
	}
	var failures []string
	for _, r := range rep.Results {
		switch {
		case r.Err != nil:
			failures = append(failures, r.Workload.Namespace+"/"+r.Workload.Name)
		case r.WaitErr != nil:
			fmt.Fprintf(o.ErrOut, "error: %s did not roll out: %v\n", r.Workload, r.WaitErr)
			failures = append(failures, r.Workload.Namespace+"/"+r.Workload.Name)
		}
		for _, change := range r.ImageChanges {
			fmt.Fprintf(o.ErrOut, "%s: %s\n", r.Workload, change)
		}
	}
	if rep.Report != nil && rep.Report.Stopped != "" {
		failed, skipped := rep.Report.Remaining(rep.Plan)
		args := append([]string{"kubectl", "qxsms", "restart"}, failed...)
		args = append(args, skipped...)
		if len(failed) > 0 {
			args = append(args, "--canary="+strings.Join(failed, ","))
		}
		args = append(args, o.resumeFlags...)
		return fmt.Errorf("restart stopped after %s: %s; %d instance(s) skipped, not restarted: %s\nonce the cause is fixed, resume with:\n  %s",
			rep.Report.StoppedAfter, rep.Report.Stopped, len(skipped), cli.Dash(strings.Join(skipped, ", ")), cli.ShellJoin(args))
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d restart(s) failed: %s", len(failures), len(rep.Results), strings.Join(failures, ", "))
	}
	return nil
}

func (o *Options) namespaces(ctx context.Context, c *kube.Clients) ([]string, error) {
	if !o.All {
		out := make([]string, len(o.instances))
		for i, inst := range o.instances {
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
