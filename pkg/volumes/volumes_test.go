package volumes

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func nfsPV(name, claimNS, claim string, phase corev1.PersistentVolumePhase) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "7", UID: types.UID("uid-" + name),
			Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": "x", "keep": "me"}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			StorageClassName:              "nfs",
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs1", Path: "/srv/nfs/" + name}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: phase},
	}
	if claim != "" {
		pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: claimNS, Name: claim, UID: "old-uid", ResourceVersion: "3"}
	}
	return pv
}

func csiPV(attrs map[string]string, handle string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "csi"}, Spec: corev1.PersistentVolumeSpec{
		PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: CSIDriverNFS, VolumeAttributes: attrs, VolumeHandle: handle}}}}
}

func TestNFSLocation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pv      *corev1.PersistentVolume
		want    Location
		ok      bool
		wantErr string
	}{
		{"in-tree", nfsPV("pvc-1", "", "", ""), Location{"nfs1", "/srv/nfs/pvc-1", "nfs"}, true, ""},
		{"in-tree unclean path", &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "s", Path: "srv//nfs/x/"}}}}, Location{"s", "/srv/nfs/x", "nfs"}, true, ""},
		{"csi attributes", csiPV(map[string]string{"server": "s", "share": "/exports", "subdir": "pvc-2"}, "ignored"), Location{"s", "/exports/pvc-2", "csi"}, true, ""},
		{"csi attributes without subdir", csiPV(map[string]string{"server": "s", "share": "/exports"}, ""), Location{"s", "/exports", "csi"}, true, ""},
		{"csi handle", csiPV(nil, "s.example#/exports#pvc-3#uuid#retain"), Location{"s.example", "/exports/pvc-3", "csi"}, true, ""},
		{"csi handle two parts", csiPV(nil, "s#/exports"), Location{"s", "/exports", "csi"}, true, ""},
		{"csi bad handle", csiPV(nil, "garbage"), Location{}, true, "not server#share"},
		{"csi handle escaping", csiPV(nil, "s#/exports#../etc"), Location{}, true, "leaves the share"},
		{"other csi driver", &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "ebs.csi.aws.com"}}}}, Location{}, false, ""},
		{"hostPath", &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}}}, Location{}, false, ""},
		{"nil", nil, Location{}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := NFSLocation(tc.pv)
			if ok != tc.ok || got != tc.want || (tc.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NFSLocation = %+v, %v, %v; want %+v, %v, %q", got, ok, err, tc.want, tc.ok, tc.wantErr)
			}
		})
	}
}

func FuzzParseVolumeHandle(f *testing.F) {
	for _, s := range []string{"s#/e#sub#uuid#delete", "s#/e", "#", "", "s#e", "s#/e#../x", "a#/b#c/../../d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		v, err := ParseVolumeHandle(h)
		if err != nil {
			return
		}
		if v.Server == "" || !strings.HasPrefix(v.Share, "/") || hasDotDot(v.Subdir) {
			t.Fatalf("accepted %q as %+v", h, v)
		}
		loc := cleanPath(v.Share + "/" + v.Subdir)
		if !strings.HasPrefix(loc, cleanPath(v.Share)) {
			t.Fatalf("%q: path %s leaves share %s", h, loc, v.Share)
		}
	})
}

func TestExportRootAndRsync(t *testing.T) {
	r, err := ParseExportRoot("/=/srv/nfs")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.ServerPath(Location{Path: "/pvc-1"}); got != "/srv/nfs/pvc-1" {
		t.Errorf("NFSv4 root: %s", got)
	}
	r2, _ := ParseExportRoot("/exports=/data/exports")
	if got := r2.ServerPath(Location{Path: "/exports/pvc-1"}); got != "/data/exports/pvc-1" {
		t.Errorf("prefix map: %s", got)
	}
	if got := r2.ServerPath(Location{Path: "/exportsX/pvc-1"}); got != "/exportsX/pvc-1" {
		t.Errorf("a mere string prefix must not map: %s", got)
	}
	if got := (ExportRoot{}).ServerPath(Location{Path: "/a"}); got != "/a" {
		t.Errorf("no mapping: %s", got)
	}
	for _, bad := range []string{"", "/srv", "rel=/x", "/x=rel"} {
		if _, err := ParseExportRoot(bad); err == nil {
			t.Errorf("ParseExportRoot(%q) accepted", bad)
		}
	}
	got := RsyncCommand("nfs1", "/srv/nfs/pvc-1", "ops", "/backup/it's", "data")
	want := `rsync -aHAX --numeric-ids --info=progress2 ops@nfs1:/srv/nfs/pvc-1/ '/backup/it'"'"'s/data/'`
	if got != want {
		t.Errorf("rsync:\n got %s\nwant %s", got, want)
	}
	for in, want := range map[string]string{"plain/path": "plain/path", "a b": "'a b'", "$(x)": "'$(x)'", "": "''"} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestForInstanceRecoversThroughClaimRef(t *testing.T) {
	bound := nfsPV("pvc-a", "qxsms-pprd", "data", corev1.VolumeBound)
	released := nfsPV("pvc-b", "qxsms-pprd", "media", corev1.VolumeReleased)
	otherInst := nfsPV("pvc-c", "qxsms-demo", "data", corev1.VolumeBound)
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "qxsms-pprd"},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pvc-a"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}
	pending := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: "qxsms-pprd"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}
	client := fake.NewClientset(bound, released, otherInst, pvc, pending)

	vols, err := ForInstance(context.Background(), client, "pprd", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vols {
		got = append(got, v.PVC+"="+v.PVName()+"/"+v.Status)
	}
	if strings.Join(got, " ") != "data=pvc-a/Bound media=pvc-b/Deleted new=/Pending" {
		t.Fatalf("volumes: %v", got)
	}
	if vols[1].Location == nil || vols[1].Location.Path != "/srv/nfs/pvc-b" {
		t.Errorf("the deleted claim's PV location: %+v", vols[1].Location)
	}
	if _, err := ForInstance(context.Background(), client, "pprd", []string{"nope"}); err == nil || !strings.Contains(err.Error(), "no PVC [nope]") {
		t.Errorf("unknown claim: %v", err)
	}
	// The namespace is gone entirely: still found.
	vols, err = ForInstance(context.Background(), fake.NewClientset(released), "pprd", []string{"media"})
	if err != nil || len(vols) != 1 || vols[0].Status != "Deleted" {
		t.Fatalf("recovery without namespace: %v %v", vols, err)
	}
}

