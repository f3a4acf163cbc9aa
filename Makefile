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

.PHONY: all tools generate lint breaking baseline check-generated ui-vendor check-ui-vendor test build

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
