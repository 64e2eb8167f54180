// Package pvreleased implements `kubectl qxsms pv-released`.
package pvreleased

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"k8s.io/kubectl/pkg/util/term"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/volumes"
	"github.com/qxsms/kubectl-qxsms/plugins/internal/cli"
)

var (
	long = templates.LongDesc(`
		List the PersistentVolumes whose claim is gone, newest first: phase Released
		(typically after a teardown), phase Failed (an in-tree NFS PV with policy
		Delete ends there, its data untouched) and Available PVs reserved for a
		claim by --rebind that no PVC has taken yet.

		--delete deletes the listed PVs after a preview and a confirmation. It needs
		instances, --claim-namespace or --all. It deletes only PVs with reclaim
		policy Retain, whose data stays on the NFS server at the path it prints;
		others (their provisioner may delete or archive the data) need
		--include-non-retain. When the active context belongs to a protected
		environment, or a PV's claim was in a protected environment's instance,
		--confirm=INSTANCE is needed.

		--rebind makes one Released PV bindable again by one claim, after checking
		that the claim can take it: no PVC of that name bound elsewhere, and the
		overlay's PVC of that name asks for no more storage, no other access modes
		and no other class than the PV offers (otherwise the application would get
		a new, empty volume). --export writes manifests that re-attach the same NFS
		directories, reserved for their old claim's namespace and name.

		--dry-run=client shows what --delete or --rebind would do, after the same
		checks, and sends nothing that writes; --dry-run=server has the API server
		check each deletion or patch without persisting it.`)

	example = templates.Examples(`
		# Every Released PV, and those of one instance
		kubectl qxsms pv-released
		kubectl qxsms pv-released pprd

		# With the NFS server and path, or older than a week
		kubectl qxsms pv-released -o wide
		kubectl qxsms pv-released --older-than 168h

		# Delete them (the data of Retain PVs stays on the NFS server)
		kubectl qxsms pv-released pprd --delete
		kubectl qxsms pv-released pprd --delete --yes
		kubectl qxsms pv-released prod --delete --confirm=prod

		# What --delete would delete, sending nothing; then checked by the API server
		kubectl qxsms pv-released pprd --delete --dry-run=client
		kubectl qxsms pv-released pprd --delete --dry-run=server

		# Let a new PVC qxsms-pprd/qxsms-data bind the old volume and its files
		kubectl qxsms pv-released pvc-0b5c... --rebind qxsms-pprd/qxsms-data
		kubectl qxsms pv-released pvc-0b5c... --rebind qxsms-pprd/qxsms-data -o json

		# Save manifests to re-attach the volumes later
		kubectl qxsms pv-released pprd --export ./pv-backup`)
)

// IncludeNonRetainFlag lets --delete delete PVs whose reclaim policy is not
// Retain: their provisioner may then delete or archive the data.
const IncludeNonRetainFlag = "include-non-retain"

// PVReleasedOptions holds the flags of one pv-released command as the user
// typed them, and what Complete resolves from them.
type PVReleasedOptions struct {
	ClaimNamespace   string
	All              bool
	OlderThan        time.Duration
	Delete           bool
	IncludeNonRetain bool
	Rebind           string
	Export           string
	cli.RepoFlags
	cli.ConfirmFlags
	Output *cli.OutputFlags
	genericiooptions.IOStreams

	// Seams, set by NewPVReleasedOptions; tests replace them.
	newClients func(cmdutil.Factory) func() (*kube.Clients, error)
	now        func() time.Time

	// Resolved by Complete.
	args        []string
	instances   []string
	pvName      string
	dryRun      cmdutil.DryRunStrategy
	clients     func() (*kube.Clients, error)
	kubeContext string
	interactive bool
}

// NewPVReleasedOptions returns the defaults of pv-released.
func NewPVReleasedOptions(streams genericiooptions.IOStreams) *PVReleasedOptions {
	return &PVReleasedOptions{
		IOStreams:  streams,
		Output:     cli.NewOutputFlags("", true),
		newClients: cli.NewClients,
		now:        time.Now,
	}
}