func TestReleasedFilters(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	old := nfsPV("pvc-old", "qxsms-pprd", "data", corev1.VolumeReleased)
	old.Status.LastPhaseTransitionTime = &metav1.Time{Time: now.Add(-48 * time.Hour)}
	fresh := nfsPV("pvc-fresh", "qxsms-demo", "data", corev1.VolumeReleased)
	fresh.Status.LastPhaseTransitionTime = &metav1.Time{Time: now.Add(-time.Minute)}
	bound := nfsPV("pvc-bound", "qxsms-pprd", "x", corev1.VolumeBound)
	foreign := nfsPV("pvc-foreign", "team-x", "x", corev1.VolumeReleased)
	// No phase transition time recorded: its creation stands in.
	foreign.CreationTimestamp = metav1.Time{Time: now.Add(-10 * time.Minute)}
	client := fake.NewClientset(old, fresh, bound, foreign)
	for _, tc := range []struct {
		name string
		f    ReleasedFilter
		want string
	}{
		{"all", ReleasedFilter{}, "pvc-foreign pvc-fresh pvc-old"},
		{"instance", ReleasedFilter{Instances: []string{"pprd"}}, "pvc-old"},
		{"claim namespace", ReleasedFilter{ClaimNamespace: "team-x"}, "pvc-foreign"},
		{"older than", ReleasedFilter{OlderThan: time.Hour}, "pvc-old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Now = now
			pvs, err := Released(context.Background(), client, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, pv := range pvs {
				names = append(names, pv.Name)
			}
			if strings.Join(names, " ") != tc.want {
				t.Fatalf("got %v, want %s", names, tc.want)
			}
		})
	}
}

func TestRebindAndExport(t *testing.T) {
	released := nfsPV("pvc-b", "qxsms-pprd", "media", corev1.VolumeReleased)
	client := fake.NewClientset(released, nfsPV("pvc-bound", "qxsms-pprd", "x", corev1.VolumeBound))
	pv, err := Rebind(context.Background(), client, "pvc-b", "qxsms-new", "media")
	if err != nil {
		t.Fatal(err)
	}
	ref := pv.Spec.ClaimRef
	if ref.Namespace != "qxsms-new" || ref.Name != "media" || ref.UID != "" || ref.ResourceVersion != "" {
		t.Fatalf("claimRef after rebind: %+v", ref)
	}
	if _, err := Rebind(context.Background(), client, "pvc-bound", "x", "y"); err == nil || !strings.Contains(err.Error(), "not Released") {
		t.Errorf("rebinding a Bound PV: %v", err)
	}
	claim := ClaimFor(pv, "qxsms-new", "media")
	if claim.Spec.VolumeName != "pvc-b" || *claim.Spec.StorageClassName != "nfs" || claim.Spec.Resources.Requests.Storage().String() != "5Gi" {
		t.Errorf("claim: %+v", claim.Spec)
	}
	clean := CleanForExport(released)
	if clean.Spec.ClaimRef != nil || clean.ResourceVersion != "" || clean.UID != "" || clean.Annotations["pv.kubernetes.io/provisioned-by"] != "" || clean.Annotations["keep"] != "me" || clean.Spec.NFS.Path != "/srv/nfs/pvc-b" {
		t.Errorf("export not clean: %+v", clean)
	}
}
