package lifecycle

import (
	"encoding/json"
	"math"
	"time"
)

// CheckResult is the outcome of one connector's check.
//
// In JSON it is {"name":…,"target":…,"ok":…,"error":…,"latency_ms":…}:
// target is omitted when empty, error is "" when ok, and latency_ms is the
// latency in milliseconds with microsecond precision.
type CheckResult struct {
	// Name is the connector's Name.
	Name string
	// Target is the redacted target given to [WithTarget], or "".
	Target string
	// OK is true when the check returned nil in time.
	OK bool
	// Error is the redacted error text of a failed check, or "".
	Error string
	// Latency is how long the check took, or how long it was waited for
	// when it did not answer in time.
	Latency time.Duration
}

type checkResultJSON struct {
	Name      string  `json:"name"`
	Target    string  `json:"target,omitempty"`
	OK        bool    `json:"ok"`
	Error     string  `json:"error"`
	LatencyMS float64 `json:"latency_ms"`
}

// MarshalJSON encodes r with the field names documented on [CheckResult].
func (r CheckResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(checkResultJSON{
		Name: r.Name, Target: r.Target, OK: r.OK, Error: r.Error,
		LatencyMS: math.Round(float64(r.Latency)/float64(time.Microsecond)) / 1000,
	})
}

// UnmarshalJSON decodes what [CheckResult.MarshalJSON] encodes.
func (r *CheckResult) UnmarshalJSON(b []byte) error {
	var j checkResultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = CheckResult{
		Name: j.Name, Target: j.Target, OK: j.OK, Error: j.Error,
		Latency: time.Duration(math.Round(j.LatencyMS * float64(time.Millisecond))),
	}
	return nil
}

// Report is the outcome of [Group.Check]: one result per connector, in the
// order they were added.
//
// In JSON it is {"ok":bool,"checks":[…]}, with "checks" an array (never
// null) of [CheckResult]s.
type Report struct {
	Checks []CheckResult
}

// OK reports whether every check passed. A report without checks is OK.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// Failed returns the results of the checks that did not pass.
func (r Report) Failed() []CheckResult {
	var failed []CheckResult
	for _, c := range r.Checks {
		if !c.OK {
			failed = append(failed, c)
		}
	}
	return failed
}

type reportJSON struct {
	OK     bool          `json:"ok"`
	Checks []CheckResult `json:"checks"`
}

// MarshalJSON encodes r as {"ok":…,"checks":[…]}.
func (r Report) MarshalJSON() ([]byte, error) {
	checks := r.Checks
	if checks == nil {
		checks = []CheckResult{}
	}
	return json.Marshal(reportJSON{OK: r.OK(), Checks: checks})
}

// UnmarshalJSON decodes what [Report.MarshalJSON] encodes; "ok" is
// recomputed from the checks.
func (r *Report) UnmarshalJSON(b []byte) error {
	var j reportJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	r.Checks = j.Checks
	return nil
}
