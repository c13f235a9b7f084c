package lifecycle

import (
	"net/url"
	"regexp"
	"strings"
)

// Redacted is what [Redact] puts in place of a secret, as
// [url.URL.Redacted] does.
const Redacted = "xxxxx"

var (
	// scheme://user:password@ — the password runs to the last '@' before
	// the path, as url.Parse reads it, so that an unescaped '@' in it does
	// not leak the rest.
	urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@\[\]]*):[^\s/]*@`)
	// user:password@tcp(host:port)/db and user:password@/db, the
	// go-sql-driver/mysql DSN; the password runs to the last "@proto(".
	dsnUserinfo = regexp.MustCompile(`([^\s:@/()"'=]*):\S*@(\w*\(|/)`)
	// password=…, token=… and the like in query strings, key=value lists
	// and connection strings.
	secretParam = regexp.MustCompile(`(?i)((?:^|[?&;,\s])(?:password|passwd|pwd|pass|secret|client_secret|token|access_token|refresh_token|auth_token|id_token|api_key|apikey|sig|signature)=)[^&;,\s]*`)
	// AWS session tokens in MongoDB's authMechanismProperties.
	awsToken = regexp.MustCompile(`(?i)(AWS_SESSION_TOKEN:)[^,&\s]*`)
	// What follows the '@' of a whole-string MySQL DSN: "tcp(host:3306)",
	// "unix(/path)", "tcp" or nothing.
	dsnAddress = regexp.MustCompile(`^\w*(\([^)]*\))?$`)
	scheme     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-]*$`)
)

// Redact returns s with the passwords of URLs and DSNs in it replaced by
// [Redacted]: the password of a URL's userinfo
// ("redis://:pw@cache:6379" becomes "redis://:xxxxx@cache:6379"), of a
// go-sql-driver/mysql DSN ("app:pw@tcp(db:3306)/orders"), and the values of
// password, token, secret, api_key and similar parameters. User names,
// hosts and paths are kept. s may be a bare URL or DSN, or any text quoting
// one, such as a driver's error message.
//
// Redact is a safety net for text the program does not control; a Config
// that knows which of its fields are secret redacts them itself.
func Redact(s string) string {
	if !strings.ContainsAny(s, "@=:") {
		return s
	}
	s = redactWhole(s)
	s = urlUserinfo.ReplaceAllString(s, "${1}:"+Redacted+"@")
	s = dsnUserinfo.ReplaceAllString(s, "${1}:"+Redacted+"@${2}")
	s = secretParam.ReplaceAllString(s, "${1}"+Redacted)
	s = awsToken.ReplaceAllString(s, "${1}"+Redacted)
	return s
}

// redactWhole redacts s when all of it is one URL or MySQL DSN, whose
// password may then hold characters (spaces, '/') the text patterns stop
// at.
func redactWhole(s string) string {
	if i := strings.Index(s, "://"); i > 0 && scheme.MatchString(s[:i]) {
		if u, err := url.Parse(s); err == nil {
			// url.Parse lowercases the scheme; keep it as written so that
			// redacting twice changes nothing.
			r := u.Redacted()
			if strings.HasPrefix(r, u.Scheme+"://") {
				r = s[:i] + r[len(u.Scheme):]
			}
			return r
		}
		// Not a valid URL, perhaps for an unescaped character in the
		// password: the userinfo runs to the last '@'.
		rest := s[i+3:]
		at := strings.LastIndexByte(rest, '@')
		if at < 0 {
			return s
		}
		user, _, hasPassword := strings.Cut(rest[:at], ":")
		if !hasPassword {
			return s
		}
		return s[:i+3] + user + ":" + Redacted + rest[at:]
	}
	// go-sql-driver/mysql's own reading: the address and database follow
	// the last '/', the userinfo precedes the last '@' before it.
	slash := strings.LastIndexByte(s, '/')
	if slash < 0 {
		return s
	}
	at := strings.LastIndexByte(s[:slash], '@')
	if at < 0 || !dsnAddress.MatchString(s[at+1:slash]) {
		return s
	}
	user, _, hasPassword := strings.Cut(s[:at], ":")
	if !hasPassword {
		return s
	}
	return user + ":" + Redacted + s[at:]
}
