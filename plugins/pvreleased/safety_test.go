package pvreleased

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

// testRepo writes a config repo: production (protected, context prod) with
// instance prod, staging with instance pprd whose PVC data asks for dataSize.
func testRepo(t *testing.T, dataSize string) *overlays.Repo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "k8s")
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("qxsms.yaml", "environments:\n  staging: {contexts: [preprod]}\n  production: {contexts: [prod], protected: true}\n")
	for _, inst := range []string{"production/prod", "staging/pprd"} {
		write("overlays/"+inst+"/kustomization.yml", "resources: [pvc.yml]\n")
		write("overlays/"+inst+"/pvc.yml", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  storageClassName: nfs\n  accessModes: [ReadWriteMany]\n  resources: {requests: {storage: "+dataSize+"}}\n")
	}
	return &overlays.Repo{Dir: dir}
}

func withRepo(repo *overlays.Repo, context string) func(*Options) {
	return func(o *Options) {
		o.repo = func() (*overlays.Repo, error) { return repo, nil }
		o.currentContext = func() (string, error) { return context, nil }
	}
}

func csiReleased(name, ns, claim string, policy corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
	pv := released(name, ns, claim, time.Hour)
	pv.Spec.PersistentVolumeReclaimPolicy = policy
	pv.Spec.NFS = nil
	pv.Spec.CSI = &corev1.CSIPersistentVolumeSource{Driver: "nfs.csi.k8s.io", VolumeHandle: "nfs1#exports#" + ns + "-" + claim + "#" + name + "#archive",
		VolumeAttributes: map[string]string{"server": "nfs1", "share": "/exports", "subDir": ns + "-" + claim}}
	return pv
}

func TestDeleteSkipsNonRetainAndPrintsExactPaths(t *testing.T) {
	client := fake.NewClientset(
		csiReleased("pvc-keep", "qxsms-pprd", "data", corev1.PersistentVolumeReclaimRetain),
		csiReleased("pvc-del", "qxsms-pprd", "media", corev1.PersistentVolumeReclaimDelete),
	)
	out, errOut, err := run(t, client, func(o *Options) { o.Delete, o.Yes, o.Instances = true, true, []string{"pprd"} })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "persistentvolume/pvc-keep deleted") || strings.Contains(out, "pvc-del deleted") {
		t.Fatalf("deleted:\n%s", out)
	}
	if !strings.Contains(errOut, "persistentvolume/pvc-del skipped: reclaim policy Delete") || !strings.Contains(errOut, "--include-non-retain") {
		t.Errorf("the skip is not explained:\n%s", errOut)
	}
	if !strings.Contains(errOut, "pvc-keep  nfs1:/exports/qxsms-pprd-data") || strings.Contains(errOut, "/srv/nfs/<volume>") {
		t.Errorf("the kept path is not the PV's:\n%s", errOut)
	}
	if _, err := client.CoreV1().PersistentVolumes().Get(t.Context(), "pvc-del", metav1.GetOptions{}); err != nil {
		t.Fatal("a Delete PV was deleted without --include-non-retain")
	}

	out, errOut, err = run(t, client, func(o *Options) {
		o.Delete, o.Yes, o.IncludeNonRetain, o.Instances = true, true, true, []string{"pprd"}
	})
	if err != nil || !strings.Contains(out, "persistentvolume/pvc-del deleted") {
		t.Fatalf("--include-non-retain: %v\n%s", err, out)
	}
	if strings.Contains(errOut, "does not delete its data") || !strings.Contains(errOut, "may delete or archive") || !strings.Contains(errOut, "archived to nfs1:/exports/archived-qxsms-pprd-media") {
		t.Errorf("a Delete PV's data must not be said to stay:\n%s", errOut)
	}
}

