// Package deploy implements `kubectl qxsms deploy`.
package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
	"github.com/qxsms/kubectl-qxsms/pkg/waves"
	"github.com/qxsms/kubectl-qxsms/plugins/internal/cli"
)

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

		By default every instance is deployed at once and deploy does not wait for
		rollouts; pass --wait (CI should). A progressive rollout (--canary, --waves,
		--wave-size, or the environment's canary in k8s/qxsms.yaml) first finds the
		instances the change touches by server dry run; unchanged ones are reported
		and cost no wait. The canaries are deployed first, rolled out, and soaked
		(--canary-soak: a pod that restarts, turns unready or fails is a failure);
		then the others go in waves, each rolled out before the next starts, in the
		order of k8s/qxsms.yaml's "order", then by name. A failed canary, or more
		failed instances than --max-failures, stops the rollout: the instances not
		yet touched are reported skipped, and the command that resumes the rollout
		is printed. Ctrl-C stops after the current wave's applies.`)

	example = templates.Examples(`
		# Deploy every staging instance
		kubectl qxsms deploy staging

		# Deploy two instances, delete what left their overlays, and wait for the rollouts
		kubectl qxsms deploy staging pprd demo --prune --wait --timeout 5m

		# Show what would change, Secret values masked; exit code 1 means differences
		kubectl qxsms deploy production --diff

		# pprd first, watched for two minutes, then the others in 4 waves
		kubectl qxsms deploy staging --canary pprd --canary-soak 2m --waves 4

		# Ignore the environment's default canary
		kubectl qxsms deploy production --canary=""

		# Machine output of the applied objects
		kubectl qxsms deploy development -o name`)
)

// Options are the flags of one deploy command and what Complete resolves.
type Options struct {
	Guard      cli.GuardFlags
	WaitFlags  *cli.WaitFlags
	Output     *cli.OutputFlags
	Prune      bool
	Diff       bool
	Parallel   int
	Revision   string
	Canaries   []string
	CanarySoak time.Duration
	Waves      int
	WaveSize   string
	// MaxFailures is how many failed instances a progressive rollout tolerates.
	MaxFailures int

	env       string
	selected  []string
	dryRun    deploy.DryRun
	repo      *overlays.Repo
	instances []overlays.Instance
	// canarySet is whether --canary was given (even empty, which disables
	// the environment's default canary).
	canarySet bool
	// resumeFlags are the flags the user typed, for the resume command.
	resumeFlags []string
	target      func() (cli.Target, error)
	clients     func() (*kube.Clients, error)
	fsys        filesys.FileSystem

	genericiooptions.IOStreams
}

// NewDeployOptions returns the defaults of deploy.
func NewDeployOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{
		IOStreams:  streams,
		WaitFlags:  cli.NewWaitFlags(false, 5*time.Minute),
		Output:     cli.NewOutputFlags("", false),
		CanarySoak: time.Minute,
	}
}

