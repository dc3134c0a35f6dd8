package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/connector/catalog"
)

func (a *app) connectorsCommand() *cobra.Command { return a.connectorsCommandFor(all.Set) }

// connectorsCommandFor lists the kinds of set (a parameter so that tests
// can pass kinds of their own).
func (a *app) connectorsCommandFor(set func() *connector.Set) *cobra.Command {
	var asJSON bool
	var writeDocs, checkDocs string
	cmd := &cobra.Command{
		Use:   "connectors [KIND]",
		Short: "List the connector kinds: the systems, sources, destinations and operations ferry can use",
		Long: `List the connector kinds of this build: the name you write in ferry.yaml
(source: { http: {...} }), the roles each kind can play (system, source,
destination, operation), what it can do (capabilities such as cursor: reads
incrementally; ack: acknowledges input only once queued; batch: one request
or transaction per batch) and a summary. With a KIND, print its reference
page: what it is for, an example, and every option of each part.

The option reference of each kind is docs/connectors/KIND.md, generated from
the same config types ferry validate checks: --write-docs regenerates it,
--check-docs fails when it is stale. The config does not need to exist.`,
		Example: `  ferry connectors
  ferry connectors http                             # the options of the http kind
  ferry connectors --json | jq -r '.[] | select(.roles | index("source")) | .name'
  ferry connectors --write-docs docs/connectors     # regenerate the reference pages
  ferry connectors --check-docs docs/connectors     # exit 1 when they are not current`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := set()
			if len(args) == 1 {
				k, ok := s.Kind(args[0])
				if !ok {
					return withCode(ExitUsage, fmt.Errorf("no connector kind %q; the kinds are %s", args[0], strings.Join(s.Names(), ", ")))
				}
				if writeDocs != "" || checkDocs != "" {
					return withCode(ExitUsage, fmt.Errorf("--write-docs and --check-docs cover every kind: leave out %s", args[0]))
				}
				if asJSON {
					for _, e := range catalog.Describe(s) {
						if e.Name == k.Name {
							enc := json.NewEncoder(a.stdout)
							enc.SetIndent("", "  ")
							return enc.Encode(e)
						}
					}
				}
				_, err := a.stdout.Write(catalog.Page(k))
				return err
			}
			switch {
			case writeDocs != "":
				if err := catalog.Write(writeDocs, s); err != nil {
					return withCode(ExitFailed, err)
				}
				_, err := fmt.Fprintf(a.stdout, "wrote %d connector pages and their index to %s\n", len(s.Names()), writeDocs)
				return err
			case checkDocs != "":
				if err := catalog.Check(checkDocs, s); err != nil {
					return withCode(ExitFailed, err)
				}
				_, err := fmt.Fprintf(a.stdout, "%s is current (%d connector pages)\n", checkDocs, len(s.Names()))
				return err
			case asJSON:
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(catalog.Describe(s))
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tROLES\tCAPABILITIES\tSUMMARY")
			for _, e := range catalog.Describe(s) {
				roles := make([]string, len(e.Roles))
				for i, r := range e.Roles {
					roles[i] = string(r)
				}
				caps := make([]string, len(e.Capabilities))
				for i, c := range e.Capabilities {
					caps[i] = string(c)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, strings.Join(roles, ","), dash(strings.Join(caps, ",")), e.Summary)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the kinds with their parts, capabilities and options as JSON")
	cmd.Flags().StringVar(&writeDocs, "write-docs", "", "write the reference pages (KIND.md and README.md) into `DIR`")
	cmd.Flags().StringVar(&checkDocs, "check-docs", "", "check that the reference pages in `DIR` are current (exit 1 if not)")
	cmd.MarkFlagsMutuallyExclusive("json", "write-docs", "check-docs")
	return cmd
}
