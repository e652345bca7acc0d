// Package ossemu is a local server that speaks the OSS (Alibaba Cloud Object
// Storage Service) REST protocol closely enough for the official SDKs to use it
// unmodified: it checks V4 and V1 signatures, serves path-style and
// virtual-hosted requests, implements listing, ranged reads, appends, copies and
// multipart uploads, and can inject latency, throttling and transport faults
// deterministically.
//
// It is the test double for everything in this project and is shipped to users
// for offline testing of their own pipelines, the way moto is used for S3.
//
// Use it as an http.Handler:
//
//	srv, _ := ossemu.New(ossemu.Options{AccessKeyID: "ak", AccessKeySecret: "sk"})
//	ts := httptest.NewServer(srv)
//
// or run the ossemu command (go/cmd/ossemu).
package ossemu
