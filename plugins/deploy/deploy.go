// Package deploy implements `kubectl qxsms deploy`.
package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/qxsms/kubectl-qxsms/pkg/buildinfo"
	"github.com/qxsms/kubectl-qxsms/pkg/deploy"
	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/secrets"
	"github.com/qxsms/kubectl-qxsms/plugins/internal/cli"
)

// FieldManager owns every field deploy applies.
const FieldManager = "kubectl-qxsms"

var (
	long = templates.LongDesc(`
		Apply the instances of an environment from their kustomize overlays.

		Every selected overlay (k8s/overlays/ENV/INSTANCE) is built in-process, as
		kubectl apply -k would, before anything reaches the cluster: if one fails,
		nothing is applied anywhere. Objects are server-side applied with field
		manager kubectl-qxsms, forcing conflicts, so the repo wins over hand edits;
		each instance's Namespace goes first. Each instance keeps an ApplySet
		inventory (ConfigMap qxsms-inventory), which --prune uses to delete objects
		that left the overlay. Prune never deletes a Namespace, PVC or PV.
		Instances first made by kubectl apply -k are adopted by the first deploy.

		k8s/qxsms.yaml maps each environment to the kube contexts it may target.

		By default deploy does not wait for rollouts; pass --wait (CI should).`)

	example = templates.Examples(`
		# Deploy every staging instance
		kubectl qxsms deploy staging

		# Deploy two instances, delete what left their overlays, and wait for the rollouts
		kubectl qxsms deploy staging pprd demo --prune --wait --timeout 5m

		# Show what would change, Secret values masked; exit code 1 means differences
		kubectl qxsms deploy production --diff

		# Machine output of the applied objects
		kubectl qxsms deploy development -o name`)
)

// Options is the state of one deploy command.
type Options struct {
	Root          string
	Env           string
	Instances     []string
	Prune         bool
	Diff          bool
	Parallel      int
	Wait          bool
	Timeout       time.Duration
	AllowMismatch bool
	Revision      string

	DryRun     deploy.DryRun
	PrintFlags *genericclioptions.PrintFlags

	repo      *overlays.Repo
	instances []overlays.Instance
	target    func() (cli.Target, error)
	clients   func() (*kube.Clients, error)
	fsys      filesys.FileSystem

	genericiooptions.IOStreams
}

