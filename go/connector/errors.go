package connector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

// Kind classifies an error for callers that map errors to their own types
// (the C ABI maps them to status codes, Python to exception classes).
type Kind int

const (
	KindInternal   Kind = iota + 1 // a bug or an unexpected state
	KindInvalid                    // bad argument or configuration
	KindNotFound                   // no such bucket, key or upload
	KindPermission                 // credentials refused or missing
	KindService                    // any other error answer from OSS
	KindNetwork                    // connection, timeout or integrity failure
	KindCanceled                   // the context ended
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not_found"
	case KindPermission:
		return "permission"
	case KindService:
		return "service"
	case KindNetwork:
		return "network"
	case KindCanceled:
		return "canceled"
	}
	return "internal"
}

// Error is what every operation of this package returns. Code, Status and
// RequestID are set when OSS answered with an error.
type Error struct {
	Kind      Kind
	Op        string // operation, e.g. "ListObjectsV2"
	Bucket    string
	Key       string
	Code      string // OSS error code, e.g. "NoSuchKey"
	Status    int    // HTTP status
	RequestID string
	Message   string
	Err       error
}

// Error reads "Op oss://bucket/key: what happened"; an error with neither op
// nor object (a bad argument) is its message alone.
func (e *Error) Error() string {
	where := e.Op
	if e.Bucket != "" {
		where = strings.TrimSpace(where + " oss://" + e.Bucket + "/" + e.Key)
	}
	what := e.Message
	if e.Code != "" {
		what = fmt.Sprintf("%s (status %d, request id %s): %s", e.Code, e.Status, e.RequestID, e.Message)
	}
	if where == "" {
		return what
	}
	return where + ": " + what
}

func (e *Error) Unwrap() error { return e.Err }

func invalidf(format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Message: fmt.Sprintf(format, args...)}
}

// wrap converts an SDK or transport error into *Error.
func wrap(op, bucket, key string, err error) error {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		return err
	}
	e := &Error{Op: op, Bucket: bucket, Key: key, Err: err, Message: err.Error(), Kind: KindNetwork}
	var se *oss.ServiceError
	switch {
	case errors.As(err, &se):
		e.Code, e.Status, e.RequestID, e.Message = se.Code, se.StatusCode, se.RequestID, se.Message
		switch {
		case se.StatusCode == 404:
			e.Kind = KindNotFound
		case se.StatusCode == 403:
			e.Kind = KindPermission
		default:
			e.Kind = KindService
		}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.Kind = KindCanceled
	case errors.Is(err, os.ErrNotExist):
		e.Kind = KindNotFound
	case errors.Is(err, os.ErrPermission):
		e.Kind = KindPermission
	default:
		var ne net.Error
		var pe oss.InvalidParamError
		if errors.As(err, &pe) {
			e.Kind = KindInvalid
		} else if errors.As(err, &ne) {
			e.Kind = KindNetwork
		}
	}
	return e
}

func asError(err error, target **Error) bool { return errors.As(err, target) }

// isNotFound reports whether err (from OSS or already wrapped) says the
// bucket, key or upload does not exist.
func isNotFound(err error) bool {
	var e *Error
	return errors.As(wrap("", "", "", err), &e) && e.Kind == KindNotFound
}
