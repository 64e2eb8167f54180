// Package newinstance implements `kubectl qxsms new`.
package newinstance

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/scaffold"
	"github.com/qxsms/kubectl-qxsms/plugins/internal/cli"
)

var (
	long = templates.LongDesc(`
		Scaffold a new instance's overlay, k8s/overlays/ENV/INSTANCE, from an existing
		instance, which may live in another environment.

		Whatever ties the files to the source is rewritten: the namespace, the
		instance labels and names, the ingress host, mail addresses and URLs built
		from the instance name, and the environment when it changes. Comments, key
		order and everything else stay as they are. The new overlay must build and
		stay in its namespace before it is written; an existing folder is never
		overwritten. Nothing touches a cluster.`)

	example = templates.Examples(`
		# A new staging instance like pprd, at qa.qxsms.example.org (derived from pprd's host)
		kubectl qxsms new staging qa --from pprd

		# A production instance from a staging one, with its own host
		kubectl qxsms new production acme --from staging/pprd --host acme.example.com`)
)

// Options is the state of one new command.
type Options struct {
	Root, Env, Instance, From, Host string

	repo   *overlays.Repo
	source overlays.Instance
	genericiooptions.IOStreams
}

// NewCmdNew returns the new subcommand.
func NewCmdNew(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "new ENV INSTANCE --from [ENV/]SOURCE [--host HOSTNAME]",
		DisableFlagsInUseLine: true,
		Short:                 "Scaffold a new instance's overlay from an existing one",
		Long:                  long,
		Example:               example,
		Args:                  cobra.ExactArgs(2),
		ValidArgsFunction:     cli.CompleteEnvThenInstances(-1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cli.AddRootFlag(cmd, &o.Root)
	cmd.Flags().StringVar(&o.From, "from", "", "The instance to copy: SOURCE (in ENV, or the only one of that name) or SOURCE_ENV/SOURCE.")
	cmd.Flags().StringVar(&o.Host, "host", "", "The new instance's ingress host (default: the source's host with the instance name replaced).")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.RegisterFlagCompletionFunc("from", func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		repo, err := cli.FindRepo(o.Root)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		envs, _ := repo.Environments()
		for _, env := range envs {
			insts, _ := repo.Instances(env)
			for _, i := range insts {
				if c := env + "/" + i; strings.HasPrefix(c, toComplete) {
					out = append(out, c)
				}
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// Complete finds the repo and resolves --from.
func (o *Options) Complete(args []string) error {
	o.Env, o.Instance = args[0], args[1]
	for what, name := range map[string]string{"environment": o.Env, "instance": o.Instance} {
		if err := overlays.ValidateName(what, name); err != nil {
			return err
		}
	}
	if o.Host != "" {
		if err := overlays.ValidateHost(o.Host); err != nil {
			return err
		}
	}
	var err error
	if o.repo, err = cli.FindRepo(o.Root); err != nil {
		return err
	}
	srcEnv, srcName, qualified := strings.Cut(o.From, "/")
	if !qualified {
		srcEnv, srcName = "", o.From
	}
	if srcEnv == "" {
		if srcEnv, err = o.findEnv(srcName); err != nil {
			return err
		}
	}
	insts, err := o.repo.Select(srcEnv, []string{srcName})
	if err != nil {
		return fmt.Errorf("--from %s: %w", o.From, err)
	}
	o.source = insts[0]
	return nil
}

// findEnv locates an unqualified source: ENV first, else the only environment holding it.
func (o *Options) findEnv(name string) (string, error) {
	if insts, _ := o.repo.Instances(o.Env); slices.Contains(insts, name) {
		return o.Env, nil
	}
	envs, err := o.repo.Environments()
	if err != nil {
		return "", err
	}
	var found []string
	for _, env := range envs {
		if insts, _ := o.repo.Instances(env); slices.Contains(insts, name) {
			found = append(found, env)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("--from %s: no instance of that name in any environment (%s)", name, strings.Join(envs, ", "))
	case 1:
		return found[0], nil
	}
	return "", errors.New("--from " + name + ": several environments hold it (" + strings.Join(found, ", ") + "): write ENV/" + name)
}

// Run writes the overlay and says what to do next.
func (o *Options) Run() error {
	res, err := scaffold.Create(o.repo, scaffold.Request{Source: o.source, Env: o.Env, Name: o.Instance, Host: o.Host})
	if err != nil {
		return err
	}
	rel := func(p string) string {
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
				return r
			}
		}
		return p
	}
	dir := rel(res.Instance.Dir)
	fmt.Fprintf(o.Out, "Created %s from %s (namespace %s, host %s).\n\nReview these files:\n", dir, o.source, res.Instance.Namespace(), res.NewHost)
	for _, f := range res.Files {
		fmt.Fprintf(o.Out, "  %s\n", rel(f))
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(o.ErrOut, "Warning: %s\n", w)
	}
	fmt.Fprintf(o.Out, `
Set the real secrets (secrets.env holds the source's placeholders, renamed), then:
  git checkout -b add-%[1]s
  git add %[2]s
  git commit -m "Add QxSMS instance %[1]s (%[3]s)"
  git push -u origin add-%[1]s
and merge it into the %[3]s branch: its pipeline deploys the new instance.
`, o.Instance, dir, o.Env)
	return nil
}
