package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/connector/registry"
)

func (a *app) checkCommand() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "check [SYSTEM...]",
		Short: "Check that the configured systems answer",
		Long: `Connect to each system of the config (or the ones named) and report
whether it answers: an HTTP system any answer to a HEAD of its url, a
database a ping, a broker a connection. Secrets never show in the
messages. Exits 0 when every system answers, 1 when one does not.`,
		Example: `  ferry check
  ferry check erp shop
  ferry check --timeout 3s`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return withCode(ExitUsage, fmt.Errorf("--timeout must be positive, got %s", timeout))
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			for _, name := range args {
				if cfg.Systems[name] == nil {
					return withCode(ExitUsage, fmt.Errorf("unknown system %q (defined: %s)", name, strings.Join(slices.Sorted(maps.Keys(cfg.Systems)), ", ")))
				}
			}
			reg, err := registry.New(cfg)
			if err != nil {
				return withCode(ExitUsage, err)
			}
			defer reg.Close()
			names := args
			if len(names) == 0 {
				names = slices.Sorted(maps.Keys(cfg.Systems))
			}
			if len(names) == 0 {
				fmt.Fprintln(a.stdout, "no systems are configured")
				return nil
			}
			systems := reg.Systems()
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SYSTEM\tKIND\tSTATUS\tTIME")
			failed := 0
			for _, name := range names {
				status, took := checkSystem(cmd.Context(), systems[name], timeout)
				if status != "ok" && status != "no check" {
					failed++
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, cfg.Systems[name].Kind, cfg.Redactor().String(status), took.Round(time.Millisecond))
			}
			tw.Flush()
			if failed > 0 {
				return withCode(ExitFailed, fmt.Errorf("%d of %d system%s did not answer", failed, len(names), plural(len(names))))
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for each system")
	return cmd
}

// checkSystem runs one system's health check.
func checkSystem(ctx context.Context, sys connector.System, timeout time.Duration) (string, time.Duration) {
	hc, ok := sys.(connector.HealthChecker)
	if !ok {
		return "no check", 0
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	if err := hc.Check(ctx); err != nil {
		return "error: " + err.Error(), time.Since(start)
	}
	return "ok", time.Since(start)
}
