package portstest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

// deadAttempts is the MaxDeliveryAttempts of the dead-letter subscription.
const deadAttempts = 5

// ProvisionFunc creates topic and the named subscriptions (each config's
// Topic names topic or another topic created before).
type ProvisionFunc func(ctx context.Context, topic string, subs map[string]ports.SubscriptionConfig) error

// AdminProvision returns the ProvisionFunc of an Admin: EnsureTopic, then
// EnsureSubscription for each subscription.
func AdminProvision(a ports.Admin) ProvisionFunc {
	return func(ctx context.Context, topic string, subs map[string]ports.SubscriptionConfig) error {
		if err := a.EnsureTopic(ctx, topic); err != nil {
			return err
		}
		for _, name := range slices.Sorted(maps.Keys(subs)) {
			if err := a.EnsureSubscription(ctx, name, subs[name]); err != nil {
				return err
			}
		}
		return nil
	}
}

// PubSubSubject is one side of DiffPubSub.
type PubSubSubject struct {
	Publisher  ports.Publisher
	Subscriber ports.Subscriber
	// Provision creates topics and subscriptions; AdminProvision adapts a
	// ports.Admin.
	Provision ProvisionFunc
	// DeadLetter: the implementation moves messages to a dead-letter
	// topic after SubscriptionConfig.MaxDeliveryAttempts deliveries on
	// the subscription (counted per subscription, as DeliveryAttempt).
	// When either side lacks it, the dead-letter subscription is left
	// out.
	DeadLetter bool
	// Close, when set, releases the subject at the end of the run.
	Close func()
}

// DiffPubSub runs the differential checker on two Pub/Sub implementations
// (see DiffSQLStore). Each sequence provisions a topic with a plain
// subscription, an ordering one and (with DeadLetter on both sides) one
// with a dead-letter policy of 5 attempts and a subscription on its
// dead-letter topic; then it publishes batches of messages drawn from a
// small domain (attributes, ordering keys, messages a handler nacks twice,
// messages nacked until they are dead-lettered, and messages
// ValidateMessage rejects: empty, an empty, reserved, over-long or
// invalid-UTF-8 attribute key or value, 101 attributes, an invalid
// ordering key) and drains every subscription. It compares what Publish
// returns (the sentinel, which messages failed), and per subscription the
// messages acknowledged (data, attributes, ordering key), their
// DeliveryAttempt when acknowledged, the order of acknowledgement per
// ordering key on the ordering subscription, and the dead-letter
// attributes (their names; the delivery count's value). IDs and publish
// times, which the server assigns, are not compared; a subscription whose
// divergence an Allowance lists does not hide the others' (they are
// compared past it). Operations are slow
// on a real backend (a drain waits for its messages): a few hundred make
// a run.
func DiffPubSub(t *testing.T, fake, real func() (PubSubSubject, error), opts DiffOptions) []Divergence {
	t.Helper()
	return diffTest(t, func() ([]Divergence, DiffStats) { return diffPubSub(t, fake, real, opts) })
}

// CheckPubSub is DiffPubSub without a testing.T (see CheckSQLStore).
func CheckPubSub(fake, real func() (PubSubSubject, error), opts DiffOptions) ([]Divergence, DiffStats, error) {
	return diffMain(func() ([]Divergence, DiffStats) { return diffPubSub(collector{opts.Logf}, fake, real, opts) })
}

func diffPubSub(t reporter, fake, real func() (PubSubSubject, error), opts DiffOptions) ([]Divergence, DiffStats) {
	o := opts.defaults()
	if opts.SeqLen == 0 {
		o.SeqLen = 8
	}
	x := &psDiff{}
	for i, f := range []func() (PubSubSubject, error){fake, real} {
		s, err := f()
		if err == nil && (s.Publisher == nil || s.Subscriber == nil || s.Provision == nil) {
			err = fmt.Errorf("a PubSubSubject needs Publisher, Subscriber and Provision")
		}
		if err != nil {
			abort("opening the %s PubSubSubject: %v", []string{"fake", "real"}[i], err)
		}
		x.sides[i] = s
		if s.Close != nil {
			defer s.Close()
		}
	}
	x.dead = x.sides[0].DeadLetter && x.sides[1].DeadLetter
	r := &runner[pOp]{t: t, port: "PubSub", opts: o, render: x.render, exec: x.exec, simplify: x.simplify}
	x.known = r.known
	x.allowed = func(kind string) bool {
		for _, a := range o.Allow {
			if ok, _ := regexp.MatchString(a.Kind, kind); ok {
				return true
			}
		}
		return false
	}
	r.run(x.generate)
	return r.report()
}

