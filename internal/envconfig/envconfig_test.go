package envconfig_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const pw = "s3cr3t-P4ss"

type inner struct {
	Streams int           `env:"T_STREAMS"`
	Delay   time.Duration `env:"T_DELAY"`
}

type testConfig struct {
	URL      string        `env:"T_URL" secret:"conn"`
	Replicas []string      `env:"T_REPLICAS" envSeparator:"," secret:"conn"`
	Password string        `env:"T_PASSWORD" secret:"true"`
	Code     int           `env:"T_PIN" secret:"true"`
	Host     string        `env:"T_HOST"`
	Timeout  time.Duration `env:"T_TIMEOUT"`
	Verbose  bool          `env:"T_VERBOSE"`
	Level    slog.Level    `env:"T_LEVEL"`
	Note     string        `env:"T_NOTE"`
	Inner    inner
	TLS      *tls.Config `env:"-"`
	Mode     string      `env:"T_MODE" zero:"auto"`
	Key      string      `env:"T_KEY" log:"the_key"`
}

func (c testConfig) String() string                { return envconfig.String(c) }
func (c testConfig) GoString() string              { return envconfig.GoString(c) }
func (c testConfig) Format(f fmt.State, verb rune) { envconfig.Format(f, verb, c) }
func (c testConfig) LogValue() slog.Value          { return envconfig.LogValue(c) }

func TestLoad(t *testing.T) {
	t.Parallel()
	cfg, err := envconfig.Load[testConfig]("test", map[string]string{
		"T_URL": "redis://app:" + pw + "@h:6379/0", "T_REPLICAS": "a:x@tcp(r1)/d,b:y@tcp(r2)/d",
		"T_TIMEOUT": "2s", "T_VERBOSE": "true", "T_LEVEL": "WARN", "T_STREAMS": "3", "T_DELAY": "5ms",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL == "" || len(cfg.Replicas) != 2 || cfg.Timeout != 2*time.Second || !cfg.Verbose ||
		cfg.Level != slog.LevelWarn || cfg.Inner.Streams != 3 || cfg.Inner.Delay != 5*time.Millisecond {
		t.Errorf("Load = %#v", cfg)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env        map[string]string
		want       []string // substrings of the message
		wantQuoted string   // the value quoted, or ""
	}{
		{map[string]string{"T_TIMEOUT": "soon"}, []string{"T_TIMEOUT: invalid value", "duration"}, `"soon"`},
		{map[string]string{"T_VERBOSE": "maybe"}, []string{"T_VERBOSE", "true or false"}, `"maybe"`},
		{map[string]string{"T_DELAY": "x"}, []string{"T_DELAY"}, `"x"`},
		{map[string]string{"T_LEVEL": "LOUD"}, []string{"T_LEVEL", "DEBUG, INFO, WARN or ERROR"}, `"LOUD"`},
		{map[string]string{"T_PIN": pw}, []string{"T_PIN: invalid value (want an integer)"}, ""},
		{map[string]string{"T_STREAMS": "x", "T_TIMEOUT": "y"}, []string{"T_STREAMS", "T_TIMEOUT", "; "}, ""},
	}
	for _, tt := range tests {
		_, err := envconfig.Load[testConfig]("test", tt.env)
		var oe *ports.OpError
		if !errors.As(err, &oe) || oe.Backend != "test" || oe.Op != "config" || !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("%v: err = %#v, want an *ports.OpError test/config/ErrInvalid", tt.env, err)
			continue
		}
		msg := err.Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%v: %q lacks %q", tt.env, msg, w)
			}
		}
		if tt.wantQuoted != "" && !strings.Contains(msg, tt.wantQuoted) {
			t.Errorf("%v: %q does not quote the (non-secret) value %s", tt.env, msg, tt.wantQuoted)
		}
		for _, field := range []string{"Timeout", "Verbose", "Code", "Streams", "Delay", "Level", "parse error"} {
			if strings.Contains(msg, field) {
				t.Errorf("%v: %q names the Go field or caarlos0's wording (%s)", tt.env, msg, field)
			}
		}
		if strings.Contains(msg, pw) {
			t.Errorf("%v: %q shows the secret value", tt.env, msg)
		}
		var ve *envconfig.VarError
		if !errors.As(err, &ve) || !strings.HasPrefix(ve.Var, "T_") {
			t.Errorf("%v: no *VarError naming the variable in %v", tt.env, err)
		}
	}
}

