// Package buildinfo reports what this binary was built from.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set through -ldflags -X by the Makefile.
var (
	Version = "v0.0.0-dev"
	Commit  = "unknown"
)

// Info is the plugin's own version and the versions of what it was built with.
type Info struct {
	Version         string `json:"version"`
	Commit          string `json:"commit"`
	GoVersion       string `json:"goVersion"`
	ClientGoVersion string `json:"clientGoVersion"`
	Platform        string `json:"platform"`
}

// Get returns the build information of the running binary.
func Get() Info {
	return Info{
		Version:         Version,
		Commit:          Commit,
		GoVersion:       runtime.Version(),
		ClientGoVersion: dependencyVersion("k8s.io/client-go"),
		Platform:        runtime.GOOS + "/" + runtime.GOARCH,
	}
}

func dependencyVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, dep := range bi.Deps {
		if dep.Path == path {
			if dep.Replace != nil {
				return dep.Replace.Version
			}
			return dep.Version
		}
	}
	return "unknown"
}
