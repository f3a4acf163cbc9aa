// Package deploy holds no code. Its test checks the deployment files against the server they
// deploy: the Kubernetes manifests in deploy/kubernetes (kinds, probes, volumes, peer names)
// and the Dockerfile at the repository root, and that every flag they pass to octopusmq is
// one the binary defines, by asking `go run ./cmd/octopusmq --help`.
package deploy
