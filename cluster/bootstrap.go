package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kmsnode/kmsnode/transport"
)

// bootstrapLoop forms a new region (design-notes §3.2, bootstrap): once
// exactly BootstrapExpect members started with the same expectation see
// each other in gossip, and none of them belongs to a Raft configuration
// already, every one of them bootstraps the same sorted voter list. It
// cannot make two clusters: a node that finds a peer with Raft state waits
// to be added instead, and more members than expected stop it.
func (c *Cluster) bootstrapLoop() {
	defer c.wg.Done()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	warned := false
	for {
		select {
		case <-c.closing:
			return
		case <-t.C:
		}
		if c.hasConfiguration() || c.raft.State() == raft.Shutdown {
			return
		}
		var peers []member
		for _, m := range c.gossip.members() {
			if m.Status == "alive" && m.Meta.Expect == c.cfg.BootstrapExpect {
				peers = append(peers, m)
			}
		}
		if len(peers) < c.cfg.BootstrapExpect {
			continue
		}
		if len(peers) > c.cfg.BootstrapExpect {
			if !warned {
				c.log.Warn("more nodes than bootstrap-expect are waiting to bootstrap; not bootstrapping",
					"expect", c.cfg.BootstrapExpect, "seen", len(peers))
				warned = true
			}
			continue
		}
		done, ok := c.tryBootstrap(peers)
		if done {
			return
		}
		if !ok {
			continue
		}
	}
}

// tryBootstrap checks the peers and bootstraps. done: nothing more to do
// (bootstrapped, or an existing region was found).
func (c *Cluster) tryBootstrap(peers []member) (done, ok bool) {
	servers := make([]raft.Server, 0, len(peers))
	for _, m := range peers {
		if m.ID != c.cfg.NodeID {
			info, err := c.peerInfo(m)
			if err != nil {
				c.log.Info("bootstrap: waiting for a peer", "peer", m.ID, "reason", err.Error())
				return false, false
			}
			if info.HasState {
				c.log.Info("bootstrap: a peer already belongs to a region; waiting to be added", "peer", m.ID)
				return true, false
			}
		}
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Meta.Cluster)})
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
	if err := c.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		if err == raft.ErrCantBootstrap {
			return true, true
		}
		c.log.Warn("bootstrap failed", "err", err)
		return false, false
	}
	c.log.Info("bootstrapped the region", "voters", len(servers))
	return true, true
}

// peerInfo asks a member about itself over the cluster port, on a
// connection whose certificate proves the node ID the member gossips.
func (c *Cluster) peerInfo(m member) (nodeInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := c.tr.Dial(ctx, m.Meta.Cluster, transport.ProtoRPC, m.ID)
	if err != nil {
		return nodeInfo{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+m.Meta.Cluster+rpcInfo, nil)
	req.Close = true
	if err := req.Write(conn); err != nil {
		return nodeInfo{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return nodeInfo{}, err
	}
	defer resp.Body.Close()
	var info nodeInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&info); err != nil {
		return nodeInfo{}, err
	}
	return info, nil
}