func TestDeleteProtected(t *testing.T) {
	repo := testRepo(t, "20Gi")
	for _, tc := range []struct {
		name, context string
		instance      string
		confirm       string
		want          string
	}{
		{"claim of a protected instance", "preprod", "prod", "", `instance prod of the protected environment "production"`},
		{"claim of a protected instance, confirmed", "preprod", "prod", "prod", ""},
		{"protected context, staging claim", "prod", "pprd", "", `context "prod" belongs to the protected environment`},
		{"protected context, confirmed", "prod", "pprd", "pprd", ""},
		{"confirm names another instance", "prod", "pprd", "prod", "select only that instance's PVs"},
		{"unprotected", "preprod", "pprd", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(released("pvc-a", "qxsms-"+tc.instance, "data", time.Hour))
			_, _, err := run(t, client, func(o *Options) {
				withRepo(repo, tc.context)(o)
				o.Delete, o.Yes, o.Confirm, o.Instances = true, true, tc.confirm, []string{tc.instance}
			})
			if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			_, getErr := client.CoreV1().PersistentVolumes().Get(t.Context(), "pvc-a", metav1.GetOptions{})
			if (getErr == nil) != (tc.want != "") {
				t.Fatalf("PV still there: %v, want deleted: %v", getErr == nil, tc.want == "")
			}
		})
	}
}

func TestRebindRefusals(t *testing.T) {
	pvc := func(volume string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "qxsms-pprd"},
			Spec: corev1.PersistentVolumeClaimSpec{VolumeName: volume, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	}
	rwx := func(pv *corev1.PersistentVolume) *corev1.PersistentVolume {
		pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		return pv
	}
	deletePV := rwx(released("pvc-del", "qxsms-pprd", "data", time.Hour))
	deletePV.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	for _, tc := range []struct {
		name     string
		objs     []runtime.Object
		pv       string
		overlay  string
		dryRun   bool
		want     string
		wantWarn string
	}{
		{"dry run of a missing PV", nil, "pvc-nope", "20Gi", true, `"pvc-nope" not found`, ""},
		{"PVC bound elsewhere", []runtime.Object{rwx(released("pvc-a", "qxsms-pprd", "data", time.Hour)), pvc("pvc-new")}, "pvc-a", "20Gi", false, "already exists and is bound to PV pvc-new", ""},
		{"overlay asks for more", []runtime.Object{rwx(released("pvc-a", "qxsms-pprd", "data", time.Hour))}, "pvc-a", "50Gi", true, "requests 50Gi, PV pvc-a offers 20Gi", ""},
		{"policy Delete", []runtime.Object{deletePV}, "pvc-del", "20Gi", true, "reclaim policy Delete", ""},
		{"fits", []runtime.Object{rwx(released("pvc-a", "qxsms-pprd", "data", time.Hour))}, "pvc-a", "20Gi", false, "", ""},
		{"no overlay: warned", []runtime.Object{rwx(released("pvc-a", "team-x", "data", time.Hour))}, "pvc-a", "", true, "", "could not be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.objs...)
			repo := testRepo(t, tc.overlay)
			target := "qxsms-pprd/data"
			if tc.overlay == "" {
				target = "team-x/data"
			}
			out, errOut, err := run(t, client, func(o *Options) {
				withRepo(repo, "preprod")(o)
				o.Instances, o.Rebind, o.DryRun = []string{tc.pv}, target, tc.dryRun
			})
			if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q\n%s%s", err, tc.want, out, errOut)
			}
			if !strings.Contains(errOut, tc.wantWarn) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantWarn, errOut)
			}
			if tc.want == "" && !tc.dryRun && !strings.Contains(out, "volumeName: "+tc.pv) {
				t.Errorf("no claim printed:\n%s", out)
			}
		})
	}
}

func TestOlderThanSkipsUnknownAndListsReserved(t *testing.T) {
	unknown := released("pvc-unknown", "qxsms-pprd", "data", time.Hour)
	unknown.Status.LastPhaseTransitionTime = nil
	unknown.CreationTimestamp = metav1.Time{Time: now.Add(-1000 * time.Hour)}
	reserved := released("pvc-reserved", "qxsms-pprd", "media", 5*time.Hour)
	reserved.Status.Phase = corev1.VolumeAvailable
	client := fake.NewClientset(unknown, reserved)
	out, errOut, err := run(t, client, func(o *Options) { o.OlderThan = 2 * time.Hour })
	if err != nil || strings.Contains(out, "pvc-unknown") || !strings.Contains(errOut, "Released time is unknown") || !strings.Contains(errOut, "pvc-unknown") {
		t.Fatalf("--older-than with an unknown age: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(out, "pvc-reserved") || !strings.Contains(out, "Reserved") {
		t.Errorf("a PV reserved by a rebind is not listed:\n%s", out)
	}
}
