package lifecycle

import "github.com/portkit/portkit/internal/redact"

// Redacted is what [Redact] puts in place of a secret, as
// [url.URL.Redacted] does.
const Redacted = redact.Placeholder

// Redact returns s with the secrets of the URLs and DSNs in it replaced by
// [Redacted]: the password of a URL's userinfo
// ("redis://:pw@cache:6379" becomes "redis://:xxxxx@cache:6379") and a
// NATS token ("nats://token@host"), the password of a go-sql-driver/mysql
// DSN ("app:pw@tcp(db:3306)/orders"), and the values of password, token,
// secret, sig, api_key, sslpassword, tlsCertificateKeyFilePassword,
// authMechanismProperties and similar parameters, in any case and
// percent-encoded (in a URL query, a DSN, a libpq key=value list).
// User names, hosts and paths are kept. s may be a bare URL or DSN, or any
// text quoting one, such as a driver's error message.
//
// Redact is a safety net for text the program does not control; a Config
// that knows which of its fields are secret redacts them itself. It is
// idempotent: Redact(Redact(s)) == Redact(s). It is portkit's one
// redactor (package internal/redact), as the adapters use it.
func Redact(s string) string { return redact.Text(s) }
