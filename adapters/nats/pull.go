package nats

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/portkit/portkit/ports"
)

// JetStream's pull protocol, as the client libraries speak it: a pull
// request is a message to the consumer's "next" subject whose reply
// subject receives the messages, and status messages (headers only) end or
// refuse requests.
const (
	apiNextT            = "$JS.API.CONSUMER.MSG.NEXT.%s.%s"
	statusHdr           = "Status"
	descrHdr            = "Description"
	pendingMsgsHdr      = "Nats-Pending-Messages"
	statusHeartbeat     = "100"
	statusNoMessages    = "404"
	statusTimeout       = "408"
	statusConflict      = "409"
	statusNoResponders  = "503"
	descrConsumerDelete = "Consumer Deleted"
)

// Acknowledgement bodies.
var (
	ackAck      = []byte("+ACK")
	ackNak      = []byte("-NAK")
	ackProgress = []byte("+WPI")
)

// lostGrace is how long past its expiry a pull request may stay
// unanswered before the puller counts it lost (the server is gone, or the
// connection was cut before the request arrived).
const lostGrace = time.Second

// puller pulls one consumer's messages for a Subscribe call over one
// subscription to an inbox, for the call's whole life: it asks for at
// most its share of the call's room (Receive.Goroutines, counting the
// messages asked for and those held), in as few requests as it can, and
// tracks each request until it is filled, expires or is lost.
type puller struct {
	s        *subscriber
	c        jetstream.Consumer
	next     string // the consumer's "next" subject
	inbox    string
	msgs     chan *nats.Msg
	wake     chan struct{} // a message of the call was settled
	maxOwn   int           // most messages this puller may ask for and hold
	own      atomic.Int64  // its messages asked for or held
	requests []pullRequest // outstanding, oldest first (the server fills them in order)
	reconns  uint64        // the connection's reconnect count when last checked
}

// pullRequest is one outstanding request.
type pullRequest struct {
	left     int // messages asked for and not yet received
	deadline time.Time
}

func newPuller(s *subscriber, c jetstream.Consumer, maxOwn int) *puller {
	info := c.CachedInfo()
	return &puller{
		s:      s,
		c:      c,
		next:   fmt.Sprintf(apiNextT, info.Stream, info.Name),
		inbox:  s.n.nc.NewInbox(),
		msgs:   make(chan *nats.Msg, 2*s.r.MaxConcurrency()+64),
		wake:   make(chan struct{}, 1),
		maxOwn: maxOwn,
	}
}

// run pulls until the shutdown begins, then unsubscribes, lets the
// messages already sent arrive, and nacks them.
func (p *puller) run() {
	n := p.s.n
	sub, err := n.nc.ChanSubscribe(p.inbox, p.msgs)
	if err != nil {
		p.s.fail(n.classify(p.s.op, err))
		return
	}
	p.reconns = n.nc.Stats().Reconnects
	tick := time.NewTicker(min(n.cfg.Receive.Poll/2, 500*time.Millisecond))
	defer tick.Stop()
	stopping := p.s.r.Stopping()
	for {
		p.request()
		select {
		case m := <-p.msgs:
			if p.receive(m) {
				_ = sub.Unsubscribe()
				return
			}
		case <-p.wake:
		case <-tick.C:
			p.expire()
		case <-stopping:
			p.drain(sub)
			return
		}
	}
}

// request asks for as many messages as there is room for, in one request.
func (p *puller) request() {
	s := p.s
	room := int64(p.maxOwn) - p.own.Load()
	// Small requests only when none is outstanding: else wait until a
	// quarter of the share is free, and ask for it in one request.
	if room <= 0 || (len(p.requests) > 0 && room < int64(max(p.maxOwn/4, 1))) || s.n.nc.Status() != nats.CONNECTED {
		return
	}
	poll := s.n.cfg.Receive.Poll
	body, _ := json.Marshal(struct {
		Batch   int           `json:"batch"`
		Expires time.Duration `json:"expires"`
	}{int(room), poll})
	if err := s.n.nc.PublishRequest(p.next, p.inbox, body); err != nil {
		return // the connection is going: expire and the watchdog handle it
	}
	p.own.Add(room)
	p.requests = append(p.requests, pullRequest{left: int(room), deadline: time.Now().Add(poll)})
}

// release gives back k messages asked for and not received.
func (p *puller) release(k int) {
	if k <= 0 {
		return
	}
	p.own.Add(-int64(k))
}

