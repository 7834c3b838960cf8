// compose-check loads docker-compose.yml the way Docker Compose does, with compose-go (the
// Compose Specification's reference loader), and prints the resolved project as JSON.
//
// Usage: compose-check DIR [PROFILE...]
//
// It reads DIR/docker-compose.yml with DIR/.env and only the environment it was started with,
// enables the given profiles, and exits non-zero, naming them, on any load error or warning
// (such as a variable that is not set). The repository's compose test runs it for every
// profile and checks the resolved services (volumes, environment) in Rust.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/sirupsen/logrus"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: compose-check DIR [PROFILE...]")
		os.Exit(2)
	}
	// compose-go reports unset variables and the like as logrus warnings: collect them.
	var warnings bytes.Buffer
	logrus.SetOutput(&warnings)
	logrus.SetLevel(logrus.WarnLevel)

	options, err := cli.NewProjectOptions(
		[]string{filepath.Join(os.Args[1], "docker-compose.yml")},
		cli.WithWorkingDirectory(os.Args[1]),
		cli.WithOsEnv,
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithProfiles(os.Args[2:]),
	)
	if err != nil {
		fail("options", err)
	}
	project, err := cli.ProjectFromOptions(context.Background(), options)
	if err != nil {
		fail("loading docker-compose.yml", err)
	}
	if warnings.Len() > 0 {
		fmt.Fprintf(os.Stderr, "compose-go warned while loading docker-compose.yml:\n%s", warnings.String())
		os.Exit(1)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail("printing the project", err)
	}
	os.Stdout.Write(out)
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
	os.Exit(1)
}