// NewCmdDeploy returns the deploy subcommand.
func NewCmdDeploy(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewDeployOptions(streams)
	cmd := &cobra.Command{
		Use:                   "deploy ENV [INSTANCE...]",
		DisableFlagsInUseLine: true,
		Short:                 "Apply the instances of an environment from their overlays",
		Long:                  long,
		Example:               example,
		Args:                  cobra.MinimumNArgs(1),
		ValidArgsFunction:     cli.CompleteEnvThenInstances(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.fail(cli.Run(f, o, cmd, args))
		},
	}
	o.Guard.AddFlags(cmd)
	o.WaitFlags.AddFlags(cmd, "each instance's Deployments and StatefulSets are rolled out (a progressive rollout always waits)")
	o.Output.AddFlags(cmd)
	cmd.Flags().BoolVar(&o.Prune, "prune", false, "Delete objects of the instance that left its overlay (never a Namespace, PVC or PV). With --wait, only once every rollout of the instance succeeded.")
	cmd.Flags().BoolVar(&o.Diff, "diff", false, "Print a unified diff of live vs desired (Secret values masked) and apply nothing; with a rollout, also the waves. Exit code 0: no differences, 1: differences, >1: error.")
	cmd.Flags().IntVar(&o.Parallel, "parallel", o.Parallel, "How many instances to deploy at once (0: all of them, up to 64).")
	cmd.Flags().StringVar(&o.Revision, "revision", os.Getenv("CI_COMMIT_SHORT_SHA"), "Source revision recorded in the inventory (default $CI_COMMIT_SHORT_SHA).")
	cmd.Flags().StringSliceVar(&o.Canaries, "canary", nil, "Instances to deploy, roll out and soak first (default: the environment's canary in k8s/qxsms.yaml; --canary=\"\" for none).")
	cmd.Flags().DurationVar(&o.CanarySoak, "canary-soak", o.CanarySoak, "How long to watch the canaries' pods once rolled out.")
	cmd.Flags().IntVar(&o.Waves, "waves", 0, "Deploy the instances after the canaries in this many waves, each rolled out before the next.")
	cmd.Flags().StringVar(&o.WaveSize, "wave-size", "", "Instead of --waves: instances per wave, N or P% of them.")
	cmd.Flags().IntVar(&o.MaxFailures, "max-failures", 0, "In a progressive rollout, how many failed instances to tolerate before stopping (a failed canary always stops it).")
	cmdutil.AddDryRunFlag(cmd)
	return cmd
}

// deployGCPercent trades memory for CPU in this short-lived command: its heap
// is mostly garbage from building and encoding objects, and at Go's default of
// 100 the collector took a fifth of its CPU, which on a CI runner is the whole
// cost. Measured on an unchanged redeploy of 50 instances: client CPU 2.8s at
// 100, 2.25s at 200, 2.1s at 400; peak RSS 136, 150 and 183 MiB.
const deployGCPercent = 200

// lessGC applies deployGCPercent unless the user set GOGC.
func lessGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(deployGCPercent)
	}
}

// Complete resolves the repo, the instances, the rollout, the context and the clients.
func (o *Options) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.env, o.selected = args[0], args[1:]
	strategy, err := cmdutil.GetDryRunStrategy(cmd)
	if err != nil {
		return err
	}
	o.dryRun = map[cmdutil.DryRunStrategy]deploy.DryRun{
		cmdutil.DryRunNone: deploy.DryRunNone, cmdutil.DryRunClient: deploy.DryRunClient, cmdutil.DryRunServer: deploy.DryRunServer,
	}[strategy]
	if o.repo, err = o.Guard.Repo(); err != nil {
		return err
	}
	if o.instances, err = o.repo.Select(o.env, o.selected); err != nil {
		return err
	}
	o.canarySet = cmd.Flags().Changed("canary")
	o.Canaries = slices.DeleteFunc(o.Canaries, func(s string) bool { return s == "" })
	if !o.WaitFlags.Wait && cmd.Flags().Changed("wait") && o.progressiveFlags() {
		return errors.New("--wait=false cannot be combined with --canary, --waves or --wave-size: a progressive rollout waits for each wave")
	}
	o.resumeFlags = cli.TypedFlags(cmd, "canary")
	o.target = func() (cli.Target, error) { return cli.ResolveTarget(cmd, f) }
	o.clients = cli.NewClients(f)
	o.fsys = filesys.MakeFsOnDisk()
	return nil
}

func (o *Options) progressiveFlags() bool {
	return len(o.Canaries) > 0 || o.Waves > 0 || o.WaveSize != ""
}

// Validate checks flag combinations.
func (o *Options) Validate() error {
	if o.Parallel < 0 {
		return fmt.Errorf("--parallel must be 0 (all at once) or more, got %d", o.Parallel)
	}
	if o.Diff && o.dryRun != deploy.DryRunNone {
		return errors.New("--diff and --dry-run cannot be combined: --diff already applies nothing")
	}
	if o.Diff && o.Output.Format() != "" {
		return errors.New("--diff and --output cannot be combined: --diff prints a unified diff")
	}
	if o.Diff && o.WaitFlags.Wait {
		return errors.New("--diff and --wait cannot be combined: --diff applies nothing to wait for")
	}
	if o.CanarySoak < 0 {
		return fmt.Errorf("--canary-soak must not be negative, got %s", o.CanarySoak)
	}
	for _, c := range o.Canaries {
		if err := overlays.ValidateName("instance", c); err != nil {
			return fmt.Errorf("--canary: %w", err)
		}
	}
	if err := o.Output.Validate(); err != nil {
		return err
	}
	return o.WaitFlags.Validate()
}

