// Package pvreleased implements `kubectl qxsms pv-released`.
package pvreleased

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"k8s.io/kubectl/pkg/util/term"
	"sigs.k8s.io/yaml"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/volumes"
	"github.com/qxsms/kubectl-qxsms/plugins/internal/cli"
)

var (
	long = templates.LongDesc(`
		List the PersistentVolumes in phase Released: volumes whose claim is gone,
		typically after a teardown, and whose data is still on the NFS server.

		--delete deletes the listed PVs after a preview and a confirmation; the data
		stays on the NFS server. --rebind makes one Released PV bindable again by a
		new claim. --export writes manifests that re-attach the same NFS directories.`)

	example = templates.Examples(`
		# Every Released PV, and those of one instance
		kubectl qxsms pv-released
		kubectl qxsms pv-released pprd

		# With the NFS server and path, or older than a week
		kubectl qxsms pv-released -o wide
		kubectl qxsms pv-released --older-than 168h

		# Delete them (the data stays on the NFS server)
		kubectl qxsms pv-released pprd --delete
		kubectl qxsms pv-released pprd --delete --yes

		# Let a new PVC qxsms-pprd/qxsms-data bind the old volume and its files
		kubectl qxsms pv-released pvc-0b5c... --rebind qxsms-pprd/qxsms-data

		# Save manifests to re-attach the volumes later
		kubectl qxsms pv-released pprd --export ./pv-backup`)
)

// Options is the state of one pv-released command.
type Options struct {
	Instances      []string
	ClaimNamespace string
	OlderThan      time.Duration
	Delete         bool
	Yes            bool
	DryRun         bool
	Rebind         string
	Export         string

	PrintFlags *genericclioptions.PrintFlags
	client     func() (kubernetes.Interface, error)
	isTerminal func() bool
	now        func() time.Time
	genericiooptions.IOStreams
}

// NewCmdPVReleased returns the pv-released subcommand.
func NewCmdPVReleased(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams, PrintFlags: genericclioptions.NewPrintFlags("").WithTypeSetter(nil), now: time.Now}
	cmd := &cobra.Command{
		Use:                   "pv-released [INSTANCE...] | PV --rebind NAMESPACE/PVC",
		DisableFlagsInUseLine: true,
		Short:                 "List, delete, rebind or export Released PersistentVolumes",
		Long:                  long,
		Example:               example,
		ValidArgsFunction:     cli.CompleteReleasedPVs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Instances = args
			o.client = func() (kubernetes.Interface, error) { return f.KubernetesClientSet() }
			o.isTerminal = func() bool { return term.IsTerminal(o.In) }
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.ClaimNamespace, "claim-namespace", "", "Only PVs whose claim was in this namespace.")
	cmd.Flags().DurationVar(&o.OlderThan, "older-than", 0, "Only PVs Released for at least this long (e.g. 72h).")
	cmd.Flags().BoolVar(&o.Delete, "delete", false, "Delete the listed PVs after a preview and a confirmation. Their NFS data stays.")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Confirm --delete without a prompt.")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "With --delete or --rebind: show what would happen and change nothing.")
	cmd.Flags().StringVar(&o.Rebind, "rebind", "", "NAMESPACE/PVC: make the Released PV named as argument bindable by that claim only.")
	cmd.Flags().StringVar(&o.Export, "export", "", "Write each listed PV's manifest, without server fields and claimRef, into this directory.")
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Validate checks arguments and flag combinations.
func (o *Options) Validate() error {
	if err := cli.ValidateOutput(*o.PrintFlags.OutputFormat, "wide", "json", "yaml", "name"); err != nil {
		return err
	}
	if o.Rebind != "" {
		if o.Delete || o.Export != "" {
			return errors.New("--rebind cannot be combined with --delete or --export")
		}
		if len(o.Instances) != 1 {
			return errors.New("--rebind takes exactly one PV name as argument: kubectl qxsms pv-released PV --rebind NAMESPACE/PVC")
		}
		if err := overlays.ValidateName("volume", o.Instances[0]); err != nil {
			return err
		}
		ns, pvc, ok := strings.Cut(o.Rebind, "/")
		if !ok || overlays.ValidateName("namespace", ns) != nil || overlays.ValidateName("claim", pvc) != nil {
			return fmt.Errorf("--rebind %q: want NAMESPACE/PVC, both DNS-1123 names", o.Rebind)
		}
		return nil
	}
	if o.Delete && o.Export != "" {
		return errors.New("--delete and --export cannot be combined: export first, then delete")
	}
	if o.DryRun && !o.Delete {
		return errors.New("--dry-run applies to --delete and --rebind")
	}
	if o.OlderThan < 0 {
		return fmt.Errorf("--older-than must not be negative, got %s", o.OlderThan)
	}
	for _, inst := range o.Instances {
		if err := overlays.ValidateName("instance", inst); err != nil {
			return err
		}
	}
	return nil
}

