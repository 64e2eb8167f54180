package pvreleased

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"

	"github.com/qxsms/kubectl-qxsms/internal/testutil"
)

// testRepo writes a config repo: production (protected, context prod) with
// instance prod, staging with instance pprd whose PVC data asks for dataSize.
func testRepo(t *testing.T, dataSize string) string {
	t.Helper()
	files := map[string]string{"qxsms.yaml": "environments:\n  staging: {contexts: [preprod]}\n  production: {contexts: [prod], protected: true}\n"}
	for _, inst := range []string{"production/prod", "staging/pprd"} {
		files["overlays/"+inst+"/kustomization.yml"] = "resources: [pvc.yml]\n"
		files["overlays/"+inst+"/pvc.yml"] = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  storageClassName: nfs\n  accessModes: [ReadWriteMany]\n  resources: {requests: {storage: " + dataSize + "}}\n"
	}
	return testutil.WriteRepo(t, files).Dir
}

func csiReleased(name, ns, claim string, policy corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
	pv := released(name, ns, claim, time.Hour)
	pv.Spec.PersistentVolumeReclaimPolicy = policy
	pv.Spec.NFS = nil
	pv.Spec.CSI = &corev1.CSIPersistentVolumeSource{Driver: "nfs.csi.k8s.io", VolumeHandle: "nfs1#exports#" + ns + "-" + claim + "#" + name + "#archive",
		VolumeAttributes: map[string]string{"server": "nfs1", "share": "/exports", "subDir": ns + "-" + claim}}
	return pv
}

// deletes lists the PVs a command asked the server to delete, with the dry
// run each request carried.
func (c *cluster) deletes() []string {
	var out []string
	for _, a := range c.writes() {
		d, ok := a.(clienttesting.DeleteActionImpl)
		if !ok {
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
			continue
		}
		s := "delete " + d.Name
		if len(d.DeleteOptions.DryRun) > 0 {
			s += " dryRun=" + strings.Join(d.DeleteOptions.DryRun, ",")
		}
		if p := d.DeleteOptions.Preconditions; p == nil || p.UID == nil || p.ResourceVersion == nil {
			s += " without preconditions"
		}
		out = append(out, s)
	}
	return out
}

func TestDelete(t *testing.T) {
	for _, tc := range []struct {
		golden  string
		args    []string
		deletes []string
		wantErr bool
	}{
		{"delete-refused-without-yes", []string{"pprd", "--delete"}, nil, true},
		{"delete-yes", []string{"pprd", "--delete", "--yes"}, []string{"delete pvc-a"}, false},
		{"delete-dry-run-client", []string{"pprd", "--delete", "--dry-run=client"}, nil, false},
		{"delete-dry-run-server", []string{"pprd", "--delete", "--dry-run=server"}, []string{"delete pvc-a dryRun=All"}, false},
		{"delete-dry-run-none", []string{"pprd", "--delete", "--dry-run=none", "-y"}, []string{"delete pvc-a"}, false},
		{"delete-name", []string{"pprd", "--delete", "--yes", "-o", "name"}, []string{"delete pvc-a"}, false},
		{"delete-claim-namespace", []string{"--claim-namespace", "team-x", "--delete", "--yes"}, []string{"delete pvc-b"}, false},
		{"delete-all", []string{"--all", "--delete", "--yes"}, []string{"delete pvc-a", "delete pvc-b"}, false},
		{"delete-confirm-other-instance", []string{"--all", "--delete", "--confirm=pprd"}, nil, true},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			c := newCluster(
				released("pvc-a", "qxsms-pprd", "qxsms-data", 3*time.Hour),
				released("pvc-b", "team-x", "db", 50*time.Hour),
			)
			r := c.run(t, tc.args...)
			if (r.err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want an error: %v", r.err, tc.wantErr)
			}
			testutil.Golden(t, tc.golden, r.transcript())
			if got := c.deletes(); !slices.Equal(got, tc.deletes) {
				t.Errorf("requests %q, want %q", got, tc.deletes)
			}
		})
	}
}

func TestDeleteSkipsNonRetainAndPrintsExactPaths(t *testing.T) {
	c := newCluster(
		csiReleased("pvc-keep", "qxsms-pprd", "data", corev1.PersistentVolumeReclaimRetain),
		csiReleased("pvc-del", "qxsms-pprd", "media", corev1.PersistentVolumeReclaimDelete),
	)
	r := c.run(t, "pprd", "--delete", "--yes")
	if r.err != nil {
		t.Fatal(r.err)
	}
	testutil.Golden(t, "delete-skips-non-retain", r.transcript())
	if got := c.deletes(); !slices.Equal(got, []string{"delete pvc-keep"}) {
		t.Fatalf("requests %q: a Delete PV was deleted without --include-non-retain", got)
	}

	r = c.run(t, "pprd", "--delete", "--yes", "--include-non-retain")
	if r.err != nil {
		t.Fatal(r.err)
	}
	// A Delete PV's data must not be said to stay.
	testutil.Golden(t, "delete-include-non-retain", r.transcript())
}

