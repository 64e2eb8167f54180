package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

func options(class *storagev1.StorageClass) controller.ProvisionOptions {
	return controller.ProvisionOptions{
		StorageClass: class,
		PVName:       "pvc-123",
		PVC: &v1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "qxsms-a", Labels: map[string]string{"tier": "db"}},
			Spec: v1.PersistentVolumeClaimSpec{Resources: v1.VolumeResourceRequirements{
				Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")}}},
		},
	}
}

func retain() *v1.PersistentVolumeReclaimPolicy { p := v1.PersistentVolumeReclaimRetain; return &p }

func TestShapes(t *testing.T) {
	root := t.TempDir()
	fs := &exportFS{server: "nfs.qxsms.local", exportRoot: "/srv/nfs", dataRoot: root}
	for _, tc := range []struct {
		name      string
		p         controller.Provisioner
		params    map[string]string
		wantPath  string // in-tree path, or the CSI volumeHandle
		wantDir   string
		wantAttrs map[string]string
	}{
		{"in-tree", &inTree{fs}, nil, "/srv/nfs/pvc-123", "pvc-123", nil},
		{"nfs-subdir default", &subdir{exportFS: fs}, nil, "/srv/nfs/qxsms-a-data-pvc-123", "qxsms-a-data-pvc-123", nil},
		{"nfs-subdir pathPattern", &subdir{exportFS: fs}, map[string]string{"pathPattern": "${.PVC.namespace}/${.PVC.labels.tier}-${.PVC.name}"},
			"/srv/nfs/qxsms-a/db-data", "qxsms-a/db-data", nil},
		{"csi subDir template, archive", &csiNFS{fs}, map[string]string{"server": "nfs.qxsms.local", "share": "/srv/nfs", "subDir": "${pvc.metadata.namespace}-${pvc.metadata.name}", "onDelete": "archive"},
			"nfs.qxsms.local#srv/nfs#qxsms-a-data#pvc-123#archive", "qxsms-a-data",
			map[string]string{"server": "nfs.qxsms.local", "share": "/srv/nfs", "subDir": "qxsms-a-data", "onDelete": "archive",
				pvcNameKey: "data", pvcNamespaceKey: "qxsms-a", pvNameKey: "pvc-123"}},
		{"csi default subdir, delete", &csiNFS{fs}, map[string]string{"server": "nfs.qxsms.local", "share": "/srv/nfs"},
			"nfs.qxsms.local#srv/nfs#pvc-123##", "pvc-123",
			map[string]string{"server": "nfs.qxsms.local", "share": "/srv/nfs", "subdir": "pvc-123",
				pvcNameKey: "data", pvcNamespaceKey: "qxsms-a", pvNameKey: "pvc-123"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Parameters: tc.params, ReclaimPolicy: retain()}
			pv, _, err := tc.p.Provision(context.Background(), options(class))
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if pv.Spec.NFS != nil {
				got = pv.Spec.NFS.Path
			} else {
				got = pv.Spec.CSI.VolumeHandle
				if pv.Spec.CSI.Driver != "nfs.csi.k8s.io" {
					t.Errorf("driver %s", pv.Spec.CSI.Driver)
				}
				for k, v := range tc.wantAttrs {
					if pv.Spec.CSI.VolumeAttributes[k] != v {
						t.Errorf("attribute %s = %q, want %q (all: %v)", k, pv.Spec.CSI.VolumeAttributes[k], v, pv.Spec.CSI.VolumeAttributes)
					}
				}
				if len(pv.Spec.CSI.VolumeAttributes) != len(tc.wantAttrs) {
					t.Errorf("attributes %v, want %v", pv.Spec.CSI.VolumeAttributes, tc.wantAttrs)
				}
			}
			if got != tc.wantPath {
				t.Errorf("path/handle %q, want %q", got, tc.wantPath)
			}
			if fi, err := os.Stat(filepath.Join(root, tc.wantDir)); err != nil || !fi.IsDir() {
				t.Errorf("no directory %s: %v", tc.wantDir, err)
			}
		})
	}
}

func TestDeleteArchives(t *testing.T) {
	root := t.TempDir()
	fs := &exportFS{server: "s", exportRoot: "/srv/nfs", dataRoot: root}
	mk := func(rel string) {
		if err := os.MkdirAll(filepath.Join(root, rel), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mk("qxsms-a-data-pvc-1")
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "nfs-subdir"}, Parameters: map[string]string{"archiveOnDelete": "true"}}
	sub := &subdir{exportFS: fs, client: fake.NewClientset(class)}
	pv := &v1.PersistentVolume{Spec: v1.PersistentVolumeSpec{StorageClassName: "nfs-subdir",
		PersistentVolumeSource: v1.PersistentVolumeSource{NFS: &v1.NFSVolumeSource{Server: "s", Path: "/srv/nfs/qxsms-a-data-pvc-1"}}}}
	if err := sub.Delete(context.Background(), pv); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "archived-qxsms-a-data-pvc-1")); err != nil {
		t.Errorf("nfs-subdir did not archive: %v", err)
	}
	mk("qxsms-a-media")
	csiPV := &v1.PersistentVolume{Spec: v1.PersistentVolumeSpec{PersistentVolumeSource: v1.PersistentVolumeSource{CSI: &v1.CSIPersistentVolumeSource{
		Driver: "nfs.csi.k8s.io", VolumeHandle: "s#srv/nfs#qxsms-a-media#pvc-2#archive"}}}}
	if err := (&csiNFS{fs}).Delete(context.Background(), csiPV); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "archived-qxsms-a-media")); err != nil {
		t.Errorf("csi did not archive: %v", err)
	}
	if _, err := fs.hostDir("/srv/nfs/../etc"); err == nil {
		t.Error("hostDir accepted a path out of the export root")
	}
}
