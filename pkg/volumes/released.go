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
// same UID and resourceVersion. The caller decides which PVs may go: for
// policy Retain the NFS data stays; for Delete the provisioner may remove
// or archive it.
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

// RebindCheck is what a rebind is checked against.
type RebindCheck struct {
	// Existing is the live PVC of the target name, if any.
	Existing *corev1.PersistentVolumeClaim
	// Desired is the overlay's PVC of that name, if the overlay was found.
	Desired *corev1.PersistentVolumeClaim
}

// CheckRebind refuses a rebind that would leave the application on an empty
// volume, or hand over data the provisioner may delete: the PV controller
// binds a pre-bound PV only to a claim that fits it, and otherwise
// provisions a new, empty volume for the claim without a word.
func CheckRebind(pv *corev1.PersistentVolume, namespace, claim string, c RebindCheck) error {
	if pv.Status.Phase != corev1.VolumeReleased && pv.Status.Phase != corev1.VolumeFailed {
		return fmt.Errorf("PV %s is %s, not Released: only a Released PV can be rebound", pv.Name, pv.Status.Phase)
	}
	if p := pv.Spec.PersistentVolumeReclaimPolicy; p != corev1.PersistentVolumeReclaimRetain {
		return fmt.Errorf("PV %s has reclaim policy %s: once bound and released again its provisioner may delete or archive the data; make it Retain first: kubectl patch pv %s -p '{\"spec\":{\"persistentVolumeReclaimPolicy\":\"Retain\"}}'", pv.Name, p, pv.Name)
	}
	if e := c.Existing; e != nil {
		switch {
		case e.Spec.VolumeName != "" && e.Spec.VolumeName != pv.Name:
			return fmt.Errorf("PVC %s/%s already exists and is bound to PV %s: it will never take %s; delete that PVC first (its own PV's data stays only if that PV is Retain)", namespace, claim, e.Spec.VolumeName, pv.Name)
		case e.Spec.VolumeName == "":
			if err := fits(pv, e, "the existing PVC "+namespace+"/"+claim); err != nil {
				return err
			}
		}
	}
	if d := c.Desired; d != nil {
		if err := fits(pv, d, "the overlay's PVC "+claim); err != nil {
			return err
		}
	}
	return nil
}

// fits applies the PV controller's matching rules that an overlay can break:
// class, size and access modes.
func fits(pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim, what string) error {
	if cls := pvc.Spec.StorageClassName; cls != nil && *cls != pv.Spec.StorageClassName {
		return fmt.Errorf("%s asks for StorageClass %q, PV %s is of %q: it would get a new, empty volume instead", what, *cls, pv.Name, pv.Spec.StorageClassName)
	}
	want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	have := pv.Spec.Capacity[corev1.ResourceStorage]
	if want.Cmp(have) > 0 {
		return fmt.Errorf("%s requests %s, PV %s offers %s: it would get a new, empty volume instead; lower the request to %s or less", what, want.String(), pv.Name, have.String(), have.String())
	}
	offered := map[corev1.PersistentVolumeAccessMode]bool{}
	for _, m := range pv.Spec.AccessModes {
		offered[m] = true
	}
	for _, m := range pvc.Spec.AccessModes {
		if !offered[m] {
			return fmt.Errorf("%s asks for access modes %v, PV %s offers %v: it would get a new, empty volume instead", what, pvc.Spec.AccessModes, pv.Name, pv.Spec.AccessModes)
		}
	}
	return nil
}

// Rebind makes a Released PV bindable by namespace/claim only: the claimRef
// keeps naming the claim but loses the old claim's uid and resourceVersion,
// so the PV turns Available and binds to a new PVC of that name. pv is the
// PV as read and checked; the patch fails if it changed since. With dryRun
// the server checks and answers the patch without persisting it.
func Rebind(ctx context.Context, client kubernetes.Interface, pv *corev1.PersistentVolume, namespace, claim string, dryRun bool) (*corev1.PersistentVolume, error) {
	patch, _ := json.Marshal(map[string]any{
		// The resourceVersion makes the patch fail if the PV changed since it was read.
		"metadata": map[string]any{"resourceVersion": pv.ResourceVersion},
		"spec": map[string]any{"claimRef": map[string]any{
			"apiVersion": "v1", "kind": "PersistentVolumeClaim",
			"namespace": namespace, "name": claim, "uid": nil, "resourceVersion": nil,
		}},
	})
	opts := metav1.PatchOptions{FieldManager: "kubectl-qxsms"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return client.CoreV1().PersistentVolumes().Patch(ctx, pv.Name, types.MergePatchType, patch, opts)
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

// CleanForExport strips what the server owns, and keeps of the claimRef only
// the claim's namespace and name: applied again, the PV is reserved for that
// claim (as --rebind does) instead of going to the next fitting PVC of its
// class in any namespace.
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
	if ref := pv.Spec.ClaimRef; ref != nil {
		out.Spec.ClaimRef = &corev1.ObjectReference{APIVersion: "v1", Kind: "PersistentVolumeClaim", Namespace: ref.Namespace, Name: ref.Name}
	}
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
