// Package newinstance implements `kubectl qxsms new`.
package newinstance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/scaffold"
	"github.com/qxsms/kubectl-qxsms/pkg/secrets"
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
		overwritten. Nothing touches a cluster.

		No secret value is ever copied from the source, whatever its form (env files
		of a secretGenerator, literals, generator files, Secret manifests): each key
		gets a placeholder of the target environment's form (k8s/qxsms.yaml
		"placeholder", default changeme-<instance>-<key>), and the keys that need
		real values are listed. With --generate-secrets, strong random values for the
		keys of env files are written to a *.generated.env file beside them, which
		k8s/.gitignore covers, to be stored as the SECRETS_<ENV>_<INSTANCE> CI/CD
		variable.`)

	example = templates.Examples(`
		# A new staging instance like pprd, at qa.qxsms.example.org (derived from pprd's host)
		kubectl qxsms new staging qa --from pprd

		# A production instance from a staging one, with its own host
		kubectl qxsms new production acme --from staging/pprd --host acme.example.com

		# The same, with random secrets to store as the SECRETS_PRODUCTION_ACME CI/CD variable
		kubectl qxsms new production acme --from staging/pprd --generate-secrets`)
)

// NewOptions holds the flags of one new command as the user typed them, and
// what Complete resolves from them.
type NewOptions struct {
	From, Host      string
	GenerateSecrets bool
	cli.RepoFlags
	genericiooptions.IOStreams

	// Resolved by Complete.
	env, instance string
	repo          *overlays.Repo
	// source is resolved by Run, once the names are known to be valid.
	source overlays.Instance
}

// NewNewOptions returns the defaults of new.
func NewNewOptions(streams genericiooptions.IOStreams) *NewOptions {
	return &NewOptions{IOStreams: streams}
}

// NewCmdNew returns the new subcommand. It takes no cluster: f only serves
// the shared shape of every command.
func NewCmdNew(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewNewOptions(streams)
	cmd := &cobra.Command{
		Use:                   "new ENV INSTANCE --from [ENV/]SOURCE [--host HOSTNAME]",
		DisableFlagsInUseLine: true,
		Short:                 "Scaffold a new instance's overlay from an existing one",
		Long:                  long,
		Example:               example,
		Args:                  cobra.ExactArgs(2),
		ValidArgsFunction:     cli.CompleteEnvThenInstances(-1),
		RunE:                  func(cmd *cobra.Command, args []string) error { return cli.Run(f, o, cmd, args) },
	}
	o.RepoFlags.AddFlags(cmd)
	cmd.Flags().StringVar(&o.From, "from", "", "The instance to copy: SOURCE (in ENV, or the only one of that name) or SOURCE_ENV/SOURCE.")
	cmd.Flags().StringVar(&o.Host, "host", "", "The new instance's ingress host (default: the source's host with the instance name replaced).")
	cmd.Flags().BoolVar(&o.GenerateSecrets, "generate-secrets", false, "Write strong random values for the keys of secret env files into git-ignored *.generated.env files (the overlay itself keeps placeholders).")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.RegisterFlagCompletionFunc("from", func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		repo, err := o.Repo()
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

// Complete reads ENV and INSTANCE and finds the config repo.
func (o *NewOptions) Complete(_ cmdutil.Factory, _ *cobra.Command, args []string) error {
	if len(args) == 2 {
		o.env, o.instance = args[0], args[1]
	}
	var err error
	o.repo, err = o.Repo()
	return err
}

// sourceRef splits --from into its environment ("" when not given) and name.
func (o *NewOptions) sourceRef() (env, name string) {
	if env, name, ok := strings.Cut(o.From, "/"); ok {
		return env, name
	}
	return "", o.From
}

// Validate checks the names and the host before any file is read.
func (o *NewOptions) Validate() error {
	if err := overlays.ValidateName("environment", o.env); err != nil {
		return err
	}
	if err := overlays.ValidateName("instance", o.instance); err != nil {
		return err
	}
	srcEnv, srcName := o.sourceRef()
	if strings.Contains(o.From, "/") {
		if err := overlays.ValidateName("environment", srcEnv); err != nil {
			return fmt.Errorf("--from %s: %w: want SOURCE or ENV/SOURCE", o.From, err)
		}
	}
	if err := overlays.ValidateName("instance", srcName); err != nil {
		return fmt.Errorf("--from %s: %w: want SOURCE or ENV/SOURCE", o.From, err)
	}
	if o.Host != "" {
		if err := overlays.ValidateHost(o.Host); err != nil {
			return fmt.Errorf("--host: %w", err)
		}
	}
	return nil
}

// resolveSource finds the instance --from names.
func (o *NewOptions) resolveSource() error {
	srcEnv, srcName := o.sourceRef()
	if srcEnv == "" {
		var err error
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
func (o *NewOptions) findEnv(name string) (string, error) {
	if insts, _ := o.repo.Instances(o.env); slices.Contains(insts, name) {
		return o.env, nil
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
func (o *NewOptions) Run(_ context.Context) error {
	if err := o.resolveSource(); err != nil {
		return err
	}
	cfg, err := o.repo.LoadConfig()
	if err != nil {
		return err
	}
	res, err := scaffold.Create(o.repo, scaffold.Request{Source: o.source, Env: o.env, Name: o.instance, Host: o.Host,
		Placeholder: secrets.PolicyFor(cfg, o.env).Glob, GenerateSecrets: o.GenerateSecrets})
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
	o.printSecrets(res, rel)
	add := dir
	if res.Gitignore != "" {
		add += " " + rel(res.Gitignore)
	}
	fmt.Fprintf(o.Out, `
