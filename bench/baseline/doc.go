// Command kmsbaseline is the baseline of `make bench`: the smallest Go
// net/http server that answers the requests kmsnode gets. It reads each
// request's body and answers {"ok":true} with the AWS JSON content type. It
// checks no signature and does no work, so its throughput, measured by
// kmsbench in the same run as kmsnode, is the limit of the HTTP stack (and
// the load generator) on this machine.
//
//	kmsbaseline --addr 127.0.0.1:0
//
// It prints the URL it listens on and stops on SIGINT or SIGTERM.
package main
