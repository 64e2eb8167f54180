// Command nfs-provisioner is the local cluster's dynamic provisioner. It makes
// PVs the way the NFS provisioners of real clusters make them, one shape per
// provisioner name, each backed by real directories under --data-root, which
// stands in for the NFS server's export root (--export-root), so tests can
// check that data survives a teardown and that printed paths are the real
// directories:
//
//   - k8s-sigs.io/nfs-subdir-external-provisioner (class nfs): in-tree spec.nfs,
//     PV pvc-<uid> on <export-root>/pvc-<uid>, the class's reclaim policy, and
//     nothing done to the directory when the PV goes.
//   - cluster.local/nfs-subdir-external-provisioner (class nfs-subdir): as
//     kubernetes-sigs/nfs-subdir-external-provisioner does, in-tree spec.nfs on
//     <export-root>/<namespace>-<pvcName>-<pvName>, or the pathPattern
//     parameter filled from the PVC's metadata; on Delete, onDelete=delete|retain,
//     else archiveOnDelete=false removes it, else it is renamed
//     archived-<its base name> at the export root.
//   - nfs.csi.k8s.io (class nfs-csi): as kubernetes-csi/csi-driver-nfs behind
//     external-provisioner --extra-create-metadata does: CSI PVs with
//     volumeHandle server#share#subdir#uuid#onDelete (share and subdir without
//     their outer slashes; uuid is the PV name when subDir is a parameter;
//     onDelete only when retain or archive), volumeAttributes the class's
//     parameters as spelled plus the PVC/PV metadata keys, subdir filled in; on
//     Delete, onDelete retain keeps, archive renames share/archived-<subdir>,
//     anything else removes.
//
// Written from the two projects' documentation and source, not copied.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

// Provisioner names, one per shape.
const (
	nameInTree = "k8s-sigs.io/nfs-subdir-external-provisioner"
	nameSubdir = "cluster.local/nfs-subdir-external-provisioner"
	nameCSI    = "nfs.csi.k8s.io"
)

// exportFS maps the NFS server's export root onto the local data root.
type exportFS struct {
	server     string
	exportRoot string // the path on the NFS server, e.g. /srv/nfs
	dataRoot   string // where this machine keeps the export's directories
}

// hostDir maps a path on the NFS server under exportRoot to its local
// directory, refusing anything that would escape the data root.
func (e *exportFS) hostDir(exportPath string) (string, error) {
	clean := path.Clean("/" + exportPath)
	rel, ok := strings.CutPrefix(clean, e.exportRoot+"/")
	if !ok || rel == "" || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("path %q is not a directory under %s", exportPath, e.exportRoot)
	}
	return filepath.Join(e.dataRoot, filepath.FromSlash(rel)), nil
}

func reclaimPolicy(sc *storagev1.StorageClass) v1.PersistentVolumeReclaimPolicy {
	if sc.ReclaimPolicy != nil {
		return *sc.ReclaimPolicy
	}
	return v1.PersistentVolumeReclaimDelete
}

func basePV(opts controller.ProvisionOptions, src v1.PersistentVolumeSource) *v1.PersistentVolume {
	return &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: opts.PVName},
		Spec: v1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: reclaimPolicy(opts.StorageClass),
			AccessModes:                   opts.PVC.Spec.AccessModes,
			MountOptions:                  opts.StorageClass.MountOptions,
			Capacity:                      v1.ResourceList{v1.ResourceStorage: opts.PVC.Spec.Resources.Requests[v1.ResourceStorage]},
			PersistentVolumeSource:        src,
		},
	}
}

// inTree is the original shape: one directory per PV, named after it.
type inTree struct{ *exportFS }

func (p *inTree) Provision(_ context.Context, opts controller.ProvisionOptions) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	exportPath := path.Join(p.exportRoot, opts.PVName)
	dir, err := p.hostDir(exportPath)
	if err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("creating %s: %w", dir, err)
	}
	return basePV(opts, v1.PersistentVolumeSource{NFS: &v1.NFSVolumeSource{Server: p.server, Path: exportPath}}), controller.ProvisioningFinished, nil
}

