package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/internal/connector/registry"
	sqlconn "github.com/ferry-dev/ferry/internal/connector/sql"
)

func (a *app) captureCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "capture",
		Short: "Install or remove change capture (triggers into an integration table) for a route",
		Long: `Change capture is the classic ERP integration-table pattern: triggers on a
watched table write each inserted, updated or deleted key into an
integration table, and the route reads that table instead of paging
through its query. A route opts in with a capture: block in its sql
source (PostgreSQL or MariaDB/MySQL).

install creates the integration table and the triggers; uninstall removes
the triggers (and, with --drop-table, the integration table). Both can run
any number of times and print what they did. status shows what is
installed and how many changes wait.`,
		Example: `  ferry capture install orders
  ferry capture status orders
  ferry capture uninstall orders
  ferry capture uninstall orders --drop-table`,
	}
	cmd.AddCommand(a.captureInstallCommand(), a.captureUninstallCommand(), a.captureStatusCommand())
	return cmd
}

func (a *app) captureStatusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status ROUTE",
		Short: "Show whether the route's capture is installed and how many changes wait",
		Long: `Show the integration table of ROUTE's capture: block with the changes
waiting in it (and when the oldest was captured), and whether each trigger
(and on PostgreSQL the function) is installed. Exits 0 when everything is
installed, 1 when something is missing.`,
		Example: `  ferry capture status orders`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var installed bool
			err := a.capture(cmd.Context(), args[0], func(ctx context.Context, c sqlconn.CaptureInstaller) (string, error) {
				rep, ok, err := c.CaptureStatus(ctx)
				installed = ok
				return rep, err
			})
			if err == nil && !installed {
				return withCode(ExitFailed, fmt.Errorf("route %q: capture is not fully installed (ferry capture install %s)", args[0], args[0]))
			}
			return err
		},
	}
}

func (a *app) captureInstallCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "install ROUTE",
		Short: "Create the route's integration table and triggers",
		Long: `Create the integration table of ROUTE's capture: block (unless it exists)
and create or replace the triggers on the watched table, one per insert,
update and delete (on PostgreSQL statement-level, with one plpgsql
function that also notifies the route; on MariaDB row-level). The key
column and the when:
condition are checked against the watched table first, so a mistake fails
here, not in the application's writes. Running it again is harmless and
applies a changed when: condition.`,
		Example: `  ferry capture install orders
  ferry -c erp.yaml capture install orders`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.capture(cmd.Context(), args[0], func(ctx context.Context, c sqlconn.CaptureInstaller) (string, error) {
				return c.InstallCapture(ctx)
			})
		},
	}
}

func (a *app) captureUninstallCommand() *cobra.Command {
	var dropTable bool
	cmd := &cobra.Command{
		Use:   "uninstall ROUTE",
		Short: "Remove the route's capture triggers (and, with --drop-table, its integration table)",
		Long: `Remove the triggers (and on PostgreSQL the function) that ferry capture
install created for ROUTE. The integration table is kept, with the changes
not read yet, unless --drop-table is given. Running it again is harmless.`,
		Example: `  ferry capture uninstall orders
  ferry capture uninstall orders --drop-table`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.capture(cmd.Context(), args[0], func(ctx context.Context, c sqlconn.CaptureInstaller) (string, error) {
				return c.UninstallCapture(ctx, dropTable)
			})
		},
	}
	cmd.Flags().BoolVar(&dropTable, "drop-table", false, "also drop the integration table (changes not read yet are lost)")
	return cmd
}

// capture builds the route's source and runs do on it when it captures
// changes, printing its report.
func (a *app) capture(ctx context.Context, name string, do func(context.Context, sqlconn.CaptureInstaller) (string, error)) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	route, err := cfg.Route(name)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	reg, err := registry.New(cfg)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	defer reg.Close()
	src, err := reg.Source(route)
	if err != nil {
		return withCode(ExitFailed, cfg.Redactor().Error(err))
	}
	c, ok := src.(sqlconn.CaptureInstaller)
	if !ok {
		return withCode(ExitUsage, fmt.Errorf("route %q: its source is a %s source; change capture needs an sql source with a capture: block", name, route.Source.Kind))
	}
	if !c.Capturing() {
		return withCode(ExitUsage, fmt.Errorf("route %q: its sql source has no capture: block (table: the watched table, see docs/connectors/sql.md)", name))
	}
	rep, err := do(ctx, c)
	red := cfg.Redactor()
	if rep != "" {
		fmt.Fprintf(a.stdout, "route %s:\n", name)
		for _, line := range strings.Split(strings.TrimRight(rep, "\n"), "\n") {
			fmt.Fprintln(a.stdout, "  "+red.String(line))
		}
	}
	if err != nil {
		return withCode(ExitFailed, fmt.Errorf("route %q: %w", name, red.Error(err)))
	}
	return nil
}
