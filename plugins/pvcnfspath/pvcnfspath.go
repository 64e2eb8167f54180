// Package pvcnfspath implements `kubectl qxsms pvc-nfs-path`.
package pvcnfspath

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/volumes"
	"github.com/qxsms/kubectl-qxsms/plugins/internal/cli"
)

var (
	long = templates.LongDesc(`
		Show where the data of an instance's volumes lives on the NFS server.

		Each PVC of namespace qxsms-INSTANCE (or the named ones) is listed with the
		PV it is bound to (spec.volumeName, and the PV's claimRef uid), the NFS
		server and the exported path. Then every PV whose claimRef points into
		qxsms-INSTANCE although that claim is gone (an earlier generation, after a
		teardown and a new deploy) is listed on its own row, with when it was
		released, newest first. In-tree NFS volumes (nfs-subdir-external-provisioner
		and the like) and nfs.csi.k8s.io volumes are read.

		--rsync prints one command per volume that copies it into
		DEST/<pvc>-<pv>/, so generations never overwrite each other. The commands
		use rsync -s (protect-args): the NFS server's shell never parses a path.

		-o json|yaml prints a List of VolumePath records (apiVersion
		qxsms.io/v1alpha1), one per row of the table, named after the PV.`)

	example = templates.Examples(`
		# Where the data of instance pprd is
		kubectl qxsms pvc-nfs-path pprd

		# The same as JSON, or only the paths
		kubectl qxsms pvc-nfs-path pprd -o json
		kubectl qxsms pvc-nfs-path pprd -o jsonpath --template '{range .items[*]}{.server}:{.path}{"\n"}{end}'

		# One command per volume to copy the data back
		kubectl qxsms pvc-nfs-path pprd --rsync /backup/pprd --ssh-user admin

		# The server exports /srv/nfs as its NFSv4 root "/"
		kubectl qxsms pvc-nfs-path pprd --export-root /=/srv/nfs -o wide`)
)

// Row is one volume in machine output.
type Row struct {
	PVC       string `json:"pvc"`
	Namespace string `json:"namespace"`
	Volume    string `json:"volume"`
	Status    string `json:"status"`
	// Released is when a PV whose claim is gone was released (RFC 3339),
	// "unknown" when the cluster does not say.
	Released     string `json:"released,omitempty"`
	Capacity     string `json:"capacity,omitempty"`
	StorageClass string `json:"storageClass,omitempty"`
	Source       string `json:"source,omitempty"`
	Server       string `json:"server,omitempty"`
	Path         string `json:"path,omitempty"`
	ServerPath   string `json:"serverPath,omitempty"`
	// Archived is where the provisioner moves the data when this PV goes
	// with reclaim policy Delete and the StorageClass archives.
	Archived string `json:"archived,omitempty"`
	Error    string `json:"error,omitempty"`

	// unreadable marks an NFS volume whose location could not be read.
	unreadable bool
}

// PVCNFSPathOptions holds the flags of one pvc-nfs-path command as the user
// typed them, and what Complete resolves from them.
type PVCNFSPathOptions struct {
	Rsync      string
	SSHUser    string
	ExportRoot string
	Output     *cli.OutputFlags
	genericiooptions.IOStreams

	// newClients is set by NewPVCNFSPathOptions; tests replace it.
	newClients func(cmdutil.Factory) func() (*kube.Clients, error)

	// Resolved by Complete.
	instance   string
	claims     []string
	exportRoot volumes.ExportRoot
	clients    func() (*kube.Clients, error)
	// class is read by Run.
	class func(string) *storagev1.StorageClass
}

// NewPVCNFSPathOptions returns the defaults of pvc-nfs-path.
func NewPVCNFSPathOptions(streams genericiooptions.IOStreams) *PVCNFSPathOptions {
	return &PVCNFSPathOptions{IOStreams: streams, Output: cli.NewOutputFlags("", true), newClients: cli.NewClients}
}