// NewCmdPVReleased returns the pv-released subcommand.
func NewCmdPVReleased(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmd(f, NewPVReleasedOptions(streams))
}

// newCmd binds o's flags; tests hand in options with fake seams.
func newCmd(f cmdutil.Factory, o *PVReleasedOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:                   "pv-released [INSTANCE...] | PV --rebind NAMESPACE/PVC",
		DisableFlagsInUseLine: true,
		Short:                 "List, delete, rebind or export Released PersistentVolumes",
		Long:                  long,
		Example:               example,
		ValidArgsFunction:     cli.CompleteReleasedPVs(f),
		RunE:                  func(cmd *cobra.Command, args []string) error { return cli.Run(f, o, cmd, args) },
	}
	o.RepoFlags.AddFlags(cmd)
	o.ConfirmFlags.AddFlags(cmd)
	o.Output.AddFlags(cmd)
	cmdutil.AddDryRunFlag(cmd)
	cmd.Flags().StringVar(&o.ClaimNamespace, "claim-namespace", "", "Only PVs whose claim was in this namespace.")
	cmd.Flags().BoolVar(&o.All, "all", false, "With --delete: every listed PV of the cluster, whatever its claim's namespace.")
	cmd.Flags().DurationVar(&o.OlderThan, "older-than", 0, "Only PVs Released for at least this long (e.g. 72h); PVs whose Released time is unknown are skipped.")
	cmd.Flags().BoolVar(&o.Delete, "delete", false, "Delete the listed PVs with reclaim policy Retain after a preview and a confirmation. Their NFS data stays.")
	cmd.Flags().BoolVar(&o.IncludeNonRetain, IncludeNonRetainFlag, false, "With --delete: also delete PVs whose reclaim policy is not Retain (their provisioner may delete or archive the data).")
	cmd.Flags().StringVar(&o.Rebind, "rebind", "", "NAMESPACE/PVC: make the Released PV named as argument bindable by that claim only.")
	cmd.Flags().StringVar(&o.Export, "export", "", "Write each listed PV's manifest into this directory, without server fields and with claimRef reduced to namespace and name.")
	return cmd
}

// Complete reads the arguments (instances, or the PV to rebind), the dry-run
// strategy and, for --delete, the active kube context.
func (o *PVReleasedOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.args = args
	if o.Rebind != "" {
		if len(args) == 1 {
			o.pvName = args[0]
		}
	} else {
		o.instances = args
	}
	var err error
	if o.dryRun, err = cmdutil.GetDryRunStrategy(cmd); err != nil {
		return fmt.Errorf("--dry-run: %w", err)
	}
	if o.Delete {
		// Only the protected-context check needs it; a connection without a
		// context (--server alone) leaves the check to the claims.
		if t, err := cli.ResolveTarget(cmd, f); err == nil {
			o.kubeContext = t.Context
		}
	}
	o.interactive = term.IsTerminal(o.In)
	o.clients = o.newClients(f)
	return nil
}

// validateObjectName accepts PV and PVC names as the API server does:
// DNS-1123 subdomains, dots included.
func validateObjectName(what, name string) error {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("invalid %s name %q: %s", what, name, strings.Join(errs, "; "))
	}
	return nil
}

