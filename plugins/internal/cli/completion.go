package cli

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

// completionTimeout keeps a slow or unreachable cluster from freezing the shell.
const completionTimeout = 3 * time.Second

type completer = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective)

// completionClient is a clientset and a context that bounds the completion.
func completionClient(f cmdutil.Factory) (kubernetes.Interface, context.Context, context.CancelFunc, error) {
	client, err := f.KubernetesClientSet()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
	return client, ctx, cancel, nil
}

func repoFor(cmd *cobra.Command) (*overlays.Repo, error) {
	root, _ := cmd.Flags().GetString("root")
	return FindRepo(root)
}

func filter(candidates, exclude []string, prefix string) []string {
	var out []string
	for _, c := range candidates {
		if strings.HasPrefix(c, prefix) && !slices.Contains(exclude, c) {
			out = append(out, c)
		}
	}
	return out
}

// CompleteEnvThenInstances completes ENV, then up to maxInstances instances of
// it (0: any number; -1: none, the name is new), from the config repo's overlays.
func CompleteEnvThenInstances(maxInstances int) completer {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		repo, err := repoFor(cmd)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		if len(args) == 0 {
			envs, _ := repo.Environments()
			return filter(envs, nil, toComplete), cobra.ShellCompDirectiveNoFileComp
		}
		if maxInstances < 0 || maxInstances > 0 && len(args) > maxInstances {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		insts, _ := repo.Instances(args[0])
		return filter(insts, args[1:], toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// CompleteClusterInstances completes instance names from the qxsms-*
// namespaces of the current context.
func CompleteClusterInstances(f cmdutil.Factory, maxArgs int) completer {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if maxArgs > 0 && len(args) >= maxArgs {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		client, ctx, cancel, err := completionClient(f)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer cancel()
		list, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var insts []string
		for _, ns := range list.Items {
			if inst, ok := overlays.InstanceFromNamespace(ns.Name); ok {
				insts = append(insts, inst)
			}
		}
		return filter(insts, args, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// CompleteReleasedPVs completes the names of Released PVs (with --rebind), or
// else the instances that Released PVs were claimed by.
func CompleteReleasedPVs(f cmdutil.Factory) completer {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		rebind, _ := cmd.Flags().GetString("rebind")
		if rebind != "" && len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		client, ctx, cancel, err := completionClient(f)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer cancel()
		pvs, err := client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		seen := map[string]bool{}
		var out []string
		for _, pv := range pvs.Items {
			if pv.Status.Phase != corev1.VolumeReleased {
				continue
			}
			candidate := pv.Name
			if rebind == "" {
				inst, ok := "", pv.Spec.ClaimRef != nil
				if ok {
					inst, ok = overlays.InstanceFromNamespace(pv.Spec.ClaimRef.Namespace)
				}
				if !ok || seen[inst] {
					continue
				}
				seen[inst], candidate = true, inst
			}
			out = append(out, candidate)
		}
		slices.Sort(out)
		return filter(out, args, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}
