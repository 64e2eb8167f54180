// Package teardown implements `kubectl qxsms teardown`.
package teardown

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"k8s.io/kubectl/pkg/util/term"
	"k8s.io/utils/clock"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/teardown"
	"github.com/qxsms/kubectl-qxsms/pkg/volumes"
	"github.com/qxsms/kubectl-qxsms/plugins/internal/cli"
)

// AcceptDataLossFlag is deliberately long: it lets a teardown destroy the data
// of volumes whose reclaim policy is not Retain.
const AcceptDataLossFlag = "accept-data-loss-of-volumes-without-retain-policy"

var (
	long = templates.LongDesc(`
		Delete one QxSMS instance deliberately, and never its data.

		The instance's overlay is built and its live objects are found, with the
		objects deploy applied that have since left the overlay. A plan is shown:
		the objects, the PVCs with their PVs and NFS paths, the context and its
		environment. Then you confirm by typing the instance name (--yes for CI;
		production needs --confirm=INSTANCE). Workloads are deleted first and their
		pods waited for, then the rest, then the namespace.

		Every PV bound to the instance must have reclaim policy Retain, so that its
		data stays on the NFS server and the PV becomes Released. Otherwise the
		teardown refuses and shows the fix.

		--dry-run=client prints the plan and sends nothing; --dry-run=server also
		sends every delete with dryRun=All, so that the API server checks each one
		and persists none. Neither asks for confirmation.`)

	example = templates.Examples(`
		# Show the plan and send nothing
		kubectl qxsms teardown staging demo --dry-run=client

		# Show the plan and have the API server check every delete, persisting none
		kubectl qxsms teardown staging demo --dry-run=server

		# Delete after typing the instance name at the prompt
		kubectl qxsms teardown staging demo

		# In CI
		kubectl qxsms teardown staging demo --yes

		# Production needs the instance named explicitly
		kubectl qxsms teardown production prod --confirm=prod`)
)

// Options is the state of one teardown command: the flags as typed, then
// what Complete resolves.
type Options struct {
	Env, Instance string
	cli.GuardFlags
	cli.ConfirmFlags
	// Wait carries --timeout only: a teardown always waits for its pods and
	// its namespace to go.
	Wait           *cli.WaitFlags
	AcceptDataLoss bool
	DryRun         cmdutil.DryRunStrategy
	genericiooptions.IOStreams

	// resolved state, set by Complete only
	repo       *overlays.Repo
	instance   overlays.Instance
	target     func() (cli.Target, error)
	clients    func() (*kube.Clients, error)
	fsys       filesys.FileSystem
	isTerminal func() bool
	clock      clock.PassiveClock
}

// NewTeardownOptions returns the defaults.
func NewTeardownOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{IOStreams: streams, Wait: cli.NewWaitFlags(true, 5*time.Minute)}
}

// NewCmdTeardown returns the teardown subcommand.
func NewCmdTeardown(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmd(f, NewTeardownOptions(streams))
}

func newCmd(f cmdutil.Factory, o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:                   "teardown ENV INSTANCE",
		DisableFlagsInUseLine: true,
		Short:                 "Delete an instance after a plan and a confirmation, keeping its volumes' data",
		Long:                  long,
		Example:               example,
		Args:                  cobra.ExactArgs(2),
		ValidArgsFunction:     cli.CompleteEnvThenInstances(1),
		RunE:                  func(cmd *cobra.Command, args []string) error { return cli.Run(f, o, cmd, args) },
	}
	o.GuardFlags.AddFlags(cmd)
	o.ConfirmFlags.AddFlags(cmd)
	o.Wait.AddTimeoutFlag(cmd)
	cmdutil.AddDryRunFlag(cmd)
	cmd.Flags().BoolVar(&o.AcceptDataLoss, AcceptDataLossFlag, false, "Tear down although some bound PVs would delete their data (reclaim policy not Retain).")
	return cmd
}

