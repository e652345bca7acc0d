// Package connector is the I/O core of osstorchconnector: an OSS client built
// on the OSS Go SDK v2 with the endpoint, region and credential rules of the
// upstream connector. Everything in it is plain Go and knows nothing about C;
// go/capi exports it over the C ABI.
package connector
