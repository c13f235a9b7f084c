// Package envconfig is portkit's one loader and printer of configurations
// read from environment variables: every adapter's Config (and the
// example's) is a struct whose fields name their variables in env tags
// (github.com/caarlos0/env/v11), and whose String, GoString, Format and
// LogValue delegate to this package.
//
// Struct tags, besides caarlos0/env's own (env, envDefault, envPrefix,
// envSeparator):
//
//	secret:"true"  the value is a secret: printed as xxxxx when set, never
//	               quoted in an error.
//	secret:"conn"  a connection string (URL or DSN) that may hold secrets:
//	               printed through redact.Conn (redact.ConnList for a
//	               []string), never quoted in an error.
//	log:"key"      the key of the field in LogValue (default: the field
//	               name in snake_case, "ClientCacheTTL" → "client_cache_ttl").
//	zero:"text"    printed in place of the zero value, which is otherwise
//	               left out.
//
// Every other string printed passes through redact.Text too, and pointer,
// map, interface and function fields print as "set" (unless they
// implement fmt.Stringer or slog.LogValuer): a field nobody tagged cannot
// show a password by accident.
package envconfig

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/caarlos0/env/v11"

	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/ports"
)

// Op is the operation every error of the package names.
const Op = "config"

// Load reads a T from environ, or from the process environment when
// environ is nil, with caarlos0/env's rules (env tags, envDefault,
// required...). Its error is an *ports.OpError{Backend: backend, Op:
// "config", Kind: ports.ErrInvalid} whose cause, an [Errors], names each
// variable at fault (never the Go field) and never quotes the value of a
// secret field.
func Load[T any](backend string, environ map[string]string) (T, error) {
	if environ == nil {
		environ = env.ToMap(os.Environ())
	}
	var cfg T
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: environ}); err != nil {
		var zero T
		return zero, Invalid(backend, rewrite(reflect.TypeFor[T](), err, environ))
	}
	return cfg, nil
}

// Invalid returns the error of a bad configuration: an *ports.OpError
// with backend, Op "config", Kind ports.ErrInvalid and cause.
func Invalid(backend string, cause error) error {
	return ports.NewError(backend, Op, ports.ErrInvalid, cause)
}

// Invalidf is [Invalid] with a cause formatted by fmt.Errorf.
func Invalidf(backend, format string, args ...any) error {
	return Invalid(backend, fmt.Errorf(format, args...))
}

// VarError is what is wrong with one variable.
type VarError struct {
	// Var is the variable ("REDIS_DIAL_TIMEOUT"); when a field name is
	// shared by several nested structs, the candidates joined by " or ".
	Var string
	// Msg is the whole message, starting with Var.
	Msg string
}

func (e *VarError) Error() string { return e.Msg }

// Errors is the cause of a [Load] error: one entry per variable at fault.
type Errors []*VarError

// Error joins the messages with "; ".
func (e Errors) Error() string {
	msgs := make([]string, len(e))
	for i, v := range e {
		msgs[i] = v.Msg
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the entries, for errors.As.
func (e Errors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, v := range e {
		errs[i] = v
	}
	return errs
}

// field is one variable of a config type.
type field struct {
	name   string // Go field name
	env    string // variable
	secret bool   // secret:"true" or secret:"conn"
}

// fields lists the variables of t, walking nested structs as caarlos0/env
// does (with their envPrefix).
func fields(t reflect.Type, prefix string) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if key == "" && ft.Kind() == reflect.Struct {
			out = append(out, fields(ft, prefix+f.Tag.Get("envPrefix"))...)
			continue
		}
		if key == "" || key == "-" {
			continue
		}
		out = append(out, field{name: f.Name, env: prefix + key, secret: f.Tag.Get("secret") != ""})
	}
	return out
}

// Vars returns the variables a T is read from, in field order.
func Vars[T any]() []string {
	fs := fields(reflect.TypeFor[T](), "")
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.env
	}
	return out
}

// Environ returns the environment [Load] needs for a T, built with lookup
// (os.LookupEnv, or a test's): the variables of T that lookup finds, and
// the extra ones.
func Environ[T any](lookup func(string) (string, bool), extra ...string) map[string]string {
	m := map[string]string{}
	for _, k := range append(Vars[T](), extra...) {
		if v, ok := lookup(k); ok {
			m[k] = v
		}
	}
	return m
}