type psDiff struct {
	sides [2]PubSubSubject
	dead  bool
	known func(kind string) bool
	// allowed reports whether a kind matches DiffOptions.Allow: a drain
	// compares the subscriptions past an allowed divergence of one of
	// them, so that an allowance never hides the others.
	allowed func(kind string) bool
}

// peerDone tells a side's drain of a subscription that the other side's
// is complete, so that it waits a short grace instead of the whole
// delivery wait.
type peerDone struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

func (p *peerDone) get(sub string) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.ch[sub]
	if !ok {
		c = make(chan struct{})
		p.ch[sub] = c
	}
	return c
}

// once closes sub's channel (the first side to complete does).
func (p *peerDone) once(sub string) {
	c := p.get(sub)
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-c:
	default:
		close(c)
	}
}

// peerGrace is how long a drain waits on once the other side's is done.
const peerGrace = 5 * time.Second

// pOp is a Publish of msgs (drain false) or a drain of every
// subscription.
type pOp struct {
	drain   bool
	unknown bool // publish to a topic that does not exist
	msgs    []ports.Message
}

// Message data says what the handlers do: "m7" is acknowledged at once,
// "m7:n2" is nacked twice on every subscription, "m7:dead" is nacked on
// the dead-letter subscription until it moves to the dead-letter topic.
func nacksOf(data string, sub string) int {
	switch {
	case strings.HasSuffix(data, ":n2"):
		return 2
	case strings.HasSuffix(data, ":dead") && sub == "dl":
		return 1 << 30
	}
	return 0
}

var psAttrs = []map[string]string{nil, {"k": "v"}, {"a": "1", "b": "2"}, {"é": "ü", "k": ""}}

// badMessages break one rule of ValidateMessage each.
func badMessage(r *rand.Rand, data string) ports.Message {
	many := map[string]string{}
	for i := range ports.MaxAttributes + 1 {
		many[fmt.Sprintf("k%03d", i)] = "v"
	}
	return pick(r,
		ports.Message{},
		ports.Message{Data: []byte(data), Attributes: map[string]string{"": "v"}},
		ports.Message{Data: []byte(data), Attributes: map[string]string{"googx": "v"}},
		ports.Message{Data: []byte(data), Attributes: map[string]string{"k\xff": "v"}},
		ports.Message{Data: []byte(data), Attributes: map[string]string{"k": "v\xfe"}},
		ports.Message{Data: []byte(data), Attributes: map[string]string{strings.Repeat("k", ports.MaxAttributeKeyBytes+1): "v"}},
		ports.Message{Data: []byte(data), Attributes: map[string]string{"k": strings.Repeat("v", ports.MaxAttributeValueBytes+1)}},
		ports.Message{Data: []byte(data), Attributes: many},
		ports.Message{Data: []byte(data), OrderingKey: "A\xff"},
		ports.Message{Data: []byte(data), OrderingKey: strings.Repeat("o", ports.MaxOrderingKeyBytes+1)},
	)
}

func (x *psDiff) generate(r *rand.Rand, n int) []pOp {
	var ops []pOp
	seq := 0
	for len(ops) < n-1 {
		if len(ops) > 0 && r.IntN(4) == 0 {
			ops = append(ops, pOp{drain: true})
			continue
		}
		op := pOp{unknown: r.IntN(40) == 0}
		for range 1 + r.IntN(4) {
			seq++
			data := fmt.Sprintf("m%d", seq)
			switch k := r.IntN(10); {
			case k == 0:
				data += ":n2"
			case k == 1 && x.dead:
				data += ":dead"
			}
			m := ports.Message{Data: []byte(data), Attributes: maps.Clone(pick(r, psAttrs...)), OrderingKey: pick(r, "", "", "A", "B")}
			if r.IntN(25) == 0 {
				m = badMessage(r, data)
			}
			op.msgs = append(op.msgs, m)
		}
		ops = append(ops, op)
	}
	return append(ops, pOp{drain: true})
}

