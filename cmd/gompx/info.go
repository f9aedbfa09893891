package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gompx/gompx/gompx/cluster"
)

// runInfo prints the cluster's streams: which node leads each and whether its other
// replicas are current — what an operator checks before taking a node down.
func runInfo(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("gompx info", flag.ContinueOnError)
	var o cluster.Options
	asJSON := fs.Bool("json", false, "print JSON (one array of streams)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up connecting after this long")
	connectionFlags(fs, &o)
	if err := parseWithURL(fs, args, &o); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	streams, err := cluster.Inspect(cctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		if streams == nil {
			streams = []cluster.StreamStatus{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(streams)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tLEADER\tREPLICAS\tMESSAGES\tCONSUMERS")
	for _, s := range streams {
		var reps []string
		for _, r := range s.Replicas {
			state := "current"
			switch {
			case r.Offline:
				state = "offline"
			case !r.Current:
				state = fmt.Sprintf("lag %d", r.Lag)
			}
			reps = append(reps, r.Name+" ("+state+")")
		}
		leader := s.Leader
		if leader == "" {
			leader = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", s.Name, leader, strings.Join(reps, ", "), s.Messages, s.Consumers)
	}
	return tw.Flush()
}
