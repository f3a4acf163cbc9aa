// Package deploy holds no code. Its tests check the deployment files against the server they
// deploy: the Kubernetes manifests in deploy/kubernetes (decoded strictly into the real
// k8s.io/api types, then kinds, probes, volumes, peer names), the Dockerfile at the
// repository root, that every flag they pass to octopusmq is one the binary defines (by
// asking `go run ./cmd/octopusmq --help`), and that the Grafana dashboard and Prometheus
// alert rules in deploy/monitoring use only metrics a live cluster exports.
package deploy
