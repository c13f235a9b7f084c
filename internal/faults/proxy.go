package faults

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Proxy tuning.
const (
	chunkSize       = 32 << 10 // bytes read at once from one side
	queuedChunks    = 256      // chunks read but not yet written, per direction
	dialUpstreamFor = 5 * time.Second
)

// Proxy is a TCP proxy on a loopback port in front of one upstream server:
// an adapter dials Addr instead of the server, and the test breaks the
// network between them. Its methods are safe for concurrent use.
//
// Every goroutine it starts is accounted for: Cut returns once the
// connections it closed have stopped forwarding, and the proxy is stopped
// at the end of the test the same way, so no goroutine of it outlives the
// test. (toxiproxy, which this proxy replaces, leaves a link's goroutines
// blocked forever when a connection closes with bytes in flight.)
type Proxy struct {
	t        testing.TB
	upstream string
	addr     string

	holed   atomic.Bool  // Blackhole: readers drop what they read
	latency atomic.Int64 // Latency: delay of the downstream direction, ns

	ops sync.Mutex // serializes Cut, Restore and the final stop

	mu      sync.Mutex // guards the fields below
	ln      net.Listener
	links   map[*link]struct{}
	stopped bool // the test has ended

	wg sync.WaitGroup // the accept loop and every link's goroutines
}

// link is one proxied connection: the adapter's side and the server's.
type link struct {
	client, server net.Conn
	done           chan struct{} // closed by shut
	once           sync.Once
}

// shut closes both sides; every goroutine of the link then ends.
func (l *link) shut() {
	l.once.Do(func() {
		close(l.done)
		_ = l.client.Close()
		_ = l.server.Close()
	})
}

// chunk is bytes read from one side, to be written to the other no
// earlier than due.
type chunk struct {
	b   []byte
	due time.Time
}

// NewProxy starts a proxy on a free loopback port that forwards every
// connection to upstream (host:port). It is stopped, its connections
// closed and its goroutines ended, when the test ends.
func NewProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faults: start proxy to %s: %v", upstream, err)
	}
	p := &Proxy{t: t, upstream: upstream, addr: ln.Addr().String(), links: map[*link]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.stop)
	return p
}

// Addr returns the host:port the adapter dials.
func (p *Proxy) Addr() string { return p.addr }

// Upstream returns the server's host:port.
func (p *Proxy) Upstream() string { return p.upstream }

// serve makes ln the proxy's listener and starts accepting on it.
func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.wg.Add(1)
	p.mu.Unlock()
	go p.accept(ln)
}

// accept forwards every connection ln accepts until ln is closed.
func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.upstream, dialUpstreamFor)
		if err != nil {
			_ = c.Close() // the server is down: the adapter sees a reset
			continue
		}
		l := &link{client: c, server: s, done: make(chan struct{})}
		p.mu.Lock()
		if p.ln != ln {
			// Cut or stopped while dialing.
			p.mu.Unlock()
			l.shut()
			return
		}
		p.links[l] = struct{}{}
		p.wg.Add(4)
		p.mu.Unlock()
		up := make(chan chunk, queuedChunks)
		down := make(chan chunk, queuedChunks)
		go p.read(l, c, up, false)
		go p.write(l, s, up)
		go p.read(l, s, down, true)
		go p.write(l, c, down)
	}
}

// read reads from src and queues what it read, until src fails; then it
// closes q. While the proxy is a blackhole it drops what it reads.
func (p *Proxy) read(l *link, src net.Conn, q chan<- chunk, downstream bool) {
	defer p.wg.Done()
	defer close(q)
	for {
		b := make([]byte, chunkSize)
		n, err := src.Read(b)
		if n > 0 && !p.holed.Load() {
			due := time.Now()
			if downstream {
				due = due.Add(time.Duration(p.latency.Load()))
			}
			select {
			case q <- chunk{b: b[:n], due: due}:
			case <-l.done:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// write writes what q holds to dst, each chunk when it is due, until q is
// closed; then it shuts the link (as a proxy does when one side hangs
// up). Once the link is shut it only drains q, so read never blocks.
func (p *Proxy) write(l *link, dst net.Conn, q <-chan chunk) {
	defer p.wg.Done()
	defer p.forget(l)
	for c := range q {
		if d := time.Until(c.due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
			}
		}
		select {
		case <-l.done:
			continue // shut: drain
		default:
		}
		if _, err := dst.Write(c.b); err != nil {
			l.shut()
		}
	}
}

// forget shuts l and removes it from the proxy's links.
func (p *Proxy) forget(l *link) {
	l.shut()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// Cut severs the network: the proxy closes every connection it carries
// (the adapter's reads end with EOF or a reset) and refuses new ones until
// Restore. It returns once the closed connections have stopped
// forwarding.
func (p *Proxy) Cut() {
	p.ops.Lock()
	defer p.ops.Unlock()
	p.closeAll()
}

// closeAll closes the listener and every link, and waits for all the
// proxy's goroutines to end. The caller holds p.ops.
func (p *Proxy) closeAll() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	for _, l := range links {
		l.shut()
	}
	// The accept loop registers no link after ln is closed (it checks
	// p.ln), so this wait ends: every link it started is shut above.
	p.wg.Wait()
}

// Restore undoes Cut, Blackhole and Latency: the proxy listens again on
// the same address and forwards without delay.
func (p *Proxy) Restore() {
	p.t.Helper()
	p.ops.Lock()
	defer p.ops.Unlock()
	p.holed.Store(false)
	p.latency.Store(0)
	p.mu.Lock()
	listening, stopped := p.ln != nil, p.stopped
	p.mu.Unlock()
	if listening || stopped {
		return
	}
	// The port was ours a moment ago; another process may grab it in
	// between, in which case there is nothing to do but fail.
	var (
		ln  net.Listener
		err error
	)
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("faults: restore proxy on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// Blackhole makes the proxy swallow every byte in both directions while
// keeping connections open and accepting new ones: the adapter's requests
// never reach the server and no reply comes back, as in a network
// partition where packets are dropped. Restore ends it; the connections
// that carried swallowed bytes are then out of step with the server and
// only good for closing.
func (p *Proxy) Blackhole() { p.holed.Store(true) }

// Latency delays every reply by d (on top of the real round trip) from
// now on; 0 removes the delay. Bytes already read keep their delay.
func (p *Proxy) Latency(d time.Duration) { p.latency.Store(int64(max(d, 0))) }

// stop closes everything for good, at the end of the test.
func (p *Proxy) stop() {
	p.ops.Lock()
	defer p.ops.Unlock()
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.closeAll()
}
