package pvcnfspath

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

var released = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func pv(name, claim, uid string, phase corev1.PersistentVolumePhase, age time.Duration, path string) *corev1.PersistentVolume {
	p := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			ClaimRef:                      &corev1.ObjectReference{Namespace: "qxsms-pprd", Name: claim, UID: types.UID(uid)},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs1", Path: path}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: phase},
	}
	if phase == corev1.VolumeReleased {
		p.Status.LastPhaseTransitionTime = &metav1.Time{Time: released.Add(-age)}
	}
	return p
}

func run(t *testing.T, client kubernetes.Interface, o *Options) (string, string, error) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o.IOStreams = streams
	o.client = func() (kubernetes.Interface, error) { return client, nil }
	if err := o.Validate(); err != nil {
		return "", "", err
	}
	err := o.Run(t.Context())
	return out.String(), errOut.String(), err
}

// Two generations of qxsms-data, one Pending qxsms-media whose predecessor
// was released: each PV on its own line, the Pending claim without a path,
// and one rsync target per generation.
func TestGenerations(t *testing.T) {
	client := fake.NewClientset(
		pv("pvc-cur", "qxsms-data", "u3", corev1.VolumeBound, 0, "/srv/nfs/qxsms-pprd-qxsms-data-pvc-cur"),
		pv("pvc-old", "qxsms-data", "u1", corev1.VolumeReleased, 48*time.Hour, "/srv/nfs/qxsms-pprd-qxsms-data-pvc-old"),
		pv("pvc-mid", "qxsms-data", "u2", corev1.VolumeReleased, time.Hour, "/srv/nfs/qxsms-pprd-qxsms-data-pvc-mid"),
		pv("pvc-media-old", "qxsms-media", "m1", corev1.VolumeReleased, time.Hour, "/srv/nfs/qxsms-pprd-qxsms-media-pvc-media-old"),
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "qxsms-data", Namespace: "qxsms-pprd", UID: "u3"},
			Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pvc-cur"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "qxsms-media", Namespace: "qxsms-pprd", UID: "m2"},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
	)
	out, _, err := run(t, client, &Options{Instance: "pprd"})
	if err != nil {
		t.Fatal(err)
	}
	want := `PVC           VOLUME          STATUS    RELEASED               SERVER   PATH
qxsms-data    pvc-cur         Bound     -                      nfs1     /srv/nfs/qxsms-pprd-qxsms-data-pvc-cur
qxsms-media   -               Pending   -                      -        -
qxsms-data    pvc-mid         Deleted   2026-11-27T11:00:00Z   nfs1     /srv/nfs/qxsms-pprd-qxsms-data-pvc-mid
qxsms-data    pvc-old         Deleted   2026-11-25T12:00:00Z   nfs1     /srv/nfs/qxsms-pprd-qxsms-data-pvc-old
qxsms-media   pvc-media-old   Deleted   2026-11-27T11:00:00Z   nfs1     /srv/nfs/qxsms-pprd-qxsms-media-pvc-media-old
`
	if out != want {
		t.Errorf("table:\n--- got\n%s--- want\n%s", out, want)
	}

	out, _, err = run(t, client, &Options{Instance: "pprd", Claims: []string{"qxsms-data"}, Rsync: "/backup"})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/backup/qxsms-data-pvc-cur/", "/backup/qxsms-data-pvc-mid/", "/backup/qxsms-data-pvc-old/"} {
		if strings.Count(out, target) != 1 {
			t.Errorf("rsync commands lack one target %s:\n%s", target, out)
		}
	}
	if strings.Index(out, "pvc-mid") > strings.Index(out, "pvc-old") {
		t.Errorf("older generation listed first:\n%s", out)
	}
}

func TestRsyncRefusesControlCharacters(t *testing.T) {
	client := fake.NewClientset(pv("pvc-x", "qxsms-data", "u1", corev1.VolumeReleased, time.Hour, "/srv/nfs/a\nrm -rf ~"))
	_, errOut, err := run(t, client, &Options{Instance: "pprd", Rsync: "/backup"})
	if err == nil || !strings.Contains(errOut, "control characters") {
		t.Fatalf("err = %v, stderr:\n%s", err, errOut)
	}
}

func TestClaimNamesWithDots(t *testing.T) {
	client := fake.NewClientset(pv("pvc-x", "data.v2", "u1", corev1.VolumeReleased, time.Hour, "/srv/nfs/x"))
	out, _, err := run(t, client, &Options{Instance: "pprd", Claims: []string{"data.v2"}})
	if err != nil || !strings.Contains(out, "/srv/nfs/x") {
		t.Fatalf("a PVC name with a dot: %v\n%s", err, out)
	}
	if _, _, err := run(t, client, &Options{Instance: "pprd", Claims: []string{"../x"}}); err == nil {
		t.Fatal("accepted ../x as a PVC name")
	}
}
