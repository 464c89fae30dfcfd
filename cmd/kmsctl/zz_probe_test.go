package main

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/kmsnode/kmsnode/internal/testcluster"
)

func TestZZProbeRemoval(t *testing.T) {
	if os.Getenv("PROBE") == "" {
		t.Skip()
	}
	r := testcluster.Start(t, 3)
	devEnv(t, r.Nodes[0].Config.Region)
	leader := r.Leader()
	fol := r.Followers()
	gone, via := fol[0], fol[1]
	start := time.Now()
	code, out, errOut := runCLI("remove-node", gone.ID, "--endpoint", via.URL())
	t.Logf("remove: %d %q %q in %v", code, out, errOut, time.Since(start))
	last := ""
	for time.Since(start) < 15*time.Second {
		s := ""
		for _, n := range []*testcluster.Node{leader, via, gone} {
			m, ok := find(listMembers(t, n.URL()), gone.ID)
			s += fmt.Sprintf("[%s sees %s: %v %s %s] ", n.ID, gone.ID, ok, m.Suffrage, m.Gossip)
		}
		if s != last {
			t.Logf("%6v %s", time.Since(start).Round(time.Millisecond), s)
			last = s
		}
		time.Sleep(20 * time.Millisecond)
	}
}
