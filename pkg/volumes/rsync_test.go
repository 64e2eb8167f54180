package volumes

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// standInSSH behaves as ssh does for rsync: it drops its options and the
// host, and hands the remote command line to a shell, as sshd hands it to the
// login shell. A path that reaches that shell unprotected is parsed by it.
const standInSSH = `#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    -l|-p|-o|-i|-e) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
echo "$1" >>"$SSH_HOSTS_LOG"
shift
exec sh -c "$*"
`

// needRsync finds rsync, installing it when absent (CI machines start bare):
// the test must run, not skip.
func needRsync(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("rsync"); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Fatal("rsync is not installed and this test cannot install it (not root): install rsync")
	}
	install := func() ([]byte, error) {
		cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "rsync")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	if out, err := install(); err != nil {
		if out2, err2 := exec.Command("apt-get", "update").CombinedOutput(); err2 != nil {
			t.Fatalf("installing rsync: %v\n%s\napt-get update: %v\n%s", err, out, err2, out2)
		}
		if out, err := install(); err != nil {
			t.Fatalf("installing rsync: %v\n%s", err, out)
		}
	}
	p, err := exec.LookPath("rsync")
	if err != nil {
		t.Fatalf("rsync installed but not found: %v", err)
	}
	return p
}

// TestRsyncCommandRunsSafely pastes the printed command into a shell, with a
// real rsync and a stand-in ssh, on directory names an NFS server can hold
// (pathPattern fills in PVC labels and annotations).
func TestRsyncCommandRunsSafely(t *testing.T) {
	needRsync(t)
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(standInSSH), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, dir, server, dest string }{
		{"spaces", "qxsms a-data b", "nfs1", "backup dir"},
		{"quotes", `it's "here"`, "nfs1", "it's"},
		{"command substitution", "$(touch PWNED)", "nfs1", "$(touch PWNED-DEST)"},
		{"backticks and separators", "a;touch PWNED;`touch PWNED2`|x&y", "nfs1", "d;touch PWNED3"},
		{"leading dash", "-rf", "nfs1", "-e"},
		{"IPv6 server", "ipv6", "::1", "d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			src := filepath.Join(work, "srv", "nfs", tc.dir)
			if err := os.MkdirAll(src, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(src, "data.txt"), []byte(tc.dir), 0o644); err != nil {
				t.Fatal(err)
			}
			// DEST exists, as a backup directory does; rsync makes DEST/<pvc>-<pv>.
			if err := os.MkdirAll(filepath.Join(work, tc.dest), 0o755); err != nil {
				t.Fatal(err)
			}
			hosts := filepath.Join(t.TempDir(), "hosts")
			cmdline, err := RsyncCommand(tc.server, src, "ops", filepath.Join(work, tc.dest), "data-pvc-1")
			if err != nil {
				t.Fatal(err)
			}
			sh := exec.Command("sh", "-c", cmdline)
			sh.Dir = work
			sh.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "SSH_HOSTS_LOG="+hosts)
			if out, err := sh.CombinedOutput(); err != nil {
				t.Fatalf("%s\n%v\n%s", cmdline, err, out)
			}
			b, err := os.ReadFile(filepath.Join(work, tc.dest, "data-pvc-1", "data.txt"))
			if err != nil || string(b) != tc.dir {
				t.Fatalf("%s: the copy is not in DEST/data-pvc-1: %v", cmdline, err)
			}
			entries, _ := os.ReadDir(work)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), "PWNED") {
					t.Fatalf("%s: a shell ran part of a path (%s was created)", cmdline, e.Name())
				}
			}
			if h, _ := os.ReadFile(hosts); strings.TrimSpace(string(h)) != strings.Trim(tc.server, "[]") {
				t.Errorf("%s: ssh was asked for host %q, want %q", cmdline, h, tc.server)
			}
		})
	}
}