Then:
  git checkout -b add-%[1]s
  git add %[2]s
  git commit -m "Add QxSMS instance %[1]s (%[3]s)"
  git push -u origin add-%[1]s
and merge it into the %[3]s branch: its pipeline deploys the new instance.
`, o.instance, add, o.env)
	return nil
}

// printSecrets says exactly what new did with each secret key: never a value.
func (o *NewOptions) printSecrets(res *scaffold.Result, rel func(string) string) {
	if len(res.Secrets) == 0 {
		fmt.Fprintf(o.Out, "\n%s holds no secret values.\n", o.source)
		return
	}
	variable := secrets.CIVariable(o.env, o.instance)
	var placeholders, generated []scaffold.SecretKey
	for _, k := range res.Secrets {
		if k.Generated != "" {
			generated = append(generated, k)
		} else {
			placeholders = append(placeholders, k)
		}
	}
	fmt.Fprintf(o.Out, "\nSecrets: no value was copied from %s.\n", o.source)
	if len(placeholders) > 0 {
		fmt.Fprintln(o.Out, "These keys hold placeholders and need real values:")
		w := printers.GetNewTabWriter(o.Out)
		for _, k := range placeholders {
			fmt.Fprintf(w, "  %s\tSecret %s\tin %s\n", k.Key, k.Secret, k.File)
		}
		_ = w.Flush()
	}
	if len(generated) > 0 {
		files := make([]string, len(res.Generated))
		for i, f := range res.Generated {
			files[i] = rel(f)
		}
		keys := make([]string, len(generated))
		for i, k := range generated {
			keys[i] = k.Key
		}
		fmt.Fprintf(o.Out, "Strong random values for %s are in %s, which git ignores (%s); the overlay keeps placeholders.\n",
			strings.Join(keys, ", "), strings.Join(files, ", "), rel(res.Gitignore))
	}
	inPipelineFile := false
	for _, k := range res.Secrets {
		inPipelineFile = inPipelineFile || k.File == secrets.PipelineFile
	}
	switch {
	case len(generated) > 0 && inPipelineFile:
		fmt.Fprintf(o.Out, "Next: store %s as the file-type CI/CD variable %s (masked, protected, environment %s): the pipeline writes it over %s before it deploys. Then delete the file.\n",
			rel(filepath.Join(res.Instance.Dir, strings.TrimSuffix(secrets.PipelineFile, ".env")+scaffold.GeneratedSuffix)), variable, o.env, secrets.PipelineFile)
	case inPipelineFile:
		fmt.Fprintf(o.Out, "Next: store the real %s as the file-type CI/CD variable %s (masked, protected, environment %s): the pipeline writes it over %s before it deploys. Never commit real values.\n",
			secrets.PipelineFile, variable, o.env, secrets.PipelineFile)
	}
	var others []string
	for _, k := range res.Secrets {
		if k.File != secrets.PipelineFile && !slices.Contains(others, k.File) {
			others = append(others, k.File)
		}
	}
	if len(others) > 0 {
		fmt.Fprintf(o.Out, "The pipeline replaces only %s: the keys in %s need their real values set another way, or moved to %s.\n",
			secrets.PipelineFile, strings.Join(others, ", "), secrets.PipelineFile)
	}
	fmt.Fprintln(o.Out, "Until the real values are in place, deploy refuses the placeholders in protected environments and warns elsewhere.")
}
