package volumes

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

// PageSize is the chunk size of PV lists, kubectl's default.
const PageSize = 500

// Statuses of volumes whose claim is not (or no longer) a live PVC.
const (
	// StatusDeleted: the claim is gone; the PV's claimRef still names it.
	StatusDeleted = "Deleted"
	// StatusReserved: the PV is pre-bound to a claim name (a rebind) that no
	// PVC has taken yet.
	StatusReserved = "Reserved"
)

// Volume is one claim of an instance and the PV behind it, or one PV whose
// claim is gone. A claim name can appear several times: the live PVC and the
// PVs of its earlier generations (teardown, then deploy again).
type Volume struct {
	Namespace string `json:"namespace"`
	PVC       string `json:"pvc"`
	// Status is the claim's phase, or StatusDeleted/StatusReserved when only
	// the PV remembers the claim.
	Status string                   `json:"status"`
	PV     *corev1.PersistentVolume `json:"-"`
	// StorageClass is the claim's class, or the PV's when the claim is gone.
	StorageClass string `json:"storageClass,omitempty"`
	// ReleasedAt is when a PV whose claim is gone entered its phase, when the
	// cluster records it.
	ReleasedAt *time.Time `json:"releasedAt,omitempty"`
	Location   *Location  `json:"location,omitempty"`
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

// Current reports whether v is a live PVC (not a PV left by a gone claim).
func (v Volume) Current() bool { return v.Status != StatusDeleted && v.Status != StatusReserved }

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

// BoundTo reports whether pv is the volume of pvc: the claim names it in
// spec.volumeName and the PV's claimRef names the claim, with its uid once
// the PV controller has bound them (a pre-bound PV has no uid yet).
func BoundTo(pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) bool {
	ref := pv.Spec.ClaimRef
	return pvc.Spec.VolumeName != "" && pv.Name == pvc.Spec.VolumeName && ref != nil &&
		ref.Namespace == pvc.Namespace && ref.Name == pvc.Name && (ref.UID == "" || ref.UID == pvc.UID)
}

// ForInstance returns the volumes of instance: its PVCs with their PVs, then
// every PV whose claimRef points into its namespace although that claim is
// gone, newest first within a claim name. Named claims restrict the result.
func ForInstance(ctx context.Context, client kubernetes.Interface, instance string, claims []string) ([]Volume, error) {
	ns := overlays.Namespace(instance)
	pvcs, err := client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("listing the PVCs of %s: %w", ns, err)
	}
	var pvs []*corev1.PersistentVolume
	if err := EachPV(ctx, client, func(pv *corev1.PersistentVolume) {
		if ref := pv.Spec.ClaimRef; ref != nil && ref.Namespace == ns {
			pvs = append(pvs, pv.DeepCopy())
		}
	}); err != nil {
		return nil, err
	}
	return match(ns, pvcItems(pvcs), pvs, claims, instance)
}

func pvcItems(l *corev1.PersistentVolumeClaimList) []corev1.PersistentVolumeClaim {
	if l == nil {
		return nil
	}
	return l.Items
}