// Run lists, then deletes, rebinds or exports.
func (o *Options) Run(ctx context.Context) error {
	client, err := o.client()
	if err != nil {
		return err
	}
	if o.Rebind != "" {
		return o.rebind(ctx, client)
	}
	pvs, err := volumes.Released(ctx, client, volumes.ReleasedFilter{
		Instances: o.Instances, ClaimNamespace: o.ClaimNamespace, OlderThan: o.OlderThan, Now: o.now(),
	})
	if err != nil {
		return err
	}
	if len(pvs) == 0 {
		fmt.Fprintln(o.ErrOut, "No Released PersistentVolumes found")
		return nil
	}
	if err := o.print(pvs); err != nil {
		return err
	}
	switch {
	case o.Export != "":
		paths, err := volumes.Export(o.Export, pvs)
		for _, p := range paths {
			fmt.Fprintf(o.ErrOut, "wrote %s\n", p)
		}
		if err == nil {
			fmt.Fprintf(o.ErrOut, "Re-attach a volume with `kubectl apply -f FILE`: it becomes Available, with the same NFS directory.\n")
		}
		return err
	case o.Delete:
		return o.delete(ctx, client, pvs)
	}
	return nil
}

func (o *Options) print(pvs []corev1.PersistentVolume) error {
	format := *o.PrintFlags.OutputFormat
	switch format {
	case "json", "yaml", "name":
		var objs []*unstructured.Unstructured
		for i := range pvs {
			u, err := cli.ToUnstructured(&pvs[i], corev1.SchemeGroupVersion.WithKind("PersistentVolume"))
			if err != nil {
				return err
			}
			objs = append(objs, u)
		}
		if format == "name" {
			for _, u := range objs {
				fmt.Fprintf(o.Out, "persistentvolume/%s\n", u.GetName())
			}
			return nil
		}
		return cli.PrintList(o.PrintFlags, objs, o.Out)
	}
	printTable(o.Out, pvs, format == "wide", o.now())
	return nil
}

func printTable(out io.Writer, pvs []corev1.PersistentVolume, wide bool, now time.Time) {
	w := printers.GetNewTabWriter(out)
	defer w.Flush()
	header := "NAME\tCLAIM\tINSTANCE\tCAPACITY\tRECLAIM POLICY\tSTORAGECLASS\tRELEASED\tAGE"
	if wide {
		header += "\tNFS SERVER\tPATH"
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
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", pv.Name, claim, instance, volumes.Capacity(pv),
			pv.Spec.PersistentVolumeReclaimPolicy, cli.Dash(pv.Spec.StorageClassName),
			duration.HumanDuration(now.Sub(volumes.ReleasedSince(pv))), duration.HumanDuration(now.Sub(pv.CreationTimestamp.Time)))
		if wide {
			server, path := "-", "-"
			if loc, ok, err := volumes.NFSLocation(pv); ok && err == nil {
				server, path = loc.Server, loc.Path
			}
			row += "\t" + server + "\t" + path
		}
		fmt.Fprintln(w, row)
	}
}

func (o *Options) delete(ctx context.Context, client kubernetes.Interface, pvs []corev1.PersistentVolume) error {
	if !o.DryRun {
		if err := cli.Confirm(o.IOStreams, o.isTerminal(), o.Yes, "yes", fmt.Sprintf("delete these %d PersistentVolume(s)", len(pvs))); err != nil {
			return err
		}
	}
	suffix := ""
	if o.DryRun {
		suffix = " (server dry run)"
	}
	var failed int
	var kept []string
	results := volumes.DeleteReleased(ctx, client, pvs, o.DryRun)
	for i, r := range results {
		switch {
		case r.Skipped:
			fmt.Fprintf(o.ErrOut, "persistentvolume/%s skipped: %v\n", r.PV, r.Err)
		case r.Err != nil:
			failed++
			fmt.Fprintf(o.ErrOut, "error: persistentvolume/%s: %v\n", r.PV, r.Err)
		default:
			fmt.Fprintf(o.Out, "persistentvolume/%s deleted%s\n", r.PV, suffix)
			if loc, ok, err := volumes.NFSLocation(&pvs[i]); ok && err == nil {
				kept = append(kept, fmt.Sprintf("  %s:%s", loc.Server, loc.Path))
			}
		}
	}
	if len(kept) > 0 {
		fmt.Fprintf(o.ErrOut, "\nDeleting a PV does not delete its data. These directories stay on the NFS server:\n%s\n"+
			"Remove one, once you are sure it is not needed, on the server: rm -rf -- /srv/nfs/<volume>\n", strings.Join(kept, "\n"))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d PV deletion(s) failed", failed, len(results))
	}
	return nil
}

func (o *Options) rebind(ctx context.Context, client kubernetes.Interface) error {
	pvName := o.Instances[0]
	ns, claim, _ := strings.Cut(o.Rebind, "/")
	if o.DryRun {
		fmt.Fprintf(o.ErrOut, "Dry run: persistentvolume/%s would be bindable by %s/%s only.\n", pvName, ns, claim)
		return nil
	}
	pv, err := volumes.Rebind(ctx, client, pvName, ns, claim)
	if err != nil {
		return fmt.Errorf("rebinding %s: %w", pvName, err)
	}
	fmt.Fprintf(o.ErrOut, "persistentvolume/%s can now be bound by %s/%s only.\nNext: create that PVC with volumeName %s, for example by applying:\n", pv.Name, ns, claim, pv.Name)
	b, err := yaml.Marshal(volumes.ClaimFor(pv, ns, claim))
	if err != nil {
		return err
	}
	_, err = o.Out.Write(b)
	return err
}
