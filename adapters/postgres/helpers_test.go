package postgres

import (
	"net/url"
	"strconv"
	"strings"
)

// withParam returns the connection string s with parameter k=v added (a
// URL's query parameter, or a key=value pair).
func withParam(s, k, v string) string {
	if isURL(s) {
		u, err := url.Parse(s)
		if err != nil {
			return s
		}
		q := u.Query()
		q.Set(k, v)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return strings.TrimSpace(s + " " + k + "=" + v)
}

func itoa(n int) string { return strconv.Itoa(n) }