// Run checks the target, builds every selected instance and hands them to the engine.
func (o *Options) Run(ctx context.Context) (err error) {
	defer func() { err = o.fail(err) }()
	lessGC()
	target, err := o.target()
	if err != nil {
		return err
	}
	cfg, err := o.Guard.Check(o.repo, o.env, target, o.ErrOut)
	if err != nil {
		return err
	}
	built, err := overlays.BuildInstances(o.fsys, o.instances)
	if err != nil {
		return err
	}
	// Placeholder secrets: refused where real ones are required, before anything is applied anywhere.
	if err := secrets.Check(cfg, o.env, o.instances, built, o.ErrOut); err != nil {
		return err
	}
	clients, err := o.clients()
	if err != nil {
		return err
	}
	if err := clients.Ping(ctx); err != nil {
		return err
	}
	spec := o.rollout(cfg)
	fmt.Fprintf(o.ErrOut, "Deploying %d instance(s) of %s to context %q\n", len(o.instances), o.env, target.Context)

	var mu sync.Mutex
	differences := 0
	res, err := deploy.Apply(ctx, clients, o.instances, built, deploy.Options{
		FieldManager: deploy.FieldManager,
		Tooling:      deploy.FieldManager + "/" + buildinfo.Version,
		DryRun:       o.dryRun,
		Prune:        o.Prune,
		Diff:         o.Diff,
		Parallel:     o.parallel(),
		Wait:         o.WaitFlags.Wait,
		Timeout:      o.WaitFlags.Timeout,
		Revision:     o.Revision,
		Progress:     o.ErrOut,
		Rollout:      spec,
		OnInstance: func(r *deploy.InstanceResult) {
			// One block per instance, whole, so parallel instances never interleave.
			var out, errOut bytes.Buffer
			n := o.printInstance(&out, &errOut, r)
			mu.Lock()
			defer mu.Unlock()
			differences += n
			_, _ = o.Out.Write(out.Bytes())
			_, _ = o.ErrOut.Write(errOut.Bytes())
		},
	})
	if err != nil {
		return err
	}
	if err := o.printMachineOutput(res.Instances); err != nil {
		return err
	}
	summaryOut := o.Out
	if o.Diff || o.Output.Format() != "" {
		summaryOut = o.ErrOut
	}
	printSummary(summaryOut, res.Instances, o.suffix())
	if res.Plan != nil && res.Report == nil {
		printPlan(o.ErrOut, res.Plan)
	}
	if res.Report != nil && res.Report.Stopped != "" {
		return o.stopped(res)
	}

	var failed []string
	for _, r := range res.Instances {
		if r.Err != nil {
			failed = append(failed, r.Instance.String())
		}
	}
	switch {
	case len(failed) > 0:
		return fmt.Errorf("%d of %d instance(s) failed: %s (see the errors above; re-run deploy once fixed, it converges)", len(failed), len(res.Instances), strings.Join(failed, ", "))
	case o.Diff && differences > 0:
		return cli.WithCode(1, nil)
	}
	return nil
}

// maxParallel bounds --parallel 0: each instance costs a few round trips in
// sequence, so instances deployed at once hide the latency to the API server;
// client-go's QPS limit and API Priority and Fairness bound the load.
const maxParallel = 64

// parallel is how many instances go at once.
func (o *Options) parallel() int {
	if o.Parallel > 0 {
		return o.Parallel
	}
	return min(max(1, len(o.instances)), maxParallel)
}

