# kmsnode — run `make` for the list of targets.
GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X github.com/kmsnode/kmsnode/node.Version=$(VERSION)
FUZZTIME ?= 30s
DATA_DIR ?= kmsnode-dev-data
ADDR     ?= 127.0.0.1:8080

.DEFAULT_GOAL := help

## help: list the targets
.PHONY: help
help:
	@echo "kmsnode make targets:"
	@awk '/^## /{sub(/^## /,""); i=index($$0,":"); printf "  %-13s %s\n", substr($$0,1,i-1), substr($$0,i+2)}' $(MAKEFILE_LIST)

## build: build bin/kmsnode and bin/kmsctl (static, CGO off)
.PHONY: build
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kmsnode ./cmd/kmsnode
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kmsctl ./cmd/kmsctl

## dev: build and run one development node on 127.0.0.1:8080 (DATA_DIR, ADDR to change)
.PHONY: dev
dev: build
	$(BIN)/kmsnode dev --data-dir $(DATA_DIR) --api-addr $(ADDR)

## test: the whole test suite (unit, API end to end, restart, CLI), with -race; then test-pkcs11 when SoftHSM2 is installed
.PHONY: test
test:
	$(GO) test -race -count=1 -timeout 15m ./...
	@if [ -e $(SOFTHSM_LIB) ]; then $(MAKE) --no-print-directory test-pkcs11; else echo "test-pkcs11 skipped: no $(SOFTHSM_LIB) (apt-get install softhsm2)"; fi

SOFTHSM_LIB ?= /usr/lib/softhsm/libsofthsm2.so

## test-pkcs11: the PKCS#11 unseal provider against SoftHSM2 (cgo, build tag pkcs11)
.PHONY: test-pkcs11
test-pkcs11:
	CGO_ENABLED=1 $(GO) vet -tags pkcs11 ./node/
	CGO_ENABLED=1 $(GO) test -tags pkcs11 -race -count=1 -timeout 5m ./node/ -run PKCS11

## test-short: the suite without the race detector (faster)
.PHONY: test-short
test-short:
	$(GO) test -count=1 -timeout 10m ./...

## bench: the whole suite: HTTP load on one node and a 3-node region against a trivial Go handler, micro-benchmarks, memory of 100k keys (PROFILE=1: server profiles)
.PHONY: bench
bench: bench-http bench-cluster bench-micro bench-memory

## bench-cluster: the HTTP load benchmark on a local 3-node region (BENCH_DURATION, BENCH_WARMUP, BENCH_REPEAT; needs jq and no .cluster/)
.PHONY: bench-cluster
bench-cluster:
	bash bench/cluster.sh

## bench-http: the HTTP load benchmark (BENCH_DURATION, BENCH_REPEAT, BENCH_OPS)
.PHONY: bench-http
bench-http:
	bash bench/run.sh

## bench-micro: go test -bench over the hot-path packages (benchstat-friendly)
.PHONY: bench-micro
bench-micro:
	mkdir -p bench/out
	bash -o pipefail -c "$(GO) test -run '^$$' -bench . -benchmem -count 1 ./crypto/ ./api/ ./api/sigv4/ ./fsm/ ./audit/ ./policy/ ./kms/ ./internal/metrics/ | tee bench/out/micro.txt"

## bench-memory: RSS, Raft snapshot and restart time of a node holding BENCH_KEYS keys × BENCH_VERSIONS versions (default 100000 × 3; needs jq)
.PHONY: bench-memory
bench-memory:
	bash bench/memory.sh

## cluster: build and start a local 3-node region on 127.0.0.1 (deploy/local; development only)
.PHONY: cluster
cluster: build
	bash deploy/local/cluster.sh up

## cluster-down: stop the local region (PURGE=1 also deletes .cluster/)
.PHONY: cluster-down
cluster-down:
	bash deploy/local/cluster.sh down $(if $(PURGE),--purge)

## dr-drill: disaster-recovery drill: save a 3-node region, lose it, restore into a new one, check with the aws CLI (deploy/DR.md)
.PHONY: dr-drill
dr-drill: build
	bash deploy/dr-drill.sh

## cluster-status: readiness of each local node and kmsctl members
.PHONY: cluster-status
cluster-status:
	bash deploy/local/cluster.sh status

IMAGE_NAME ?= kmsnode
IMAGE      ?= $(IMAGE_NAME):$(VERSION)
CA_BUNDLE  ?= /etc/ssl/certs/ca-certificates.crt

## image: build the container image kmsnode:VERSION and kmsnode:latest FROM scratch with the local Docker engine, nothing pulled (IMAGE, CA_BUNDLE; deploy/README.md)
.PHONY: image
image: build
	IMAGE=$(IMAGE) IMAGE_NAME=$(IMAGE_NAME) VERSION=$(VERSION) CA_BUNDLE=$(CA_BUNDLE) BIN=$(BIN) bash deploy/build-image.sh

## image-test: build the image, then run kmsnode serve in a container and drive it with the aws CLI (skipped without a Docker engine)
.PHONY: image-test
image-test:
	VERSION=$(VERSION) IMAGE=$(IMAGE) IMAGE_NAME=$(IMAGE_NAME) bash deploy/image_test.sh

## compose-up: build the image, then run two regions of 3 nodes (+ a load balancer each) in containers and print their endpoints and root credentials (deploy/compose)
.PHONY: compose-up
compose-up: image
	KMSNODE_IMAGE=$(IMAGE) bash deploy/compose/compose.sh up

## compose-down: stop the compose cluster (PURGE=1 also deletes its volumes and deploy/compose/.state/)
.PHONY: compose-down
compose-down:
	bash deploy/compose/compose.sh down $(if $(PURGE),--purge)

## test-docker: on a compose cluster of its own: the aws CLI per region, then docker kill/network disconnect/pause checked with the Go SDK (skipped without a Docker engine)
.PHONY: test-docker
test-docker:
	@if docker info >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory image VERSION=$(VERSION) IMAGE=$(IMAGE) && \
		KMSNODE_IMAGE=$(IMAGE) $(GO) test -tags docker -count=1 -timeout 20m -v -run TestCompose ./deploy/; \
	else \
		echo "test-docker: SKIPPED: no Docker engine answers (docker info failed)"; \
	fi

## fuzz: run every fuzz target for FUZZTIME each (a duration or a count such as 20000x; default 30s)
.PHONY: fuzz
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

## lint: gofmt and go vet
.PHONY: lint
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## verify-deps: check the package dependency direction of ARCHITECTURE.md
.PHONY: verify-deps
verify-deps:
	bash scripts/verify-deps.sh

## verify: lint, verify-deps, go.mod tidy, generated wire code up to date
.PHONY: verify
verify: lint verify-deps
	$(GO) mod tidy -diff
	python3 api/wire/gen/gen.py /tmp/kmsnode-model_gen.go && gofmt -w /tmp/kmsnode-model_gen.go && diff -q /tmp/kmsnode-model_gen.go api/wire/model_gen.go

## wire: regenerate api/wire/model_gen.go from the botocore KMS model
.PHONY: wire
wire:
	python3 api/wire/gen/gen.py api/wire/model_gen.go && gofmt -w api/wire/model_gen.go

## clean: remove build output and the dev data directory
.PHONY: clean
clean:
	rm -rf $(BIN) $(DATA_DIR) bench/out
