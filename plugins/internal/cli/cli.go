// Package cli holds what several subcommands share: the config repo flag, the
// active context and its environment guard, exit codes and the summary table.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

// ExitError carries a process exit code; an empty message prints nothing.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

// ExitCode is the process exit code.
func (e *ExitError) ExitCode() int { return e.Code }

func (e *ExitError) Unwrap() error { return e.Err }

// WithCode makes err exit with code.
func WithCode(code int, err error) error { return &ExitError{Code: code, Err: err} }

// AddRootFlag adds --root, the config repo or its k8s/ folder.
func AddRootFlag(cmd *cobra.Command, root *string) {
	cmd.Flags().StringVar(root, "root", "", "The config repo, or its k8s/ folder (default: $"+overlays.RootEnv+", else the nearest parent of the working directory holding k8s/overlays).")
}

// FindRepo resolves --root, $QXSMS_ROOT and the working directory.
func FindRepo(root string) (*overlays.Repo, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	return overlays.FindRepo(root, os.Getenv(overlays.RootEnv), cwd)
}

// CurrentContext is the kube context the command will talk to: --context, or
// the kubeconfig's current context.
func CurrentContext(cmd *cobra.Command, f cmdutil.Factory) (string, error) {
	if c, _ := cmd.Flags().GetString("context"); c != "" {
		return c, nil
	}
	raw, err := f.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return "", fmt.Errorf("reading kubeconfig: %w", err)
	}
	if raw.CurrentContext == "" {
		return "", errors.New("no current kube context: pass --context or run `kubectl config use-context NAME`")
	}
	return raw.CurrentContext, nil
}

// Guard enforces k8s/qxsms.yaml's environment → context map, warning once
// when the repo has no such file.
func Guard(repo *overlays.Repo, env, kubeContext string, allowMismatch bool, warn io.Writer) (*overlays.Config, error) {
	cfg, err := repo.LoadConfig()
	if err != nil {
		return nil, err
	}
	if cfg.Path == "" {
		fmt.Fprintf(warn, "Warning: no %s in %s: any kube context is accepted for %q; add it to guard environments\n", overlays.ConfigFile, repo.Dir, env)
		return cfg, nil
	}
	if err := cfg.CheckContext(env, kubeContext); err != nil {
		var mismatch *overlays.ContextMismatchError
		if allowMismatch && errors.As(err, &mismatch) {
			fmt.Fprintf(warn, "Warning: acting on environment %q in context %q, which %s does not allow (--allow-context-mismatch)\n", env, kubeContext, cfg.Path)
			return cfg, nil
		}
		return nil, err
	}
	return cfg, nil
}

// Target is the cluster a command talks to once every kubectl flag is
// applied: the kube context, and the API server URL, which --server or
// --cluster may point away from the context's own cluster.
type Target struct {
	Context string
	// Server is the effective API server URL.
	Server string
	// ContextServer is the server of the context's cluster in the kubeconfig.
	ContextServer string
}

// ResolveTarget reads the effective context and server from kubectl's flags
// and kubeconfig.
func ResolveTarget(cmd *cobra.Command, f cmdutil.Factory) (Target, error) {
	kubeContext, err := CurrentContext(cmd, f)
	if err != nil {
		return Target{}, err
	}
	cfg, err := f.ToRESTConfig()
	if err != nil {
		return Target{}, err
	}
	t := Target{Context: kubeContext, Server: cfg.Host}
	if raw, err := f.ToRawKubeConfigLoader().RawConfig(); err == nil {
		if c, ok := raw.Contexts[kubeContext]; ok {
			if cluster, ok := raw.Clusters[c.Cluster]; ok {
				t.ContextServer = cluster.Server
			}
		}
	}
	return t, nil
}

// GuardTarget is Guard, and then checks that the connection goes to the
// context's own cluster or a server k8s/qxsms.yaml lists for env: flags that
// point an allowed context at another server are refused.
func GuardTarget(repo *overlays.Repo, env string, t Target, allowMismatch bool, warn io.Writer) (*overlays.Config, error) {
	cfg, err := Guard(repo, env, t.Context, allowMismatch, warn)
	if err != nil || cfg.Path == "" {
		return cfg, err
	}
	err = cfg.CheckServer(env, t.Context, t.Server, t.ContextServer)
	var mismatch *overlays.ContextMismatchError
	if allowMismatch && errors.As(err, &mismatch) {
		fmt.Fprintf(warn, "Warning: acting on environment %q through server %s, which %s does not allow (--allow-context-mismatch)\n", env, t.Server, cfg.Path)
		return cfg, nil
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// AddAllowMismatchFlag adds the deliberate override of the context guard.
func AddAllowMismatchFlag(cmd *cobra.Command, allow *bool) {
	cmd.Flags().BoolVar(allow, "allow-context-mismatch", false, "Proceed although k8s/qxsms.yaml does not allow the active kube context for this environment.")
}

// Options is the shape of every subcommand's options.
type Options interface {
	// Complete resolves the arguments, the config repo and the clients.
	Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error
	// Validate checks flag values and combinations, sending nothing.
	Validate() error
	// Run calls the engine and prints its results.
	Run(ctx context.Context) error
}

// Run is every subcommand's RunE: Complete, Validate, then Run.
func Run(f cmdutil.Factory, o Options, cmd *cobra.Command, args []string) error {
	if err := o.Complete(f, cmd, args); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	return o.Run(cmd.Context())
}
