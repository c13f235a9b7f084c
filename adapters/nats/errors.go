package nats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/portkit/portkit/internal/errclass"
	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/ports"
)

// backend is the name every error and log line of this package carries.
const backend = "nats"

// classifier applies the classification table of package ports to the
// client's errors, by JetStream API error code and the client's error
// values:
//
//	stream, consumer, bucket, key or message not found   ErrNotFound
//	stream name in use with another configuration,
//	  subjects overlapping another stream's,
//	  wrong last sequence, key exists                    ErrConflict
//	authorization violation, authentication expired or
//	  revoked, permissions violation                     ErrPermission
//	maximum payload exceeded, bad subject or header,
//	  message over the stream's maximum, bad request     ErrInvalid
//	no responders, timeout, no servers, disconnected,
//	  JetStream not enabled or temporarily unavailable,
//	  stalled publisher, reconnect buffer full,
//	  API errors with code 503, dial errors              ErrUnavailable
//	connection closed                                    ErrClosed after Close, else ErrUnavailable
//	context.Canceled, DeadlineExceeded                   ErrUnavailable (the context error stays reachable)
//	any other JetStream API error                        ErrInvalid
//
// A permissions violation reaches the client asynchronously (the server
// drops the message and says so on the connection); the adapter matches
// it to the call whose subject it names (see permWatch), so that the call
// fails with ErrPermission at once instead of timing out.
var classifier = errclass.Classifier{
	Backend:     backend,
	Kind:        kindOf,
	ServerReply: serverReply,
}

// kindOf is the classifier's driver rule: the sentinel of err, or nil when
// the shared rules decide.
func kindOf(err error, closed bool) error {
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired),
		errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired),
		errors.Is(err, nats.ErrPermissionViolation):
		return ports.ErrPermission
	case errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, jetstream.ErrConsumerNotFound),
		errors.Is(err, jetstream.ErrConsumerDoesNotExist), errors.Is(err, jetstream.ErrMsgNotFound),
		errors.Is(err, jetstream.ErrBucketNotFound), errors.Is(err, jetstream.ErrKeyNotFound),
		errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrKeyDeleted):
		return ports.ErrNotFound
	case errors.Is(err, jetstream.ErrStreamNameAlreadyInUse), errors.Is(err, jetstream.ErrKeyExists),
		errors.Is(err, jetstream.ErrConsumerExists), errors.Is(err, jetstream.ErrConsumerNameAlreadyInUse),
		errors.Is(err, jetstream.ErrBucketExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return ports.ErrConflict
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject), errors.Is(err, nats.ErrBadHeaderMsg),
		errors.Is(err, nats.ErrInvalidMsg), errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum),
		errors.Is(err, jetstream.ErrInvalidSubject), errors.Is(err, jetstream.ErrInvalidStreamName),
		errors.Is(err, jetstream.ErrInvalidConsumerName), errors.Is(err, jetstream.ErrInvalidKey),
		errors.Is(err, jetstream.ErrInvalidBucketName), errors.Is(err, jetstream.ErrBadRequest):
		return ports.ErrInvalid
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, jetstream.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionDraining), errors.Is(err, jetstream.ErrJetStreamPublisherClosed):
		if closed {
			return ports.ErrClosed
		}
		return ports.ErrUnavailable
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrAsyncPublishTimeout),
		errors.Is(err, jetstream.ErrTooManyStalledMsgs), errors.Is(err, nats.ErrNoServers),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrReconnectBufExceeded),
		errors.Is(err, nats.ErrStaleConnection), errors.Is(err, nats.ErrMaxConnectionsExceeded),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount),
		errors.Is(err, jetstream.ErrServerShutdown), errors.Is(err, jetstream.ErrNoHeartbeat),
		errors.Is(err, jetstream.ErrConsumerLeadershipChanged), errors.Is(err, nats.ErrSlowConsumer):
		return ports.ErrUnavailable
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code >= 500 {
		return ports.ErrUnavailable
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return ports.ErrUnavailable
	}
	return nil
}

// serverReply reports whether err is an error answer of the JetStream API.
func serverReply(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr)
}

// refusedOrUnknownHost reports whether err is a dial error that another
// attempt a moment later would meet again: the port refuses connections,
// or the host name does not resolve.
func refusedOrUnknownHost(err error) bool {
	var dnsErr *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &dnsErr) && dnsErr.IsNotFound)
}

