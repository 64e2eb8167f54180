package volumes

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

// PageSize is the chunk size of PV lists, kubectl's default.
const PageSize = 500

// Volume is one claim of an instance and the PV behind it. The claim may be
// gone (namespace deleted): the PV's claimRef still names it.
type Volume struct {
	Namespace string `json:"namespace"`
	PVC       string `json:"pvc"`
	// Status is the claim's phase, or "Deleted" when only the PV remembers it.
	Status   string                   `json:"status"`
	PV       *corev1.PersistentVolume `json:"-"`
	Location *Location                `json:"location,omitempty"`
	// LocationErr says why an NFS PV's location could not be read.
	LocationErr error `json:"-"`
}

// PVName is the bound PV's name, or "".
func (v Volume) PVName() string {
	if v.PV == nil {
		return ""
	}
	return v.PV.Name
}

// EachPV calls fn for every PV, one page of PageSize at a time, so memory
// stays bounded however many PVs the cluster has.
func EachPV(ctx context.Context, client kubernetes.Interface, fn func(*corev1.PersistentVolume)) error {
	opts := metav1.ListOptions{Limit: PageSize}
	for {
		page, err := client.CoreV1().PersistentVolumes().List(ctx, opts)
		if err != nil {
			if apierrors.IsForbidden(err) {
				return fmt.Errorf("listing PersistentVolumes needs a cluster-wide permission (get/list persistentvolumes): %w", err)
			}
			return fmt.Errorf("listing PersistentVolumes: %w", err)
		}
		for i := range page.Items {
			fn(&page.Items[i])
		}
		if page.Continue == "" {
			return nil
		}
		opts.Continue = page.Continue
	}
}

// ForInstance returns the volumes of instance: its PVCs with their PVs, and
// the PVs whose claimRef points into its namespace although the claim is gone.
// Named claims restrict the result.
func ForInstance(ctx context.Context, client kubernetes.Interface, instance string, claims []string) ([]Volume, error) {
	ns := overlays.Namespace(instance)
	pvcs, err := client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("listing the PVCs of %s: %w", ns, err)
	}
	byClaim := map[string]*corev1.PersistentVolume{}
	if err := EachPV(ctx, client, func(pv *corev1.PersistentVolume) {
		if ref := pv.Spec.ClaimRef; ref != nil && ref.Namespace == ns {
			byClaim[ref.Name] = pv.DeepCopy()
		}
	}); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, c := range claims {
		want[c] = true
	}
	var out []Volume
	seen := map[string]bool{}
	if pvcs != nil {
		for _, pvc := range pvcs.Items {
			seen[pvc.Name] = true
			var pv *corev1.PersistentVolume
			if p := byClaim[pvc.Name]; p != nil && (pvc.Spec.VolumeName == "" || p.Name == pvc.Spec.VolumeName) {
				pv = p
			}
			out = append(out, newVolume(ns, pvc.Name, string(pvc.Status.Phase), pv))
		}
	}
	for claim, pv := range byClaim {
		if !seen[claim] {
			out = append(out, newVolume(ns, claim, "Deleted", pv))
		}
	}
	if len(want) > 0 {
		var filtered []Volume
		for _, v := range out {
			if want[v.PVC] {
				filtered = append(filtered, v)
				delete(want, v.PVC)
			}
		}
		if len(want) > 0 {
			var missing []string
			for c := range want {
				missing = append(missing, c)
			}
			sort.Strings(missing)
			return nil, fmt.Errorf("no PVC %v in %s, nor a PV that claimed it: list them with `kubectl qxsms pvc-nfs-path %s`", missing, ns, instance)
		}
		out = filtered
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PVC < out[j].PVC })
	return out, nil
}

func newVolume(ns, claim, status string, pv *corev1.PersistentVolume) Volume {
	v := Volume{Namespace: ns, PVC: claim, Status: status, PV: pv}
	if loc, ok, err := NFSLocation(pv); ok {
		if err != nil {
			v.LocationErr = err
		} else {
			v.Location = &loc
		}
	}
	return v
}

// ReleasedFilter narrows the Released PVs listed.
type ReleasedFilter struct {
	Instances      []string
	ClaimNamespace string
	OlderThan      time.Duration
	Now            time.Time
}

// Released lists the PVs in phase Released that match f. Field selectors can't
// select on phase, so this is one paginated list filtered here.
func Released(ctx context.Context, client kubernetes.Interface, f ReleasedFilter) ([]corev1.PersistentVolume, error) {
	namespaces := map[string]bool{}
	for _, inst := range f.Instances {
		namespaces[overlays.Namespace(inst)] = true
	}
	if f.ClaimNamespace != "" {
		namespaces[f.ClaimNamespace] = true
	}
	var out []corev1.PersistentVolume
	err := EachPV(ctx, client, func(pv *corev1.PersistentVolume) {
		if pv.Status.Phase != corev1.VolumeReleased {
			return
		}
		if len(namespaces) > 0 && (pv.Spec.ClaimRef == nil || !namespaces[pv.Spec.ClaimRef.Namespace]) {
			return
		}
		if f.OlderThan > 0 && f.Now.Sub(ReleasedSince(pv)) < f.OlderThan {
			return
		}
		out = append(out, *pv.DeepCopy())
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// ReleasedSince is when the PV entered its phase, or its creation when the
// cluster doesn't record that.
func ReleasedSince(pv *corev1.PersistentVolume) time.Time {
	if t := pv.Status.LastPhaseTransitionTime; t != nil {
		return t.Time
	}
	return pv.CreationTimestamp.Time
}