// NewCmdPVCNFSPath returns the pvc-nfs-path subcommand.
func NewCmdPVCNFSPath(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmd(f, NewPVCNFSPathOptions(streams))
}

// newCmd binds o's flags; tests hand in options with fake seams.
func newCmd(f cmdutil.Factory, o *PVCNFSPathOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:                   "pvc-nfs-path INSTANCE [PVC...]",
		DisableFlagsInUseLine: true,
		Short:                 "Show the NFS server and path of an instance's volumes, even after a teardown",
		Long:                  long,
		Example:               example,
		Args:                  cobra.MinimumNArgs(1),
		ValidArgsFunction:     cli.CompleteClusterInstances(f, 1),
		RunE:                  func(cmd *cobra.Command, args []string) error { return cli.Run(f, o, cmd, args) },
	}
	o.Output.AddFlags(cmd)
	cmd.Flags().StringVar(&o.Rsync, "rsync", "", "Print one rsync command per volume that copies its data into DEST/<pvc>-<pv>/.")
	cmd.Flags().StringVar(&o.SSHUser, "ssh-user", "", "With --rsync: the user to log in to the NFS server as.")
	cmd.Flags().StringVar(&o.ExportRoot, "export-root", "", "EXPORT=FSPATH: where exported paths lie on the server's filesystem, e.g. /=/srv/nfs for an NFSv4 root.")
	return cmd
}

// Complete reads the instance and the claims from the arguments, and parses
// --export-root.
func (o *PVCNFSPathOptions) Complete(f cmdutil.Factory, _ *cobra.Command, args []string) error {
	if len(args) > 0 {
		o.instance, o.claims = args[0], args[1:]
	}
	if o.ExportRoot != "" {
		r, err := volumes.ParseExportRoot(o.ExportRoot)
		if err != nil {
			return err
		}
		o.exportRoot = r
	}
	o.clients = o.newClients(f)
	return nil
}

// Validate checks arguments and flags.
func (o *PVCNFSPathOptions) Validate() error {
	if err := overlays.ValidateName("instance", o.instance); err != nil {
		return err
	}
	for _, c := range o.claims {
		// PVC names are DNS-1123 subdomains: dots are allowed.
		if errs := validation.IsDNS1123Subdomain(c); len(errs) > 0 {
			return fmt.Errorf("invalid PVC name %q: %s", c, strings.Join(errs, "; "))
		}
	}
	if err := o.Output.Validate(); err != nil {
		return err
	}
	if o.Rsync != "" && o.Output.Format() != "" {
		return errors.New("--rsync prints commands: it cannot be combined with --output")
	}
	if o.SSHUser != "" && o.Rsync == "" {
		return errors.New("--ssh-user goes with --rsync")
	}
	return nil
}

// Run finds the volumes and prints them.
func (o *PVCNFSPathOptions) Run(ctx context.Context) error {
	clients, err := o.clients()
	if err != nil {
		return err
	}
	client := clients.Typed
	o.class = volumes.Classes(ctx, client)
	vols, err := volumes.ForInstance(ctx, client, o.instance, o.claims)
	if err != nil {
		return err
	}
	if len(vols) == 0 {
		fmt.Fprintf(o.ErrOut, "No PersistentVolumeClaims found for instance %s (namespace %s), nor PVs that claimed into it.\n", o.instance, overlays.Namespace(o.instance))
		return nil
	}
	rows := make([]Row, len(vols))
	for i, v := range vols {
		rows[i] = o.row(v)
		if rows[i].Error != "" {
			fmt.Fprintf(o.ErrOut, "Warning: %s/%s: %s\n", v.Namespace, v.PVC, rows[i].Error)
		}
	}
	if o.Rsync != "" {
		return o.printRsync(rows)
	}
	if table, wide := o.Output.Table(); table {
		printTable(o.Out, rows, wide)
		return nil
	}
	objs := make([]*unstructured.Unstructured, len(rows))
	for i, r := range rows {
		if objs[i], err = cli.AsObject(RecordKind, r.name(), r); err != nil {
			return err
		}
	}
	return o.Output.PrintObjects(objs, o.Out)
}