// Validate checks arguments and flag combinations.
func (o *PVReleasedOptions) Validate() error {
	if err := o.Output.Validate(); err != nil {
		return err
	}
	if err := o.ConfirmFlags.Validate(); err != nil {
		return err
	}
	if o.Rebind != "" {
		if o.Delete || o.Export != "" {
			return errors.New("--rebind cannot be combined with --delete or --export")
		}
		if len(o.args) != 1 {
			return errors.New("--rebind takes exactly one PV name as argument: kubectl qxsms pv-released PV --rebind NAMESPACE/PVC")
		}
		if o.Output.Format() == cli.Wide {
			return errors.New("--rebind prints the claim to create: use -o yaml (the default), json or name, not wide")
		}
		if err := validateObjectName("volume", o.pvName); err != nil {
			return err
		}
		ns, pvc, ok := strings.Cut(o.Rebind, "/")
		if !ok || overlays.ValidateName("namespace", ns) != nil || validateObjectName("claim", pvc) != nil {
			return fmt.Errorf("--rebind %q: want NAMESPACE/PVC, a DNS-1123 label and a DNS-1123 subdomain", o.Rebind)
		}
		return nil
	}
	if o.Delete && o.Export != "" {
		return errors.New("--delete and --export cannot be combined: export first, then delete")
	}
	if o.dryRun != cmdutil.DryRunNone && !o.Delete {
		return errors.New("--dry-run applies to --delete and --rebind")
	}
	if (o.IncludeNonRetain || o.Confirm != "") && !o.Delete {
		return fmt.Errorf("--%s and --confirm apply to --delete", IncludeNonRetainFlag)
	}
	if o.All && (len(o.instances) > 0 || o.ClaimNamespace != "") {
		return errors.New("--all cannot be combined with instances or --claim-namespace")
	}
	if o.Delete && !o.All && len(o.instances) == 0 && o.ClaimNamespace == "" {
		return errors.New("refusing to --delete the Released PVs of every namespace: name the instances, or pass --claim-namespace NS, or --all to mean the whole cluster")
	}
	if o.OlderThan < 0 {
		return fmt.Errorf("--older-than must not be negative, got %s", o.OlderThan)
	}
	if o.ClaimNamespace != "" {
		if err := overlays.ValidateName("namespace", o.ClaimNamespace); err != nil {
			return fmt.Errorf("--claim-namespace: %w", err)
		}
	}
	for _, inst := range o.instances {
		if err := overlays.ValidateName("instance", inst); err != nil {
			return err
		}
	}
	return nil
}

// Run lists, then deletes, rebinds or exports.
func (o *PVReleasedOptions) Run(ctx context.Context) error {
	clients, err := o.clients()
	if err != nil {
		return err
	}
	client := clients.Typed
	if o.Rebind != "" {
		return o.rebind(ctx, client)
	}
	list, err := volumes.Released(ctx, client, volumes.ReleasedFilter{
		Instances: o.instances, ClaimNamespace: o.ClaimNamespace, OlderThan: o.OlderThan, Now: o.now(),
	})
	if err != nil {
		return err
	}
	if n := len(list.UnknownAge); n > 0 {
		fmt.Fprintf(o.ErrOut, "Skipped %d PV(s) whose Released time is unknown (the cluster does not record it), so --older-than cannot tell their age: %s\n", n, strings.Join(list.UnknownAge, ", "))
	}
	pvs := list.PVs
	if len(pvs) == 0 {
		fmt.Fprintln(o.ErrOut, "No Released PersistentVolumes found")
		return nil
	}
	class := volumes.Classes(ctx, client)
	if err := o.print(pvs, class); err != nil {
		return err
	}
	switch {
	case o.Export != "":
		paths, err := volumes.Export(o.Export, pvs)
		for _, p := range paths {
			fmt.Fprintf(o.ErrOut, "wrote %s\n", p)
		}
		if err == nil {
			fmt.Fprintf(o.ErrOut, "Each manifest keeps claimRef with its old claim's namespace and name only: `kubectl apply -f FILE` re-attaches the same NFS directory, "+
				"reserved for a PVC of that name in that namespace (no other PVC can take it). Edit claimRef to hand the data to another claim deliberately.\n")
		}
		return err
	case o.Delete:
		return o.delete(ctx, client, pvs, class)
	}
	return nil
}

func (o *PVReleasedOptions) print(pvs []corev1.PersistentVolume, class func(string) *storagev1.StorageClass) error {
	if table, wide := o.Output.Table(); table {
		printTable(o.Out, pvs, wide, o.now(), class)
		return nil
	}
	objs := make([]*unstructured.Unstructured, len(pvs))
	for i := range pvs {
		u, err := cli.ToUnstructured(&pvs[i], pvKind)
		if err != nil {
			return err
		}
		objs[i] = u
	}
	return o.Output.PrintObjects(objs, o.Out)
}

var pvKind = corev1.SchemeGroupVersion.WithKind("PersistentVolume")

// status is the phase, or Reserved for an Available PV pre-bound by a rebind.
func status(pv *corev1.PersistentVolume) string {
	if volumes.Reserved(pv) {
		return volumes.StatusReserved
	}
	return string(pv.Status.Phase)
}

