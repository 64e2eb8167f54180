package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Confirm asks for a deliberate act: yes (from --yes or --confirm) is enough;
// otherwise the user must type expected at a terminal. Without a terminal it
// refuses, naming the flag.
func Confirm(s genericiooptions.IOStreams, isTerminal, yes bool, expected, action string) error {
	if yes {
		return nil
	}
	if !isTerminal {
		return fmt.Errorf("refusing to %s without confirmation: stdin is not a terminal, pass --yes; nothing was changed", action)
	}
	fmt.Fprintf(s.ErrOut, "Type %q to %s: ", expected, action)
	line, err := bufio.NewReader(s.In).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if got := strings.TrimSpace(line); got != expected {
		return fmt.Errorf("confirmation %q does not match %q: nothing was changed", got, expected)
	}
	return nil
}
