// Package volumes finds an instance's volumes and where their data lives on
// the NFS server, and manages Released PersistentVolumes.
package volumes

import (
	"errors"
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// CSIDriverNFS is the driver name of csi-driver-nfs.
const CSIDriverNFS = "nfs.csi.k8s.io"

// Location is where a volume's data lives on an NFS server.
type Location struct {
	Server string `json:"server"`
	// Path is the directory as exported (what clients mount).
	Path string `json:"path"`
	// Source is "nfs" (in-tree) or "csi".
	Source string `json:"source"`
}

// NFSLocation reads an in-tree NFS or an nfs.csi.k8s.io PV. ok is false for
// other volume types.
func NFSLocation(pv *corev1.PersistentVolume) (loc Location, ok bool, err error) {
	switch {
	case pv == nil:
		return Location{}, false, nil
	case pv.Spec.NFS != nil:
		return Location{Server: pv.Spec.NFS.Server, Path: cleanPath(pv.Spec.NFS.Path), Source: "nfs"}, true, nil
	case pv.Spec.CSI != nil && pv.Spec.CSI.Driver == CSIDriverNFS:
		attrs := pv.Spec.CSI.VolumeAttributes
		if attrs["server"] != "" && attrs["share"] != "" {
			return Location{Server: attrs["server"], Path: cleanPath(path.Join(attrs["share"], attrs["subdir"])), Source: "csi"}, true, nil
		}
		h, err := ParseVolumeHandle(pv.Spec.CSI.VolumeHandle)
		if err != nil {
			return Location{}, true, fmt.Errorf("PV %s: %w", pv.Name, err)
		}
		return Location{Server: h.Server, Path: cleanPath(path.Join(h.Share, h.Subdir)), Source: "csi"}, true, nil
	}
	return Location{}, false, nil
}

// VolumeHandle is csi-driver-nfs's volume id: server#share#subdir#uuid#onDelete,
// trailing parts optional.
type VolumeHandle struct {
	Server, Share, Subdir string
}

// ParseVolumeHandle parses a csi-driver-nfs volumeHandle.
func ParseVolumeHandle(h string) (VolumeHandle, error) {
	parts := strings.Split(h, "#")
	if len(parts) < 2 {
		return VolumeHandle{}, fmt.Errorf("volumeHandle %q is not server#share[#subdir...]", h)
	}
	v := VolumeHandle{Server: parts[0], Share: parts[1]}
	if len(parts) > 2 {
		v.Subdir = parts[2]
	}
	switch {
	case v.Server == "":
		return VolumeHandle{}, fmt.Errorf("volumeHandle %q has no server", h)
	case v.Share == "" || !strings.HasPrefix(v.Share, "/"):
		return VolumeHandle{}, fmt.Errorf("volumeHandle %q: share %q is not an absolute path", h, v.Share)
	case v.Subdir != "" && hasDotDot(v.Subdir):
		return VolumeHandle{}, fmt.Errorf("volumeHandle %q: subdir %q leaves the share", h, v.Subdir)
	case strings.ContainsAny(h, "\x00\n"):
		return VolumeHandle{}, errors.New("volumeHandle holds control characters")
	}
	return v, nil
}

func hasDotDot(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return true
		}
	}
	return false
}

func cleanPath(p string) string {
	if p == "" {
		return ""
	}
	return path.Clean("/" + p)
}

// ExportRoot maps an exported path prefix to the server's filesystem path,
// for NFSv4 pseudo-roots (export "/" served from /srv/nfs).
type ExportRoot struct {
	Export, FS string
}

// ParseExportRoot parses EXPORT=FSPATH, e.g. "/=/srv/nfs".
func ParseExportRoot(s string) (ExportRoot, error) {
	export, fs, ok := strings.Cut(s, "=")
	if !ok || !strings.HasPrefix(export, "/") || !strings.HasPrefix(fs, "/") {
		return ExportRoot{}, fmt.Errorf("--export-root %q: want EXPORT=FSPATH with absolute paths, e.g. /=/srv/nfs", s)
	}
	return ExportRoot{Export: path.Clean(export), FS: path.Clean(fs)}, nil
}

// ServerPath is where loc's data lies on the server's filesystem.
func (r ExportRoot) ServerPath(loc Location) string {
	if r.Export == "" {
		return loc.Path
	}
	rel, ok := strings.CutPrefix(loc.Path, r.Export)
	if !ok || (rel != "" && !strings.HasPrefix(rel, "/") && r.Export != "/") {
		return loc.Path
	}
	return path.Join(r.FS, rel)
}

// ShellQuote quotes s for a POSIX shell.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%_-+=:,./") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// RsyncCommand is a ready-to-run command copying a volume's data to dest/name/.
func RsyncCommand(server, serverPath, sshUser, dest, name string) string {
	host := server
	if sshUser != "" {
		host = sshUser + "@" + server
	}
	return fmt.Sprintf("rsync -aHAX --numeric-ids --info=progress2 %s %s",
		ShellQuote(host+":"+strings.TrimSuffix(serverPath, "/")+"/"),
		ShellQuote(strings.TrimSuffix(dest, "/")+"/"+name+"/"))
}