// Delete runs only for the Delete reclaim policy; Retain volumes keep their data.
func (p *inTree) Delete(_ context.Context, pv *v1.PersistentVolume) error {
	if pv.Spec.NFS == nil {
		return errors.New("not an NFS volume")
	}
	dir, err := p.hostDir(pv.Spec.NFS.Path)
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// subdir behaves as nfs-subdir-external-provisioner.
type subdir struct {
	*exportFS
	client kubernetes.Interface
}

// pvcField matches ${.PVC.name}, ${.PVC.namespace}, ${.PVC.labels.KEY} and
// ${.PVC.annotations.KEY}, the placeholders pathPattern documents.
var pvcField = regexp.MustCompile(`\$\{\.PVC\.((labels|annotations)\.(.*?)|.*?)\}`)

func fillPattern(pattern string, pvc *v1.PersistentVolumeClaim) string {
	return pvcField.ReplaceAllStringFunc(pattern, func(m string) string {
		sub := pvcField.FindStringSubmatch(m)
		switch sub[2] {
		case "labels":
			return pvc.Labels[sub[3]]
		case "annotations":
			return pvc.Annotations[sub[3]]
		}
		switch sub[1] {
		case "name":
			return pvc.Name
		case "namespace":
			return pvc.Namespace
		}
		return ""
	})
}

func (p *subdir) Provision(_ context.Context, opts controller.ProvisionOptions) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	if opts.PVC.Spec.Selector != nil {
		return nil, controller.ProvisioningFinished, errors.New("claim Selector is not supported")
	}
	rel := strings.Join([]string{opts.PVC.Namespace, opts.PVC.Name, opts.PVName}, "-")
	if pattern, ok := opts.StorageClass.Parameters["pathPattern"]; ok {
		if custom := fillPattern(pattern, opts.PVC); custom != "" {
			rel = custom
		}
	}
	exportPath := path.Join(p.exportRoot, rel)
	dir, err := p.hostDir(exportPath)
	if err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("unable to create directory to provision new pv: %w", err)
	}
	return basePV(opts, v1.PersistentVolumeSource{NFS: &v1.NFSVolumeSource{Server: p.server, Path: exportPath}}), controller.ProvisioningFinished, nil
}

func (p *subdir) Delete(ctx context.Context, pv *v1.PersistentVolume) error {
	if pv.Spec.NFS == nil {
		return errors.New("not an NFS volume")
	}
	// As the real one, it acts on the path's base name at the export root.
	base := path.Base(pv.Spec.NFS.Path)
	dir, err := p.hostDir(path.Join(p.exportRoot, base))
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		klog.Warningf("path %s does not exist, deletion skipped", dir)
		return nil
	}
	sc, err := p.client.StorageV1().StorageClasses().Get(ctx, pv.Spec.StorageClassName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	switch sc.Parameters["onDelete"] {
	case "delete":
		return os.RemoveAll(dir)
	case "retain":
		return nil
	}
	if v, ok := sc.Parameters["archiveOnDelete"]; ok {
		archive, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		if !archive {
			return os.RemoveAll(dir)
		}
	}
	return os.Rename(dir, filepath.Join(p.dataRoot, "archived-"+base))
}

// csiNFS behaves as csi-driver-nfs behind external-provisioner.
type csiNFS struct{ *exportFS }

// Keys external-provisioner adds with --extra-create-metadata.
const (
	pvcNameKey      = "csi.storage.k8s.io/pvc/name"
	pvcNamespaceKey = "csi.storage.k8s.io/pvc/namespace"
	pvNameKey       = "csi.storage.k8s.io/pv/name"
)