func printTable(out io.Writer, pvs []corev1.PersistentVolume, wide bool, now time.Time, class func(string) *storagev1.StorageClass) {
	w := printers.GetNewTabWriter(out)
	defer w.Flush()
	header := "NAME\tCLAIM\tINSTANCE\tSTATUS\tCAPACITY\tRECLAIM POLICY\tSTORAGECLASS\tRELEASED\tAGE"
	if wide {
		header += "\tNFS SERVER\tPATH\tARCHIVED TO"
	}
	fmt.Fprintln(w, header)
	for i := range pvs {
		pv := &pvs[i]
		claim, instance := "-", "-"
		if ref := pv.Spec.ClaimRef; ref != nil {
			claim = ref.Namespace + "/" + ref.Name
			if inst, ok := overlays.InstanceFromNamespace(ref.Namespace); ok {
				instance = inst
			}
		}
		released := "unknown"
		if t, ok := volumes.ReleasedAt(pv); ok {
			released = duration.HumanDuration(now.Sub(t))
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", pv.Name, claim, instance, status(pv), volumes.Capacity(pv),
			pv.Spec.PersistentVolumeReclaimPolicy, cli.Dash(pv.Spec.StorageClassName),
			released, duration.HumanDuration(now.Sub(pv.CreationTimestamp.Time)))
		if wide {
			server, path, archived := "-", "-", "-"
			if loc, ok, err := volumes.NFSLocation(pv); ok && err == nil {
				server, path, archived = loc.Server, loc.Path, cli.Dash(volumes.Archived(pv, loc, class(pv.Spec.StorageClassName)))
			} else if ok {
				server = "unreadable: " + err.Error()
			}
			row += "\t" + server + "\t" + path + "\t" + archived
		}
		fmt.Fprintln(w, row)
	}
}

// protection says why deleting pvs needs --confirm=INSTANCE, if it does:
// the active context belongs to a protected environment, or a PV's claim
// was in the namespace of a protected environment's instance.
func (o *PVReleasedOptions) protection(pvs []corev1.PersistentVolume) (string, bool) {
	repo, err := o.Repo()
	if err != nil {
		fmt.Fprintf(o.ErrOut, "Warning: no config repo found (%v): protected environments cannot be recognised; pass --root to check them\n", err)
		return "", false
	}
	cfg, err := repo.LoadConfig()
	if err != nil {
		fmt.Fprintf(o.ErrOut, "Warning: %v: protected environments cannot be recognised\n", err)
		return "", false
	}
	if o.kubeContext != "" {
		if env, ok := cfg.ProtectedContext(o.kubeContext); ok {
			return fmt.Sprintf("context %q belongs to the protected environment %q", o.kubeContext, env), true
		}
	}
	envs, _ := repo.Environments()
	for _, env := range envs {
		if !cfg.Protected(env) {
			continue
		}
		insts, _ := repo.Instances(env)
		for _, pv := range pvs {
			if inst, ok := overlays.InstanceFromNamespace(pv.Spec.ClaimRef.Namespace); ok && slices.Contains(insts, inst) {
				return fmt.Sprintf("PV %s was claimed by instance %s of the protected environment %q", pv.Name, inst, env), true
			}
		}
	}
	return "", false
}

// dryRunSuffix is what kubectl appends to an operation in a dry run.
func (o *PVReleasedOptions) dryRunSuffix() string {
	switch o.dryRun {
	case cmdutil.DryRunClient:
		return " (dry run)"
	case cmdutil.DryRunServer:
		return " (server dry run)"
	}
	return ""
}