// Complete resolves the instance, the dry-run strategy and the seams to the
// cluster; it sends nothing.
func (o *Options) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.Env, o.Instance = args[0], args[1]
	var err error
	if o.DryRun, err = cmdutil.GetDryRunStrategy(cmd); err != nil {
		return fmt.Errorf("--dry-run: %w", err)
	}
	if o.repo, err = o.Repo(); err != nil {
		return err
	}
	insts, err := o.repo.Select(o.Env, []string{o.Instance})
	if err != nil {
		return err
	}
	o.instance = insts[0]
	o.target = func() (cli.Target, error) { return cli.ResolveTarget(cmd, f) }
	o.clients = cli.NewClients(f)
	o.fsys = filesys.MakeFsOnDisk()
	o.isTerminal = func() bool { return term.IsTerminal(o.In) }
	o.clock = clock.RealClock{}
	return nil
}

// Validate checks the flags against each other; it sends nothing.
func (o *Options) Validate() error {
	if err := o.ConfirmFlags.Validate(); err != nil {
		return err
	}
	if o.Confirm != "" && o.Confirm != o.Instance {
		return fmt.Errorf("--confirm=%s does not match the instance %q: pass --confirm=%s; nothing was deleted", o.Confirm, o.Instance, o.Instance)
	}
	return o.Wait.Validate()
}

// Run plans, checks, confirms and deletes.
func (o *Options) Run(ctx context.Context) error {
	target, err := o.target()
	if err != nil {
		return err
	}
	cfg, err := o.Check(o.repo, o.Env, target, o.ErrOut)
	if err != nil {
		return err
	}
	desired, err := overlays.Build(o.fsys, o.instance.Dir)
	if err != nil {
		return fmt.Errorf("instance %s: %w\nnothing was deleted: fix the overlay, or restore it from git, then retry", o.instance, err)
	}
	c, err := o.clients()
	if err != nil {
		return err
	}
	plan, err := teardown.MakePlan(ctx, c, o.instance, desired, target.Context)
	if err != nil {
		return err
	}
	o.printPlan(plan)
	if !plan.NamespaceExists && len(plan.Objects) == 0 {
		fmt.Fprintf(o.ErrOut, "Instance %s has no namespace %s on context %q: nothing to delete.\n", o.instance, o.instance.Namespace(), target.Context)
		return nil
	}
	o.warnDeleteClasses(ctx, c, plan)
	if unsafe := plan.UnsafeVolumes(); len(unsafe) > 0 && !o.AcceptDataLoss {
		return &teardown.UnsafeError{Instance: o.instance, Volumes: unsafe, Flag: AcceptDataLossFlag}
	}
	switch o.DryRun {
	case cmdutil.DryRunClient:
		fmt.Fprintln(o.ErrOut, "Dry run (client): nothing was sent to the server; --dry-run=server has the API server check each delete.")
		return nil
	case cmdutil.DryRunNone:
		if err := o.confirm(cfg, target.Context); err != nil {
			return err
		}
	}

	start := o.clock.Now()
	result, err := teardown.Execute(ctx, c, plan, teardown.Options{
		DryRun: o.DryRun == cmdutil.DryRunServer, Timeout: o.Wait.Timeout, Progress: o.ErrOut,
		AcceptDataLoss: o.AcceptDataLoss, AcceptDataLossFlag: AcceptDataLossFlag,
	})
	if err != nil {
		return fmt.Errorf("teardown of %s incomplete: %w", o.instance, err)
	}
	if o.DryRun == cmdutil.DryRunServer {
		fmt.Fprintln(o.ErrOut, "Dry run (server): the API server accepted every delete and persisted none; nothing was deleted.")
		return nil
	}
	fmt.Fprintf(o.ErrOut, "Instance %s deleted in %s.\n", o.instance, o.clock.Since(start).Round(time.Millisecond))
	o.printAftermath(result.Volumes)
	return nil
}

// confirm asks for a deliberate act: the typed instance name, --yes, or
// --confirm=INSTANCE. Protection
// follows the cluster too: a context listed for a protected environment needs
// --confirm whatever ENV was typed, even with --allow-context-mismatch.
func (o *Options) confirm(cfg *overlays.Config, kubeContext string) error {
	name := o.Instance
	if reason, protected := protection(cfg, o.Env, kubeContext); protected {
		if o.Confirm != name {
			return fmt.Errorf("%s: pass --confirm=%s to tear down %s (--yes is not enough); nothing was deleted", reason, name, o.instance)
		}
		return nil
	}
	return cli.Confirm(o.IOStreams, o.isTerminal(), o.Yes || o.Confirm == name, name, "tear down "+o.instance.String())
}

