// Package loadclient holds what kmsnode's load tools (cmd/kmsbench and
// bench/fill) share when they talk raw JSON 1.1 to a node: the keep-alive
// transport they send on, how an AWS error answer is read (type and
// message), and how a failure below HTTP is classified. They send raw
// signed requests rather than use an SDK client, whose middleware would cost
// more client CPU than the server under test. Standard library only.
package loadclient
