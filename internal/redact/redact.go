// Package redact is portkit's one redactor: it hides the credentials of
// connection strings (URLs, go-sql-driver DSNs, libpq key=value lists) and
// of the secret parameters they carry, in a connection string a program
// holds ([Conn], [ConnList], [Secrets]) and in any text that may quote one
// ([Text]), such as a driver's error message.
//
// Every function replaces the secret parts of its input with [Placeholder]
// and leaves the rest as it was written: nothing is parsed and written
// back, so the scheme's case, the order of parameters and their escaping
// are kept. What counts as secret:
//
//   - the password of a URL's user info ("redis://app:pw@h"), and the whole
//     user info of a NATS URL without a password ("nats://token@h"), which
//     is a token;
//   - the password of a go-sql-driver DSN ("app:pw@tcp(db:3306)/orders");
//   - the value of every parameter whose name, percent-decoded and in any
//     case, is a secret name (see [SecretParam]): password, pass, pwd,
//     secret, token, access_token, sig, api_key, sslpassword,
//     tlsCertificateKeyFilePassword, authMechanismProperties (which holds
//     MongoDB's AWS_SESSION_TOKEN) and the like, in a URL's query, a DSN's
//     parameters or a key=value list (quoted values included);
//   - AWS_SESSION_TOKEN:value anywhere in a text.
package redact

import (
	"cmp"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Placeholder is what every function of the package puts in place of a
// secret, as [url.URL.Redacted] does.
const Placeholder = "xxxxx"

// span is a secret part of a string, s[start:end].
type span struct{ start, end int }

var (
	// A URL scheme, as url.Parse reads it.
	schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-]*$`)
	// What follows the '@' of a go-sql-driver DSN, up to its last '/':
	// "tcp(host:3306)", "unix(/path)", "tcp" or nothing (the networks the
	// driver dials without a registered dial function).
	dsnAddrRE = regexp.MustCompile(`^(?:(tcp|tcp4|tcp6)(?:\(([^)]*)\))?|unix(?:\([^)]*\))?|)$`)
	// A key=value list (libpq, ADO): it starts with key=.
	kvStartRE = regexp.MustCompile(`^\s*[A-Za-z_][A-Za-z0-9_.\-]*\s*=`)

	// In a text: scheme://user:password@ — the password runs to the last
	// '@' before a space, so that an unescaped '@' or '/' in it does not
	// leak the rest (it may hide a host too). Any scheme, even one
	// url.Parse rejects.
	textUserinfoRE = regexp.MustCompile(`://[^\s:/@\[\]]*:(\S*)@`)
	// In a text: nats://token@ (a user info without a password is a
	// token in a NATS URL).
	textTokenRE = regexp.MustCompile(`(?i)(?:^|[^A-Za-z0-9+.\-])(?:nats|tls)://([^\s:/@\[\]?#]+)@`)
	// In a text: user:password@tcp( or user:password@/, a go-sql-driver
	// DSN; the password runs to the last "@net(" or "@/".
	textDSNRE = regexp.MustCompile(`[^\s:@/()"'=]*:(\S*)@(?:\w*\(|/)`)
	// In a text: name= (libpq allows spaces around '='), after a start, a
	// space or one of ? & ; , — the value is read by textValueEnd, for a
	// secret name only (a value is not a name's, so "host= password=x"
	// hides x).
	textParamRE = regexp.MustCompile(`(?:^|[?&;,\s])([^\s=&;,?]+)[ \t]*=`)
	// In a text: MongoDB's AWS session token in authMechanismProperties.
	textAWSRE = regexp.MustCompile(`(?i)AWS_SESSION_TOKEN:([^,&\s]*)`)
)

// secretSuffixes end the normalised name of a secret parameter (see
// SecretParam).
var secretSuffixes = []string{
	"password", "passwd", "pwd", "pass", "secret", "token", "apikey",
	"sig", "signature", "credential", "credentials", "secretkey", "privatekey",
}