func (p *csiNFS) Provision(_ context.Context, opts controller.ProvisionOptions) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	params := map[string]string{}
	for k, v := range opts.StorageClass.Parameters {
		params[k] = v
	}
	params[pvcNameKey], params[pvcNamespaceKey], params[pvNameKey] = opts.PVC.Name, opts.PVC.Namespace, opts.PVName
	var server, share, sub, onDelete string
	for k, v := range params {
		switch strings.ToLower(k) {
		case "server":
			server = v
		case "share":
			share = v
		case "subdir":
			sub = v
		case "ondelete":
			onDelete = v
		}
	}
	if server == "" {
		return nil, controller.ProvisioningFinished, errors.New("server is a required parameter")
	}
	uuid := ""
	if sub == "" {
		sub = opts.PVName
	} else {
		sub = strings.NewReplacer("${pvc.metadata.name}", opts.PVC.Name, "${pvc.metadata.namespace}", opts.PVC.Namespace,
			"${pv.metadata.name}", opts.PVName).Replace(sub)
		uuid = opts.PVName
	}
	switch strings.ToLower(onDelete) {
	case "", "delete", "retain", "archive":
	default:
		return nil, controller.ProvisioningFinished, fmt.Errorf("invalid onDelete %q", onDelete)
	}
	dir, err := p.hostDir(path.Join("/"+share, sub))
	if err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("failed to make subdirectory: %w", err)
	}
	id := []string{strings.Trim(server, "/"), strings.Trim(share, "/"), strings.Trim(sub, "/"), uuid, ""}
	if strings.EqualFold(onDelete, "retain") || strings.EqualFold(onDelete, "archive") {
		id[4] = onDelete
	}
	// The driver returns the parameters as the volume context, subdir set
	// under whichever spelling the class used.
	setFold(params, "subdir", sub)
	return basePV(opts, v1.PersistentVolumeSource{CSI: &v1.CSIPersistentVolumeSource{
		Driver: nameCSI, VolumeHandle: strings.Join(id, "#"), VolumeAttributes: params,
	}}), controller.ProvisioningFinished, nil
}

func setFold(m map[string]string, key, value string) {
	for k := range m {
		if strings.EqualFold(k, key) {
			m[k] = value
			return
		}
	}
	m[key] = value
}

func (p *csiNFS) Delete(_ context.Context, pv *v1.PersistentVolume) error {
	if pv.Spec.CSI == nil {
		return errors.New("not a CSI volume")
	}
	seg := strings.Split(pv.Spec.CSI.VolumeHandle, "#")
	if len(seg) < 3 {
		klog.Warningf("volume id %q is not server#share#subdir: treated as gone", pv.Spec.CSI.VolumeHandle)
		return nil
	}
	share, sub, onDelete := seg[1], seg[2], "delete"
	if len(seg) >= 5 && seg[4] != "" {
		onDelete = seg[4]
	}
	if strings.EqualFold(onDelete, "retain") {
		return nil
	}
	dir, err := p.hostDir(path.Join("/"+share, sub))
	if err != nil {
		return err
	}
	if strings.EqualFold(onDelete, "archive") {
		archived, err := p.hostDir(path.Join("/"+share, "archived-"+sub))
		if err != nil {
			return err
		}
		return os.Rename(dir, archived)
	}
	return os.RemoveAll(dir)
}

func main() {
	klog.InitFlags(nil)
	kubeconfig := flag.String("kubeconfig", "", "admin kubeconfig of the cluster")
	server := flag.String("nfs-server", "nfs.qxsms.local", "NFS server written into in-tree PVs")
	exportRoot := flag.String("export-root", "/srv/nfs", "directory on the NFS server holding the volumes")
	dataRoot := flag.String("data-root", "", "local directory standing in for the export root")
	flag.Parse()
	if *kubeconfig == "" || *dataRoot == "" {
		fmt.Fprintln(os.Stderr, "nfs-provisioner: --kubeconfig and --data-root are required")
		os.Exit(2)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.Fatalf("loading kubeconfig: %v", err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	root, err := filepath.Abs(*dataRoot)
	if err != nil || os.MkdirAll(root, 0o755) != nil {
		klog.Fatalf("data root %s is not usable: %v", *dataRoot, err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	fs := &exportFS{server: *server, exportRoot: path.Clean(*exportRoot), dataRoot: root}
	shapes := map[string]controller.Provisioner{
		nameInTree: &inTree{fs},
		nameSubdir: &subdir{exportFS: fs, client: client},
		nameCSI:    &csiNFS{fs},
	}
	var wg sync.WaitGroup
	for name, p := range shapes {
		pc := controller.NewProvisionController(ctx, client, name, p,
			controller.LeaderElection(false),
			controller.Threadiness(8),
			controller.ExponentialBackOffOnError(false),
		)
		klog.Infof("provisioning %s volumes on %s:%s into %s", name, *server, fs.exportRoot, root)
		wg.Add(1)
		go func() { defer wg.Done(); pc.Run(ctx) }()
	}
	wg.Wait()
}
