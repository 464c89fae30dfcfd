package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/hashicorp/raft"
	"github.com/kmsnode/kmsnode/fsm"
)

// gossip is the region's memberlist LAN pool (design-notes §3.2). It says
// who is there and at which addresses; it never grants trust: a member
// joins Raft only after its certificate was checked over the cluster port.
type gossip struct {
	c    *Cluster
	ml   *memberlist.Memberlist
	keys *memberlist.Keyring // the pool's keys (keyring.go)
	meta []byte
	wake chan struct{} // a member joined, left or changed
	once sync.Once

	// view is this node's copy of the pool, kept from the event callbacks:
	// memberlist's Members() hands out nodes it keeps changing, so their
	// fields must not be read outside its callbacks.
	mu   sync.Mutex
	view map[string]member
}

// nodeMeta is what every member advertises (memberlist caps it at 512 B).
type nodeMeta struct {
	V       int    `json:"v"`
	Region  string `json:"r"`
	Cluster string `json:"c"` // cluster port: Raft and RPC
	API     string `json:"a,omitempty"`
	Expect  int    `json:"e,omitempty"` // bootstrap-expect
	// Level is the highest command level the node's release applies
	// (fsm.MaxLevel; level.go). Absent (0) from v0.1 nodes, which apply 1.
	Level uint32 `json:"l,omitempty"`
}

func decodeMeta(b []byte) (nodeMeta, bool) {
	var m nodeMeta
	if len(b) == 0 || json.Unmarshal(b, &m) != nil || m.V != 1 || m.Region == "" || m.Cluster == "" {
		return nodeMeta{}, false
	}
	return m, true
}

func gossipLabel(region string) string { return "kms/" + region + "/lan" }

func startGossip(c *Cluster) (*gossip, error) {
	meta, err := json.Marshal(nodeMeta{V: 1, Region: c.cfg.Region, Cluster: c.tr.Addr(), API: c.cfg.APIAddr, Expect: c.cfg.BootstrapExpect, Level: fsm.MaxLevel})
	if err != nil || len(meta) > memberlist.MetaMaxSize {
		return nil, errors.New("cluster: node metadata too large for gossip")
	}
	g := &gossip{c: c, meta: meta, wake: make(chan struct{}, 1)}
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.cfg.NodeID
	host, port, err := splitHostPort(c.cfg.Gossip.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip address: %w", err)
	}
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = host, port
	if a := c.cfg.Gossip.AdvertiseAddr; a != "" {
		if mc.AdvertiseAddr, mc.AdvertisePort, err = splitHostPort(a); err != nil {
			return nil, fmt.Errorf("cluster: gossip advertise address: %w", err)
		}
	}
	if g.keys, err = memberlist.NewKeyring(nil, append([]byte(nil), c.cfg.Gossip.Key...)); err != nil {
		return nil, fmt.Errorf("cluster: gossip key: %w", err)
	}
	mc.Keyring = g.keys
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	mc.Label = gossipLabel(c.cfg.Region)
	mc.Delegate = g
	mc.Events = g
	mc.Alive = g
	mc.Logger = newStdLogger(c.log.With("component", "gossip"))
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("cluster: start gossip: %w", err)
	}
	g.ml = ml
	return g, nil
}

func splitHostPort(a string) (string, int, error) {
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", a)
	}
	return h, port, nil
}

// join contacts the given gossip addresses; an empty list is fine (the
// first node of a region, or a restart whose peers find it).
func (g *gossip) join(addrs []string) error {
	if len(addrs) == 0 {
		return nil
	}
	_, err := g.ml.Join(addrs)
	return err
}