// RecordKind is the kind of a Row in machine output.
const RecordKind = "VolumePath"

// name identifies a row in machine output: its PV, or the claim when it is
// not bound to one.
func (r Row) name() string {
	if r.Volume != "" {
		return r.Volume
	}
	return r.PVC
}

func (o *PVCNFSPathOptions) row(v volumes.Volume) Row {
	r := Row{PVC: v.PVC, Namespace: v.Namespace, Volume: v.PVName(), Status: v.Status}
	if !v.Current() {
		r.Released = "unknown"
		if v.ReleasedAt != nil {
			r.Released = v.ReleasedAt.UTC().Format(time.RFC3339)
		}
	}
	if v.PV != nil {
		if c := volumes.Capacity(v.PV); c != "-" {
			r.Capacity = c
		}
		r.StorageClass = v.PV.Spec.StorageClassName
	}
	switch {
	case v.LocationErr != nil:
		r.Error, r.unreadable = v.LocationErr.Error(), true
	case v.Location != nil:
		r.Source, r.Server, r.Path = v.Location.Source, v.Location.Server, v.Location.Path
		r.ServerPath = o.exportRoot.ServerPath(*v.Location)
		if a := volumes.Archived(v.PV, *v.Location, o.class(v.PV.Spec.StorageClassName)); a != "" {
			r.Archived = o.exportRoot.MapPath(a)
		}
	case v.PV == nil:
		r.Error = "not bound to a volume"
	default:
		r.Error = fmt.Sprintf("volume %s is not an NFS volume", v.PV.Name)
	}
	return r
}

// printRsync prints one command per volume, into DEST/<pvc>-<pv>/ so that
// generations of a claim never overwrite each other.
func (o *PVCNFSPathOptions) printRsync(rows []Row) error {
	n, refused := 0, 0
	for _, r := range rows {
		if r.unreadable {
			// Already warned about: an NFS volume whose location cannot be
			// used safely, which must not pass for "not on NFS".
			refused++
		}
		if r.Server == "" {
			continue
		}
		cmd, err := volumes.RsyncCommand(r.Server, r.ServerPath, o.SSHUser, o.Rsync, r.PVC+"-"+r.Volume)
		if err != nil {
			fmt.Fprintf(o.ErrOut, "Warning: %s/%s (%s): %v\n", r.Namespace, r.PVC, r.Volume, err)
			refused++
			continue
		}
		if r.Released != "" {
			fmt.Fprintf(o.Out, "# %s: claim gone, released %s\n", r.Volume, r.Released)
		}
		fmt.Fprintln(o.Out, cmd)
		n++
	}
	if refused > 0 {
		return fmt.Errorf("%d volume(s) of %s have paths no command can be printed for safely: copy them by hand", refused, o.instance)
	}
	if n == 0 {
		return fmt.Errorf("none of the volumes of %s is on NFS: nothing to rsync", o.instance)
	}
	return nil
}

func printTable(out io.Writer, rows []Row, wide bool) {
	w := printers.GetNewTabWriter(out)
	defer w.Flush()
	header := "PVC\tVOLUME\tSTATUS\tRELEASED\tSERVER\tPATH"
	if wide {
		header += "\tCAPACITY\tSTORAGECLASS\tSOURCE\tSERVER PATH\tARCHIVED TO"
	}
	fmt.Fprintln(w, header)
	for _, r := range rows {
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", r.PVC, cli.Dash(r.Volume), r.Status, cli.Dash(r.Released), cli.Dash(r.Server), cli.Dash(r.Path))
		if wide {
			line += fmt.Sprintf("\t%s\t%s\t%s\t%s\t%s", cli.Dash(r.Capacity), cli.Dash(r.StorageClass), cli.Dash(r.Source), cli.Dash(r.ServerPath), cli.Dash(r.Archived))
		}
		fmt.Fprintln(w, line)
	}
}
