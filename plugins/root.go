// Package plugins is the command layer of kubectl-qxsms: the root command and
// one package per subcommand. The engine lives in pkg/ and knows nothing of cobra.
package plugins

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	// Authentication plugins (exec, OIDC) as kubectl has them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/plugins/deploy"
	"github.com/qxsms/kubectl-qxsms/plugins/newinstance"
	"github.com/qxsms/kubectl-qxsms/plugins/pvcnfspath"
	"github.com/qxsms/kubectl-qxsms/plugins/pvreleased"
	"github.com/qxsms/kubectl-qxsms/plugins/restart"
	"github.com/qxsms/kubectl-qxsms/plugins/status"
	"github.com/qxsms/kubectl-qxsms/plugins/teardown"
	"github.com/qxsms/kubectl-qxsms/plugins/version"
)

// Client-go's default of 5 requests per second would make a deploy of many
// instances wait on the client, not the server; API Priority and Fairness
// protects the server.
const (
	defaultQPS   = 200
	defaultBurst = 400
)

// NewCmdQxsms builds the root command with kubectl's connection flags and one
// Factory shared by every subcommand.
func NewCmdQxsms(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kubectl-qxsms",
		Short: "Deploy and operate QxSMS instances from their kustomize overlays",
		Long: `Deploy and operate QxSMS instances from their kustomize overlays.

An environment (development, staging, production) is a target cluster; an instance
is an overlay in k8s/overlays/<environment>/<instance> and lives in namespace qxsms-<instance>.`,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl qxsms"},
		SilenceUsage:  true,
		SilenceErrors: true,
	}

	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)

	configFlags := genericclioptions.NewConfigFlags(true).
		WithDeprecatedPasswordFlag().
		WithDiscoveryBurst(300).
		WithDiscoveryQPS(50)
	// One limit for every client the command builds (discovery, typed,
	// dynamic), so together they stay within one HTTP/2 connection.
	inFlight := kube.NewInFlightLimit(kube.MaxInFlight)
	configFlags.WrapConfigFn = func(c *rest.Config) *rest.Config {
		if c.QPS == 0 {
			c.QPS, c.Burst = defaultQPS, defaultBurst
		}
		c.Wrap(inFlight.Wrap)
		return c
	}
	configFlags.AddFlags(cmd.PersistentFlags())
	addVerbosityFlag(cmd)

	f := cmdutil.NewFactory(cmdutil.NewMatchVersionFlags(configFlags))
	cmd.AddCommand(
		deploy.NewCmdDeploy(f, streams),
		restart.NewCmdRestart(f, streams),
		newinstance.NewCmdNew(f, streams),
		pvreleased.NewCmdPVReleased(f, streams),
		pvcnfspath.NewCmdPVCNFSPath(f, streams),
		teardown.NewCmdTeardown(f, streams),
		status.NewCmdStatus(f, streams),
		version.NewCmdVersion(f, streams),
	)
	return cmd
}

// addVerbosityFlag exposes klog's -v, and nothing else of klog, as kubectl does.
func addVerbosityFlag(cmd *cobra.Command) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	cmd.PersistentFlags().AddGoFlag(fs.Lookup("v"))
}

// PrintError prints err once, kubectl-style, and returns the exit code: an
// error may choose it (diff's 1 for differences) and may print nothing.
func PrintError(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	code := 1
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(w, "error: %s\n", msg)
	}
	return code
}