func TestDeleteProtected(t *testing.T) {
	repo := testRepo(t, "20Gi")
	for _, tc := range []struct {
		name, context string
		instance      string
		confirm       string
		want          string
	}{
		{"claim of a protected instance", "preprod", "prod", "", `PV pvc-a was claimed by instance prod of the protected environment "production": pass --confirm=INSTANCE naming the instance whose PVs go (--yes is not enough); nothing was deleted`},
		{"claim of a protected instance, confirmed", "preprod", "prod", "prod", ""},
		{"protected context, staging claim", "prod", "pprd", "", `context "prod" belongs to the protected environment "production": pass --confirm=INSTANCE`},
		{"protected context, confirmed", "prod", "pprd", "pprd", ""},
		{"confirm names another instance", "prod", "pprd", "prod", `context "prod" belongs to the protected environment "production": --confirm=prod, but PV pvc-a was claimed in qxsms-pprd: select only that instance's PVs (kubectl qxsms pv-released prod --delete --confirm=prod); nothing was deleted`},
		{"unprotected", "preprod", "pprd", "", ""},
		{"protected, client dry run", "prod", "pprd", "", `context "prod" belongs to the protected environment`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(released("pvc-a", "qxsms-"+tc.instance, "data", time.Hour))
			c.root, c.context = repo, tc.context
			args := []string{tc.instance, "--delete", "--yes"}
			if tc.confirm != "" {
				args = append(args, "--confirm="+tc.confirm)
			}
			if strings.Contains(tc.name, "dry run") {
				args = append(args, "--dry-run=client")
			}
			r := c.run(t, args...)
			if (tc.want == "") != (r.err == nil) || r.err != nil && !strings.HasPrefix(r.err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", r.err, tc.want)
			}
			if deleted := len(c.deletes()) > 0; deleted != (tc.want == "") {
				t.Fatalf("deleted: %v, want deleted: %v", deleted, tc.want == "")
			}
		})
	}
}

func TestRebind(t *testing.T) {
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
	pvA := func() runtime.Object { return rwx(released("pvc-a", "qxsms-pprd", "data", time.Hour)) }
	for _, tc := range []struct {
		name    string
		objs    []runtime.Object
		args    []string
		overlay string
		want    string
		// patch is the patch request expected: "", "patch" or "patch dryRun=All".
		patch  string
		golden string
	}{
		{"dry run of a missing PV", nil, []string{"pvc-nope", "--dry-run=client"}, "20Gi", `rebinding pvc-nope: persistentvolumes "pvc-nope" not found`, "", ""},
		{"PVC bound elsewhere", []runtime.Object{pvA(), pvc("pvc-new")}, []string{"pvc-a"}, "20Gi", "refusing to rebind pvc-a: PVC qxsms-pprd/data already exists and is bound to PV pvc-new", "", ""},
		{"overlay asks for more", []runtime.Object{pvA()}, []string{"pvc-a", "--dry-run=client"}, "50Gi", "refusing to rebind pvc-a: the overlay's PVC data requests 50Gi, PV pvc-a offers 20Gi", "", ""},
		{"policy Delete", []runtime.Object{deletePV}, []string{"pvc-del", "--dry-run=server"}, "20Gi", "refusing to rebind pvc-del: PV pvc-del has reclaim policy Delete", "", ""},
		{"fits", []runtime.Object{pvA()}, []string{"pvc-a"}, "20Gi", "", "patch", "rebind"},
		{"fits, json", []runtime.Object{pvA()}, []string{"pvc-a", "-o", "json"}, "20Gi", "", "patch", "rebind-json"},
		{"fits, client dry run", []runtime.Object{pvA()}, []string{"pvc-a", "--dry-run=client"}, "20Gi", "", "", "rebind-dry-run-client"},
		{"fits, server dry run", []runtime.Object{pvA()}, []string{"pvc-a", "--dry-run=server"}, "20Gi", "", "patch dryRun=All", "rebind-dry-run-server"},
		{"no overlay: warned", []runtime.Object{rwx(released("pvc-a", "team-x", "data", time.Hour))}, []string{"pvc-a", "--dry-run=client"}, "", "", "", "rebind-no-overlay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(tc.objs...)
			c.root, c.context = testRepo(t, tc.overlay), "preprod"
			target := "qxsms-pprd/data"
			if tc.overlay == "" {
				target = "team-x/data"
			}
			r := c.run(t, append(tc.args, "--rebind", target)...)
			if (tc.want == "") != (r.err == nil) || r.err != nil && !strings.HasPrefix(r.err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q\n%s", r.err, tc.want, r.transcript())
			}
			var patches []string
			for _, a := range c.writes() {
				p, ok := a.(clienttesting.PatchActionImpl)
				if !ok {
					t.Fatalf("unexpected request %v", a)
				}
				s := "patch"
				if len(p.PatchOptions.DryRun) > 0 {
					s += " dryRun=" + strings.Join(p.PatchOptions.DryRun, ",")
				}
				patches = append(patches, s)
			}
			if want := slices.DeleteFunc([]string{tc.patch}, func(s string) bool { return s == "" }); !slices.Equal(patches, want) {
				t.Errorf("requests %q, want %q", patches, want)
			}
			if tc.golden != "" {
				testutil.Golden(t, tc.golden, r.transcript())
			}
		})
	}
}
