// Command kubectl-qxsms is the kubectl plugin that deploys and operates QxSMS instances.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/qxsms/kubectl-qxsms/plugins"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	err := plugins.NewCmdQxsms(streams).Execute()
	os.Exit(plugins.PrintError(streams.ErrOut, err))
}
