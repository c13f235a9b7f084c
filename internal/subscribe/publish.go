package subscribe

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/portkit/portkit/ports"
)

// PublishFailed returns the error of a Publish call of backend whose
// messages listed in pe failed: an *ports.OpError for op whose Kind is the
// kind of the first failure and whose cause lets errors.As find pe.
// errors.Is also reaches, through it, the errors of the failures of that
// same kind (a context error, ports.ErrOutcomeUnknown), never those of
// another kind, so that the error matches exactly one sentinel. It
// returns nil when pe lists no failure.
func PublishFailed(backend, op string, pe *ports.PublishError) error {
	if pe == nil || len(pe.Failures) == 0 {
		return nil
	}
	kind := ports.KindOf(pe.Failures[0].Err)
	if kind == nil {
		kind = ports.ErrUnavailable
	}
	pf := &publishFailure{pe: pe}
	for _, f := range pe.Failures {
		if ports.KindOf(f.Err) == kind {
			pf.same = append(pf.same, f.Err)
		}
	}
	return ports.NewError(backend, op, kind, pf)
}

// publishFailure carries a *ports.PublishError, which has no Unwrap, and
// unwraps to it and to the failures of the call's kind.
type publishFailure struct {
	pe   *ports.PublishError
	same []error
}

func (e *publishFailure) Error() string { return e.pe.Error() }

func (e *publishFailure) Unwrap() []error {
	return append([]error{e.pe}, e.same...)
}

// Limits of a topic or subscription ID (Google Pub/Sub's rule, which its
// emulator enforces).
const (
	MinNameLen = 3
	MaxNameLen = 255
)

var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9\-_.~+%]*$`)

// ValidateName checks the ID of a topic or subscription (what names the
// kind: "topic", "subscription") against Google Pub/Sub's rule: 3 to 255
// characters, starting with a letter, made of letters, digits and
// - _ . ~ + %, and not starting with "goog". The error names the rule,
// and the name, which is not secret.
func ValidateName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty %s name", what)
	case len(name) < MinNameLen || len(name) > MaxNameLen:
		return fmt.Errorf("%s name %.40q has %d characters, outside %d..%d", what, name, len(name), MinNameLen, MaxNameLen)
	case !nameRE.MatchString(name):
		return fmt.Errorf("%s name %.40q must start with a letter and hold only letters, digits and - _ . ~ + %%", what, name)
	case strings.HasPrefix(name, "goog"):
		return fmt.Errorf(`%s name %.40q starts with "goog", which Google Pub/Sub reserves`, what, name)
	}
	return nil
}
