// Command kubectl-qxsms is the kubectl plugin that deploys and operates QxSMS instances.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/qxsms/kubectl-qxsms/plugins"
)

func main() {
	// The first Ctrl-C cancels the command's context, so it can stop cleanly
	// (a rollout after its current wave); a second one kills the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	err := plugins.NewCmdQxsms(streams).ExecuteContext(ctx)
	os.Exit(plugins.PrintError(streams.ErrOut, err))
}
