package fakes

import "time"

// pubsubConfig is what the PubSub fake's own options set (config.pubsub).
type pubsubConfig struct {
	grace   time.Duration
	latency time.Duration
	project string
}

// DefaultPubSubProject is the project the PubSub fake names in the
// CloudPubSubDeadLetterSourceSubscriptionProject attribute of a
// dead-lettered message, unless [WithProject] says another.
const DefaultPubSubProject = "fake-project"

// WithShutdownGrace sets how long the handlers of a PubSub.Subscribe call
// keep a live context once its ctx has ended (ports.DefaultShutdownGrace
// by default): the shutdown rule of ports.Subscriber.
func WithShutdownGrace(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.pubsub.grace = d
		}
	}
}

// WithPublishLatency makes the PubSub fake take d to confirm each Publish
// call, as a server does: the messages are published (and delivered) at
// once, and Publish returns their IDs after d. A Publish whose ctx ends
// first returns the error of an unknown outcome: every message is listed
// Unconfirmed in the *ports.PublishError, an ErrUnavailable wrapping
// ports.ErrOutcomeUnknown, although it was published, exactly as with
// Google Pub/Sub when the confirmation is lost.
func WithPublishLatency(d time.Duration) Option {
	return func(c *config) {
		if d >= 0 {
			c.pubsub.latency = d
		}
	}
}

// WithProject sets the project the PubSub fake reports in the attributes of
// dead-lettered messages ([DefaultPubSubProject] by default).
func WithProject(project string) Option {
	return func(c *config) {
		if project != "" {
			c.pubsub.project = project
		}
	}
}