// pRes is one side's result of an operation.
type pRes struct {
	err      error
	failed   []string          // Publish: per message, "" or its sentinel
	subs     map[string]string // drain: per subscription, the rendering of what was acknowledged
	problems string            // drain: Subscribe errors
}

// pState is one side's state during a sequence.
type pState struct {
	topic string
	subs  []string
	want  map[string]map[string]bool // subscription -> data of the messages it must acknowledge

	mu   sync.Mutex
	done map[string]bool // sub+"\x00"+data of every message acknowledged
}

func (st *pState) acked(sub, data string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.done[sub+"\x00"+data]
}

func (st *pState) ack(sub, data string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done == nil {
		st.done = map[string]bool{}
	}
	st.done[sub+"\x00"+data] = true
}

func (x *psDiff) exec(ops []pOp) (int, *mismatch) {
	prefix := uniquePrefix()
	var states [2]*pState
	for i, s := range x.sides {
		st, err := x.provision(s, prefix)
		if err != nil {
			return 0, &mismatch{kind: "Provision: error", detail: fmt.Sprintf("%s: %v", []string{"fake", "real"}[i], err)}
		}
		states[i] = st
	}
	for i := range ops {
		var res [2]pRes
		var wg sync.WaitGroup
		peers := &peerDone{ch: map[string]chan struct{}{}}
		for s := range x.sides {
			wg.Go(func() { res[s] = x.run(x.sides[s], states[s], &ops[i], peers) })
		}
		wg.Wait()
		if mm := x.compare(&ops[i], res[0], res[1]); mm != nil {
			// A drain's divergence of a known kind leaves nothing behind
			// (each drain starts afresh): go on, to find other kinds.
			if ops[i].drain && x.known != nil && x.known(mm.kind) && i < len(ops)-1 {
				continue
			}
			return i, mm
		}
	}
	return -1, nil
}

func (x *psDiff) provision(s PubSubSubject, prefix string) (*pState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := &pState{topic: prefix + "-t", want: map[string]map[string]bool{}}
	subs := map[string]ports.SubscriptionConfig{
		prefix + "-plain": {Topic: st.topic},
		prefix + "-ord":   {Topic: st.topic, Ordering: true},
	}
	if x.dead {
		if err := s.Provision(ctx, prefix+"-dlt", map[string]ports.SubscriptionConfig{prefix + "-dlsub": {Topic: prefix + "-dlt"}}); err != nil {
			return nil, err
		}
		subs[prefix+"-dl"] = ports.SubscriptionConfig{Topic: st.topic, MaxDeliveryAttempts: deadAttempts, DeadLetterTopic: prefix + "-dlt"}
	}
	if err := s.Provision(ctx, st.topic, subs); err != nil {
		return nil, err
	}
	for _, n := range []string{"plain", "ord", "dl", "dlsub"} {
		if n == "dl" || n == "dlsub" {
			if !x.dead {
				continue
			}
		}
		st.subs = append(st.subs, prefix+"-"+n)
		st.want[prefix+"-"+n] = map[string]bool{}
	}
	return st, nil
}

// subKind returns the role of a subscription: plain, ord, dl, dlsub.
func subKind(name string) string { return name[strings.LastIndex(name, "-")+1:] }

