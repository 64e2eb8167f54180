package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/qxsms/kubectl-qxsms/pkg/kube"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/redact"
)

// Flag groups shared by several commands, each bound with AddFlags (kapp's
// flag structs): a flag name means the same thing in every command.

// RepoFlags locate the config repo.
type RepoFlags struct {
	Root string
}

// AddFlags adds --root.
func (f *RepoFlags) AddFlags(cmd *cobra.Command) { AddRootFlag(cmd, &f.Root) }

// Repo resolves --root, $QXSMS_ROOT and the working directory.
func (f *RepoFlags) Repo() (*overlays.Repo, error) { return FindRepo(f.Root) }

// GuardFlags locate the config repo and relax its environment guard.
type GuardFlags struct {
	RepoFlags
	AllowContextMismatch bool
}

// AddFlags adds --root and --allow-context-mismatch.
func (f *GuardFlags) AddFlags(cmd *cobra.Command) {
	f.RepoFlags.AddFlags(cmd)
	AddAllowMismatchFlag(cmd, &f.AllowContextMismatch)
}

// Check is GuardTarget with the flag's override.
func (f *GuardFlags) Check(repo *overlays.Repo, env string, t Target, warn io.Writer) (*overlays.Config, error) {
	return GuardTarget(repo, env, t, f.AllowContextMismatch, warn)
}

// ConfirmFlags are the two ways of confirming a destructive command without
// a prompt: --yes, and --confirm=INSTANCE, which protected environments need.
type ConfirmFlags struct {
	Yes     bool
	Confirm string
}

// AddFlags adds --yes/-y and --confirm.
func (f *ConfirmFlags) AddFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&f.Yes, "yes", "y", false, "Skip the confirmation prompt (not enough for protected environments such as production).")
	cmd.Flags().StringVar(&f.Confirm, "confirm", "", "INSTANCE: the instance concerned, confirming without a prompt; required for protected environments.")
}

// Validate checks that --confirm names an instance.
func (f *ConfirmFlags) Validate() error {
	if f.Confirm == "" {
		return nil
	}
	if err := overlays.ValidateName("instance", f.Confirm); err != nil {
		return fmt.Errorf("--confirm: %w", err)
	}
	return nil
}

// WaitFlags say whether and how long a command waits for rollouts.
type WaitFlags struct {
	Wait    bool
	Timeout time.Duration
}

// NewWaitFlags returns the defaults of one command.
func NewWaitFlags(wait bool, timeout time.Duration) *WaitFlags {
	return &WaitFlags{Wait: wait, Timeout: timeout}
}

// AddFlags adds --wait and --timeout.
func (f *WaitFlags) AddFlags(cmd *cobra.Command, waitFor string) {
	cmd.Flags().BoolVar(&f.Wait, "wait", f.Wait, "Wait until "+waitFor+".")
	f.AddTimeoutFlag(cmd)
}

// AddTimeoutFlag adds --timeout alone, for a command that always waits.
func (f *WaitFlags) AddTimeoutFlag(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&f.Timeout, "timeout", f.Timeout, "How long to wait (e.g. 90s, 5m) before giving up.")
}

// Validate checks the timeout.
func (f *WaitFlags) Validate() error {
	if f.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", f.Timeout)
	}
	return nil
}

// Wide is the -o value that asks for the table with more columns.
const Wide = "wide"

// OutputFlags are -o through cli-runtime's PrintFlags (json, yaml, name,
// go-template, jsonpath, ...) and, for commands that print a table, "wide".
type OutputFlags struct {
	*genericclioptions.PrintFlags
	table bool
}

// NewOutputFlags returns -o for a command whose default output is a table
// (table true) or kubectl's "kind/name operation" lines.
func NewOutputFlags(operation string, table bool) *OutputFlags {
	return &OutputFlags{PrintFlags: genericclioptions.NewPrintFlags(operation).WithTypeSetter(nil), table: table}
}

// AddFlags adds -o and the template flags.
func (f *OutputFlags) AddFlags(cmd *cobra.Command) {
	f.PrintFlags.AddFlags(cmd)
	if f.table {
		flag := cmd.Flags().Lookup("output")
		flag.Usage = fmt.Sprintf("Output format. One of: (%s).", strings.Join(f.AllowedFormats(), ", "))
	}
}

// AllowedFormats lists the -o values this command takes.
func (f *OutputFlags) AllowedFormats() []string {
	formats := f.PrintFlags.AllowedFormats()
	if f.table {
		formats = append([]string{Wide}, formats...)
	}
	return formats
}

// Format is the -o value.
func (f *OutputFlags) Format() string { return *f.OutputFormat }

// Table reports whether the output is the human table, and whether wide.
func (f *OutputFlags) Table() (table, wide bool) {
	format := f.Format()
	return f.table && (format == "" || format == Wide), format == Wide
}

// Machine reports whether stdout carries machine output (json, yaml, name,
// templates), so that progress and summaries go to stderr.
func (f *OutputFlags) Machine() bool {
	table, _ := f.Table()
	return !table && f.Format() != ""
}

// Validate accepts the formats of AllowedFormats.
func (f *OutputFlags) Validate() error {
	format := f.Format()
	// jsonpath=TEMPLATE, go-template=TEMPLATE, ...
	name, _, _ := strings.Cut(format, "=")
	if format == "" || slices.Contains(f.AllowedFormats(), name) {
		return nil
	}
	return fmt.Errorf("--output %q is not supported here: use one of %s", format, strings.Join(f.AllowedFormats(), ", "))
}

// PrintObjects prints objs with -o json|yaml|templates as one v1 List and
// with -o name one line each, Secret values masked.
func (f *OutputFlags) PrintObjects(objs []*unstructured.Unstructured, out io.Writer) error {
	p, err := f.ToPrinter()
	if err != nil {
		return err
	}
	if f.Format() == "name" {
		for _, o := range objs {
			if err := p.PrintObj(o, out); err != nil {
				return err
			}
		}
		return nil
	}
	list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List"}}
	for _, o := range objs {
		list.Items = append(list.Items, *redact.Secret(o))
	}
	return p.PrintObj(list, out)
}

// ToPrinter is PrintFlags' printer.
func (f *OutputFlags) ToPrinter() (printers.ResourcePrinter, error) { return f.PrintFlags.ToPrinter() }

// RecordGroupVersion is the apiVersion of what the plugin prints that is not
// a Kubernetes object (status rows, volume paths, versions): printers need
// one, and consumers can tell the records apart by kind.
var RecordGroupVersion = schema.GroupVersion{Group: "qxsms.io", Version: "v1alpha1"}

// AsObject wraps a record as an object of kind RecordGroupVersion/kind named
// name, so the same printers serve it.
func AsObject(kind, name string, record any) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(record)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s: %w", kind, name, err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("encoding %s %s: %w", kind, name, err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(RecordGroupVersion.WithKind(kind))
	if name != "" {
		u.SetName(name)
	}
	return u, nil
}

// NewClients builds the API clients once, on first use, from the Factory: the
// one way every command gets them.
func NewClients(f cmdutil.Factory) func() (*kube.Clients, error) {
	return sync.OnceValues(func() (*kube.Clients, error) { return kube.New(f) })
}