// SecretParam reports whether a parameter of that name carries a secret.
// The name is percent-decoded, lower-cased and stripped of everything but
// letters and digits ("Pass%77ord", "api_key", "?sslpassword" all count),
// then compared with the secret names: it ends with password, passwd,
// pwd, pass, secret, token, apikey, sig, signature, credential(s),
// secretkey or privatekey, or it contains authmechanismproperties.
func SecretParam(name string) bool {
	if u, err := url.QueryUnescape(name); err == nil {
		name = u
	} else if u, err := url.PathUnescape(name); err == nil {
		name = u
	}
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	n := b.String()
	if n == "" {
		return false
	}
	if strings.Contains(n, "authmechanismproperties") {
		return true
	}
	for _, s := range secretSuffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// Conn returns the connection string s with its secrets replaced by
// [Placeholder]: a URL (any scheme: mysql://, postgres://, mongodb://,
// redis://, nats://...), a go-sql-driver DSN
// ("user:pass@tcp(host:3306)/db?params") or a key=value list
// ("host=db password='a b'"). The user name, hosts, path and the other
// parameters are kept as written; a URL's fragment, of no use in a
// connection string, is hidden too.
//
// A string that cannot be split where its parts are unambiguous is
// replaced as a whole, since part of a password may then sit anywhere:
// a URL with an '@' after its authority (an unescaped '/', '?' or '#' in
// the password moves the rest of it there), a DSN whose address is not
// tcp, tcp4, tcp6 or unix with a numeric port, an unterminated quote in a key=value list, or a
// string that is none of these and holds an '@', a ':' or an '='.
func Conn(s string) string {
	if s == "" {
		return ""
	}
	spans, ok := connSpans(s)
	if !ok {
		return Placeholder
	}
	// The patterns of Text too, for a URL quoted in a parameter's value.
	return replace(s, append(spans, textSpans(s)...))
}

// ConnList redacts connection strings that were split from one variable
// (a comma-separated list of replicas, say), each as [Conn] does. When one
// of them is replaced as a whole, all are: a separator inside a password
// splits the list inside it, leaving a malformed piece and a neighbour
// that may take the rest of the password for a user name.
func ConnList(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Conn(s)
		if out[i] == Placeholder {
			for j := range out {
				out[j] = Placeholder
			}
			break
		}
	}
	return out
}