func (x *psDiff) run(s PubSubSubject, st *pState, op *pOp, peers *peerDone) (res pRes) {
	defer func() {
		if p := recover(); p != nil {
			res.err = panicError{p}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if !op.drain {
		topic := st.topic
		if op.unknown {
			topic += "-missing"
		}
		msgs := make([]ports.Message, len(op.msgs))
		for i, m := range op.msgs {
			msgs[i] = ports.Message{Data: slices.Clone(m.Data), Attributes: maps.Clone(m.Attributes), OrderingKey: m.OrderingKey}
		}
		ids, err := s.Publisher.Publish(ctx, topic, msgs...)
		res.err = err
		res.failed = make([]string, len(op.msgs))
		var pe *ports.PublishError
		if errors.As(err, &pe) {
			for _, f := range pe.Failures {
				if f.Index >= 0 && f.Index < len(res.failed) {
					res.failed[f.Index] = errKind(f.Err)
				}
			}
		} else if err != nil {
			for i := range res.failed {
				res.failed[i] = errKind(err)
			}
		}
		for i, m := range op.msgs {
			ok := err == nil || (i < len(ids) && ids[i] != "" && res.failed[i] == "")
			if !ok {
				continue
			}
			d := string(m.Data)
			for _, sub := range st.subs {
				switch subKind(sub) {
				case "dl":
					// a dead one must be delivered (and nacked) 5 times
					st.want[sub][d] = !strings.HasSuffix(d, ":dead")
				case "dlsub":
					if strings.HasSuffix(d, ":dead") {
						st.want[sub][d] = true
					}
				default:
					st.want[sub][d] = true
				}
			}
		}
		return res
	}
	res.subs = map[string]string{}
	var problems []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	dead := make(chan struct{}) // closed when this side's dlsub drain ends
	for _, sub := range st.subs {
		wg.Go(func() {
			got, err := x.drain(s, st, sub, st.want[sub], peers, dead)
			mu.Lock()
			defer mu.Unlock()
			res.subs[subKind(sub)] = got
			if err != nil {
				problems = append(problems, subKind(sub)+": "+errKind(err))
			}
		})
	}
	wg.Wait()
	for _, sub := range st.subs {
		st.want[sub] = map[string]bool{}
	}
	slices.Sort(problems)
	res.problems = strings.Join(problems, "; ")
	return res
}

// drain subscribes to sub until every message of want is acknowledged (or
// a delivery wait passes) and renders what was acknowledged.
//
// dead is closed when the drain of the dead-letter topic's subscription
// (dlsub) ends; the dlsub drain closes it. The drain of the dead-letter
// subscription (dl) whose messages include dead ones does not end at
// their last delivery but waits for it (or its own wait): the nack of
// that delivery is what moves the message, and a Subscribe ended from
// within the handler settles it only during the shutdown, which a server
// may not count (Google's emulator does not dead-letter on a nack sent
// as the stream closes; dead-lettering is best effort, after the nack).
func (x *psDiff) drain(s PubSubSubject, st *pState, sub string, want map[string]bool, peers *peerDone, dead chan struct{}) (string, error) {
	kind := subKind(sub)
	type ack struct {
		data, attrs, key string
		attempt          int
	}
	var mu sync.Mutex
	seen := map[string]int{}
	firstByKey := map[string][]string{} // per ordering key, messages in the order of their first delivery
	var acks []ack
	done := map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wait <-chan struct{} // what finish waits for before ending Subscribe
	switch kind {
	case "dlsub":
		var once sync.Once
		defer once.Do(func() { close(dead) })
		stop := cancel
		cancel = func() { once.Do(func() { close(dead) }); stop() }
	case "dl":
		for _, mustAck := range want {
			if !mustAck {
				wait = dead
			}
		}
	}
	var finishOnce sync.Once
	// finish ends the drain once it is complete (called under mu).
	finish := func() {
		finishOnce.Do(func() {
			if wait == nil {
				cancel()
				return
			}
			go func() {
				select {
				case <-wait:
				case <-ctx.Done():
				}
				cancel()
			}()
		})
	}
	// complete reports (under mu) whether every message of want is
	// acknowledged, or, for a dead one, delivered deadAttempts times.
	complete := func() bool {
		for w, mustAck := range want {
			if mustAck && !done[w] || !mustAck && seen[w] < deadAttempts {
				return false
			}
		}
		return true
	}
	h := func(_ context.Context, m ports.Message) error {
		d := string(m.Data)
		mu.Lock()
		defer mu.Unlock()
		seen[d]++
		if seen[d] == 1 && m.OrderingKey != "" && !st.acked(sub, d) {
			// The port's ordering rule is on deliveries: the first
			// delivery of each message of a key comes in publish order
			// (after a nack, later ones may be acknowledged first). A
			// message acknowledged by an earlier drain is not at its
			// first delivery: its redelivery (the service redelivers the
			// later messages of a key after a nack, acknowledged or not)
			// is at least once, as anywhere else.
			firstByKey[m.OrderingKey] = append(firstByKey[m.OrderingKey], d)
		}
		if seen[d] <= nacksOf(d, kind) {
			if w, ok := want[d]; ok && !w && seen[d] >= deadAttempts && complete() {
				finish()
			}
			return errNack
		}
		if done[d] || st.acked(sub, d) { // a redelivery of an acknowledged message: at least once
			return nil
		}
		done[d] = true
		st.ack(sub, d)
		attrs := m.Attributes
		if kind == "dlsub" {
			attrs = deadLetterAttrs(attrs)
		}
		acks = append(acks, ack{d, renderAttrs(attrs), m.OrderingKey, m.DeliveryAttempt})
		if complete() {
			finish()
		}
		return nil
	}
	errc := make(chan error, 1)
	if len(want) == 0 {
		// Nothing is due: listen briefly for what should not come.
		go func() { errc <- s.Subscriber.Subscribe(ctx, sub, h) }()
		time.Sleep(200 * time.Millisecond)
		cancel()
	} else {
		go func() { errc <- s.Subscriber.Subscribe(ctx, sub, h) }()
		timer := time.NewTimer(deliveryWait)
		peer := peers.get(sub)
		select {
		case <-ctx.Done():
			peers.once(sub)
		case <-peer:
			select {
			case <-ctx.Done():
			case <-timer.C:
			case <-time.After(peerGrace):
			}
			cancel()
		case <-timer.C:
			cancel()
		}
		timer.Stop()
	}
	var err error
	select {
	case err = <-errc:
	case <-time.After(30 * time.Second):
		err = fmt.Errorf("subscribe did not return within 30s of its context ending")
	}
	mu.Lock()
	defer mu.Unlock()
	var lines []string
	for _, a := range acks {
		lines = append(lines, fmt.Sprintf("%s attrs=%s key=%q attempt=%d", a.data, a.attrs, a.key, a.attempt))
	}
	slices.Sort(lines)
	out := strings.Join(lines, "\n    ")
	if kind == "ord" {
		for _, k := range slices.Sorted(maps.Keys(firstByKey)) {
			out += fmt.Sprintf("\n    order of key %q: %s", k, strings.Join(firstByKey[k], " "))
		}
	}
	if ports.IsContextError(err) || errors.Is(err, context.Canceled) {
		err = nil
	}
	return out, err
}

// deadLetterAttrs keeps a dead-lettered message's attributes comparable:
// the dead-letter attributes by name only, the delivery count's value.
func deadLetterAttrs(a map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		switch k {
		case ports.AttrDeadLetterDeliveryCount:
			out[k] = v
		case ports.AttrDeadLetterSubscription, ports.AttrDeadLetterSubscriptionProject, ports.AttrDeadLetterTopicPublishTime:
			out[k] = "…"
		default:
			if strings.HasPrefix(k, "CloudPubSub") {
				out[k] = "…"
			} else {
				out[k] = v
			}
		}
	}
	return out
}

func renderAttrs(a map[string]string) string {
	if len(a) == 0 {
		return "{}"
	}
	parts := make([]string, 0, len(a))
	for _, k := range slices.Sorted(maps.Keys(a)) {
		v := a[k]
		if len(v) > 20 {
			v = fmt.Sprintf("%s…(%d bytes)", v[:8], len(v))
		}
		if len(k) > 20 {
			k = fmt.Sprintf("%s…(%d bytes)", k[:8], len(k))
		}
		parts = append(parts, fmt.Sprintf("%q:%q", k, v))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func (x *psDiff) compare(op *pOp, a, b pRes) *mismatch {
	mk := func(kind, detail string) *mismatch {
		return &mismatch{kind: kind, detail: "at " + x.render(*op) + "\n" + detail}
	}
	if !op.drain {
		tag := x.shape(op)
		if tag != "" {
			tag = " [" + tag + "]"
		}
		if ka, kb := errKind(a.err), errKind(b.err); ka != kb {
			return mk("Publish: error fake="+ka+" real="+kb+tag, "fake: "+errDetail(a.err)+"\nreal: "+errDetail(b.err))
		}
		if !slices.Equal(a.failed, b.failed) {
			return mk("Publish: failed messages differ"+tag, fmt.Sprintf("fake: %q\nreal: %q", a.failed, b.failed))
		}
		return nil
	}
	if a.problems != b.problems {
		return mk("Subscribe: error differs", "fake: "+a.problems+"\nreal: "+b.problems)
	}
	var first *mismatch // the first allowed divergence, reported when no other is found
	for _, sub := range []string{"plain", "ord", "dl", "dlsub"} {
		if a.subs[sub] == b.subs[sub] {
			continue
		}
		aspect := "acknowledged messages differ"
		switch {
		case strings.Contains(a.subs[sub], "order of key") && stripOrder(a.subs[sub]) == stripOrder(b.subs[sub]):
			aspect = "order per key differs"
		case stripAttempts(a.subs[sub]) == stripAttempts(b.subs[sub]):
			aspect = "DeliveryAttempt differs"
		case stripAttrs(a.subs[sub]) == stripAttrs(b.subs[sub]):
			aspect = "attributes differ"
		}
		mm := mk(fmt.Sprintf("Drain %s subscription: %s", sub, aspect), "fake:\n    "+a.subs[sub]+"\nreal:\n    "+b.subs[sub])
		if x.allowed == nil || !x.allowed(mm.kind) {
			return mm
		}
		if first == nil {
			first = mm
		}
	}
	return first
}

func stripOrder(s string) string {
	if i := strings.Index(s, "\n    order of key"); i >= 0 {
		return s[:i]
	}
	return s
}

func stripField(s, field string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, " "+field+"="); i >= 0 {
			j := strings.Index(l[i+1:], " ")
			if j < 0 {
				l = l[:i]
			} else {
				l = l[:i] + l[i+1+j:]
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func stripAttempts(s string) string { return stripField(s, "attempt") }
func stripAttrs(s string) string    { return stripField(s, "attrs") }

// shape names what matters of a Publish: the rules its messages break.
func (x *psDiff) shape(op *pOp) string {
	var tags []string
	if op.unknown {
		tags = append(tags, "unknown topic")
	}
	for _, m := range op.msgs {
		if err := ports.ValidateMessage(m); err != nil {
			tags = append(tags, ruleOf(err))
		}
	}
	slices.Sort(tags)
	return strings.Join(slices.Compact(tags), "; ")
}

// ruleOf names the rule a ValidateMessage error states, without the
// numbers.
func ruleOf(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "empty message"):
		return "empty message"
	case strings.Contains(s, "empty attribute key"):
		return "empty attribute key"
	case strings.Contains(s, "goog"):
		return "reserved attribute key"
	case strings.Contains(s, "attributes, over"):
		return "too many attributes"
	case strings.Contains(s, "ordering key") && strings.Contains(s, "UTF-8"):
		return "invalid UTF-8 ordering key"
	case strings.Contains(s, "ordering key"):
		return "long ordering key"
	case strings.Contains(s, "attribute key") && strings.Contains(s, "UTF-8"):
		return "invalid UTF-8 attribute key"
	case strings.Contains(s, "attribute key"):
		return "long attribute key"
	case strings.Contains(s, "value of attribute") && strings.Contains(s, "UTF-8"):
		return "invalid UTF-8 attribute value"
	case strings.Contains(s, "value of attribute"):
		return "long attribute value"
	}
	return "too large"
}

func (x *psDiff) render(op pOp) string {
	if op.drain {
		return "Drain every subscription"
	}
	parts := make([]string, len(op.msgs))
	for i, m := range op.msgs {
		parts[i] = fmt.Sprintf("{%s attrs=%s key=%s}", shortQuote(string(m.Data)), renderAttrs(m.Attributes), shortQuote(m.OrderingKey))
	}
	topic := "the topic"
	if op.unknown {
		topic = "a missing topic"
	}
	return fmt.Sprintf("Publish(%s, %s)", topic, strings.Join(parts, ", "))
}

func (x *psDiff) simplify(op pOp) [][]pOp {
	var out [][]pOp
	if op.drain {
		return nil
	}
	if len(op.msgs) > 1 {
		for i := range op.msgs {
			c := op
			c.msgs = slices.Delete(slices.Clone(op.msgs), i, i+1)
			out = append(out, []pOp{c})
		}
	}
	for i, m := range op.msgs {
		if len(m.Attributes) > 0 && len(m.Attributes) <= 3 {
			c := op
			c.msgs = slices.Clone(op.msgs)
			c.msgs[i].Attributes = nil
			out = append(out, []pOp{c})
		}
		if m.OrderingKey != "" {
			c := op
			c.msgs = slices.Clone(op.msgs)
			c.msgs[i].OrderingKey = ""
			out = append(out, []pOp{c})
		}
	}
	return out
}
