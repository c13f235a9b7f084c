package faults

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Toxic names the Proxy gives the toxics it adds.
const (
	toxicLatency       = "portkit_latency"
	toxicBlackholeUp   = "portkit_blackhole_up"
	toxicBlackholeDown = "portkit_blackhole_down"
)

// Proxy is a TCP proxy on a loopback port in front of one upstream server:
// an adapter dials Addr instead of the server, and the test breaks the
// network between them. It is a toxiproxy proxy (github.com/Shopify/
// toxiproxy/v2) run in-process, without toxiproxy's HTTP API. Its methods
// are safe for concurrent use.
type Proxy struct {
	t        testing.TB
	upstream string

	mu      sync.Mutex
	p       *toxiproxy.Proxy
	addr    string
	cut     bool
	latency time.Duration
	holed   bool
}

// NewProxy starts a proxy on a free loopback port that forwards every
// connection to upstream (host:port). It is stopped, and its connections
// closed, when the test ends.
func NewProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	tp := toxiproxy.NewProxy(server, strings.ReplaceAll(t.Name(), "/", "_"), "127.0.0.1:0", upstream)
	if err := tp.Start(); err != nil {
		t.Fatalf("faults: start proxy to %s: %v", upstream, err)
	}
	p := &Proxy{t: t, upstream: upstream, p: tp, addr: tp.Listen}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.p.Toxics.ResetToxics(context.Background())
		p.p.Stop()
	})
	return p
}

// Addr returns the host:port the adapter dials.
func (p *Proxy) Addr() string { return p.addr }

// Upstream returns the server's host:port.
func (p *Proxy) Upstream() string { return p.upstream }

// Cut severs the network: the proxy closes every connection it carries
// (the adapter's reads end with EOF or a reset) and refuses new ones until
// Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return
	}
	p.p.Stop()
	p.cut = true
}

// Restore undoes Cut, Blackhole and Latency: the proxy listens again on
// the same address and forwards without delay.
func (p *Proxy) Restore() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.holed {
		p.removeToxic(toxicBlackholeUp)
		p.removeToxic(toxicBlackholeDown)
		p.holed = false
	}
	if p.latency > 0 {
		p.removeToxic(toxicLatency)
		p.latency = 0
	}
	if !p.cut {
		return
	}
	// The port was ours a moment ago; another process may grab it in
	// between, in which case there is nothing to do but fail.
	var err error
	for range 50 {
		if err = p.p.Start(); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("faults: restore proxy on %s: %v", p.addr, err)
	}
	p.cut = false
}

// Blackhole makes the proxy swallow every byte in both directions while
// keeping connections open and accepting new ones: the adapter's requests
// never reach the server and no reply comes back, as in a network
// partition where packets are dropped. Restore ends it; the connections
// that carried swallowed bytes are then out of step with the server and
// only good for closing.
func (p *Proxy) Blackhole() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.holed {
		return
	}
	p.addToxic(toxicBlackholeUp, "timeout", "upstream", `{"timeout":0}`)
	p.addToxic(toxicBlackholeDown, "timeout", "downstream", `{"timeout":0}`)
	p.holed = true
}

// Latency delays every reply by d (on top of the real round trip); 0
// removes the delay.
func (p *Proxy) Latency(d time.Duration) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.latency > 0 {
		p.removeToxic(toxicLatency)
		p.latency = 0
	}
	if d <= 0 {
		return
	}
	p.addToxic(toxicLatency, "latency", "downstream", fmt.Sprintf(`{"latency":%d}`, d.Milliseconds()))
	p.latency = d
}

func (p *Proxy) addToxic(name, typ, stream, attrs string) {
	p.t.Helper()
	js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`, name, typ, stream, attrs)
	if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
		p.t.Fatalf("faults: add %s toxic: %v", typ, err)
	}
}

func (p *Proxy) removeToxic(name string) {
	p.t.Helper()
	if err := p.p.Toxics.RemoveToxic(context.Background(), name); err != nil {
		p.t.Fatalf("faults: remove toxic %s: %v", name, err)
	}
}
