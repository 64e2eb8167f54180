package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/qxsms/kubectl-qxsms/internal/testutil"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

func outputFlags(t *testing.T, table bool, args ...string) *OutputFlags {
	t.Helper()
	f := NewOutputFlags("", table)
	cmd := &cobra.Command{Use: "x"}
	f.AddFlags(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestOutputFlags(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		table         bool
		wantErr       string
		isTable, wide bool
		machine       bool
	}{
		{table: true, isTable: true},
		{args: []string{"-o", "wide"}, table: true, isTable: true, wide: true},
		{args: []string{"-o", "json"}, table: true, machine: true},
		{args: []string{"-o", "name"}, machine: true},
		{args: []string{"-o", "jsonpath={.items[*].metadata.name}"}, machine: true},
		{args: []string{"-o", "wide"}, wantErr: `--output "wide" is not supported here: use one of json, yaml, kyaml, name`},
		{args: []string{"-o", "table"}, table: true, wantErr: `--output "table" is not supported here: use one of wide, json`},
	} {
		f := outputFlags(t, tc.table, tc.args...)
		err := f.Validate()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: err = %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
		}
		isTable, wide := f.Table()
		if isTable != tc.isTable || wide != tc.wide || f.Machine() != tc.machine {
			t.Errorf("%v: table %v wide %v machine %v", tc.args, isTable, wide, f.Machine())
		}
	}
}

func TestPrintObjectsMasksSecrets(t *testing.T) {
	secret := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "db"}, "data": map[string]any{"PASSWORD": "aHVudGVyMg=="}}}
	record, err := AsObject("VolumePath", "data", struct {
		Path string `json:"path"`
	}{"/srv/nfs/data"})
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"yaml", "name"} {
		var out bytes.Buffer
		if err := outputFlags(t, false, "-o", format).PrintObjects([]*unstructured.Unstructured{secret, record}, &out); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "aHVudGVyMg") {
			t.Errorf("-o %s prints the Secret's value:\n%s", format, out.String())
		}
		testutil.Golden(t, "print-objects-"+format, out.String())
	}
}

func TestShellJoinAndTypedFlags(t *testing.T) {
	if got := ShellJoin([]string{"kubectl", "qxsms", "deploy", "--canary=", "--root=/tmp/my repo", "it's"}); got != `kubectl qxsms deploy --canary= '--root=/tmp/my repo' 'it'\''s'` {
		t.Errorf("ShellJoin = %s", got)
	}
	cmd := &cobra.Command{Use: "x"}
	cmd.Flags().StringSlice("canary", nil, "")
	cmd.Flags().Int("waves", 0, "")
	cmd.Flags().Duration("timeout", 0, "")
	cmd.Flags().StringSlice("list", nil, "")
	if err := cmd.ParseFlags([]string{"--canary", "a,b", "--waves", "3", "--list", "x,y"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(TypedFlags(cmd, "canary"), " "); got != "--list=x --list=y --waves=3" {
		t.Errorf("TypedFlags = %q", got)
	}
}

func TestConfirm(t *testing.T) {
	for _, tc := range []struct {
		name     string
		terminal bool
		yes      bool
		input    string
		wantErr  string
	}{
		{name: "yes", yes: true},
		{name: "no terminal", wantErr: "stdin is not a terminal, pass --yes; nothing was changed"},
		{name: "typed", terminal: true, input: "demo\n"},
		{name: "mistyped", terminal: true, input: "dmeo\n", wantErr: `confirmation "dmeo" does not match "demo"`},
	} {
		streams, in, _, errOut := genericiooptions.NewTestIOStreams()
		in.WriteString(tc.input)
		err := Confirm(streams, tc.terminal, tc.yes, "demo", "tear down staging/demo")
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
		}
		if tc.terminal && !strings.Contains(errOut.String(), `Type "demo" to tear down staging/demo`) {
			t.Errorf("%s: prompt %q", tc.name, errOut.String())
		}
	}
}

func TestGuardTarget(t *testing.T) {
	repo := testutil.WriteRepo(t, map[string]string{
		"qxsms.yaml": "environments:\n  staging: {contexts: [preprod], servers: [\"https://tunnel:443\"]}\n",
		"overlays/staging/pprd/kustomization.yml": "resources: []\n",
	})
	var mismatch *overlays.ContextMismatchError
	for _, tc := range []struct {
		name     string
		target   Target
		allow    bool
		mismatch bool
		warn     string
	}{
		{name: "the context's own server", target: Target{Context: "preprod", Server: "https://a", ContextServer: "https://a/"}},
		{name: "a listed server", target: Target{Context: "preprod", Server: "https://tunnel:443", ContextServer: "https://a"}},
		{name: "another context", target: Target{Context: "prod", Server: "https://a", ContextServer: "https://a"}, mismatch: true},
		{name: "--server elsewhere", target: Target{Context: "preprod", Server: "https://b", ContextServer: "https://a"}, mismatch: true},
		{name: "--server elsewhere, allowed", target: Target{Context: "preprod", Server: "https://b", ContextServer: "https://a"}, allow: true,
			warn: "through server https://b, which"},
	} {
		var warn bytes.Buffer
		_, err := (&GuardFlags{AllowContextMismatch: tc.allow}).Check(repo, "staging", tc.target, &warn)
		if errors.As(err, &mismatch) != tc.mismatch || (!tc.mismatch && err != nil) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if !strings.Contains(warn.String(), tc.warn) {
			t.Errorf("%s: warning %q, want %q", tc.name, warn.String(), tc.warn)
		}
	}
}

func TestExitCodes(t *testing.T) {
	err := WithCode(2, errors.New("boom"))
	var ec interface{ ExitCode() int }
	if !errors.As(err, &ec) || ec.ExitCode() != 2 || err.Error() != "boom" {
		t.Errorf("WithCode: %v", err)
	}
	if WithCode(1, nil).Error() != "" {
		t.Error("a code without an error prints nothing")
	}
}