// describeDial names a hopeless dial error.
func describeDial(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "no such host " + dnsErr.Name
	}
	return "connection refused"
}

// classify classifies err, the client's error for operation op, its text
// scrubbed of the configuration's secrets.
func (n *NATS) classify(op string, err error) error {
	if err == nil {
		return nil
	}
	return classifier.Wrap(op, redact.Error(err, n.secrets...), n.gate.Closed())
}

// wrap classifies err, the client's error for operation op of a call made
// with ctx: a permissions violation reported during the call (ctx's
// cause, see permWatch.watch) makes it ErrPermission; when ctx itself has
// ended, the context's error stays reachable too.
func (n *NATS) wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, nats.ErrPermissionViolation) {
		return ports.NewError(backend, op, ports.ErrPermission, redact.Error(cause, n.secrets...))
	}
	if ctx.Err() != nil && !ports.IsContextError(err) && ports.KindOf(err) == nil {
		k := classifier.KindOf(err, n.gate.Closed())
		if k == ports.ErrUnavailable || k == ports.ErrClosed {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
	}
	return n.classify(op, err)
}

func closedErr(op string) error { return classifier.Closed(op) }

func invalidErr(op string, cause error) error { return classifier.Invalid(op, cause) }

// permWatch matches the permissions violations the server reports on the
// connection to the calls waiting for the subjects they name.
type permWatch struct {
	mu       sync.Mutex
	watchers map[*permWatcher]struct{}
}

// permWatcher is one call waiting: match tells whether a violation of a
// subject concerns it, and notify receives it.
type permWatcher struct {
	match  func(subject string) bool
	notify func(err error)
}

// watch registers a watcher until the returned function is called.
func (p *permWatch) watch(match func(subject string) bool, notify func(err error)) (stop func()) {
	w := &permWatcher{match: match, notify: notify}
	p.mu.Lock()
	if p.watchers == nil {
		p.watchers = make(map[*permWatcher]struct{})
	}
	p.watchers[w] = struct{}{}
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		delete(p.watchers, w)
		p.mu.Unlock()
	}
}

// watchContext returns a context derived from ctx that is cancelled, with
// the violation as its cause, when a permissions violation of a subject
// that match accepts is reported; stop releases it.
func (p *permWatch) watchContext(ctx context.Context, match func(subject string) bool) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	stopWatch := p.watch(match, cancel)
	return ctx, func() {
		stopWatch()
		cancel(nil)
	}
}

// report hands a permissions violation to the watchers it concerns: those
// matching its subject, or every watcher for a violation on a
// subscription to an inbox (no request can get its answer then).
func (p *permWatch) report(err error) {
	verb, subject, ok := parseViolation(err)
	if !ok {
		return
	}
	all := verb == "subscription" && strings.HasPrefix(subject, "_INBOX")
	p.mu.Lock()
	var hit []*permWatcher
	for w := range p.watchers {
		if all || w.match(subject) {
			hit = append(hit, w)
		}
	}
	p.mu.Unlock()
	for _, w := range hit {
		w.notify(err)
	}
}

// parseViolation reads the verb ("publish", "subscription") and the
// subject of a permissions violation: `nats: permissions violation:
// Permissions Violation for Publish to "subject"`. The server gives no
// code, only this text.
func parseViolation(err error) (verb, subject string, ok bool) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return "", "", false
	}
	msg := err.Error()
	i := strings.LastIndex(strings.ToLower(msg), "violation for ")
	if i < 0 {
		return "", "", false
	}
	rest := msg[i+len("violation for "):]
	verb, rest, ok = strings.Cut(rest, " to ")
	if !ok {
		return "", "", false
	}
	subject = strings.Trim(strings.TrimSpace(rest), `"'`)
	if j := strings.IndexAny(subject, ` "'`); j >= 0 {
		subject = subject[:j]
	}
	return strings.ToLower(verb), subject, subject != ""
}

// apiSubject reports whether subject is one of the JetStream API's or a
// key-value bucket's, which the adapter's admin calls use.
func apiSubject(subject string) bool {
	return strings.HasPrefix(subject, "$JS.") || strings.HasPrefix(subject, "$KV.")
}