// NewCmdDeploy returns the deploy subcommand.
func NewCmdDeploy(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{
		IOStreams:  streams,
		PrintFlags: genericclioptions.NewPrintFlags("").WithTypeSetter(nil),
		Parallel:   8,
		Timeout:    5 * time.Minute,
	}
	cmd := &cobra.Command{
		Use:                   "deploy ENV [INSTANCE...]",
		DisableFlagsInUseLine: true,
		Short:                 "Apply the instances of an environment from their overlays",
		Long:                  long,
		Example:               example,
		Args:                  cobra.MinimumNArgs(1),
		ValidArgsFunction:     cli.CompleteEnvThenInstances(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(f, cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cli.AddRootFlag(cmd, &o.Root)
	cli.AddAllowMismatchFlag(cmd, &o.AllowMismatch)
	cmd.Flags().BoolVar(&o.Prune, "prune", false, "Delete objects of the instance that left its overlay (never a Namespace, PVC or PV). With --wait, only once every rollout of the instance succeeded.")
	cmd.Flags().BoolVar(&o.Diff, "diff", false, "Print a unified diff of live vs desired (Secret values masked) and apply nothing. Exit code 0: no differences, 1: differences, >1: error.")
	cmd.Flags().IntVar(&o.Parallel, "parallel", o.Parallel, "How many instances to deploy at once.")
	cmd.Flags().BoolVar(&o.Wait, "wait", false, "Wait until each instance's Deployments and StatefulSets are rolled out.")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long --wait waits for each instance.")
	cmd.Flags().StringVar(&o.Revision, "revision", os.Getenv("CI_COMMIT_SHORT_SHA"), "Source revision recorded in the inventory (default $CI_COMMIT_SHORT_SHA).")
	cmdutil.AddDryRunFlag(cmd)
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Complete resolves the repo, the instances, the context and the clients.
func (o *Options) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.Env, o.Instances = args[0], args[1:]
	strategy, err := cmdutil.GetDryRunStrategy(cmd)
	if err != nil {
		return err
	}
	o.DryRun = map[cmdutil.DryRunStrategy]deploy.DryRun{
		cmdutil.DryRunNone: deploy.DryRunNone, cmdutil.DryRunClient: deploy.DryRunClient, cmdutil.DryRunServer: deploy.DryRunServer,
	}[strategy]
	if o.repo, err = cli.FindRepo(o.Root); err != nil {
		return err
	}
	if o.instances, err = o.repo.Select(o.Env, o.Instances); err != nil {
		return err
	}
	o.target = func() (cli.Target, error) { return cli.ResolveTarget(cmd, f) }
	o.clients = sync.OnceValues(func() (*kube.Clients, error) { return kube.New(f) })
	o.fsys = filesys.MakeFsOnDisk()
	return nil
}

// Validate checks flag combinations.
func (o *Options) Validate() error {
	if o.Parallel < 1 {
		return fmt.Errorf("--parallel must be at least 1, got %d", o.Parallel)
	}
	if o.Diff && o.DryRun != deploy.DryRunNone {
		return errors.New("--diff and --dry-run cannot be combined: --diff already applies nothing")
	}
	if o.Diff && *o.PrintFlags.OutputFormat != "" {
		return errors.New("--diff and --output cannot be combined: --diff prints a unified diff")
	}
	if o.Diff && o.Wait {
		return errors.New("--diff and --wait cannot be combined: --diff applies nothing to wait for")
	}
	if err := cli.ValidateOutput(*o.PrintFlags.OutputFormat, "json", "yaml", "name"); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", o.Timeout)
	}
	return nil
}

// Run builds, checks and applies every selected instance.
func (o *Options) Run(ctx context.Context) error {
	target, err := o.target()
	if err != nil {
		return o.fail(err)
	}
	kubeContext := target.Context
	cfg, err := cli.GuardTarget(o.repo, o.Env, target, o.AllowMismatch, o.ErrOut)
	if err != nil {
		return o.fail(err)
	}
	built, err := overlays.BuildInstances(o.fsys, o.instances)
	if err != nil {
		return o.fail(err)
	}
	// Placeholder secrets: refused where real ones are required, before anything is applied anywhere.
	if err := secrets.Check(cfg, o.Env, o.instances, built, o.ErrOut); err != nil {
		return o.fail(err)
	}
	clients, err := o.clients()
	if err != nil {
		return o.fail(err)
	}
	if err := clients.Ping(ctx); err != nil {
		return o.fail(err)
	}
	plans, err := deploy.Prepare(clients, o.instances, built)
	if err != nil {
		return o.fail(err)
	}
	d := &deploy.Deployer{Clients: clients, Options: deploy.Options{
		FieldManager:   FieldManager,
		Tooling:        FieldManager + "/" + buildinfo.Version,
		DryRun:         o.DryRun,
		Prune:          o.Prune,
		Diff:           o.Diff,
		Parallel:       o.Parallel,
		ObjectParallel: 4,
		Wait:           o.Wait,
		Timeout:        o.Timeout,
		Revision:       o.Revision,
		Progress:       o.ErrOut,
	}}
	fmt.Fprintf(o.ErrOut, "Deploying %d instance(s) of %s to context %q\n", len(plans), o.Env, kubeContext)

	var mu sync.Mutex
	differences := 0
	results := d.Run(ctx, plans, func(r *deploy.InstanceResult) {
		// One block per instance, whole, so parallel instances never interleave.
		var out, errOut bytes.Buffer
		n := o.printInstance(&out, &errOut, r)
		mu.Lock()
		defer mu.Unlock()
		differences += n
		_, _ = o.Out.Write(out.Bytes())
		_, _ = o.ErrOut.Write(errOut.Bytes())
	})

	if err := o.printMachineOutput(results); err != nil {
		return o.fail(err)
	}
	summaryOut := o.Out
	if o.Diff || *o.PrintFlags.OutputFormat != "" {
		summaryOut = o.ErrOut
	}
	printSummary(summaryOut, results, o.suffix())

	var failed []string
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, r.Instance.String())
		}
	}
	switch {
	case len(failed) > 0:
		return o.fail(fmt.Errorf("%d of %d instance(s) failed: %s (see the errors above; re-run deploy once fixed, it converges)", len(failed), len(results), strings.Join(failed, ", ")))
	case o.Diff && differences > 0:
		return cli.WithCode(1, nil)
	}
	return nil
}

