package credfile

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseCredentials: credentials files are parsed without panics, and
// no error ever quotes the password, however the file is broken.
func FuzzParseCredentials(f *testing.F) {
	f.Add("hunter2-long-pass", []byte(`}`))
	f.Add("pw-with-\"quote", []byte(`,"x":1}`))
	f.Add("abcdefgh", []byte(``))
	f.Add("abcdefgh", []byte(`,"password":"other"}`))
	f.Fuzz(func(t *testing.T, pw string, suffix []byte) {
		quoted, _ := json.Marshal(pw)
		for _, data := range [][]byte{
			append([]byte(`{"username":"u","password":`+string(quoted)), suffix...),
			append([]byte(`{"username":"u","password":`+pw), suffix...), // unquoted: a syntax error
		} {
			c, err := Parse(data)
			if err == nil {
				if c.Username == "" || c.Password == "" {
					t.Fatalf("accepted empty credentials from %q", data)
				}
				continue
			}
			// Only meaningful for passwords that cannot occur in our own
			// fixed wording.
			if len(pw) >= 6 && strings.Contains(err.Error(), pw) && !strings.Contains(credentialErrorWords, pw) {
				t.Fatalf("error %q quotes the password %q", err, pw)
			}
		}
	})
}

const credentialErrorWords = `not valid JSON (error at byte) field "username" "password" must be a string ` +
	`empty or truncated JSON expected exactly the fields "username" and "password" ` +
	`unexpected data after the JSON object both "username" and "password" must be non-empty`