type required struct {
	URI string `env:"R_URI,required,notEmpty" secret:"conn"`
}

func TestLoadRequired(t *testing.T) {
	t.Parallel()
	_, err := envconfig.Load[required]("r", map[string]string{})
	if err == nil || !strings.HasSuffix(err.Error(), "r: config: invalid argument: R_URI is not set") {
		t.Errorf("unset: %v", err)
	}
	_, err = envconfig.Load[required]("r", map[string]string{"R_URI": ""})
	if err == nil || !strings.HasSuffix(err.Error(), "R_URI is empty") {
		t.Errorf("empty: %v", err)
	}
}

// Load with a nil environ reads the process environment.
func TestLoadProcessEnvironment(t *testing.T) {
	t.Setenv("T_HOST", "from-process")
	cfg, err := envconfig.Load[testConfig]("test", nil)
	if err != nil || cfg.Host != "from-process" {
		t.Errorf("Load(nil) = %v, %v", cfg, err)
	}
	cfg, err = envconfig.Load[testConfig]("test", map[string]string{})
	if err != nil || cfg.Host != "" {
		t.Errorf("Load(empty map) read the process environment: %v, %v", cfg, err)
	}
}

type shared struct {
	A struct {
		N int `env:"A_N"`
	}
	B struct {
		N int `env:"B_N" secret:"true"`
	}
}

// A field name shared by two nested structs: both variables are named,
// and the value is not quoted (it may be the secret one's).
func TestLoadAmbiguousField(t *testing.T) {
	t.Parallel()
	_, err := envconfig.Load[shared]("s", map[string]string{"B_N": pw})
	if err == nil || !strings.Contains(err.Error(), "A_N or B_N") || strings.Contains(err.Error(), pw) {
		t.Errorf("err = %v", err)
	}
}

func TestVarsAndEnviron(t *testing.T) {
	t.Parallel()
	got := strings.Join(envconfig.Vars[testConfig](), " ")
	want := "T_URL T_REPLICAS T_PASSWORD T_PIN T_HOST T_TIMEOUT T_VERBOSE T_LEVEL T_NOTE T_STREAMS T_DELAY T_MODE T_KEY"
	if got != want {
		t.Errorf("Vars = %s\nwant  %s", got, want)
	}
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"T_HOST": "h", "T_OTHER": "o", "EXTRA": "e"}[k]
		return v, ok
	}
	m := envconfig.Environ[testConfig](lookup, "EXTRA")
	if len(m) != 2 || m["T_HOST"] != "h" || m["EXTRA"] != "e" {
		t.Errorf("Environ = %v", m)
	}
}

func secretConfig() testConfig {
	return testConfig{
		URL:      "redis://app:" + pw + "@cache:6379/0?password=" + pw,
		Replicas: []string{"app:" + pw + "@tcp(r1:3306)/d", " mysql://app:" + pw + "@r2/d"},
		Password: pw,
		Code:     1234,
		Host:     "db",
		Timeout:  time.Second,
		Note:     "dial redis://:" + pw + "@h", // not tagged, still redacted
		Inner:    inner{Streams: 2},
		TLS:      &tls.Config{ServerName: pw},
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	want := `envconfig_test.testConfig{URL:"redis://app:xxxxx@cache:6379/0?password=xxxxx" ` +
		`Replicas:["app:xxxxx@tcp(r1:3306)/d" "mysql://app:xxxxx@r2/d"] Password:xxxxx Code:xxxxx Host:"db" ` +
		`Timeout:1s Note:"dial redis://:xxxxx@h" Inner:{Streams:2} TLS:set Mode:auto}`
	cfg := secretConfig()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x"} {
		if got := fmt.Sprintf(verb, cfg); got != want {
			t.Errorf("%s:\n got %s\nwant %s", verb, got, want)
		}
	}
	if got := fmt.Sprintf("%q", cfg); got != fmt.Sprintf("%q", want) {
		t.Errorf("%%q = %s", got)
	}
	if got := fmt.Sprintf("%v", &cfg); got != want {
		t.Errorf("pointer: %s", got)
	}
	if got := fmt.Sprintf("%+v", struct{ C testConfig }{cfg}); strings.Contains(got, pw) {
		t.Errorf("in a struct: %s", got)
	}
	if got := fmt.Sprint(testConfig{}); got != "envconfig_test.testConfig{Mode:auto}" {
		t.Errorf("zero config = %s", got)
	}
	// A malformed URL in a list: every element hidden.
	cfg = testConfig{Replicas: []string{"app:a", "b" + pw + "@tcp(r1:3306)/d"}}
	if got := cfg.String(); !strings.Contains(got, `Replicas:["xxxxx" "xxxxx"]`) {
		t.Errorf("split list = %s", got)
	}
}