// rewrite turns caarlos0/env's errors, which name Go fields and quote
// values, into Errors naming the variables of t.
func rewrite(t reflect.Type, err error, environ map[string]string) error {
	byName := map[string][]field{}
	for _, f := range fields(t, "") {
		byName[f.name] = append(byName[f.name], f)
	}
	var agg env.AggregateError
	var list []error
	if errors.As(err, &agg) {
		list = agg.Errors
	} else {
		list = []error{err}
	}
	out := make(Errors, 0, len(list))
	for _, e := range list {
		out = append(out, varError(e, byName, environ))
	}
	return out
}

// varError rewrites one of caarlos0/env's errors.
func varError(e error, byName map[string][]field, environ map[string]string) *VarError {
	var (
		pe    env.ParseError
		unset env.VarIsNotSetError
		empty env.EmptyVarError
		file  env.LoadFileContentError
		nop   env.NoParserError
	)
	switch {
	case errors.As(e, &pe):
		fs := byName[pe.Name]
		if len(fs) == 0 {
			// Not a field of ours (cannot happen): say nothing of the value.
			return &VarError{Var: pe.Name, Msg: fmt.Sprintf("field %s: invalid value (want %s)", pe.Name, want(pe.Type))}
		}
		names := make([]string, len(fs))
		secret := false
		for i, f := range fs {
			names[i] = f.env
			secret = secret || f.secret
		}
		name := strings.Join(names, " or ")
		if secret || len(fs) > 1 {
			return &VarError{Var: name, Msg: fmt.Sprintf("%s: invalid value (want %s)", name, want(pe.Type))}
		}
		return &VarError{Var: name, Msg: fmt.Sprintf("%s: invalid value %q (want %s)", name, redact.Text(environ[name]), want(pe.Type))}
	case errors.As(e, &unset):
		return &VarError{Var: unset.Key, Msg: unset.Key + " is not set"}
	case errors.As(e, &empty):
		return &VarError{Var: empty.Key, Msg: empty.Key + " is empty"}
	case errors.As(e, &file):
		return &VarError{Var: file.Key, Msg: fmt.Sprintf("%s: cannot read the file it names: %v", file.Key, errors.Unwrap(file.Err))}
	case errors.As(e, &nop):
		return &VarError{Var: nop.Name, Msg: fmt.Sprintf("field %s: no parser for type %s", nop.Name, nop.Type)}
	}
	return &VarError{Msg: redact.Text(e.Error())}
}

// want describes the values a variable of type t takes.
func want(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "a duration such as 500ms or 10s"
	case t == reflect.TypeFor[slog.Level]():
		return "DEBUG, INFO, WARN or ERROR"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a comma-separated list of " + strings.TrimPrefix(want(t.Elem()), "a ")
	}
	return "a " + t.String()
}

var (
	stringerType = reflect.TypeFor[fmt.Stringer]()
	valuerType   = reflect.TypeFor[slog.LogValuer]()
	durationType = reflect.TypeFor[time.Duration]()
)

// String renders the config struct v as "pkg.Type{Field:value ...}": its
// exported fields that are not zero (unless tagged zero), strings quoted,
// secrets redacted as the package documentation says. v's own String method is not
// called, so that String can implement it.
func String(v any) string {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return redact.Text(fmt.Sprint(v))
	}
	t := rv.Type()
	name := t.Name()
	if p := t.PkgPath(); p != "" {
		name = p[strings.LastIndexByte(p, '/')+1:] + "." + name
	}
	return name + structString(rv)
}

// GoString is String, for %#v.
func GoString(v any) string { return String(v) }

// Format writes String(v) for every verb, quoted for %q, so that no verb
// reaches v's fields.
func Format(f fmt.State, verb rune, v any) {
	if verb == 'q' {
		_, _ = io.WriteString(f, strconv.Quote(String(v)))
		return
	}
	_, _ = io.WriteString(f, String(v))
}

// structString renders the fields of the struct rv in braces.
func structString(rv reflect.Value) string {
	var b strings.Builder
	b.WriteByte('{')
	t := rv.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		s, ok := valueString(rv.Field(i), sf.Tag)
		if !ok {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(' ')
		}
		b.WriteString(sf.Name)
		b.WriteByte(':')
		b.WriteString(s)
	}
	b.WriteByte('}')
	return b.String()
}