func (o *PVReleasedOptions) delete(ctx context.Context, client kubernetes.Interface, listed []corev1.PersistentVolume, class func(string) *storagev1.StorageClass) error {
	var pvs []corev1.PersistentVolume
	for _, pv := range listed {
		if p := pv.Spec.PersistentVolumeReclaimPolicy; p != corev1.PersistentVolumeReclaimRetain && !o.IncludeNonRetain {
			fmt.Fprintf(o.ErrOut, "persistentvolume/%s skipped: reclaim policy %s, its provisioner may delete or archive the data when the PV goes (pass --%s to delete it anyway)\n", pv.Name, p, IncludeNonRetainFlag)
			continue
		}
		pvs = append(pvs, pv)
	}
	if len(pvs) == 0 {
		return fmt.Errorf("none of the %d listed PV(s) has reclaim policy Retain: nothing was deleted", len(listed))
	}
	if reason, protected := o.protection(pvs); protected {
		if o.Confirm == "" {
			return fmt.Errorf("%s: pass --confirm=INSTANCE naming the instance whose PVs go (--yes is not enough); nothing was deleted", reason)
		}
		for _, pv := range pvs {
			if pv.Spec.ClaimRef.Namespace != overlays.Namespace(o.Confirm) {
				return fmt.Errorf("%s: --confirm=%s, but PV %s was claimed in %s: select only that instance's PVs (kubectl qxsms pv-released %s --delete --confirm=%s); nothing was deleted",
					reason, o.Confirm, pv.Name, pv.Spec.ClaimRef.Namespace, o.Confirm, o.Confirm)
			}
		}
	} else if o.Confirm != "" {
		for _, pv := range pvs {
			if pv.Spec.ClaimRef.Namespace != overlays.Namespace(o.Confirm) {
				return fmt.Errorf("--confirm=%s does not match PV %s, claimed in %s: nothing was deleted", o.Confirm, pv.Name, pv.Spec.ClaimRef.Namespace)
			}
		}
	}
	if o.dryRun == cmdutil.DryRunNone {
		if err := cli.Confirm(o.IOStreams, o.interactive, o.Yes || o.Confirm != "", "yes", fmt.Sprintf("delete these %d PersistentVolume(s)", len(pvs))); err != nil {
			return err
		}
	}
	var results []volumes.DeleteResult
	if o.dryRun == cmdutil.DryRunClient {
		// A client dry run sends nothing that writes: every selected PV is
		// reported as a real run would delete it.
		for _, pv := range pvs {
			results = append(results, volumes.DeleteResult{PV: pv.Name})
		}
	} else {
		results = volumes.DeleteReleased(ctx, client, pvs, o.dryRun == cmdutil.DryRunServer)
	}
	printer := &printers.NamePrinter{Operation: "deleted" + o.dryRunSuffix()}
	var failed int
	var kept, atRisk []string
	for i, r := range results {
		switch {
		case r.Skipped:
			fmt.Fprintf(o.ErrOut, "persistentvolume/%s skipped: %v\n", r.PV, r.Err)
		case r.Err != nil:
			failed++
			fmt.Fprintf(o.ErrOut, "error: persistentvolume/%s: %v\n", r.PV, r.Err)
		default:
			pv := &pvs[i]
			if err := printer.PrintObj(&metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: pvKind.GroupVersion().String(), Kind: pvKind.Kind},
				ObjectMeta: metav1.ObjectMeta{Name: r.PV}}, o.Out); err != nil {
				return err
			}
			where := "(not an NFS volume: see its provisioner)"
			if loc, ok, err := volumes.NFSLocation(pv); ok && err == nil {
				where = loc.Server + ":" + loc.Path
				if a := volumes.Archived(pv, loc, class(pv.Spec.StorageClassName)); a != "" {
					where += " (archived to " + loc.Server + ":" + a + ")"
				}
			} else if ok {
				where = "(location unreadable: " + err.Error() + ")"
			}
			line := fmt.Sprintf("  %s  %s", r.PV, where)
			if pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRetain {
				kept = append(kept, line)
			} else {
				atRisk = append(atRisk, line)
			}
		}
	}
	if len(kept) > 0 {
		fmt.Fprintf(o.ErrOut, "\nDeleting a PV with reclaim policy Retain does not delete its data. These directories stay on the NFS server (exported paths):\n%s\n"+
			"Remove one, once you are sure it is not needed, on the server: rm -rf -- <that path, below the export's directory on the server's disk>\n", strings.Join(kept, "\n"))
	}
	if len(atRisk) > 0 {
		fmt.Fprintf(o.ErrOut, "\nThese PVs did not have reclaim policy Retain: their provisioner may delete or archive the data:\n%s\n", strings.Join(atRisk, "\n"))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d PV deletion(s) failed", failed, len(results))
	}
	return nil
}