// protection says why the teardown needs --confirm, if it does.
func protection(cfg *overlays.Config, env, kubeContext string) (string, bool) {
	if cfg.Protected(env) {
		return fmt.Sprintf("environment %q is protected", env), true
	}
	if protectedEnv, ok := cfg.ProtectedContext(kubeContext); ok {
		return fmt.Sprintf("context %q belongs to the protected environment %q", kubeContext, protectedEnv), true
	}
	return "", false
}

// warnDeleteClasses warns when a claim's StorageClass would give a
// re-created PVC a PV with policy Delete: the next teardown would refuse, or
// lose the data if forced.
func (o *Options) warnDeleteClasses(ctx context.Context, c *kube.Clients, p *teardown.Plan) {
	seen := map[string]bool{}
	for _, v := range p.Volumes {
		if !v.Current() || v.StorageClass == "" || seen[v.StorageClass] {
			continue
		}
		seen[v.StorageClass] = true
		sc, err := c.Typed.StorageV1().StorageClasses().Get(ctx, v.StorageClass, metav1.GetOptions{})
		if err != nil {
			continue
		}
		if sc.ReclaimPolicy == nil || *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
			fmt.Fprintf(o.ErrOut, "Warning: StorageClass %s gives new PVs reclaim policy Delete: the data of PVs it provisions goes with their claim; use a Retain class for QxSMS volumes\n", sc.Name)
		}
	}
}

func (o *Options) printPlan(p *teardown.Plan) {
	fmt.Fprintf(o.Out, "Teardown of instance %s: namespace %s on context %q (environment %s)\n\n", p.Instance, p.Instance.Namespace(), p.Context, p.Instance.Env)
	fmt.Fprintf(o.Out, "Objects to delete, workloads first (%d):\n", len(p.Objects)+boolToInt(p.NamespaceExists))
	for _, obj := range p.Objects {
		fmt.Fprintf(o.Out, "  %s\n", obj.Ref)
	}
	if p.NamespaceExists {
		fmt.Fprintf(o.Out, "  %s\n", kube.ObjectName(schema.GroupKind{Kind: "Namespace"}, p.Instance.Namespace()))
	}
	fmt.Fprintln(o.Out, "\nVolumes (the PVCs go with the namespace; Retain keeps each PV and its data):")
	printVolumes(o.Out, p.Volumes, o.clock.Now())
	fmt.Fprintln(o.Out)
}

func printVolumes(out io.Writer, vols []volumes.Volume, now time.Time) {
	w := printers.GetNewTabWriter(out)
	defer w.Flush()
	fmt.Fprintln(w, "  PVC\tVOLUME\tSTATUS\tRECLAIM POLICY\tRELEASED\tNFS")
	for _, v := range vols {
		policy, nfs, released := "-", "-", "-"
		if v.PV != nil {
			policy = string(v.PV.Spec.PersistentVolumeReclaimPolicy)
			if !v.Current() || v.PV.Status.Phase == corev1.VolumeReleased {
				v.Status = string(v.PV.Status.Phase)
				released = "unknown"
			}
		}
		if v.ReleasedAt != nil {
			released = duration.HumanDuration(now.Sub(*v.ReleasedAt)) + " ago"
		}
		if v.Location != nil {
			nfs = v.Location.Server + ":" + v.Location.Path
		}
		if v.LocationErr != nil {
			nfs = "unreadable: " + v.LocationErr.Error()
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\n", v.PVC, cli.Dash(v.PVName()), v.Status, policy, released, nfs)
	}
}

// printAftermath shows the PVs the teardown kept and what to do next.
func (o *Options) printAftermath(vols []volumes.Volume) {
	fmt.Fprintln(o.Out, "PersistentVolumes kept (every generation, newest first); their data stays on the NFS server:")
	printVolumes(o.Out, vols, o.clock.Now())
	fmt.Fprintf(o.Out, `
Next:
  kubectl qxsms pvc-nfs-path %[1]s --rsync DEST   # copy the data back
  kubectl qxsms pv-released %[1]s                 # list, export, rebind or delete these PVs
Remove k8s/overlays/%[2]s/%[1]s from the config repo, or the next pipeline deploys it again.
`, o.Instance, o.Env)
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
