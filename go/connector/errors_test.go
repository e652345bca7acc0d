package connector

import (
	"strings"
	"testing"
)

func TestAnErrorWithoutOpOrObjectIsItsMessage(t *testing.T) {
	_, _, err := ParseURI("bkt/x")
	if err == nil || strings.HasPrefix(err.Error(), ":") || strings.HasPrefix(err.Error(), " ") {
		t.Fatalf("ParseURI error reads %q", err)
	}
	for _, tc := range []struct {
		e    *Error
		want string
	}{
		{&Error{Message: "bad"}, "bad"},
		{&Error{Op: "GetObject", Message: "bad"}, "GetObject: bad"},
		{&Error{Bucket: "b", Key: "k", Message: "bad"}, "oss://b/k: bad"},
		{&Error{Op: "GetObject", Bucket: "b", Key: "k", Code: "NoSuchKey", Status: 404, RequestID: "r", Message: "gone"},
			"GetObject oss://b/k: NoSuchKey (status 404, request id r): gone"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}