// overlayClaim finds the PVC named claim in the overlay of the instance that
// lives in namespace, so a rebind can be checked against what the next
// deploy will ask for. nil with a reason when it cannot be found.
func (o *PVReleasedOptions) overlayClaim(namespace, claim string) (*corev1.PersistentVolumeClaim, string) {
	inst, ok := overlays.InstanceFromNamespace(namespace)
	if !ok {
		return nil, fmt.Sprintf("%s is not an instance namespace", namespace)
	}
	repo, err := o.Repo()
	if err != nil {
		return nil, err.Error()
	}
	envs, err := repo.Environments()
	if err != nil {
		return nil, err.Error()
	}
	for _, env := range envs {
		insts, err := repo.Select(env, []string{inst})
		if err != nil {
			continue
		}
		objs, err := overlays.Build(filesys.MakeFsOnDisk(), insts[0].Dir)
		if err != nil {
			return nil, fmt.Sprintf("building %s: %v", insts[0], err)
		}
		for _, obj := range objs {
			if obj.GetKind() != "PersistentVolumeClaim" || obj.GetName() != claim {
				continue
			}
			pvc := &corev1.PersistentVolumeClaim{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, pvc); err != nil {
				return nil, err.Error()
			}
			return pvc, ""
		}
		return nil, fmt.Sprintf("overlay %s has no PVC %s", insts[0], claim)
	}
	return nil, fmt.Sprintf("no overlay of instance %s in %s", inst, repo.Dir)
}

func (o *PVReleasedOptions) rebind(ctx context.Context, client kubernetes.Interface) error {
	pvName := o.pvName
	ns, claim, _ := strings.Cut(o.Rebind, "/")
	// Read and checked in dry runs too: a dry run must fail where the real one would.
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("rebinding %s: %w", pvName, err)
	}
	var check volumes.RebindCheck
	existing, err := client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	switch {
	case err == nil:
		check.Existing = existing
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("rebinding %s: reading PVC %s/%s: %w", pvName, ns, claim, err)
	}
	desired, why := o.overlayClaim(ns, claim)
	if desired == nil {
		fmt.Fprintf(o.ErrOut, "Warning: the overlay's PVC %s could not be read (%s): check yourself that it asks for at most %s, access modes within %v and class %q, or it gets a new, empty volume\n",
			claim, why, volumes.Capacity(pv), pv.Spec.AccessModes, pv.Spec.StorageClassName)
	}
	check.Desired = desired
	if err := volumes.CheckRebind(pv, ns, claim, check); err != nil {
		return fmt.Errorf("refusing to rebind %s: %w", pvName, err)
	}
	if o.dryRun == cmdutil.DryRunClient {
		fmt.Fprintf(o.ErrOut, "persistentvolume/%s would be bindable by %s/%s only%s.\n", pvName, ns, claim, o.dryRunSuffix())
		return nil
	}
	pv, err = volumes.Rebind(ctx, client, pv, ns, claim, o.dryRun == cmdutil.DryRunServer)
	if err != nil {
		return fmt.Errorf("rebinding %s: %w", pvName, err)
	}
	if o.dryRun == cmdutil.DryRunServer {
		fmt.Fprintf(o.ErrOut, "persistentvolume/%s would be bindable by %s/%s only%s.\n", pvName, ns, claim, o.dryRunSuffix())
		return nil
	}
	fmt.Fprintf(o.ErrOut, "persistentvolume/%s can now be bound by %s/%s only; until then `kubectl qxsms pv-released` lists it as Reserved.\nNext: create that PVC with volumeName %s, for example by applying:\n", pv.Name, ns, claim, pv.Name)
	var printer printers.ResourcePrinter = &printers.YAMLPrinter{}
	if o.Output.Format() != "" {
		if printer, err = o.Output.ToPrinter(); err != nil {
			return err
		}
	}
	return printer.PrintObj(volumes.ClaimFor(pv, ns, claim), o.Out)
}
