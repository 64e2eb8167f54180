// Command nfs-provisioner is the local cluster's dynamic provisioner for the
// `nfs` StorageClass. It behaves like the NFS provisioners of the real
// clusters: each claim gets a PV named pvc-<uid> with spec.nfs pointing at
// /srv/nfs/pvc-<uid> on the NFS server, and the StorageClass's reclaim policy.
// The NFS export is simulated by a real directory under --data-root, so that
// tests can check that data survives a teardown.
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
	"strings"
	"syscall"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

type nfsProvisioner struct {
	server     string
	exportRoot string // the path on the NFS server, e.g. /srv/nfs
	dataRoot   string // where this machine keeps the export's directories
}

// hostDir maps an export path under exportRoot to its local directory,
// refusing anything that would escape the data root.
func (p *nfsProvisioner) hostDir(exportPath string) (string, error) {
	rel, ok := strings.CutPrefix(path.Clean(exportPath), p.exportRoot+"/")
	if !ok || rel == "" || strings.Contains(rel, "/") || rel == ".." {
		return "", fmt.Errorf("path %q is not a volume directory under %s", exportPath, p.exportRoot)
	}
	return filepath.Join(p.dataRoot, rel), nil
}

func (p *nfsProvisioner) Provision(_ context.Context, opts controller.ProvisionOptions) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	exportPath := path.Join(p.exportRoot, opts.PVName)
	dir, err := p.hostDir(exportPath)
	if err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("creating %s: %w", dir, err)
	}
	reclaim := v1.PersistentVolumeReclaimDelete
	if opts.StorageClass.ReclaimPolicy != nil {
		reclaim = *opts.StorageClass.ReclaimPolicy
	}
	return &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: opts.PVName},
		Spec: v1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: reclaim,
			AccessModes:                   opts.PVC.Spec.AccessModes,
			MountOptions:                  opts.StorageClass.MountOptions,
			Capacity:                      v1.ResourceList{v1.ResourceStorage: opts.PVC.Spec.Resources.Requests[v1.ResourceStorage]},
			PersistentVolumeSource: v1.PersistentVolumeSource{
				NFS: &v1.NFSVolumeSource{Server: p.server, Path: exportPath},
			},
		},
	}, controller.ProvisioningFinished, nil
}

// Delete runs only for the Delete reclaim policy; Retain volumes keep their data.
func (p *nfsProvisioner) Delete(_ context.Context, pv *v1.PersistentVolume) error {
	if pv.Spec.NFS == nil {
		return errors.New("not an NFS volume")
	}
	dir, err := p.hostDir(pv.Spec.NFS.Path)
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

func main() {
	klog.InitFlags(nil)
	kubeconfig := flag.String("kubeconfig", "", "admin kubeconfig of the cluster")
	name := flag.String("provisioner-name", "k8s-sigs.io/nfs-subdir-external-provisioner", "provisioner name the StorageClass refers to")
	server := flag.String("nfs-server", "nfs.qxsms.local", "NFS server written into each PV")
	exportRoot := flag.String("export-root", "/srv/nfs", "directory on the NFS server holding one folder per volume")
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
	p := &nfsProvisioner{server: *server, exportRoot: path.Clean(*exportRoot), dataRoot: root}
	pc := controller.NewProvisionController(ctx, client, *name, p,
		controller.LeaderElection(false),
		controller.Threadiness(8),
		controller.ExponentialBackOffOnError(false),
	)
	klog.Infof("provisioning %s volumes on %s:%s into %s", *name, *server, p.exportRoot, root)
	pc.Run(ctx)
}
