// Package version implements `kubectl qxsms version`.
package version

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	apimachineryversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/yaml"

	"github.com/qxsms/kubectl-qxsms/pkg/buildinfo"
)

var example = templates.Examples(`
	# Plugin, Go and client-go versions, and the server's when it is reachable
	kubectl qxsms version

	# Only what this binary was built with, without contacting a cluster
	kubectl qxsms version --client

	# Machine-readable
	kubectl qxsms version -o json`)

// Output is what -o json|yaml prints.
type Output struct {
	Plugin        buildinfo.Info            `json:"plugin"`
	ServerVersion *apimachineryversion.Info `json:"serverVersion,omitempty"`
}

// Options holds the flags and seams of the version command.
type Options struct {
	ClientOnly bool
	Output     string

	serverVersion func() (*apimachineryversion.Info, error)
	genericiooptions.IOStreams
}

// NewCmdVersion returns the version subcommand.
func NewCmdVersion(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the plugin version, and the server version when reachable",
		Example: example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(f); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().BoolVar(&o.ClientOnly, "client", false, "Print only the plugin's own version; do not contact the server.")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml.")
	return cmd
}

// Complete wires the discovery client.
func (o *Options) Complete(f cmdutil.Factory) error {
	o.serverVersion = func() (*apimachineryversion.Info, error) {
		dc, err := f.ToDiscoveryClient()
		if err != nil {
			return nil, err
		}
		return dc.ServerVersion()
	}
	return nil
}

// Validate checks the flags.
func (o *Options) Validate() error {
	switch o.Output {
	case "", "json", "yaml":
		return nil
	}
	return fmt.Errorf("--output %q is not supported: use json or yaml", o.Output)
}

// Run prints the versions. An unreachable server is a warning, not a failure:
// the plugin's own version is still useful then.
func (o *Options) Run() error {
	out := Output{Plugin: buildinfo.Get()}
	if !o.ClientOnly {
		sv, err := o.serverVersion()
		if err != nil {
			fmt.Fprintf(o.ErrOut, "Warning: server version unavailable: %v\n", err)
		} else {
			out.ServerVersion = sv
		}
	}
	switch o.Output {
	case "json":
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(o.Out, string(b))
	case "yaml":
		b, err := yaml.Marshal(out)
		if err != nil {
			return err
		}
		fmt.Fprint(o.Out, string(b))
	default:
		p := out.Plugin
		fmt.Fprintf(o.Out, "Plugin Version: %s\nCommit: %s\nGo Version: %s\nclient-go Version: %s\nPlatform: %s\n",
			p.Version, p.Commit, p.GoVersion, p.ClientGoVersion, p.Platform)
		if out.ServerVersion != nil {
			fmt.Fprintf(o.Out, "Server Version: %s\n", out.ServerVersion.GitVersion)
		}
	}
	return nil
}