// fail gives errors kubectl diff's exit code (2) with --diff, else 1.
func (o *Options) fail(err error) error {
	if o.Diff {
		return cli.WithCode(2, err)
	}
	return err
}

func (o *Options) suffix() string {
	switch {
	case o.Diff:
		return ""
	case o.DryRun == deploy.DryRunClient:
		return " (dry run)"
	case o.DryRun == deploy.DryRunServer:
		return " (server dry run)"
	}
	return ""
}

// printInstance writes one instance's block, failures to errOut so that
// machine output stays parseable, and returns how many objects differ.
func (o *Options) printInstance(buf, errOut *bytes.Buffer, r *deploy.InstanceResult) int {
	format := *o.PrintFlags.OutputFormat
	differences := 0
	for _, obj := range r.Objects {
		switch {
		case obj.Err != nil:
			// Named with its error in r.Err, printed to errOut below.
		case o.Diff:
			if obj.Diff != "" && obj.Action != deploy.Unchanged && obj.Action != deploy.Kept {
				differences++
				buf.WriteString(obj.Diff)
			}
		case format == "name":
			if obj.Action != deploy.Pruned && obj.Action != deploy.Kept && obj.Action != deploy.Skipped {
				fmt.Fprintln(buf, obj.Name)
			}
		case format == "":
			action := string(obj.Action)
			switch obj.Action {
			case deploy.Kept:
				action = "kept (prune never deletes a " + obj.GroupKind.Kind + ")"
			case deploy.Skipped:
				action = "skipped (not allowed to manage the Namespace; it must exist)"
			}
			fmt.Fprintf(buf, "%s %s%s\n", obj.Name, action, o.suffix())
		}
	}
	if format == "" && !o.Diff {
		fmt.Fprintf(buf, "instance %s: %d created, %d configured, %d unchanged, %d pruned%s in %s\n", r.Instance,
			r.Count(deploy.Created), r.Count(deploy.Configured), r.Count(deploy.Unchanged), r.Count(deploy.Pruned), o.suffix(), r.Duration.Round(time.Millisecond))
	}
	if r.PruneSkipped != "" {
		fmt.Fprintf(errOut, "instance %s: prune skipped: %s\n", r.Instance, r.PruneSkipped)
	}
	if r.Err != nil {
		fmt.Fprintf(errOut, "error: instance %s: %v\n", r.Instance, r.Err)
	}
	return differences
}

func (o *Options) printMachineOutput(results []*deploy.InstanceResult) error {
	var objs []*unstructured.Unstructured
	for _, r := range results {
		for _, obj := range r.Objects {
			if obj.Object != nil && obj.Action != deploy.Pruned && obj.Action != deploy.Kept {
				objs = append(objs, obj.Object)
			}
		}
	}
	return cli.PrintList(o.PrintFlags, objs, o.Out)
}

func printSummary(out io.Writer, results []*deploy.InstanceResult, suffix string) {
	w := printers.GetNewTabWriter(out)
	defer w.Flush()
	fmt.Fprintln(w, "INSTANCE\tCREATED\tCONFIGURED\tUNCHANGED\tPRUNED\tKEPT\tDURATION\tRESULT")
	for _, r := range results {
		result := "ok" + suffix
		if r.Err != nil {
			result = "failed"
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.Instance, r.Count(deploy.Created), r.Count(deploy.Configured),
			r.Count(deploy.Unchanged), r.Count(deploy.Pruned), r.Count(deploy.Kept), r.Duration.Round(time.Millisecond), result)
	}
}
