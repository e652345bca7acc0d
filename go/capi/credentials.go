package main

/*
#include <stdint.h>
#include <stdlib.h>

typedef int32_t (*ost_credentials_fn)(uint64_t token, char *buf, size_t cap, size_t *len);

static int32_t ost_call_credentials(ost_credentials_fn fn, uint64_t token, char *buf, size_t cap, size_t *len) {
    return fn(token, buf, cap, len);
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
)

// credentialsFn is the host's credential callback (one per process, set by
// ost_set_credentials_callback). The host keys its providers by token.
var credentialsFn atomic.Pointer[C.ost_credentials_fn]

//export ost_set_credentials_callback
func ost_set_credentials_callback(fn C.ost_credentials_fn) C.int32_t {
	return call(nil, func() error {
		if fn == nil {
			credentialsFn.Store(nil)
			return nil
		}
		credentialsFn.Store(&fn)
		return nil
	})
}

type providerJSON struct {
	AccessKeyID     string `json:"AccessKeyId"`
	AccessKeySecret string `json:"AccessKeySecret"`
	SecurityToken   string `json:"SecurityToken"`
	Expiration      string `json:"Expiration"`
	Error           string `json:"error"`
}

// providerFunc asks the host for credentials through the callback. The
// callback writes upstream's credentials JSON (or {"error": "..."}) into a
// buffer this side owns.
func providerFunc(token uint64) func(context.Context) (credentials.Credentials, error) {
	return func(ctx context.Context) (credentials.Credentials, error) {
		fnp := credentialsFn.Load()
		if fnp == nil {
			return credentials.Credentials{}, errors.New("no credentials callback is registered")
		}
		capacity := C.size_t(64 << 10)
		for tries := 0; tries < 2; tries++ {
			buf := C.malloc(capacity)
			var n C.size_t
			rc := C.ost_call_credentials(*fnp, C.uint64_t(token), (*C.char)(buf), capacity, &n)
			raw := C.GoBytes(buf, C.int(min(n, capacity)))
			C.free(buf)
			if rc != 0 {
				if n > capacity && tries == 0 {
					capacity = n // too small: ask again with room enough
					continue
				}
				var p providerJSON
				jsonAPI.Unmarshal(raw, &p)
				if p.Error == "" {
					p.Error = fmt.Sprintf("callback returned %d", int32(rc))
				}
				return credentials.Credentials{}, errors.New(p.Error)
			}
			var p providerJSON
			if err := jsonAPI.Unmarshal(raw, &p); err != nil {
				return credentials.Credentials{}, errors.New("cred_provider answer is not valid JSON")
			}
			c := credentials.Credentials{AccessKeyID: p.AccessKeyID, AccessKeySecret: p.AccessKeySecret, SecurityToken: p.SecurityToken}
			if p.Expiration != "" {
				t, err := time.Parse(time.RFC3339, p.Expiration)
				if err != nil {
					return credentials.Credentials{}, fmt.Errorf("cred_provider Expiration %q is not an RFC 3339 time", p.Expiration)
				}
				c.Expires = &t
			}
			return c, nil
		}
		return credentials.Credentials{}, errors.New("cred_provider answer too large")
	}
}
