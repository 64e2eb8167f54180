// Package status implements `kubectl qxsms status`.
package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/status"
	"github.com/qxsms/kubectl-qxsms/plugins/internal/cli"
)

var (
	long = templates.LongDesc(`
		Show every instance of an environment (all environments by default): whether
		its overlay and namespace exist, workloads ready/total, the images running,
		the last deploy recorded in its inventory, drift (how many objects a deploy
		would create or change, by server-side dry run) and PVCs bound/total.

		Orphans are reported both ways: qxsms-* namespaces without an overlay, and
		overlays that are not deployed. NOTE also flags instances whose live Secrets
		still hold placeholder values (the environment's "placeholder" glob in
		k8s/qxsms.yaml, default changeme-*); -o json lists the Secret keys, never
		the values.`)

	example = templates.Examples(`
		# Every instance known to the repo or the cluster
		kubectl qxsms status

		# One environment, with images and revisions
		kubectl qxsms status staging -o wide

		# Machine output, without the dry runs
		kubectl qxsms status production -o json --drift=false`)
)

// Options are the flags of one status command and what Complete resolves.
type Options struct {
	Repo   cli.RepoFlags
	Output *cli.OutputFlags
	Drift  bool

	envs    []string
	repo    *overlays.Repo
	clients func() (*kube.Clients, error)
	now     func() time.Time
	genericiooptions.IOStreams
}

// NewStatusOptions returns the defaults of status.
func NewStatusOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{IOStreams: streams, Output: cli.NewOutputFlags("", true), Drift: true, now: time.Now}
}

// NewCmdStatus returns the status subcommand.
func NewCmdStatus(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewStatusOptions(streams)
	cmd := &cobra.Command{
		Use:                   "status [ENV]",
		DisableFlagsInUseLine: true,
		Short:                 "Show every instance: overlay, namespace, workloads, images, last deploy, drift, volumes",
		Long:                  long,
		Example:               example,
		Args:                  cobra.MaximumNArgs(1),
		ValidArgsFunction:     cli.CompleteEnvThenInstances(-1),
		RunE:                  func(cmd *cobra.Command, args []string) error { return cli.Run(f, o, cmd, args) },
	}
	o.Repo.AddFlags(cmd)
	o.Output.AddFlags(cmd)
	cmd.Flags().BoolVar(&o.Drift, "drift", o.Drift, "Count drift with a server-side dry run of each deployed instance.")
	return cmd
}

// Complete finds the repo and the clients.
func (o *Options) Complete(f cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.envs = args
	var err error
	if o.repo, err = o.Repo.Repo(); err != nil {
		return err
	}
	o.clients = cli.NewClients(f)
	return nil
}

// Validate checks the arguments.
func (o *Options) Validate() error {
	for _, env := range o.envs {
		// An environment without overlays may still have orphan namespaces.
		var none *overlays.NoInstancesError
		if _, err := o.repo.Select(env, nil); err != nil && !errors.As(err, &none) {
			return err
		}
	}
	return o.Output.Validate()
}

// Run collects and prints.
func (o *Options) Run(ctx context.Context) error {
	c, err := o.clients()
	if err != nil {
		return err
	}
	if err := c.Ping(ctx); err != nil {
		return err
	}
	rows, err := status.Collect(ctx, c, o.repo, o.envs, status.Options{Drift: o.Drift, Parallel: 8})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		fmt.Fprintln(o.ErrOut, "No QxSMS instances found, in the overlays or on the cluster.")
		return nil
	}
	if table, wide := o.Output.Table(); table {
		printTable(o.Out, rows, wide, o.now())
		return nil
	}
	objs := make([]*unstructured.Unstructured, len(rows))
	for i, r := range rows {
		if objs[i], err = cli.AsObject("InstanceStatus", r.Instance, r); err != nil {
			return err
		}
	}
	return o.Output.PrintObjects(objs, o.Out)
}

func printTable(out io.Writer, rows []status.Row, wide bool, now time.Time) {
	w := printers.GetNewTabWriter(out)
	defer w.Flush()
	header := "ENV\tINSTANCE\tOVERLAY\tNAMESPACE\tWORKLOADS\tPVCS\tLAST DEPLOY\tDRIFT\tNOTE"
	if wide {
		header += "\tIMAGES\tREVISION"
	}
	fmt.Fprintln(w, header)
	for _, r := range rows {
		overlay := "yes"
		if !r.Overlay {
			overlay = "no"
		}
		workloads, pvcs, last, drift := "-", "-", "-", "-"
		if r.NamespacePhase != "Missing" {
			workloads = fmt.Sprintf("%d/%d", r.WorkloadsReady, r.WorkloadsTotal)
			pvcs = fmt.Sprintf("%d/%d", r.PVCsBound, r.PVCsTotal)
		}
		if r.LastDeploy != nil {
			last = duration.HumanDuration(now.Sub(*r.LastDeploy)) + " ago"
		}
		if r.Drift != nil {
			drift = fmt.Sprint(*r.Drift)
		}
		note := r.Orphan
		if n := len(r.Placeholders); n > 0 {
			note = strings.TrimSpace(fmt.Sprintf("%s %d placeholder secret key(s)", note, n))
		}
		if r.Error != "" {
			note = strings.TrimSpace(note + " " + r.Error)
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", cli.Dash(r.Env), r.Instance, overlay, r.NamespacePhase, workloads, pvcs, last, drift, cli.Dash(note))
		if wide {
			line += fmt.Sprintf("\t%s\t%s", cli.Dash(strings.Join(r.Images, ",")), cli.Dash(r.Revision))
		}
		fmt.Fprintln(w, line)
	}
}
