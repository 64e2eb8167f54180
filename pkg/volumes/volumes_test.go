package volumes

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
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
	inTree := func(server, p string) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: server, Path: p}}}}
	}
	for _, tc := range []struct {
		name    string
		pv      *corev1.PersistentVolume
		want    Location
		ok      bool
		wantErr string
	}{
		{"in-tree", nfsPV("pvc-1", "", "", ""), Location{Server: "nfs1", Path: "/srv/nfs/pvc-1", Source: "nfs"}, true, ""},
		{"in-tree unclean path", inTree("s", "srv//nfs/x/"), Location{Server: "s", Path: "/srv/nfs/x", Source: "nfs"}, true, ""},
		{"in-tree nfs-subdir directory", inTree("s", "/srv/nfs/qxsms-a-data-pvc-1"), Location{Server: "s", Path: "/srv/nfs/qxsms-a-data-pvc-1", Source: "nfs"}, true, ""},
		{"in-tree IPv6 server", inTree("fd00::1", "/srv/nfs/x"), Location{Server: "fd00::1", Path: "/srv/nfs/x", Source: "nfs"}, true, ""},
		{"in-tree dot-dot", inTree("s", "/srv/nfs/../etc"), Location{}, true, `".."`},
		{"in-tree control character", inTree("s", "/srv/nfs/a\nb"), Location{}, true, "control characters"},
		{"in-tree option as server", inTree("-oProxyCommand=sh", "/srv/nfs/a"), Location{}, true, "not a host name"},
		{"csi attributes", csiPV(map[string]string{"server": "s", "share": "/exports", "subdir": "pvc-2"}, "ignored"), Location{Server: "s", Path: "/exports/pvc-2", Source: "csi"}, true, ""},
		// The driver keeps the StorageClass's spelling: subDir is its documented one.
		{"csi attributes subDir", csiPV(map[string]string{"server": "s", "share": "/exports", "subDir": "pvc-2"}, "s#exports#pvc-2##"), Location{Server: "s", Path: "/exports/pvc-2", Source: "csi"}, true, ""},
		{"csi attributes SUBDIR Share", csiPV(map[string]string{"Server": "s", "Share": "/exports", "SUBDIR": "ns-pvc"}, ""), Location{Server: "s", Path: "/exports/ns-pvc", Source: "csi"}, true, ""},
		{"csi attributes without subdir", csiPV(map[string]string{"server": "s", "share": "/exports"}, ""), Location{Server: "s", Path: "/exports", Source: "csi"}, true, ""},
		{"csi attributes dot-dot", csiPV(map[string]string{"server": "s", "share": "/exports", "subDir": "../etc"}, "s#exports#pvc##"), Location{}, true, "leaves the share"},
		{"csi handle as the driver writes it", csiPV(nil, "s.example#exports#pvc-3#pvc-3#retain"), Location{Server: "s.example", Path: "/exports/pvc-3", Source: "csi", OnDelete: "retain"}, true, ""},
		{"csi handle nested share, empty uuid and onDelete", csiPV(nil, "s#srv/nfs#pvc-3##"), Location{Server: "s", Path: "/srv/nfs/pvc-3", Source: "csi"}, true, ""},
		{"csi handle archive", csiPV(nil, "s#srv/nfs#ns-data#pvc-3#archive"), Location{Server: "s", Path: "/srv/nfs/ns-data", Source: "csi", OnDelete: "archive"}, true, ""},
		{"csi handle three parts", csiPV(nil, "s#share#pvc-4"), Location{Server: "s", Path: "/share/pvc-4", Source: "csi"}, true, ""},
		{"csi handle absolute share", csiPV(nil, "s#/exports#pvc-3"), Location{Server: "s", Path: "/exports/pvc-3", Source: "csi"}, true, ""},
		{"csi old handle", csiPV(nil, "s/srv/nfs/pvc-5"), Location{Server: "s", Path: "/srv/nfs/pvc-5", Source: "csi"}, true, ""},
		{"csi bad handle", csiPV(nil, "garbage"), Location{}, true, "neither"},
		{"csi handle escaping", csiPV(nil, "s#exports#../etc"), Location{}, true, "leaves the share"},
		{"csi old handle escaping", csiPV(nil, "s/srv/../../etc/x"), Location{}, true, `".."`},
		{"csi handle control character", csiPV(nil, "s#exports#a\x1bb"), Location{}, true, "control characters"},
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

func TestArchived(t *testing.T) {
	csi := csiPV(nil, "s#srv/nfs#ns-data#pvc-3#archive")
	subdir := nfsPV("pvc-4", "", "", corev1.VolumeReleased)
	subdir.Spec.NFS.Path = "/srv/nfs/ns-data-pvc-4"
	sc := func(params map[string]string) *storagev1.StorageClass {
		return &storagev1.StorageClass{Provisioner: "cluster.local/nfs-subdir-external-provisioner", Parameters: params}
	}
	for _, tc := range []struct {
		name   string
		pv     *corev1.PersistentVolume
		policy corev1.PersistentVolumeReclaimPolicy
		sc     *storagev1.StorageClass
		want   string
	}{
		{"csi archive", csi, corev1.PersistentVolumeReclaimDelete, nil, "/srv/nfs/archived-ns-data"},
		{"csi Retain", csi, corev1.PersistentVolumeReclaimRetain, nil, ""},
		{"nfs-subdir default archives", subdir, corev1.PersistentVolumeReclaimDelete, sc(nil), "/srv/nfs/archived-ns-data-pvc-4"},
		{"nfs-subdir archiveOnDelete false", subdir, corev1.PersistentVolumeReclaimDelete, sc(map[string]string{"archiveOnDelete": "false"}), ""},
		{"nfs-subdir onDelete retain", subdir, corev1.PersistentVolumeReclaimDelete, sc(map[string]string{"onDelete": "retain"}), ""},
		{"nfs-subdir class unknown", subdir, corev1.PersistentVolumeReclaimDelete, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pv := tc.pv.DeepCopy()
			pv.Spec.PersistentVolumeReclaimPolicy = tc.policy
			loc, _, err := NFSLocation(pv)
			if err != nil {
				t.Fatal(err)
			}
			if got := Archived(pv, loc, tc.sc); got != tc.want {
				t.Errorf("Archived = %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzParseVolumeHandle(f *testing.F) {
	for _, s := range []string{"s#e#sub#uuid#delete", "s#/e#sub", "#", "", "s#e", "s#e#../x", "a#b#c/../../d", "s/e/sub", "s/../x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		v, err := ParseVolumeHandle(h)
		if err != nil {
			return
		}
		if v.Server == "" || hasDotDot(v.Share) || hasDotDot(v.Subdir) || hasControl(h) || ValidateServer(v.Server) != nil {
			t.Fatalf("accepted %q as %+v", h, v)
		}
		share := cleanPath("/" + v.Share)
		loc := cleanPath(share + "/" + v.Subdir)
		if !strings.HasPrefix(loc, share) {
			t.Fatalf("%q: path %s leaves share %s", h, loc, share)
		}
	})
}

func TestExportRoot(t *testing.T) {
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
	for _, bad := range []string{"", "/srv", "rel=/x", "/x=rel", "/=/srv/../etc", "/=/srv\n"} {
		if _, err := ParseExportRoot(bad); err == nil {
			t.Errorf("ParseExportRoot(%q) accepted", bad)
		}
	}
}

func TestRsyncCommand(t *testing.T) {
	for _, tc := range []struct {
		name, server, path, user, dest, dir string
		want, wantErr                       string
	}{
		{"plain", "nfs1", "/srv/nfs/pvc-1", "ops", "/backup/it's", "data-pvc-1",
			`rsync -aHAX -s --numeric-ids --info=progress2 -- ops@nfs1:/srv/nfs/pvc-1/ '/backup/it'"'"'s/data-pvc-1/'`, ""},
		{"spaces and shell characters stay one argument", "nfs1", "/srv/nfs/a b$(id)", "", "/b", "d-p",
			`rsync -aHAX -s --numeric-ids --info=progress2 -- 'nfs1:/srv/nfs/a b$(id)/' /b/d-p/`, ""},
		{"IPv6 bracketed", "fd00::1", "/srv/nfs/x", "ops", "/b", "d-p",
			`rsync -aHAX -s --numeric-ids --info=progress2 -- 'ops@[fd00::1]:/srv/nfs/x/' /b/d-p/`, ""},
		{"destination that looks like an option", "nfs1", "/x", "", "-e sh", "d-p",
			`rsync -aHAX -s --numeric-ids --info=progress2 -- nfs1:/x/ '-e sh/d-p/'`, ""},
		{"control character in path", "nfs1", "/srv/nfs/a\nrm -rf /", "", "/b", "d", "", "control characters"},
		{"control character in destination", "nfs1", "/x", "", "/b\r", "d", "", "control characters"},
		{"option as server", "-oProxyCommand=id", "/x", "", "/b", "d", "", "not a host name"},
		{"user with a host", "nfs1", "/x", "a@b", "/b", "d", "", "not a user name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RsyncCommand(tc.server, tc.path, tc.user, tc.dest, tc.dir)
			if (tc.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.wantErr) || got != tc.want {
				t.Fatalf("RsyncCommand = %q, %v\nwant %q, %q", got, err, tc.want, tc.wantErr)
			}
		})
	}
	for in, want := range map[string]string{"plain/path": "plain/path", "a b": "'a b'", "$(x)": "'$(x)'", "": "''"} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func boundPVC(ns, name, uid, volume string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(uid)},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: volume}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}
}

func withClaimUID(pv *corev1.PersistentVolume, uid string, released *time.Time) *corev1.PersistentVolume {
	pv.Spec.ClaimRef.UID = types.UID(uid)
	if released != nil {
		pv.Status.LastPhaseTransitionTime = &metav1.Time{Time: *released}
	}
	return pv
}

func describe(vols []Volume) string {
	var got []string
	for _, v := range vols {
		s := v.PVC + "=" + v.PVName() + "/" + v.Status
		if v.Location != nil {
			s += "@" + v.Location.Path
		}
		got = append(got, s)
	}
	return strings.Join(got, " ")
}

func TestForInstanceRecoversThroughClaimRef(t *testing.T) {
	bound := withClaimUID(nfsPV("pvc-a", "qxsms-pprd", "data", corev1.VolumeBound), "uid-data", nil)
	released := nfsPV("pvc-b", "qxsms-pprd", "media", corev1.VolumeReleased)
	otherInst := nfsPV("pvc-c", "qxsms-demo", "data", corev1.VolumeBound)
	pvc := boundPVC("qxsms-pprd", "data", "uid-data", "pvc-a")
	pending := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: "qxsms-pprd"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}
	client := fake.NewClientset(bound, released, otherInst, pvc, pending)

	vols, err := ForInstance(context.Background(), client, "pprd", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(vols); got != "data=pvc-a/Bound@/srv/nfs/pvc-a new=/Pending media=pvc-b/Deleted@/srv/nfs/pvc-b" {
		t.Fatalf("volumes: %v", got)
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

// After a teardown and a new deploy, the old generations' Released PVs and
// the new Bound PV all name qxsms-pprd/data. The claim's volume is the one
// in its spec.volumeName with its uid; every old one is listed on its own,
// newest first, whatever order the server lists them in.
func TestForInstanceGenerations(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	older, newer := now.Add(-48*time.Hour), now.Add(-time.Hour)
	current := withClaimUID(nfsPV("pvc-1-current", "qxsms-pprd", "data", corev1.VolumeBound), "uid-3", nil)
	current.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	gen1 := withClaimUID(nfsPV("pvc-8-gen1", "qxsms-pprd", "data", corev1.VolumeReleased), "uid-1", &older)
	gen2 := withClaimUID(nfsPV("pvc-9-gen2", "qxsms-pprd", "data", corev1.VolumeReleased), "uid-2", &newer)
	// A Pending claim must not show the old generation's path.
	oldMedia := withClaimUID(nfsPV("pvc-7-media", "qxsms-pprd", "media", corev1.VolumeReleased), "uid-m1", &older)
	pendingMedia := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "media", Namespace: "qxsms-pprd", UID: "uid-m2"},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}
	// A PV whose name the claim gives but whose claimRef uid is another claim's is not its volume.
	stolen := withClaimUID(nfsPV("pvc-5-stolen", "qxsms-pprd", "logs", corev1.VolumeBound), "uid-other", nil)
	logs := boundPVC("qxsms-pprd", "logs", "uid-logs", "pvc-5-stolen")
	client := fake.NewClientset(current, gen1, gen2, oldMedia, stolen, boundPVC("qxsms-pprd", "data", "uid-3", "pvc-1-current"), pendingMedia, logs)

	vols, err := ForInstance(context.Background(), client, "pprd", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "data=pvc-1-current/Bound@/srv/nfs/pvc-1-current logs=/Bound media=/Pending " +
		"data=pvc-9-gen2/Deleted@/srv/nfs/pvc-9-gen2 data=pvc-8-gen1/Deleted@/srv/nfs/pvc-8-gen1 " +
		"logs=pvc-5-stolen/Deleted@/srv/nfs/pvc-5-stolen media=pvc-7-media/Deleted@/srv/nfs/pvc-7-media"
	if got := describe(vols); got != want {
		t.Fatalf("volumes:\n got %s\nwant %s", got, want)
	}
	if vols[3].ReleasedAt == nil || !vols[3].ReleasedAt.Equal(newer) {
		t.Errorf("released time of the newest generation: %v", vols[3].ReleasedAt)
	}
	only, err := ForInstance(context.Background(), client, "pprd", []string{"data"})
	if err != nil || len(only) != 3 {
		t.Fatalf("a named claim lists all its generations: %v %v", describe(only), err)
	}
}

func TestReleasedFilters(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	old := nfsPV("pvc-old", "qxsms-pprd", "data", corev1.VolumeReleased)
	old.Status.LastPhaseTransitionTime = &metav1.Time{Time: now.Add(-48 * time.Hour)}
	fresh := nfsPV("pvc-fresh", "qxsms-demo", "data", corev1.VolumeReleased)
	fresh.Status.LastPhaseTransitionTime = &metav1.Time{Time: now.Add(-time.Minute)}
	bound := nfsPV("pvc-bound", "qxsms-pprd", "x", corev1.VolumeBound)
	// No phase transition time recorded, created long ago: its age is unknown, not old.
	foreign := nfsPV("pvc-foreign", "team-x", "x", corev1.VolumeReleased)
	foreign.CreationTimestamp = metav1.Time{Time: now.Add(-100 * time.Hour)}
	// An in-tree NFS PV with policy Delete ends Failed, its data untouched.
	failed := nfsPV("pvc-failed", "qxsms-pprd", "media", corev1.VolumeFailed)
	failed.Status.LastPhaseTransitionTime = &metav1.Time{Time: now.Add(-3 * time.Hour)}
	// Reserved by a rebind, not taken yet.
	reserved := nfsPV("pvc-reserved", "qxsms-pprd", "logs", corev1.VolumeAvailable)
	reserved.Spec.ClaimRef.UID, reserved.Spec.ClaimRef.ResourceVersion = "", ""
	reserved.Status.LastPhaseTransitionTime = &metav1.Time{Time: now.Add(-2 * time.Hour)}
	available := nfsPV("pvc-free", "", "", corev1.VolumeAvailable)
	client := fake.NewClientset(old, fresh, bound, foreign, failed, reserved, available)
	for _, tc := range []struct {
		name    string
		f       ReleasedFilter
		want    string
		unknown string
	}{
		{"all, newest first", ReleasedFilter{}, "pvc-fresh pvc-reserved pvc-failed pvc-old pvc-foreign", ""},
		{"instance", ReleasedFilter{Instances: []string{"pprd"}}, "pvc-reserved pvc-failed pvc-old", ""},
		{"claim namespace", ReleasedFilter{ClaimNamespace: "team-x"}, "pvc-foreign", ""},
		{"older than skips unknown ages", ReleasedFilter{OlderThan: 4 * time.Hour}, "pvc-old", "pvc-foreign"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Now = now
			l, err := Released(context.Background(), client, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, pv := range l.PVs {
				names = append(names, pv.Name)
			}
			if strings.Join(names, " ") != tc.want || strings.Join(l.UnknownAge, " ") != tc.unknown {
				t.Fatalf("got %v (unknown age %v), want %s (unknown age %s)", names, l.UnknownAge, tc.want, tc.unknown)
			}
		})
	}
}

func TestCheckRebind(t *testing.T) {
	pv := nfsPV("pvc-b", "qxsms-pprd", "data", corev1.VolumeReleased) // 5Gi RWX, class nfs
	claim := func(size string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
		cls := "nfs"
		return &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &cls, AccessModes: modes,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}}}
	}
	otherClass := claim("1Gi", corev1.ReadWriteMany)
	otherClass.Spec.StorageClassName = ptr("fast")
	boundElsewhere := claim("1Gi", corev1.ReadWriteMany)
	boundElsewhere.Spec.VolumeName = "pvc-new"
	deletePV := pv.DeepCopy()
	deletePV.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	boundPV := nfsPV("pvc-b", "qxsms-pprd", "data", corev1.VolumeBound)
	for _, tc := range []struct {
		name string
		pv   *corev1.PersistentVolume
		c    RebindCheck
		want string
	}{
		{"fits", pv, RebindCheck{Desired: claim("5Gi", corev1.ReadWriteMany)}, ""},
		{"no overlay known", pv, RebindCheck{}, ""},
		{"overlay asks for more", pv, RebindCheck{Desired: claim("10Gi", corev1.ReadWriteMany)}, "requests 10Gi, PV pvc-b offers 5Gi"},
		{"overlay asks for other modes", pv, RebindCheck{Desired: claim("1Gi", corev1.ReadWriteOnce)}, "access modes [ReadWriteOnce]"},
		{"overlay asks for another class", pv, RebindCheck{Desired: otherClass}, `StorageClass "fast"`},
		{"existing PVC bound elsewhere", pv, RebindCheck{Existing: boundElsewhere}, "already exists and is bound to PV pvc-new"},
		{"existing pending PVC too big", pv, RebindCheck{Existing: claim("6Gi", corev1.ReadWriteMany)}, "existing PVC qxsms-pprd/data requests 6Gi"},
		{"policy Delete", deletePV, RebindCheck{}, "reclaim policy Delete"},
		{"not Released", boundPV, RebindCheck{}, "not Released"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckRebind(tc.pv, "qxsms-pprd", "data", tc.c)
			if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckRebind = %v, want %q", err, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestRebindAndExport(t *testing.T) {
	released := nfsPV("pvc-b", "qxsms-pprd", "media", corev1.VolumeReleased)
	client := fake.NewClientset(released)
	pv, err := Rebind(context.Background(), client, released, "qxsms-new", "media", false)
	if err != nil {
		t.Fatal(err)
	}
	ref := pv.Spec.ClaimRef
	if ref.Namespace != "qxsms-new" || ref.Name != "media" || ref.UID != "" || ref.ResourceVersion != "" {
		t.Fatalf("claimRef after rebind: %+v", ref)
	}
	claim := ClaimFor(pv, "qxsms-new", "media")
	if claim.Spec.VolumeName != "pvc-b" || *claim.Spec.StorageClassName != "nfs" || claim.Spec.Resources.Requests.Storage().String() != "5Gi" {
		t.Errorf("claim: %+v", claim.Spec)
	}
	clean := CleanForExport(released)
	if clean.ResourceVersion != "" || clean.UID != "" || clean.Annotations["pv.kubernetes.io/provisioned-by"] != "" || clean.Annotations["keep"] != "me" || clean.Spec.NFS.Path != "/srv/nfs/pvc-b" {
		t.Errorf("export not clean: %+v", clean)
	}
	// Without a claimRef the applied PV would be Available to any fitting PVC
	// of its class, in any namespace: it keeps the claim's namespace and name.
	if r := clean.Spec.ClaimRef; r == nil || r.Namespace != "qxsms-pprd" || r.Name != "media" || r.UID != "" || r.ResourceVersion != "" {
		t.Errorf("exported claimRef: %+v", r)
	}
}

// A dry run sends the same checked patch, marked so the server persists nothing.
func TestRebindDryRun(t *testing.T) {
	for _, dryRun := range []bool{false, true} {
		released := nfsPV("pvc-b", "qxsms-pprd", "media", corev1.VolumeReleased)
		client := fake.NewClientset(released)
		if _, err := Rebind(context.Background(), client, released, "qxsms-new", "media", dryRun); err != nil {
			t.Fatal(err)
		}
		var got [][]string
		for _, a := range client.Actions() {
			if p, ok := a.(clienttesting.PatchActionImpl); ok {
				got = append(got, p.PatchOptions.DryRun)
			}
		}
		want := [][]string{nil}
		if dryRun {
			want = [][]string{{metav1.DryRunAll}}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("dryRun=%v: patch requests with dryRun %q, want %q", dryRun, got, want)
		}
	}
}
