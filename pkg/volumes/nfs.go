// Package volumes finds an instance's volumes and where their data lives on
// the NFS server, and manages Released PersistentVolumes.
package volumes

import (
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
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
	// OnDelete is what csi-driver-nfs does with the directory when the PV
	// goes with reclaim policy Delete (from the volumeHandle): "delete",
	// "retain" or "archive"; "" when the PV does not say.
	OnDelete string `json:"onDelete,omitempty"`
}

// ArchivedPath is where the provisioner moves the directory when it archives
// it instead of deleting it: csi-driver-nfs renames share/subdir to
// share/archived-subdir, nfs-subdir-external-provisioner renames the
// directory to archived-<its base name> at the root of its share.
func (l Location) ArchivedPath(shareRoot string) string {
	if l.Path == "" {
		return ""
	}
	if shareRoot == "" {
		shareRoot = path.Dir(l.Path)
	}
	return path.Join(shareRoot, "archived-"+path.Base(l.Path))
}

// NFSLocation reads an in-tree NFS or an nfs.csi.k8s.io PV. ok is false for
// other volume types. Paths that climb out of their share ("..") or hold
// control characters are refused, whichever field they come from: they end
// up in commands the operator pastes.
func NFSLocation(pv *corev1.PersistentVolume) (loc Location, ok bool, err error) {
	switch {
	case pv == nil:
		return Location{}, false, nil
	case pv.Spec.NFS != nil:
		loc = Location{Server: pv.Spec.NFS.Server, Path: cleanPath(pv.Spec.NFS.Path), Source: "nfs"}
		if err := checkLocation(pv.Spec.NFS.Server, pv.Spec.NFS.Path, ""); err != nil {
			return Location{}, true, fmt.Errorf("PV %s: %w", pv.Name, err)
		}
		return loc, true, nil
	case pv.Spec.CSI != nil && pv.Spec.CSI.Driver == CSIDriverNFS:
		loc, err := csiLocation(pv.Spec.CSI)
		if err != nil {
			return Location{}, true, fmt.Errorf("PV %s: %w", pv.Name, err)
		}
		return loc, true, nil
	}
	return Location{}, false, nil
}

// csiLocation prefers the volumeAttributes, which the node plugin mounts
// from, over the volumeHandle, which only the controller reads.
func csiLocation(csi *corev1.CSIPersistentVolumeSource) (Location, error) {
	attrs := csi.VolumeAttributes
	// The driver reads its parameters case-insensitively and keeps the
	// StorageClass's own spelling (subDir, subdir, SubDir...).
	server, share, subdir := attr(attrs, "server"), attr(attrs, "share"), attr(attrs, "subdir")
	var onDelete string
	h, herr := ParseVolumeHandle(csi.VolumeHandle)
	if herr == nil {
		onDelete = h.OnDelete
	}
	if server != "" && share != "" {
		if err := checkLocation(server, share, subdir); err != nil {
			return Location{}, fmt.Errorf("volumeAttributes: %w", err)
		}
		return Location{Server: server, Path: cleanPath(path.Join("/"+share, subdir)), Source: "csi", OnDelete: onDelete}, nil
	}
	if herr != nil {
		return Location{}, herr
	}
	return Location{Server: h.Server, Path: cleanPath(path.Join("/"+h.Share, h.Subdir)), Source: "csi", OnDelete: onDelete}, nil
}

