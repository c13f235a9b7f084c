package testutil

import (
	"net"
	"net/url"
	"strings"
)

// The corpus's password and the part of it no output may show: escaping
// turns its '!' into %21, and leaves the marker as it is.
const (
	SecretPassword = "s3cr3t-P4ss!word"
	SecretMarker   = "s3cr3t-P4ss"
)

// SecretForm is one way the variables of a backend can carry a
// credential.
type SecretForm struct {
	// Backend is "mysql", "mongo", "redis", "postgres" or "nats" (the last
	// two have no adapter yet: only the redactor reads them).
	Backend string
	// Name says what the form is.
	Name string
	// Env holds the variables, pointing at the address given to
	// SecretForms.
	Env map[string]string
	// Conn is the connection string holding the credential, "" when the
	// credential is a variable of its own.
	Conn string
}

// SecretForms returns the corpus of credential forms, every URL and DSN
// parameter that can carry a credential for every backend, each pointing
// at addr (host:port). Some forms are malformed on purpose (an unescaped
// '/', '#' or ',' in the password, a password given twice): their
// configuration error path must not show the password either.
func SecretForms(addr string) []SecretForm {
	const pw = SecretPassword
	esc := url.QueryEscape(pw)
	host, port, _ := net.SplitHostPort(addr)
	var forms []SecretForm
	conn := func(backend, name, variable, value string, more ...string) {
		env := map[string]string{variable: value}
		for i := 0; i+1 < len(more); i += 2 {
			env[more[i]] = more[i+1]
		}
		forms = append(forms, SecretForm{Backend: backend, Name: name, Env: env, Conn: value})
	}
	vars := func(backend, name string, kv ...string) {
		env := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		forms = append(forms, SecretForm{Backend: backend, Name: name, Env: env})
	}

	// MySQL: go-sql-driver DSNs, mysql:// URLs, parts, replicas.
	conn("mysql", "DSN", "MYSQL_DSN", "app:"+pw+"@tcp("+addr+")/test?parseTime=true")
	conn("mysql", "DSN, '@' '/' '?' '#' ')' in the password", "MYSQL_DSN", "app:"+pw+"@/?#)x@tcp("+addr+")/test")
	conn("mysql", "DSN, unix socket", "MYSQL_DSN", "app:"+pw+"@unix(/nonexistent/mysqld.sock)/test")
	conn("mysql", "DSN, malformed (no database)", "MYSQL_DSN", "app:"+pw+"/x@tcp("+addr+")")
	conn("mysql", "URL", "MYSQL_URL", "mysql://app:"+esc+"@"+addr+"/test")
	conn("mysql", "URL, raw password", "MYSQL_URL", "mysql://app:"+pw+"@"+addr+"/test")
	conn("mysql", "URL, mariadb://", "MYSQL_URL", "mariadb://app:"+esc+"@"+addr+"/test")
	conn("mysql", "URL, ?password=", "MYSQL_URL", "mysql://app@"+addr+"/test?password="+esc)
	conn("mysql", "URL, '#' in the password (malformed)", "MYSQL_URL", "mysql://app:a#"+pw+"@"+addr+"/test")
	conn("mysql", "URL, '/' in the password (malformed)", "MYSQL_URL", "mysql://app:a/"+pw+"@"+addr+"/test")
	vars("mysql", "parts", "MYSQL_HOST", host, "MYSQL_PORT", port, "MYSQL_USER", "app", "MYSQL_PASSWORD", pw, "MYSQL_DATABASE", "test")
	conn("mysql", "replicas", "MYSQL_REPLICA_DSNS", "app:"+pw+"@tcp("+addr+")/test,mysql://app:"+esc+"@"+addr+"/test", "MYSQL_HOST", host, "MYSQL_PORT", port)
	conn("mysql", "replica split by a ',' in the password", "MYSQL_REPLICA_DSNS", "app:a,"+pw+"@tcp("+addr+")/test", "MYSQL_HOST", host, "MYSQL_PORT", port)

	// Redis: user info, ?password=, the sentinels' password.
	conn("redis", "user info", "REDIS_URL", "redis://app:"+esc+"@"+addr+"/0")
	conn("redis", "user info, raw", "REDIS_URL", "redis://:"+pw+"@"+addr+"/0")
	conn("redis", "user info, rediss://", "REDIS_URL", "rediss://app:"+esc+"@"+addr+"/0")
	conn("redis", "?password=", "REDIS_URL", "redis://"+addr+"/0?password="+esc)
	conn("redis", "?password=, raw, after /?db=", "REDIS_URL", "redis://"+addr+"/?db=2&password="+pw)
	conn("redis", "?Pass%77ord= (encoded name)", "REDIS_URL", "redis://"+addr+"/0?Pass%77ord="+esc)
	conn("redis", "password in user info and query (malformed)", "REDIS_URL", "redis://:"+esc+"@"+addr+"/0?password="+esc)
	conn("redis", "'/' in the password (malformed)", "REDIS_URL", "redis://app:"+pw+"/x@"+addr+"/0")
	vars("redis", "sentinel password", "REDIS_URL", "redis://"+addr+"/0?master_set=m", "REDIS_SENTINEL_PASSWORD", pw)

	// MongoDB: user info and the options that hold secrets.
	mongoTimeouts := []string{"MONGODB_CONNECT_TIMEOUT", "500ms", "MONGODB_SERVER_SELECTION_TIMEOUT", "500ms", "MONGODB_CHECK_TIMEOUT", "500ms"}
	conn("mongo", "user info", "MONGODB_URI", "mongodb://app:"+esc+"@"+addr+"/app?authSource=admin&directConnection=true", mongoTimeouts...)
	conn("mongo", "user info, raw", "MONGODB_URI", "mongodb://app:"+pw+"@"+addr+"/app", mongoTimeouts...)
	conn("mongo", "tlsCertificateKeyFilePassword", "MONGODB_URI", "mongodb://"+addr+"/app?tls=true&tlsCertificateKeyFile=/nonexistent.pem&tlsCertificateKeyFilePassword="+esc, mongoTimeouts...)
	conn("mongo", "sslClientCertificateKeyPassword", "MONGODB_URI", "mongodb://"+addr+"/app?sslClientCertificateKeyPassword="+esc, mongoTimeouts...)
	conn("mongo", "authMechanismProperties AWS_SESSION_TOKEN", "MONGODB_URI", "mongodb://"+addr+"/app?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:"+esc, mongoTimeouts...)
	conn("mongo", "options split on ';'", "MONGODB_URI", "mongodb://"+addr+"/app?w=1;tlsCertificateKeyFilePassword="+esc, mongoTimeouts...)
	conn("mongo", "bad option next to the password", "MONGODB_URI", "mongodb://app:"+esc+"@"+addr+"/app?authMechanism=NOPE", mongoTimeouts...)
	conn("mongo", "'/' in the password (malformed)", "MONGODB_URI", "mongodb://app:"+pw+"/x@"+addr+"/app", mongoTimeouts...)

	// PostgreSQL (adapter to come): URLs and libpq key=value DSNs.
	conn("postgres", "URL", "DATABASE_URL", "postgres://app:"+esc+"@"+addr+"/test?sslmode=disable")
	conn("postgres", "URL, postgresql://, raw", "DATABASE_URL", "postgresql://app:"+pw+"@"+addr+"/test")
	conn("postgres", "URL, ?password=", "DATABASE_URL", "postgres://app@"+addr+"/test?password="+esc)
	conn("postgres", "URL, ?sslpassword=", "DATABASE_URL", "postgres://app@"+addr+"/test?sslmode=verify-full&sslpassword="+esc)
	conn("postgres", "key=value", "DATABASE_URL", "host="+host+" port="+port+" user=app password="+pw+" dbname=test")
	conn("postgres", "key=value, quoted", "DATABASE_URL", "host="+host+" password='a b "+strings.ReplaceAll(pw, "'", `\'`)+"' sslpassword = '"+pw+"' dbname=test")

	// NATS (adapter to come): user and password, a token, query forms.
	conn("nats", "user info", "NATS_URL", "nats://app:"+esc+"@"+addr)
	conn("nats", "token", "NATS_URL", "nats://"+esc+"@"+addr)
	conn("nats", "token, tls://", "NATS_URL", "tls://"+pw+"@"+addr)
	conn("nats", "?token=", "NATS_URL", "nats://"+addr+"?token="+esc)
	conn("nats", "?password=", "NATS_URL", "nats://"+addr+"?user=app&password="+esc)
	conn("nats", "several servers", "NATS_URL", "nats://app:"+esc+"@"+addr+",nats://"+pw+"@"+addr)
	return forms
}