func TestLogValue(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "cfg", secretConfig())
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "cfg", secretConfig())
	out := b.String()
	if strings.Contains(out, pw) {
		t.Errorf("log shows the secret: %s", out)
	}
	for _, w := range []string{
		`cfg.url="redis://app:xxxxx@cache:6379/0?password=xxxxx"`, "cfg.password=xxxxx", "cfg.code=xxxxx",
		"cfg.host=db", "cfg.timeout=1s", "cfg.inner.streams=2", "cfg.tls=set", "cfg.mode=auto",
		`"url":"redis://app:xxxxx@cache:6379/0?password=xxxxx"`, `"timeout":1000000000`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("log lacks %s:\n%s", w, out)
		}
	}
	b.Reset()
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "cfg", testConfig{Key: "k", Verbose: true})
	for _, w := range []string{"cfg.verbose=true", "cfg.the_key=k"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("log lacks %s: %s", w, b.String())
		}
	}
	if strings.Contains(b.String(), "cfg.password") || strings.Contains(b.String(), "cfg.host") {
		t.Errorf("log shows empty fields: %s", b.String())
	}
}

type outer struct {
	Port    *testConfig `env:"-" zero:"fake"`
	Other   *testConfig `env:"-" zero:"fake"`
	Address string      `env:"ADDR"`
}

// A nested config prints and logs through its own methods.
func TestNested(t *testing.T) {
	t.Parallel()
	c := secretConfig()
	o := outer{Port: &c, Address: "127.0.0.1:8080"}
	s := envconfig.String(o)
	if strings.Contains(s, pw) || !strings.Contains(s, "Port:envconfig_test.testConfig{URL:") || !strings.Contains(s, "Other:fake") {
		t.Errorf("String = %s", s)
	}
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "cfg", envconfig.LogValue(o))
	if out := b.String(); strings.Contains(out, pw) || !strings.Contains(out, "cfg.port.password=xxxxx") || !strings.Contains(out, "cfg.other=fake") {
		t.Errorf("LogValue = %s", out)
	}
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	err := envconfig.Invalidf("redis", "%s: negative duration %s", "REDIS_DIAL_TIMEOUT", -time.Second)
	if err.Error() != "redis: config: invalid argument: REDIS_DIAL_TIMEOUT: negative duration -1s" || !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("Invalidf = %v", err)
	}
}

func Example() {
	type Config struct {
		URL         string        `env:"CACHE_URL" secret:"conn"`
		Password    string        `env:"CACHE_SENTINEL_PASSWORD" secret:"true"`
		DialTimeout time.Duration `env:"CACHE_DIAL_TIMEOUT"`
	}
	cfg, err := envconfig.Load[Config]("cache", map[string]string{
		"CACHE_URL": "redis://app:s3cret@cache:6379/0", "CACHE_SENTINEL_PASSWORD": "s3cret",
	})
	fmt.Println(envconfig.String(cfg), err)
	_, err = envconfig.Load[Config]("cache", map[string]string{"CACHE_DIAL_TIMEOUT": "soon"})
	fmt.Println(err)
	// Output:
	// envconfig_test.Config{URL:"redis://app:xxxxx@cache:6379/0" Password:xxxxx} <nil>
	// cache: config: invalid argument: CACHE_DIAL_TIMEOUT: invalid value "soon" (want a duration such as 500ms or 10s)
}