func attr(m map[string]string, key string) string {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// VolumeHandle is csi-driver-nfs's volume id. The driver writes
// server#share#subdir#uuid#onDelete with the share's leading and trailing
// slashes trimmed (and uuid, onDelete possibly empty); drivers before v4
// wrote server/share/subdir.
type VolumeHandle struct {
	Server, Share, Subdir, UUID, OnDelete string
}

// oldHandle is the pre-v4 form: the server up to the first slash, the subdir
// after the last one.
var oldHandle = regexp.MustCompile(`^([^/]+)/(.*)/([^/]+)$`)

// ParseVolumeHandle parses a csi-driver-nfs volumeHandle in any form the
// driver has written.
func ParseVolumeHandle(h string) (VolumeHandle, error) {
	if hasControl(h) {
		return VolumeHandle{}, fmt.Errorf("volumeHandle %q holds control characters", h)
	}
	var v VolumeHandle
	if parts := strings.Split(h, "#"); len(parts) >= 3 {
		v = VolumeHandle{Server: parts[0], Share: parts[1], Subdir: parts[2]}
		if len(parts) > 3 {
			v.UUID = parts[3]
		}
		if len(parts) > 4 {
			v.OnDelete = strings.ToLower(parts[4])
		}
	} else if m := oldHandle.FindStringSubmatch(h); m != nil && !strings.Contains(h, "#") {
		v = VolumeHandle{Server: m[1], Share: m[2], Subdir: m[3]}
	} else {
		return VolumeHandle{}, fmt.Errorf("volumeHandle %q is neither server#share#subdir[#uuid#onDelete] nor server/share/subdir", h)
	}
	if err := checkLocation(v.Server, v.Share, v.Subdir); err != nil {
		return VolumeHandle{}, fmt.Errorf("volumeHandle %q: %w", h, err)
	}
	return v, nil
}

// checkLocation refuses what would make a printed path or command point
// elsewhere than the volume's directory.
func checkLocation(server, share, subdir string) error {
	switch {
	case server == "":
		return errors.New("no NFS server")
	case hasControl(server) || hasControl(share) || hasControl(subdir):
		return errors.New("the server or path holds control characters")
	case hasDotDot(share):
		return fmt.Errorf("share %q holds a \"..\" segment", share)
	case hasDotDot(subdir):
		return fmt.Errorf("subdir %q leaves the share", subdir)
	}
	return ValidateServer(server)
}

// ValidateServer accepts host names, IPv4 and IPv6 addresses (bare or in
// brackets): anything else could be read by rsync or ssh as an option or a
// user name.
func ValidateServer(s string) error {
	if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); ip != nil {
		return nil
	}
	if s == "" || s[0] == '-' || s[0] == '.' || strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "" {
		return fmt.Errorf("NFS server %q is not a host name or IP address", s)
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
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
	if hasControl(s) || hasDotDot(export) || hasDotDot(fs) {
		return ExportRoot{}, fmt.Errorf("--export-root %q: no control characters or \"..\" segments", s)
	}
	return ExportRoot{Export: path.Clean(export), FS: path.Clean(fs)}, nil
}

// ServerPath is where loc's data lies on the server's filesystem.
func (r ExportRoot) ServerPath(loc Location) string {
	return r.MapPath(loc.Path)
}

// MapPath maps one exported path to the server's filesystem.
func (r ExportRoot) MapPath(p string) string {
	if r.Export == "" {
		return p
	}
	rel, ok := strings.CutPrefix(p, r.Export)
	if !ok || (rel != "" && !strings.HasPrefix(rel, "/") && r.Export != "/") {
		return p
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

// RsyncCommand is a ready-to-paste command copying a volume's data to
// dest/name/. -s (--protect-args) hands the paths to the remote rsync over
// its own protocol, so the NFS server's login shell never parses them
// (pathPattern directories carry PVC labels and annotations); the local
// shell gets them single-quoted; "--" ends the options whatever dest is.
func RsyncCommand(server, serverPath, sshUser, dest, name string) (string, error) {
	for what, s := range map[string]string{"server": server, "path": serverPath, "ssh user": sshUser, "destination": dest, "name": name} {
		if hasControl(s) {
			return "", fmt.Errorf("rsync: the %s %q holds control characters: copy this volume by hand", what, s)
		}
	}
	if err := ValidateServer(server); err != nil {
		return "", fmt.Errorf("rsync: %w", err)
	}
	if sshUser != "" && (sshUser[0] == '-' || strings.ContainsAny(sshUser, "@:/ ")) {
		return "", fmt.Errorf("rsync: --ssh-user %q is not a user name", sshUser)
	}
	if strings.Contains(name, "/") || name == "." || name == ".." || name == "" {
		return "", fmt.Errorf("rsync: %q is not a directory name", name)
	}
	host := server
	if strings.Contains(server, ":") && !strings.HasPrefix(server, "[") {
		host = "[" + server + "]"
	}
	if sshUser != "" {
		host = sshUser + "@" + host
	}
	return fmt.Sprintf("rsync -aHAX -s --numeric-ids --info=progress2 -- %s %s",
		ShellQuote(host+":"+strings.TrimSuffix(serverPath, "/")+"/"),
		ShellQuote(strings.TrimSuffix(dest, "/")+"/"+name+"/")), nil
}

// Archived is where the provisioner moves a PV's directory instead of
// deleting it when the PV goes with reclaim policy Delete; "" when it does
// not archive (or the PV is Retain). csi-driver-nfs archives when the
// volumeHandle says onDelete=archive, to share/archived-<subdir>.
// nfs-subdir-external-provisioner archives unless its StorageClass says
// onDelete delete|retain or archiveOnDelete false, to archived-<base name>
// beside the directory (at its share's root when no pathPattern nests it);
// sc is the PV's StorageClass, nil when unknown.
func Archived(pv *corev1.PersistentVolume, loc Location, sc *storagev1.StorageClass) string {
	if pv == nil || pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRetain {
		return ""
	}
	switch {
	case loc.Source == "csi" && loc.OnDelete == "archive":
		h, err := ParseVolumeHandle(pv.Spec.CSI.VolumeHandle)
		if err != nil {
			return ""
		}
		return cleanPath(path.Join("/"+h.Share, "archived-"+h.Subdir))
	case loc.Source == "nfs" && sc != nil && strings.HasSuffix(sc.Provisioner, "nfs-subdir-external-provisioner") && loc.Path != "":
		switch sc.Parameters["onDelete"] {
		case "delete", "retain":
			return ""
		}
		if v, ok := sc.Parameters["archiveOnDelete"]; ok {
			if archive, err := strconv.ParseBool(v); err != nil || !archive {
				return ""
			}
		}
		return path.Join(path.Dir(loc.Path), "archived-"+path.Base(loc.Path))
	}
	return ""
}
