package pvcnfspath

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	cmdtesting "k8s.io/kubectl/pkg/cmd/testing"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/qxsms/kubectl-qxsms/internal/testutil"
	"github.com/qxsms/kubectl-qxsms/pkg/kube"
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

// generations are two generations of qxsms-data, and a Pending qxsms-media
// whose predecessor was released.
func generations() []runtime.Object {
	return []runtime.Object{
		pv("pvc-cur", "qxsms-data", "u3", corev1.VolumeBound, 0, "/srv/nfs/qxsms-pprd-qxsms-data-pvc-cur"),
		pv("pvc-old", "qxsms-data", "u1", corev1.VolumeReleased, 48*time.Hour, "/srv/nfs/qxsms-pprd-qxsms-data-pvc-old"),
		pv("pvc-mid", "qxsms-data", "u2", corev1.VolumeReleased, time.Hour, "/srv/nfs/qxsms-pprd-qxsms-data-pvc-mid"),
		pv("pvc-media-old", "qxsms-media", "m1", corev1.VolumeReleased, time.Hour, "/srv/nfs/qxsms-pprd-qxsms-media-pvc-media-old"),
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "qxsms-data", Namespace: "qxsms-pprd", UID: "u3"},
			Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pvc-cur"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "qxsms-media", Namespace: "qxsms-pprd", UID: "m2"},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
	}
}

type result struct {
	out, errOut string
	err         error
}

// transcript is what a golden file holds: both streams and the error.
func (r result) transcript() string {
	s := "-- stdout --\n" + r.out + "-- stderr --\n" + r.errOut
	if r.err != nil {
		s += "-- error --\n" + r.err.Error() + "\n"
	}
	return s
}

// run executes `kubectl qxsms pvc-nfs-path ARGS...` on a fake clientset.
func run(t *testing.T, client *fake.Clientset, args ...string) result {
	t.Helper()
	tf := cmdtesting.NewTestFactory()
	t.Cleanup(tf.Cleanup)
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := NewPVCNFSPathOptions(streams)
	o.newClients = func(cmdutil.Factory) func() (*kube.Clients, error) {
		return func() (*kube.Clients, error) { return &kube.Clients{Typed: client}, nil }
	}
	cmd := newCmd(tf, o)
	cmd.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	_, err := cmd.ExecuteC()
	return result{out.String(), errOut.String(), err}
}

// Each PV is on its own row, the Pending claim without a path, and one
// rsync target per generation, newest first.
func TestOutput(t *testing.T) {
	archiving := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "nfs-subdir"}, Provisioner: "k8s-sigs.io/nfs-subdir-external-provisioner"}
	subdir := pv("pvc-sub", "qxsms-logs", "l1", corev1.VolumeReleased, 2*time.Hour, "/srv/nfs/qxsms-pprd-qxsms-logs-pvc-sub")
	subdir.Spec.StorageClassName, subdir.Spec.PersistentVolumeReclaimPolicy = "nfs-subdir", corev1.PersistentVolumeReclaimDelete
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"table", []string{"pprd"}},
		{"wide", []string{"pprd", "-o", "wide", "--export-root", "/srv/nfs=/data/nfs"}},
		{"json", []string{"pprd", "-o", "json"}},
		{"yaml", []string{"pprd", "qxsms-media", "-o", "yaml"}},
		{"name", []string{"pprd", "-o", "name"}},
		{"jsonpath", []string{"pprd", "-o", "jsonpath", "--template", `{range .items[*]}{.server}:{.path}{"\n"}{end}`}},
		{"claims", []string{"pprd", "qxsms-data"}},
		{"rsync", []string{"pprd", "qxsms-data", "--rsync", "/backup", "--ssh-user", "ops"}},
		{"none", []string{"demo"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			client := fake.NewClientset(append(generations(), subdir, archiving)...)
			r := run(t, client, tc.args...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			testutil.Golden(t, tc.golden, r.transcript())
			for _, a := range client.Actions() {
				if v := a.GetVerb(); v != "get" && v != "list" {
					t.Errorf("pvc-nfs-path wrote to the cluster: %v", a)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		objs []runtime.Object
		args []string
		want string
	}{
		{"no instance", nil, nil, "requires at least 1 arg(s), only received 0"},
		{"bad instance", nil, []string{"Bad"}, `invalid instance name "Bad": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`},
		{"bad claim", nil, []string{"pprd", "../x"}, `invalid PVC name "../x": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
		{"rsync with output", nil, []string{"pprd", "--rsync", "/b", "-o", "json"}, "--rsync prints commands: it cannot be combined with --output"},
		{"ssh-user without rsync", nil, []string{"pprd", "--ssh-user", "ops"}, "--ssh-user goes with --rsync"},
		{"bad output", nil, []string{"pprd", "-o", "csv"}, `--output "csv" is not supported here: use one of wide, json, yaml, kyaml, name, go-template, go-template-file, template, templatefile, jsonpath, jsonpath-as-json, jsonpath-file`},
		{"bad export root", nil, []string{"pprd", "--export-root", "srv"}, `--export-root "srv": want EXPORT=FSPATH with absolute paths, e.g. /=/srv/nfs`},
		{"rsync refuses control characters", []runtime.Object{pv("pvc-x", "qxsms-data", "u1", corev1.VolumeReleased, time.Hour, "/srv/nfs/a\nrm -rf ~")},
			[]string{"pprd", "--rsync", "/backup"}, "1 volume(s) of pprd have paths no command can be printed for safely: copy them by hand"},
		{"rsync without NFS", []runtime.Object{&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "qxsms-pprd"}}},
			[]string{"pprd", "--rsync", "/backup"}, "none of the volumes of pprd is on NFS: nothing to rsync"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, fake.NewClientset(tc.objs...), tc.args...)
			if r.err == nil || r.err.Error() != tc.want {
				t.Fatalf("err = %v\nwant  %s", r.err, tc.want)
			}
			if r.out != "" {
				t.Errorf("stdout: %q", r.out)
			}
			testutil.Golden(t, "error-"+strings.ReplaceAll(tc.name, " ", "-"), r.errOut)
		})
	}
}

func TestClaimNamesWithDots(t *testing.T) {
	r := run(t, fake.NewClientset(pv("pvc-x", "data.v2", "u1", corev1.VolumeReleased, time.Hour, "/srv/nfs/x")), "pprd", "data.v2", "-o", "name")
	if r.err != nil || r.out != "volumepath.qxsms.io/pvc-x\n" {
		t.Fatalf("a PVC name with a dot: %+v", r)
	}
}
