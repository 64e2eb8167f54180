// Package version implements `kubectl qxsms version`.
package version

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	apimachineryversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/qxsms/kubectl-qxsms/pkg/buildinfo"
	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/plugins/internal/cli"
)

var (
	long = templates.LongDesc(`
		Print the plugin's version, the Go and client-go versions it was built with,
		and the API server's version when the server answers (an unreachable server
		is a warning: the plugin's own version is still printed).

		-o json|yaml prints one Version record (apiVersion qxsms.io/v1alpha1) with
		the fields plugin and serverVersion.`)

	example = templates.Examples(`
		# Plugin, Go and client-go versions, and the server's when it is reachable
		kubectl qxsms version

		# Only what this binary was built with, without contacting a cluster
		kubectl qxsms version --client

		# Machine-readable
		kubectl qxsms version -o json
		kubectl qxsms version --client -o jsonpath --template '{.plugin.version}'`)
)

// RecordKind and RecordName identify the version record in machine output.
const (
	RecordKind = "Version"
	RecordName = "kubectl-qxsms"
)

// Output is the record -o prints.
type Output struct {
	Plugin        buildinfo.Info            `json:"plugin"`
	ServerVersion *apimachineryversion.Info `json:"serverVersion,omitempty"`
}

// VersionOptions holds the flags of the version command, and the clients
// Complete resolves.
type VersionOptions struct {
	ClientOnly bool
	Output     *cli.OutputFlags
	genericiooptions.IOStreams

	// Seams, set by NewVersionOptions; tests replace them.
	newClients func(cmdutil.Factory) func() (*kube.Clients, error)
	buildInfo  func() buildinfo.Info

	// Resolved by Complete.
	clients func() (*kube.Clients, error)
}

// NewVersionOptions returns the defaults of version.
func NewVersionOptions(streams genericiooptions.IOStreams) *VersionOptions {
	return &VersionOptions{IOStreams: streams, Output: cli.NewOutputFlags("", false), newClients: cli.NewClients, buildInfo: buildinfo.Get}
}

// NewCmdVersion returns the version subcommand.
func NewCmdVersion(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmd(f, NewVersionOptions(streams))
}

// newCmd binds o's flags; tests hand in options with fake seams.
func newCmd(f cmdutil.Factory, o *VersionOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the plugin version, and the server version when reachable",
		Long:    long,
		Example: example,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return cli.Run(f, o, cmd, args) },
	}
	cmd.Flags().BoolVar(&o.ClientOnly, "client", false, "Print only the plugin's own version; do not contact the server.")
	o.Output.AddFlags(cmd)
	return cmd
}

// Complete prepares the clients, built only when the server is asked.
func (o *VersionOptions) Complete(f cmdutil.Factory, _ *cobra.Command, _ []string) error {
	o.clients = o.newClients(f)
	return nil
}

// Validate checks the flags.
func (o *VersionOptions) Validate() error { return o.Output.Validate() }

// Run prints the versions. An unreachable server is a warning, not a failure:
// the plugin's own version is still useful then.
func (o *VersionOptions) Run(ctx context.Context) error {
	out := Output{Plugin: o.buildInfo()}
	if !o.ClientOnly {
		sv, err := o.serverVersion(ctx)
		if err != nil {
			fmt.Fprintf(o.ErrOut, "Warning: server version unavailable: %v\n", err)
		} else {
			out.ServerVersion = sv
		}
	}
	if o.Output.Format() != "" {
		obj, err := cli.AsObject(RecordKind, RecordName, out)
		if err != nil {
			return err
		}
		p, err := o.Output.ToPrinter()
		if err != nil {
			return err
		}
		return p.PrintObj(obj, o.Out)
	}
	p := out.Plugin
	fmt.Fprintf(o.Out, "Plugin Version: %s\nCommit: %s\nGo Version: %s\nclient-go Version: %s\nPlatform: %s\n",
		p.Version, p.Commit, p.GoVersion, p.ClientGoVersion, p.Platform)
	if out.ServerVersion != nil {
		fmt.Fprintf(o.Out, "Server Version: %s\n", out.ServerVersion.GitVersion)
	}
	return nil
}

// serverVersion asks the API server, within ctx and --request-timeout.
func (o *VersionOptions) serverVersion(ctx context.Context) (*apimachineryversion.Info, error) {
	clients, err := o.clients()
	if err != nil {
		return nil, err
	}
	return discovery.ToServerVersionInterfaceWithContext(clients.Typed.Discovery()).ServerVersionWithContext(ctx)
}
