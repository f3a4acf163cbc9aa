# syntax=docker/dockerfile:1
#
# OctopusMQ server image: a static binary on distroless, running as non-root (uid 65532).
#
#   docker build -t octopusmq .
#   docker run -p 4123:4123 -v octopusmq-data:/var/lib/octopusmq octopusmq --raft-advertise=127.0.0.1:4124
#
# Raft binds 0.0.0.0:4124, which cannot be advertised, so every run passes --raft-advertise
# (an address other members can dial; 127.0.0.1:4124 is enough for a single node).
# Flags after the image name are appended to the ENTRYPOINT defaults and override them.

FROM golang:1.26 AS build
WORKDIR /src
# Module downloads get their own layer: it is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /octopusmq ./cmd/octopusmq
# The data folder, created here because the final image has no shell: owned by nonroot so a
# fresh named volume mounted on it is writable.
RUN mkdir -p /out/var/lib/octopusmq

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /octopusmq /octopusmq
COPY --from=build --chown=65532:65532 /out/var/lib/octopusmq /var/lib/octopusmq
USER 65532:65532
# 4123: clients (gRPC + HTTP/JSON, /healthz, /readyz, /metrics); 4124: Raft between members.
EXPOSE 4123 4124
VOLUME ["/var/lib/octopusmq"]
ENTRYPOINT ["/octopusmq", "--data-dir=/var/lib/octopusmq", "--listen=:4123", "--raft-bind=0.0.0.0:4124"]
