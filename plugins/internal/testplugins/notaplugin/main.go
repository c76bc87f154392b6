// Command notaplugin is a test program that is not a clusterlab plugin.
// What it does depends on the name it is installed under: "garbage" in the
// name prints a line that is not a handshake, "silent" never prints
// anything on stdout, anything else exits with status 3.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	name := filepath.Base(os.Args[0])
	switch {
	case strings.Contains(name, "garbage"):
		fmt.Fprintln(os.Stderr, "notaplugin: about to print garbage")
		fmt.Println("hello, I am not a plugin")
		time.Sleep(time.Minute)
	case strings.Contains(name, "silent"):
		fmt.Fprintln(os.Stderr, "notaplugin: never shaking hands")
		time.Sleep(time.Minute)
	default:
		fmt.Fprintln(os.Stderr, "notaplugin: exiting with status 3")
		os.Exit(3)
	}
}