// releaseAll forgets every outstanding request.
func (p *puller) releaseAll() {
	for _, r := range p.requests {
		p.release(r.left)
	}
	p.requests = p.requests[:0]
}

// receive handles a message or a status of the inbox; it reports whether
// the call must end (the consumer is gone).
func (p *puller) receive(m *nats.Msg) (stop bool) {
	if status := m.Header.Get(statusHdr); status != "" && len(m.Data) == 0 {
		return p.status(m, status)
	}
	// A message: it fills the oldest request.
	if len(p.requests) > 0 {
		p.requests[0].left--
		if p.requests[0].left == 0 {
			p.requests = p.requests[1:]
		}
	} else {
		// Not asked for (a request we counted lost came through after
		// all): hold it on top of the room.
		p.own.Add(1)
	}
	p.s.dispatch(p, m)
	return false
}

// status handles a status message: the end or refusal of a request.
func (p *puller) status(m *nats.Msg, status string) (stop bool) {
	switch status {
	case statusHeartbeat, statusNoMessages:
		return false
	case statusTimeout:
		p.endOldest(m)
		return false
	case statusNoResponders:
		// Nobody serves the consumer's subject: it was deleted, or the
		// stream's leader is being elected.
		p.releaseAll()
		return p.s.gone(p.c)
	case statusConflict:
		if m.Header.Get(descrHdr) == descrConsumerDelete {
			p.s.fail(ports.NewError(backend, p.s.op, ports.ErrNotFound,
				fmt.Errorf("subscription %q was deleted while receiving: %w", p.s.subscription, jetstream.ErrConsumerDeleted)))
			return true
		}
		if m.Header.Get(pendingMsgsHdr) != "" {
			p.endOldest(m)
			return false
		}
	}
	// Leadership change, server shutdown and the like: the server drops
	// the requests; ask again.
	p.releaseAll()
	return false
}

// endOldest ends the oldest request, which the server reports expired with
// its unfilled count.
func (p *puller) endOldest(m *nats.Msg) {
	if len(p.requests) == 0 {
		return
	}
	left := p.requests[0].left
	if k, err := strconv.Atoi(m.Header.Get(pendingMsgsHdr)); err == nil && k >= 0 && k < left {
		left = k // messages of it may still be on their way: they arrive unasked
	}
	p.release(left)
	p.requests = p.requests[1:]
}

// expire forgets the requests the server never answered, and all of them
// after a reconnection (the server forgot them).
func (p *puller) expire() {
	if r := p.s.n.nc.Stats().Reconnects; r != p.reconns {
		p.reconns = r
		p.releaseAll()
		return
	}
	now := time.Now()
	for len(p.requests) > 0 && now.After(p.requests[0].deadline.Add(lostGrace)) {
		p.release(p.requests[0].left)
		p.requests = p.requests[1:]
	}
}

// drain unsubscribes and nacks what the server had sent, once it has
// arrived (at most flushTimeout).
func (p *puller) drain(sub *nats.Subscription) {
	n := p.s.n
	if n.nc.Status() != nats.CONNECTED || sub.Drain() != nil {
		_ = sub.Unsubscribe()
	}
	deadline := time.NewTimer(flushTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case m := <-p.msgs:
			if m.Header.Get(statusHdr) == "" || len(m.Data) > 0 {
				_ = n.nc.Publish(m.Reply, ackNak)
			}
			continue
		default:
		}
		if !sub.IsValid() {
			return
		}
		select {
		case <-poll.C:
		case <-deadline.C:
			_ = sub.Unsubscribe()
			return
		}
	}
}

// settledOne counts out a message of this puller that was settled.
func (p *puller) settledOne() {
	p.own.Add(-1)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// ack, nak and progress answer a received message.
func ack(nc *nats.Conn, m *nats.Msg)      { _ = nc.Publish(m.Reply, ackAck) }
func nak(nc *nats.Conn, m *nats.Msg)      { _ = nc.Publish(m.Reply, ackNak) }
func progress(nc *nats.Conn, m *nats.Msg) { _ = nc.Publish(m.Reply, ackProgress) }

// nakAfter nacks m, to be delivered again after delay.
func nakAfter(nc *nats.Conn, m *nats.Msg, delay time.Duration) {
	_ = nc.Publish(m.Reply, fmt.Appendf(nil, `-NAK {"delay": %d}`, delay.Nanoseconds()))
}