// match pairs claims and PVs by spec.volumeName and claimRef.uid, never by
// name alone: after a teardown and a new deploy, the old generation's PVs
// name the same namespace/claim as the new ones.
func match(ns string, pvcs []corev1.PersistentVolumeClaim, pvs []*corev1.PersistentVolume, claims []string, instance string) ([]Volume, error) {
	byName := map[string]*corev1.PersistentVolume{}
	for _, pv := range pvs {
		byName[pv.Name] = pv
	}
	used := map[string]bool{}
	var current, gone []Volume
	for i := range pvcs {
		pvc := &pvcs[i]
		var pv *corev1.PersistentVolume
		if p := byName[pvc.Spec.VolumeName]; p != nil && BoundTo(p, pvc) {
			pv, used[p.Name] = p, true
		}
		v := newVolume(ns, pvc.Name, string(pvc.Status.Phase), pv)
		if pvc.Spec.StorageClassName != nil {
			v.StorageClass = *pvc.Spec.StorageClassName
		}
		current = append(current, v)
	}
	for _, pv := range pvs {
		if used[pv.Name] {
			continue
		}
		status := StatusDeleted
		if pv.Spec.ClaimRef.UID == "" && pv.Status.Phase == corev1.VolumeAvailable {
			status = StatusReserved
		}
		v := newVolume(ns, pv.Spec.ClaimRef.Name, status, pv)
		v.StorageClass = pv.Spec.StorageClassName
		if t, ok := ReleasedAt(pv); ok {
			v.ReleasedAt = &t
		}
		gone = append(gone, v)
	}
	sort.SliceStable(current, func(i, j int) bool { return current[i].PVC < current[j].PVC })
	sort.SliceStable(gone, func(i, j int) bool {
		a, b := gone[i], gone[j]
		if a.PVC != b.PVC {
			return a.PVC < b.PVC
		}
		return newer(a, b)
	})
	out := append(current, gone...)
	if len(claims) == 0 {
		return out, nil
	}
	want := map[string]bool{}
	for _, c := range claims {
		want[c] = true
	}
	var filtered []Volume
	found := map[string]bool{}
	for _, v := range out {
		if want[v.PVC] {
			filtered = append(filtered, v)
			found[v.PVC] = true
		}
	}
	var missing []string
	for c := range want {
		if !found[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("no PVC %v in %s, nor a PV that claimed it: list them with `kubectl qxsms pvc-nfs-path %s`", missing, ns, instance)
	}
	return filtered, nil
}

// newer orders a before b when it was released later; an unknown time sorts
// last, then the PV name decides, so the order never depends on list order.
func newer(a, b Volume) bool {
	switch {
	case a.ReleasedAt != nil && b.ReleasedAt != nil && !a.ReleasedAt.Equal(*b.ReleasedAt):
		return a.ReleasedAt.After(*b.ReleasedAt)
	case (a.ReleasedAt == nil) != (b.ReleasedAt == nil):
		return a.ReleasedAt != nil
	}
	return a.PVName() < b.PVName()
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

// ReleasedFilter narrows the PVs listed.
type ReleasedFilter struct {
	Instances      []string
	ClaimNamespace string
	OlderThan      time.Duration
	Now            time.Time
}

// ReleasedList is what Released found.
type ReleasedList struct {
	PVs []corev1.PersistentVolume
	// UnknownAge are the PVs --older-than skipped because the cluster does
	// not record when they were released.
	UnknownAge []string
}

// Released lists the PVs whose claim is gone and whose data may still be on
// the NFS server: phase Released, phase Failed (an in-tree NFS PV with
// policy Delete ends there, its data untouched), and Available PVs reserved
// for a claim by a rebind that no PVC has taken. Field selectors can't select
// on phase, so this is one paginated list filtered here. Newest first.
func Released(ctx context.Context, client kubernetes.Interface, f ReleasedFilter) (ReleasedList, error) {
	namespaces := map[string]bool{}
	for _, inst := range f.Instances {
		namespaces[overlays.Namespace(inst)] = true
	}
	if f.ClaimNamespace != "" {
		namespaces[f.ClaimNamespace] = true
	}
	var out ReleasedList
	err := EachPV(ctx, client, func(pv *corev1.PersistentVolume) {
		if !Leftover(pv) {
			return
		}
		if len(namespaces) > 0 && !namespaces[pv.Spec.ClaimRef.Namespace] {
			return
		}
		if f.OlderThan > 0 {
			t, ok := ReleasedAt(pv)
			if !ok {
				out.UnknownAge = append(out.UnknownAge, pv.Name)
				return
			}
			if f.Now.Sub(t) < f.OlderThan {
				return
			}
		}
		out.PVs = append(out.PVs, *pv.DeepCopy())
	})
	sort.SliceStable(out.PVs, func(i, j int) bool {
		a, b := &out.PVs[i], &out.PVs[j]
		ta, oka := ReleasedAt(a)
		tb, okb := ReleasedAt(b)
		switch {
		case oka && okb && !ta.Equal(tb):
			return ta.After(tb)
		case oka != okb:
			return oka
		}
		return a.Name < b.Name
	})
	sort.Strings(out.UnknownAge)
	return out, err
}

// Leftover reports whether pv outlived its claim: Released or Failed, or
// Available and pre-bound to a claim (by a rebind) that has not taken it.
func Leftover(pv *corev1.PersistentVolume) bool {
	switch pv.Status.Phase {
	case corev1.VolumeReleased, corev1.VolumeFailed:
		return pv.Spec.ClaimRef != nil
	case corev1.VolumeAvailable:
		return Reserved(pv)
	}
	return false
}

// Reserved reports whether pv is Available and pre-bound to a claim.
func Reserved(pv *corev1.PersistentVolume) bool {
	return pv.Status.Phase == corev1.VolumeAvailable && pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.UID == "" && pv.Spec.ClaimRef.Name != ""
}

// ReleasedAt is when the PV entered its current phase. ok is false when the
// cluster does not record it (before Kubernetes 1.29, or a PV written
// back from a manifest): its creation time would make a fresh release look
// old, so callers must not guess.
func ReleasedAt(pv *corev1.PersistentVolume) (time.Time, bool) {
	if t := pv.Status.LastPhaseTransitionTime; t != nil {
		return t.Time, true
	}
	return time.Time{}, false
}

// Classes returns a lookup of StorageClasses by name, each read once; nil
// when a class cannot be read (the caller then says less, never guesses).
func Classes(ctx context.Context, client kubernetes.Interface) func(name string) *storagev1.StorageClass {
	cache := map[string]*storagev1.StorageClass{}
	return func(name string) *storagev1.StorageClass {
		if name == "" {
			return nil
		}
		if sc, ok := cache[name]; ok {
			return sc
		}
		sc, err := client.StorageV1().StorageClasses().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			sc = nil
		}
		cache[name] = sc
		return sc
	}
}