// Secrets returns the secret parts of the connection string conn, each as
// written and percent-decoded, longest first, for removing them from a
// driver's error message with [Scrub] or [Error]. It reads conn both
// strictly (as [Conn]) and leniently (as [Text]), so that a malformed
// string's password is found too.
func Secrets(conn string) []string {
	var raw []string
	add := func(spans []span) {
		for _, sp := range spans {
			if sp.end > sp.start {
				raw = append(raw, conn[sp.start:sp.end])
			}
		}
	}
	if spans, ok := connSpans(conn); ok {
		add(spans)
	}
	add(textSpans(conn))
	var out []string
	for _, s := range raw {
		if s == Placeholder {
			continue
		}
		out = append(out, s)
		if strings.HasPrefix(s, "'") && strings.HasSuffix(s, "'") && len(s) > 2 {
			out = append(out, s[1:len(s)-1])
		}
		if u, err := url.QueryUnescape(s); err == nil && u != s {
			out = append(out, u)
		}
		if u, err := url.PathUnescape(s); err == nil && u != s {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return slices.Compact(out)
}

// Scrub returns msg with every non-empty secret replaced by [Placeholder],
// longest first (so that a secret holding another goes as a whole).
func Scrub(msg string, secrets ...string) string {
	ss := slices.Clone(secrets)
	slices.SortFunc(ss, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, s := range ss {
		if s != "" && s != Placeholder {
			msg = strings.ReplaceAll(msg, s, Placeholder)
		}
	}
	return msg
}

// Error returns err when its message holds none of the secrets, else an
// error whose message is scrubbed of them (see [Scrub]) and which unwraps
// to err, so that errors.Is and errors.As still see the original.
func Error(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if s := Scrub(msg, secrets...); s != msg {
		return &scrubbedError{msg: s, err: err}
	}
	return err
}

// scrubbedError shows a scrubbed message and unwraps to the original.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// maxPasses bounds Text's passes; a text that still changes after them is
// replaced as a whole (no text found by fuzzing needs more than two).
const maxPasses = 8

// Text returns s with the secrets of every URL, DSN and secret parameter
// it quotes replaced by [Placeholder]; s may be a bare connection string or
// any text quoting one, such as a driver's error message. When s is a
// whole URL or DSN, its password may hold characters (spaces, '/', '@')
// at which the patterns for quoted ones stop; Text then takes the user
// info to run to the last '@'.
//
// Text is a safety net for text the program does not control; it may hide
// more than the secret (never less, for the forms listed in the package
// documentation). It is idempotent: Text(Text(s)) == Text(s), by
// construction (it applies its rules until they change nothing).
func Text(s string) string {
	if !strings.ContainsAny(s, "@=:") {
		return s
	}
	for range maxPasses {
		next := replace(s, textSpans(s))
		if next == s {
			return s
		}
		s = next
	}
	return Placeholder
}

// textSpans returns the secret spans Text sees in s.
func textSpans(s string) []span {
	spans := wholeSpans(s)
	if strict, ok := connSpans(s); ok {
		spans = append(spans, strict...)
	}
	group := func(re *regexp.Regexp, g int, keep func(m []int) bool) {
		for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
			if m[2*g] >= 0 && m[2*g+1] > m[2*g] && (keep == nil || keep(m)) {
				spans = append(spans, span{m[2*g], m[2*g+1]})
			}
		}
	}
	group(textUserinfoRE, 1, nil)
	group(textTokenRE, 1, nil)
	// Not the "//" of a URL: that is textUserinfoRE's.
	group(textDSNRE, 1, func(m []int) bool { return !strings.HasPrefix(s[m[2]:], "//") })
	for _, m := range textParamRE.FindAllStringSubmatchIndex(s, -1) {
		if SecretParam(s[m[2]:m[3]]) {
			if start, end := textValue(s, m[1]); end > start {
				spans = append(spans, span{start, end})
			}
		}
	}
	group(textAWSRE, 1, nil)
	return spans
}

// textValue returns the extent of the value that starts at i, after a
// name=: spaces skipped, then a single-quoted value (backslash escapes;
// to the end when unterminated) or a run to the next & ; , space ? or '"'.
func textValue(s string, i int) (start, end int) {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	start = i
	if i < len(s) && s[i] == '\'' {
		for i++; i < len(s); i++ {
			if s[i] == '\\' {
				i++
				continue
			}
			if s[i] == '\'' {
				return start, i + 1
			}
		}
		return start, len(s)
	}
	for i < len(s) && !strings.ContainsRune("&;, \t\r\n?\"", rune(s[i])) {
		i++
	}
	return start, i
}

// wholeSpans returns the secret spans of s read leniently as one URL or
// DSN: the user info of a URL runs to its last '@'.
// A string with a bad scheme that is a DSN is read as a DSN.
func wholeSpans(s string) []span {
	scheme, rest, isURL := strings.Cut(s, "://")
	if !isURL || !schemeRE.MatchString(scheme) {
		if spans, ok := dsnSpans(s); ok {
			return spans
		}
	}
	if !isURL || strings.ContainsAny(scheme, " \t\r\n") {
		return nil
	}
	// A URL, perhaps with a scheme url.Parse would reject (but no space:
	// that is a text quoting a URL).
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return nil
	}
	return userinfoSpans(scheme, rest[:at], len(scheme)+3)
}

// connSpans returns the secret spans of the connection string s, or false
// when s cannot be split safely (see Conn).
func connSpans(s string) ([]span, bool) {
	if scheme, rest, ok := strings.Cut(s, "://"); ok && schemeRE.MatchString(scheme) {
		return urlSpans(scheme, rest, len(scheme)+3)
	}
	if spans, ok := dsnSpans(s); ok {
		return spans, true
	}
	if kvStartRE.MatchString(s) {
		return kvSpans(s)
	}
	if strings.ContainsAny(s, "@:=") {
		return nil, false
	}
	return nil, true
}

// urlSpans returns the secret spans of the URL scheme://rest, rest
// starting at off in the whole string.
func urlSpans(scheme, rest string, off int) ([]span, bool) {
	authEnd := strings.IndexAny(rest, "/?#")
	if authEnd < 0 {
		authEnd = len(rest)
	}
	authority, after := rest[:authEnd], rest[authEnd:]
	if strings.ContainsRune(after, '@') {
		return nil, false
	}
	var spans []span
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		spans = userinfoSpans(scheme, authority[:at], off)
	}
	h := strings.IndexByte(after, '#')
	if h >= 0 && h+1 < len(after) {
		// A connection string has no use for a fragment, and a '#' in the
		// user name moves the rest there.
		spans = append(spans, span{off + authEnd + h + 1, off + len(rest)})
	}
	if h >= 0 {
		after = after[:h]
	}
	if q := strings.IndexByte(after, '?'); q >= 0 {
		spans = append(spans, paramSpans(after[q+1:], off+authEnd+q+1)...)
	}
	return spans, true
}

// userinfoSpans returns the secret span of a URL's user info, which
// starts at off: the password after the first ':', or the whole of a NATS
// token.
func userinfoSpans(scheme, userinfo string, off int) []span {
	if c := strings.IndexByte(userinfo, ':'); c >= 0 {
		// Even an empty password, as url.URL.Redacted does: the output
		// does not depend on the password.
		return []span{{off + c + 1, off + len(userinfo)}}
	}
	if userinfo != "" && tokenScheme(scheme) {
		return []span{{off, off + len(userinfo)}}
	}
	return nil
}

// tokenScheme reports whether a user info without a password is a token
// in URLs of scheme (NATS).
func tokenScheme(scheme string) bool {
	switch strings.ToLower(scheme) {
	case "nats", "tls":
		return true
	}
	return false
}

