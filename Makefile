# OctopusMQ developer tasks. Tools are pinned here and installed into .tools/ by `make tools`.
BUF_VERSION            := 1.75.0
PROTOC_GEN_GO          := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC     := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
PROTOC_GEN_GATEWAY     := github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@v2.33.0
PROTOC_GEN_OPENAPIV2   := github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@v2.33.0

TOOLS := $(CURDIR)/.tools
BUF   := $(TOOLS)/npm/node_modules/.bin/buf

.PHONY: all tools generate lint breaking baseline check-generated test build

all: build

$(BUF):
	npm install --no-save --no-audit --no-fund --prefix $(TOOLS)/npm @bufbuild/buf@$(BUF_VERSION)

$(TOOLS)/bin/.installed: Makefile
	mkdir -p $(TOOLS)/bin
	GOBIN=$(TOOLS)/bin go install $(PROTOC_GEN_GO)
	GOBIN=$(TOOLS)/bin go install $(PROTOC_GEN_GO_GRPC)
	GOBIN=$(TOOLS)/bin go install $(PROTOC_GEN_GATEWAY)
	GOBIN=$(TOOLS)/bin go install $(PROTOC_GEN_OPENAPIV2)
	touch $@

tools: $(BUF) $(TOOLS)/bin/.installed

# generate rewrites gen/ and openapi/octopusmq.swagger.json from api/.
generate: tools
	rm -rf gen openapi/octopusmq.swagger.json
	$(BUF) generate
	scripts/gendoc.sh

lint: tools
	$(BUF) lint

# breaking compares the protos with the last released schema (api/baseline.binpb), so it
# works in shallow clones. Wire or JSON incompatible changes fail.
breaking: tools
	$(BUF) breaking --against api/baseline.binpb

# baseline records the current schema as the released one (run when a release is cut).
baseline: tools
	$(BUF) build -o api/baseline.binpb

# check-generated fails when the committed generated code differs from a fresh `make generate`.
check-generated: generate
	@test -z "$$(git status --porcelain -- gen openapi)" || { git status --porcelain -- gen openapi; echo "generated code is stale: commit the output of make generate"; exit 1; }

build:
	go build ./...

test:
	go test ./...
