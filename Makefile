# OctopusMQ developer tasks. Tools are pinned here and installed into .tools/ by `make tools`.
BUF_VERSION            := 1.75.0
PROTOC_GEN_GO          := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC     := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
PROTOC_GEN_GATEWAY     := github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@v2.33.0
PROTOC_GEN_OPENAPIV2   := github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@v2.33.0
# swagger-ui-dist: the /docs page (server/ui/docs); `make ui-vendor` copies its files.
SWAGGER_UI_VERSION     := 5.32.0

TOOLS := $(CURDIR)/.tools
BUF   := $(TOOLS)/npm/node_modules/.bin/buf

.PHONY: all tools generate lint breaking baseline check-generated ui-vendor check-ui-vendor test build examples-tools grpcurl

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

# The examples' code generators: protoc-gen-es pinned in examples/typescript/package-lock.json;
# Debian's protoc and grpc_python_plugin (apt: protobuf-compiler-grpc) for examples/python.
TS_EXAMPLES := examples/typescript
$(TS_EXAMPLES)/node_modules/.package-lock.json: $(TS_EXAMPLES)/package-lock.json
	cd $(TS_EXAMPLES) && npm ci --no-audit --no-fund
examples-tools: $(TS_EXAMPLES)/node_modules/.package-lock.json
	@command -v protoc >/dev/null && command -v grpc_python_plugin >/dev/null || { echo "make generate needs protoc and grpc_python_plugin: apt-get install protobuf-compiler-grpc"; exit 1; }

# Generated code: gen/, openapi/octopusmq.swagger.json and the examples' stubs.
GENERATED := gen openapi examples/python/gen examples/typescript/src/gen

# generate rewrites gen/ and openapi/octopusmq.swagger.json from api/, and the examples' stubs
# (examples/python/gen, examples/typescript/src/gen) from api/protobuf.
generate: tools examples-tools
	rm -rf gen openapi/octopusmq.swagger.json
	$(BUF) generate
	$(BUF) generate --template examples/python/buf.gen.yaml
	$(BUF) generate --template examples/typescript/buf.gen.yaml
	scripts/gendoc.sh

# grpcurl (pinned) into .tools/bin, for the test that drives a stream with it.
GRPCURL := github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4
grpcurl: $(TOOLS)/bin/grpcurl
$(TOOLS)/bin/grpcurl: Makefile
	GOBIN=$(TOOLS)/bin go install $(GRPCURL)

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
	@test -z "$$(git status --porcelain -- $(GENERATED))" || { git status --porcelain -- $(GENERATED); echo "generated code is stale: commit the output of make generate"; exit 1; }

# ui-vendor copies the pinned swagger-ui-dist files the /docs page embeds into server/ui/docs.
UI_NPM := $(TOOLS)/ui-npm
UI_VENDORED := swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE
ui-vendor:
	npm install --no-save --no-audit --no-fund --prefix $(UI_NPM) swagger-ui-dist@$(SWAGGER_UI_VERSION)
	cd $(UI_NPM)/node_modules/swagger-ui-dist && cp $(UI_VENDORED) $(CURDIR)/server/ui/docs/

# check-ui-vendor fails when the committed copies differ from the pinned version's files.
check-ui-vendor: ui-vendor
	@test -z "$$(git status --porcelain -- server/ui/docs)" || { git status --porcelain -- server/ui/docs; echo "server/ui/docs differs from swagger-ui-dist@$(SWAGGER_UI_VERSION): run make ui-vendor and commit"; exit 1; }

build:
	go build ./...

test:
	go test ./...