// valueString renders one field's value; false leaves the field out.
func valueString(v reflect.Value, tag reflect.StructTag) (string, bool) {
	if v.IsZero() {
		if z, ok := tag.Lookup("zero"); ok {
			return z, true
		}
		return "", false
	}
	switch tag.Get("secret") {
	case "":
	case "conn":
		switch {
		case v.Kind() == reflect.String:
			return strconv.Quote(redact.Conn(v.String())), true
		case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
			ss := make([]string, v.Len())
			for i := range ss {
				ss[i] = strings.TrimSpace(v.Index(i).String())
			}
			rs := redact.ConnList(ss)
			for i := range rs {
				rs[i] = strconv.Quote(rs[i])
			}
			return "[" + strings.Join(rs, " ") + "]", true
		}
		return redact.Placeholder, true
	default:
		return redact.Placeholder, true
	}
	return plainString(v), true
}

// plainString renders a value of a field that is not secret.
func plainString(v reflect.Value) string {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	if s, ok := stringer(v); ok {
		return redact.Text(s)
	}
	switch v.Kind() {
	case reflect.String:
		return strconv.Quote(redact.Text(v.String()))
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return fmt.Sprint(v.Interface())
	case reflect.Struct:
		return structString(v)
	case reflect.Slice, reflect.Array:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = plainString(v.Index(i))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case reflect.Pointer:
		if v.Elem().Kind() == reflect.Struct && isConfig(v.Elem().Type()) {
			return structString(v.Elem())
		}
	}
	return "set"
}

// isConfig reports whether t looks like a config struct of portkit's
// (it has env tags), whose fields are safe to walk.
func isConfig(t reflect.Type) bool {
	return len(fields(t, "")) > 0
}

// stringer returns v's String when v (or a pointer to it) is a
// fmt.Stringer.
func stringer(v reflect.Value) (string, bool) {
	if !v.CanInterface() {
		return "", false
	}
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return "", false
	}
	if v.Type().Implements(stringerType) {
		return v.Interface().(fmt.Stringer).String(), true
	}
	return "", false
}

// LogValue renders the config struct v for log/slog as a group of the
// fields String shows (keys as the package documentation says), secrets
// redacted. A field whose value is a slog.LogValuer logs as it says. v's
// own LogValue method is not called, so that LogValue can implement it.
func LogValue(v any) slog.Value {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return slog.StringValue(redact.Text(fmt.Sprint(v)))
	}
	return slog.GroupValue(structAttrs(rv)...)
}

func structAttrs(rv reflect.Value) []slog.Attr {
	t := rv.Type()
	var attrs []slog.Attr
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		key := sf.Tag.Get("log")
		if key == "" {
			key = snake(sf.Name)
		}
		if a, ok := valueAttr(key, rv.Field(i), sf.Tag); ok {
			attrs = append(attrs, a)
		}
	}
	return attrs
}

func valueAttr(key string, v reflect.Value, tag reflect.StructTag) (slog.Attr, bool) {
	if v.IsZero() {
		if z, ok := tag.Lookup("zero"); ok {
			return slog.String(key, z), true
		}
		return slog.Attr{}, false
	}
	if tag.Get("secret") != "" {
		s, _ := valueString(v, tag)
		if tag.Get("secret") == "conn" && v.Kind() == reflect.String {
			s = redact.Conn(v.String())
		}
		return slog.String(key, s), true
	}
	if v.CanInterface() && v.Type().Implements(valuerType) {
		return slog.Any(key, v.Interface()), true
	}
	if v.Type() == durationType {
		return slog.Duration(key, time.Duration(v.Int())), true
	}
	if s, ok := stringer(v); ok {
		return slog.String(key, redact.Text(s)), true
	}
	switch v.Kind() {
	case reflect.String:
		return slog.String(key, redact.Text(v.String())), true
	case reflect.Bool:
		return slog.Bool(key, v.Bool()), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return slog.Int64(key, v.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return slog.Uint64(key, v.Uint()), true
	case reflect.Float32, reflect.Float64:
		return slog.Float64(key, v.Float()), true
	case reflect.Struct:
		return slog.Attr{Key: key, Value: slog.GroupValue(structAttrs(v)...)}, true
	case reflect.Pointer:
		if v.Elem().Kind() == reflect.Struct && isConfig(v.Elem().Type()) {
			return slog.Attr{Key: key, Value: slog.GroupValue(structAttrs(v.Elem())...)}, true
		}
	}
	return slog.String(key, plainString(v)), true
}

// snake turns a Go field name into snake_case, keeping acronyms whole:
// "ClientCacheTTL" → "client_cache_ttl", "TLSCAFile" → "tlsca_file",
// "ConnMaxIdleTime" → "conn_max_idle_time".
func snake(name string) string {
	rs := []rune(name)
	var b strings.Builder
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) &&
			(unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
