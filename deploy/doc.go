// Package deploy holds no code: it is the home of the tests of the
// deployment files beside it.
//
//   - manifests_test.go (part of `make test`): the systemd unit passes
//     `systemd-analyze verify` and a hardening threshold; the Kubernetes
//     manifests and docker-compose.yml parse, name only real `kmsnode serve`
//     flags, and agree with each other (selectors, ports, probes, mounted
//     secrets, no secret value inline).
//   - compose_test.go (build tag docker, `make test-docker`): brings up the
//     two-region compose cluster of compose/, drives it with the aws CLI and
//     the Go SDK, and checks under docker kill, network disconnect and pause
//     that the regions keep the cluster's promises and lose nothing they
//     acknowledged.
package deploy