// rollout is the progressive rollout asked for by the flags, or by the
// environment's canary when --canary is not given; the environment's
// canaries outside the selection are left out.
func (o *Options) rollout(cfg *overlays.Config) deploy.Rollout {
	env := cfg.Environments[o.env]
	spec := waves.Spec{Canaries: o.Canaries, Waves: o.Waves, Size: o.WaveSize, Order: env.Order, MaxFailures: o.MaxFailures}
	if !o.canarySet {
		for _, c := range env.Canary {
			if slices.ContainsFunc(o.instances, func(i overlays.Instance) bool { return i.Name == c }) {
				spec.Canaries = append(spec.Canaries, c)
			}
		}
		if len(spec.Canaries) > 0 {
			fmt.Fprintf(o.ErrOut, "Canary from %s: %s (--canary=\"\" to go without)\n", cfg.Path, strings.Join(spec.Canaries, ", "))
		}
	}
	return deploy.Rollout{Spec: spec, Soak: o.CanarySoak}
}

// stopped explains a stopped rollout: what failed, and the command that
// resumes it, the failed instances first as its canaries.
func (o *Options) stopped(res *deploy.Result) error {
	failed, skipped := res.Report.Remaining(res.Plan)
	var b strings.Builder
	fmt.Fprintf(&b, "rollout stopped after %s: %s; %d instance(s) skipped, not touched: %s",
		res.Report.StoppedAfter, res.Report.Stopped, len(skipped), cli.Dash(strings.Join(skipped, ", ")))
	for _, r := range res.Instances {
		if r.Err != nil {
			fmt.Fprintf(&b, "\n  %s failed: %v", r.Instance.Name, r.Err)
		}
	}
	args := []string{"kubectl", "qxsms", "deploy", o.env}
	args = append(args, failed...)
	args = append(args, skipped...)
	if len(failed) > 0 {
		args = append(args, "--canary="+strings.Join(failed, ","))
	} else if o.canarySet || len(o.Canaries) > 0 {
		args = append(args, "--canary=")
	}
	args = append(args, o.resumeFlags...)
	fmt.Fprintf(&b, "\nonce the cause is fixed, resume with:\n  %s", cli.ShellJoin(args))
	return errors.New(b.String())
}

func printPlan(out io.Writer, plan []waves.Wave) {
	if len(plan) == 0 {
		fmt.Fprintln(out, "Rollout: no instance would change")
		return
	}
	fmt.Fprintln(out, "Rollout of the instances that would change:")
	for _, w := range plan {
		fmt.Fprintf(out, "  %s: %d instance(s): %s\n", w, len(w.Names), strings.Join(w.Names, ", "))
	}
}

// fail gives errors kubectl diff's exit code (2) with --diff, else 1; an
// error that carries its own code keeps it.
func (o *Options) fail(err error) error {
	var coded *cli.ExitError
	if o.Diff && err != nil && !errors.As(err, &coded) {
		return cli.WithCode(2, err)
	}
	return err
}

func (o *Options) suffix() string {
	switch {
	case o.Diff:
		return ""
	case o.dryRun == deploy.DryRunClient:
		return " (dry run)"
	case o.dryRun == deploy.DryRunServer:
		return " (server dry run)"
	}
	return ""
}

// printInstance writes one instance's block, failures to errOut so that
// machine output stays parseable, and returns how many objects differ.
func (o *Options) printInstance(buf, errOut *bytes.Buffer, r *deploy.InstanceResult) int {
	format := o.Output.Format()
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
	if format == "" && !o.Diff && !r.Skipped {
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
	if !o.Output.Machine() || o.Output.Format() == "name" {
		return nil // the names were printed instance by instance
	}
	return o.Output.PrintObjects(objs, o.Out)
}

func printSummary(out io.Writer, results []*deploy.InstanceResult, suffix string) {
	w := printers.GetNewTabWriter(out)
	defer w.Flush()
	fmt.Fprintln(w, "INSTANCE\tCREATED\tCONFIGURED\tUNCHANGED\tPRUNED\tKEPT\tDURATION\tRESULT")
	for _, r := range results {
		result := "ok" + suffix
		switch {
		case r.Skipped:
			result = "skipped"
		case r.Err != nil:
			result = "failed"
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.Instance, r.Count(deploy.Created), r.Count(deploy.Configured),
			r.Count(deploy.Unchanged), r.Count(deploy.Pruned), r.Count(deploy.Kept), r.Duration.Round(time.Millisecond), result)
	}
}
