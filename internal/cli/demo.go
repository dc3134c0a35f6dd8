package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/demo"
)

func (a *app) demoCommand() *cobra.Command {
	var dir string
	var orders int
	var noProgress bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the demo: a mock web shop and ERP on loopback, two routes, errors and retries",
		Long: `Start a mock web shop and a mock ERP on 127.0.0.1, write a ferry.yaml for
them, and run its routes on an embedded SQLite queue:

  orders  paid orders from the shop into the ERP's batch endpoint, large
          orders to a review endpoint, then "Delivered" back at the shop;
          the ERP answers 503 at first and rejects orders from one country,
          so you see retries, per-record errors and dead letters;
  stock   stock levels from the ERP back to the shop.

Then a few orders change at the shop and 'orders' runs again: only those
are read (incremental sync). Needs no network beyond loopback and no set-up.`,
		Example: `  go run ./cmd/ferry demo
  ferry demo --dir ./demo     # keep ferry.yaml and ferry.db to explore:
  ferry -c ./demo/ferry.yaml history orders --dead`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			shop := demo.NewShop(orders, 1)
			erp := demo.NewERP(1)
			shopURL, stopShop, err := demo.Start(ctx, shop)
			if err != nil {
				return withCode(ExitFailed, fmt.Errorf("start mock shop: %w", err))
			}
			defer stopShop()
			erpURL, stopERP, err := demo.Start(ctx, erp)
			if err != nil {
				return withCode(ExitFailed, fmt.Errorf("start mock ERP: %w", err))
			}
			defer stopERP()

			keep := dir != ""
			if !keep {
				if dir, err = os.MkdirTemp("", "ferry-demo-"); err != nil {
					return withCode(ExitFailed, err)
				}
				defer os.RemoveAll(dir)
			} else if err := os.MkdirAll(dir, 0o755); err != nil {
				return withCode(ExitFailed, err)
			}
			path := filepath.Join(dir, "ferry.yaml")
			if err := os.WriteFile(path, demo.Config(shopURL, erpURL), 0o644); err != nil {
				return withCode(ExitFailed, fmt.Errorf("write demo config: %w", err))
			}
			// A fresh queue each time: an old one would point at old ports.
			for _, f := range []string{"ferry.db", "ferry.db-wal", "ferry.db-shm"} {
				_ = os.Remove(filepath.Join(dir, f))
			}
			cfg, err := config.Load(path)
			if err != nil {
				return withCode(ExitFailed, fmt.Errorf("demo config: %w", err))
			}
			s, err := a.openConfig(ctx, cfg)
			if err != nil {
				return err
			}
			defer s.Close()

			fmt.Fprintf(a.stdout, "ferry demo: mock shop at %s, mock ERP at %s\n", shopURL, erpURL)
			fmt.Fprintf(a.stdout, "config %s, queue %s\n\n", path, cfg.Store)
			// The ERP is overloaded at first: two 503s with Retry-After.
			erp.FailNext(2, 503, time.Second)

			names, err := cfg.Order(cfg.RouteNames())
			if err != nil {
				return withCode(ExitFailed, err)
			}
			for _, name := range names {
				if code := a.runOne(cmd, s, name, false, noProgress); code == ExitCancelled || code == ExitFailed {
					return withCode(code, fmt.Errorf("demo route %s did not finish", name))
				}
			}

			fmt.Fprintln(a.stdout, "\nSome orders change at the shop; an incremental run reads only those:")
			shop.Touch(3, 5, 8)
			if code := a.runOne(cmd, s, "orders", false, noProgress); code == ExitCancelled || code == ExitFailed {
				return withCode(code, fmt.Errorf("demo route orders did not finish"))
			}

			received := erp.Orders()
			delivered := 0
			for id := 1; id <= orders; id++ {
				if shop.OrderStatus(id) == "Delivered" {
					delivered++
				}
			}
			fmt.Fprintf(a.stdout, "\nThe ERP holds %d orders; the shop shows %d orders as Delivered.\n", len(received), delivered)
			if keep {
				fmt.Fprintf(a.stdout, "\nExplore what happened (the mock systems are gone, the queue stays):\n")
			} else {
				fmt.Fprintf(a.stdout, "\nTo keep the queue and explore it, run: ferry demo --dir ./demo, then:\n")
				path = "./demo/ferry.yaml"
			}
			fmt.Fprintf(a.stdout, "  ferry -c %s history orders\n  ferry -c %s history orders --dead\n  ferry -c %s queue orders --status error\n", path, path, path)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "keep the demo's ferry.yaml and ferry.db in this folder (default: a temporary folder, removed)")
	cmd.Flags().IntVar(&orders, "orders", 120, "orders in the mock shop")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "plain progress lines (every 2 s, on stderr) instead of a bar, even on a terminal")
	return cmd
}