// joinLoop joins the configured peers, and keeps trying while this node
// sees no other member: peers may start later, or restart.
func (c *Cluster) joinLoop() {
	defer c.wg.Done()
	if len(c.cfg.Gossip.Join) == 0 {
		return
	}
	backoff := 500 * time.Millisecond
	for {
		if c.gossip.ml.NumMembers() < 2 {
			if err := c.gossip.join(c.cfg.Gossip.Join); err != nil {
				c.log.Warn("gossip join failed; retrying", "peers", c.cfg.Gossip.Join, "err", err)
			}
		}
		select {
		case <-c.closing:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// Addr is the gossip address this node advertises.
func (g *gossip) Addr() string {
	n := g.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

func (g *gossip) leave() {
	g.once.Do(func() {
		_ = g.ml.Leave(time.Second)
		_ = g.ml.Shutdown()
	})
}

func (g *gossip) shutdown() { g.once.Do(func() { _ = g.ml.Shutdown() }) }

// member is one node of the region as gossip sees it.
type member struct {
	ID     string
	Meta   nodeMeta
	Status string // alive, or gone (left or failed)
}

// members lists the region's members with valid metadata.
func (g *gossip) members() []member {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]member, 0, len(g.view))
	for _, m := range g.view {
		out = append(out, m)
	}
	return out
}

// record copies a node's state into the view; called from memberlist's
// event callbacks, where the node may be read.
func (g *gossip) record(n *memberlist.Node, status string) {
	m, ok := decodeMeta(n.Meta)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.view == nil {
		g.view = map[string]member{}
	}
	if !ok || m.Region != g.c.cfg.Region {
		delete(g.view, n.Name)
		return
	}
	g.view[n.Name] = member{ID: n.Name, Meta: m, Status: status}
}

// ServerAddr implements raft.ServerAddressProvider: a node that moved keeps
// its server ID, and Raft dials its current address from gossip.
func (g *gossip) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	g.mu.Lock()
	m, ok := g.view[string(id)]
	g.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("cluster: no gossip address for %s", id)
	}
	return raft.ServerAddress(m.Meta.Cluster), nil
}

// memberlist.Delegate.
func (g *gossip) NodeMeta(limit int) []byte {
	if len(g.meta) > limit {
		return nil
	}
	return g.meta
}
func (g *gossip) NotifyMsg([]byte)                           {}
func (g *gossip) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (g *gossip) LocalState(join bool) []byte                { return nil }
func (g *gossip) MergeRemoteState(buf []byte, join bool)     {}

// memberlist.AliveDelegate: members of another region (or without our
// metadata) are refused; the gossip key and label already keep strangers
// out, this catches a misconfigured node that shares them.
func (g *gossip) NotifyAlive(n *memberlist.Node) error {
	m, ok := decodeMeta(n.Meta)
	if !ok {
		g.c.log.Warn("gossip refused a member without valid metadata", "member", n.Name, "addr", n.Address())
		return errors.New("invalid metadata")
	}
	if m.Region != g.c.cfg.Region {
		g.c.log.Warn("gossip refused a member of another region", "member", n.Name, "region", m.Region)
		return errors.New("foreign region")
	}
	return nil
}

// memberlist.EventDelegate: never blocks, only wakes the reconciler.
// (The Node handed to a callback does not carry its new state; the
// callback says it.)
func (g *gossip) NotifyJoin(n *memberlist.Node)   { g.record(n, "alive"); g.poke() }
func (g *gossip) NotifyLeave(n *memberlist.Node)  { g.record(n, "gone"); g.poke() }
func (g *gossip) NotifyUpdate(n *memberlist.Node) { g.record(n, "alive"); g.poke() }

func (g *gossip) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// newStdLogger adapts slog for libraries that take a *log.Logger and mark
// levels with "[DEBUG]", "[INFO]", "[WARN]" or "[ERR]" prefixes.
func newStdLogger(l *slog.Logger) *log.Logger {
	return log.New(levelWriter{l}, "", 0)
}

type levelWriter struct{ l *slog.Logger }

func (w levelWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimSpace(p))
	level := slog.LevelInfo
	for _, lv := range []struct {
		tag string
		l   slog.Level
	}{{"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo}, {"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}, {"[ERROR]", slog.LevelError}} {
		if i := bytes.Index(p, []byte(lv.tag)); i >= 0 {
			level = lv.l
			msg = string(bytes.TrimSpace(p[i+len(lv.tag):]))
			break
		}
	}
	w.l.Log(context.Background(), level, msg)
	return len(p), nil
}
