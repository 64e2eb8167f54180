package volumes

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// DeleteResult is the outcome of deleting one Released PV.
type DeleteResult struct {
	PV string
	// Skipped is set when the PV changed since it was listed.
	Skipped bool
	Err     error
}

// DeleteReleased deletes each PV only if it is still exactly what was listed:
// same UID and resourceVersion. Deleting a PV leaves its NFS data in place.
func DeleteReleased(ctx context.Context, client kubernetes.Interface, pvs []corev1.PersistentVolume, dryRun bool) []DeleteResult {
	out := make([]DeleteResult, len(pvs))
	for i, pv := range pvs {
		uid, rv := pv.UID, pv.ResourceVersion
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		err := client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, opts)
		switch {
		case apierrors.IsConflict(err), apierrors.IsNotFound(err):
			out[i] = DeleteResult{PV: pv.Name, Skipped: true, Err: fmt.Errorf("changed or deleted since it was listed: %w", err)}
		case err != nil:
			out[i] = DeleteResult{PV: pv.Name, Err: err}
		default:
			out[i] = DeleteResult{PV: pv.Name}
		}
	}
	return out
}

// Rebind makes a Released PV bindable by namespace/claim only: the claimRef
// keeps naming the claim but loses the old claim's uid and resourceVersion,
// so the PV turns Available and binds to a new PVC of that name.
func Rebind(ctx context.Context, client kubernetes.Interface, pvName, namespace, claim string) (*corev1.PersistentVolume, error) {
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if pv.Status.Phase != corev1.VolumeReleased {
		return nil, fmt.Errorf("PV %s is %s, not Released: only a Released PV can be rebound", pvName, pv.Status.Phase)
	}
	patch, _ := json.Marshal(map[string]any{
		// The resourceVersion makes the patch fail if the PV changed since it was read.
		"metadata": map[string]any{"resourceVersion": pv.ResourceVersion},
		"spec": map[string]any{"claimRef": map[string]any{
			"apiVersion": "v1", "kind": "PersistentVolumeClaim",
			"namespace": namespace, "name": claim, "uid": nil, "resourceVersion": nil,
		}},
	})
	return client.CoreV1().PersistentVolumes().Patch(ctx, pvName, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-qxsms"})
}

// ClaimFor is the PVC that binds to a rebound PV: same class, size and access
// modes, and volumeName set.
func ClaimFor(pv *corev1.PersistentVolume, namespace, claim string) *corev1.PersistentVolumeClaim {
	size := pv.Spec.Capacity[corev1.ResourceStorage]
	return &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: claim, Namespace: namespace},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &pv.Spec.StorageClassName,
			AccessModes:      pv.Spec.AccessModes,
			VolumeName:       pv.Name,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size.DeepCopy()}},
		},
	}
}

// CleanForExport strips what the server owns and the claimRef, so the manifest
// re-attaches the same NFS directory as a new, Available PV.
func CleanForExport(pv *corev1.PersistentVolume) *corev1.PersistentVolume {
	out := &corev1.PersistentVolume{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolume"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   pv.Name,
			Labels: pv.Labels,
		},
		Spec: *pv.Spec.DeepCopy(),
	}
	for k, v := range pv.Annotations {
		if !strings.HasPrefix(k, "pv.kubernetes.io/") && k != "kubectl.kubernetes.io/last-applied-configuration" {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[k] = v
		}
	}
	out.Spec.ClaimRef = nil
	return out
}

// Export writes each PV's cleaned manifest to dir/<name>.yaml and returns the paths.
func Export(dir string, pvs []corev1.PersistentVolume) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--export: %w", err)
	}
	var paths []string
	for i := range pvs {
		b, err := yaml.Marshal(CleanForExport(&pvs[i]))
		if err != nil {
			return paths, err
		}
		p := filepath.Join(dir, pvs[i].Name+".yaml")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return paths, fmt.Errorf("--export: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// Capacity is the PV's storage capacity as kubectl prints it.
func Capacity(pv *corev1.PersistentVolume) string {
	q, ok := pv.Spec.Capacity[corev1.ResourceStorage]
	if !ok {
		return "-"
	}
	return (&q).String()
}
