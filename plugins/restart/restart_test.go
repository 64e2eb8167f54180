package restart

import (
	"context"
	"io"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	cmdtesting "k8s.io/kubectl/pkg/cmd/testing"
	"k8s.io/utils/ptr"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/rollout"
)

func deployment(ns, name string, pull corev1.PullPolicy) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: name, Image: "registry/qxsms:staging", ImagePullPolicy: pull}}}},
		},
	}
}

func namespace(name string, deleting bool) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if deleting {
		ns.DeletionTimestamp = &metav1.Time{}
	}
	return ns
}

// Without waiting, restart needs the typed client only: every other use of
// the clients would panic on the nil fields.
func TestRestartRun(t *testing.T) {
	cluster := func() []runtime.Object {
		return []runtime.Object{
			namespace("qxsms-demo", false), namespace("qxsms-pprd", false), namespace("qxsms-gone", true), namespace("kube-system", false),
			deployment("qxsms-pprd", "qxsms", corev1.PullAlways), deployment("qxsms-pprd", "worker", corev1.PullIfNotPresent),
			deployment("qxsms-demo", "qxsms", corev1.PullAlways), deployment("qxsms-demo", "worker", corev1.PullAlways),
		}
	}
	cases := []struct {
		name       string
		setup      func(*Options)
		wantOut    string
		wantErrOut string
		wantErr    string
	}{{
		name:    "one instance",
		setup:   func(o *Options) { o.instances = []string{"pprd"} },
		wantOut: "deployment.apps/qxsms restarted\ndeployment.apps/worker restarted\n",
		wantErrOut: "Warning: qxsms-pprd/deployment.apps/worker: container worker has imagePullPolicy IfNotPresent: " +
			"the restart won't fetch an image rebuilt under the same tag (registry/qxsms:staging); set imagePullPolicy: Always\n",
	}, {
		name: "every instance, -o name",
		setup: func(o *Options) {
			o.All = true
			o.Deployments = []string{"qxsms"}
			o.Output.OutputFormat = ptr.To("name")
		},
		// qxsms-gone is being deleted, kube-system is no instance.
		wantOut: "deployment.apps/qxsms\ndeployment.apps/qxsms\n",
	}, {
		name:       "a missing Deployment",
		setup:      func(o *Options) { o.instances = []string{"demo"}; o.Deployments = []string{"qxsms", "web"} },
		wantOut:    "deployment.apps/qxsms restarted\n",
		wantErrOut: "error: deployments.apps \"web\" not found: check the name with `kubectl get deployments -n qxsms-demo`\n",
		wantErr:    "1 of 2 restart(s) failed: qxsms-demo/web",
	}, {
		name:       "a selector that matches nothing",
		setup:      func(o *Options) { o.instances = []string{"demo"}; o.Selector = "app=none" },
		wantErrOut: "error: no Deployment in qxsms-demo matches selector \"app=none\"\n",
		wantErr:    "1 of 1 restart(s) failed: qxsms-demo/",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			o := NewRestartOptions(streams)
			o.WaitFlags.Wait = false
			client := fake.NewClientset(cluster()...)
			o.clients = func() (*kube.Clients, error) { return &kube.Clients{Typed: client}, nil }
			tc.setup(o)
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			err := o.Run(context.Background())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Run: %v", err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
			if out.String() != tc.wantOut {
				t.Errorf("stdout:\n%s--- want\n%s", out, tc.wantOut)
			}
			if errOut.String() != tc.wantErrOut {
				t.Errorf("stderr:\n%s--- want\n%s", errOut, tc.wantErrOut)
			}
			restarted := 0
			for _, ns := range []string{"qxsms-pprd", "qxsms-demo"} {
				list, _ := client.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{})
				for _, d := range list.Items {
					if d.Spec.Template.Annotations[rollout.RestartedAtAnnotation] != "" {
						restarted++
					}
				}
			}
			if want := strings.Count(tc.wantOut, "\n"); restarted != want {
				t.Errorf("%d Deployments restarted, %d printed", restarted, want)
			}
		})
	}
}

func TestRestartRefusesArguments(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "name at least one instance, or pass --all: kubectl qxsms restart INSTANCE"},
		{[]string{"pprd", "--all"}, "name instances or pass --all, not both"},
		{[]string{"pprd", "--deployment", "qxsms", "-l", "app=qxsms"}, "--deployment and --selector cannot be combined: choose Deployments by name or by label"},
		{[]string{"pprd", "--wait=false", "--canary", "pprd"}, "--wait=false cannot be combined with --canary, --waves or --wave-size: a progressive restart waits for each wave"},
		{[]string{"pprd", "--canary-soak=-1m"}, "--canary-soak must not be negative, got -1m0s"},
		{[]string{"Bad_Name"}, "invalid instance name \"Bad_Name\""},
		{[]string{"pprd", "--timeout=0s"}, "--timeout must be positive, got 0s"},
		{[]string{"pprd", "-o", "wide"}, "--output \"wide\" is not supported here"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			tf := cmdtesting.NewTestFactory()
			defer tf.Cleanup()
			streams, _, out, _ := genericiooptions.NewTestIOStreams()
			cmd := NewCmdRestart(tf, streams)
			cmd.SetArgs(append([]string{}, tc.args...))
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if out.Len() > 0 {
				t.Errorf("stdout: %q", out)
			}
		})
	}
}
