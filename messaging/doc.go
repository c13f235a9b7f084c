// Package messaging is the consumer side of portkit's messaging, over the
// ports alone: handler middleware, a supervised runner of Subscribe loops,
// and typed publishing and handling.
//
// # Middleware
//
// A [Middleware] wraps a ports.Handler; [Chain] composes them, the first
// outermost. The middleware are:
//
//   - [Recover]: a panic becomes a *PanicError (nack), logged once with its
//     stack and never with the message's data;
//   - [Retry]: in-process retries with exponential backoff and jitter,
//     within a budget below the ack deadline, before nacking;
//   - [Timeout]: a deadline per handler call;
//   - [DeadLetter]: after N failed deliveries (Message.DeliveryAttempt, or
//     a [DeliveryCounter] where the backend does not count), or at once for
//     a permanent failure, publish the message to a dead-letter topic with
//     its attributes plus the reason and source, then ack;
//   - [Dedupe]: at most one handling per stable message ID, over a
//     ports.Cache (SetNX with a TTL);
//   - [DedupeTx]: exactly-once effects, recording the message ID in the
//     handler's own SQL transaction.
//
// The order that works (outermost first):
//
//	messaging.Chain(deadLetter, messaging.Recover(log), dedupe, retry, timeout)
//
// DeadLetter outside Recover, so that a panicking message is moved rather
// than redelivered for ever; Dedupe outside Retry, so that one claim
// covers the retries; Timeout innermost, so that it bounds each attempt.
// With DedupeTx, put Retry outside it (a deadlock retries the whole
// transaction) and Timeout between them (it bounds the transaction).
//
// # Errors and acknowledgement
//
// A handler's nil acks its message and an error nacks it, for redelivery:
// no middleware here acks a message it has not handled, except Dedupe and
// DedupeTx for a duplicate, and DeadLetter once the dead-letter topic has
// confirmed the copy. An error marked with [Permanent] (and a decode
// failure of [Handle], and a panic) is one that no redelivery can mend:
// Retry does not retry it and DeadLetter moves it at once.
//
// # Runner
//
// A [Runner] runs one Subscribe loop per [Route], restarts a loop that
// fails with ErrUnavailable with backoff, stops every loop within a bound
// when its context ends, and is a ports.Connector whose Check is healthy
// while every loop receives.
//
// # Typed messages
//
// [Publish], [Encode], [Decode] and [Handle] encode values of a type T
// with a codec.Codec[T] (JSON by default), carrying the content type in
// the AttrContentType attribute and a stable ID in AttrMessageID, which
// Dedupe keys on.
//
// Package messagingtest holds the behaviour of every middleware and of the
// Runner as a suite that runs on any Publisher, Subscriber and Admin: the
// fake's and each adapter's tests call it.
package messaging