// paramSpans returns the spans of the secret values in a query or DSN
// parameter list starting at off. Parameters are separated by '&' or ';'
// (MongoDB reads both). A secret name hidden in a value ("?=?password=x",
// after a stray '?') counts too.
func paramSpans(query string, off int) []span {
	var spans []span
	pos := 0
	for pos <= len(query) {
		end := strings.IndexAny(query[pos:], "&;")
		if end < 0 {
			end = len(query)
		} else {
			end += pos
		}
		kv := query[pos:end]
		if k, v, ok := strings.Cut(kv, "="); ok && v != "" && secretKV(k, v) {
			start := off + pos + len(k) + 1
			spans = append(spans, span{start, off + end})
		}
		pos = end + 1
	}
	return spans
}

// secretKV reports whether the parameter k=v carries a secret: k is a
// secret name, or v holds name=... with a secret name.
func secretKV(k, v string) bool {
	if SecretParam(k) {
		return true
	}
	parts := strings.Split(v, "=")
	for _, p := range parts[:len(parts)-1] {
		if SecretParam(p) {
			return true
		}
	}
	return false
}

// dsnSpans returns the secret spans of a go-sql-driver DSN,
// "[user[:password]@][net[(addr)]]/dbname[?params]", or false when s does
// not have that shape. As the driver reads it, the address and database
// follow the last '/', and the user info precedes the last '@' before it.
func dsnSpans(s string) ([]span, bool) {
	slash := strings.LastIndexByte(s, '/')
	if slash < 0 || strings.ContainsRune(s[slash+1:], '@') {
		return nil, false
	}
	left := s[:slash]
	at := strings.LastIndexByte(left, '@')
	m := dsnAddrRE.FindStringSubmatch(left[at+1:])
	if m == nil || (m[1] != "" && !validHostPort(m[2])) {
		return nil, false
	}
	var spans []span
	if at >= 0 {
		if c := strings.IndexByte(left[:at], ':'); c >= 0 && c+1 < at {
			spans = append(spans, span{c + 1, at})
		}
	}
	if q := strings.IndexByte(s[slash:], '?'); q >= 0 {
		spans = append(spans, paramSpans(s[slash+q+1:], slash+q+1)...)
	}
	return spans, true
}

// validHostPort reports whether a DSN's tcp address is "", a host, or
// host:port with a numeric port: a password split at a ':' would give a
// port of letters.
func validHostPort(addr string) bool {
	if addr == "" {
		return true
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return !strings.ContainsAny(addr, ":[]")
	}
	if port == "" {
		return false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// kvSpans returns the spans of the secret values of a key=value list:
// libpq's "host=db password='a b'" (whitespace between pairs, values
// optionally single-quoted with backslash escapes), or "a=1;b=2" when the
// list holds a ';'. An unterminated quote, or a key holding a space or a
// quote, makes it unsafe to split.
func kvSpans(s string) ([]span, bool) {
	semi := strings.ContainsRune(s, ';')
	sep := func(c byte) bool {
		if semi {
			return c == ';'
		}
		return c == ' ' || c == '\t' || c == '\n' || c == '\r'
	}
	var spans []span
	i := 0
	for i < len(s) {
		for i < len(s) && (sep(s[i]) || s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			break
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return nil, false
		}
		key := strings.TrimSpace(s[i : i+eq])
		if key == "" || (!semi && strings.ContainsAny(key, " \t\r\n")) || strings.ContainsAny(key, `'"\`) {
			return nil, false // not a key: the list is not split where meant
		}
		j := i + eq + 1
		for j < len(s) && !semi && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		start := j
		if j < len(s) && s[j] == '\'' {
			j++
			closed := false
			for j < len(s) {
				if s[j] == '\\' && j+1 < len(s) {
					j += 2
					continue
				}
				if s[j] == '\'' {
					j++
					closed = true
					break
				}
				j++
			}
			if !closed {
				return nil, false
			}
		} else {
			for j < len(s) && !sep(s[j]) {
				j++
			}
		}
		if j > start && SecretParam(key) {
			spans = append(spans, span{start, j})
		}
		i = j
	}
	return spans, true
}

// replace returns s with the union of spans replaced, each maximal run of
// overlapping or adjacent spans by one Placeholder.
func replace(s string, spans []span) string {
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.end, b.end)) })
	var b strings.Builder
	last := 0
	for i := 0; i < len(spans); {
		start, end := spans[i].start, spans[i].end
		i++
		for i < len(spans) && spans[i].start <= end {
			end = max(end, spans[i].end)
			i++
		}
		if start < last {
			start = last
		}
		b.WriteString(s[last:start])
		b.WriteString(Placeholder)
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}
