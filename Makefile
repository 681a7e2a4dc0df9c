# ibex — run `make help` for the targets.
GO ?= go
BIN := bin
PROTOC_GEN_GO := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.11
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
PROTOC_GEN_GATEWAY := github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@v2.34.0
PROTOC_GEN_OPENAPI := github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@v2.34.0
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 30s

.PHONY: help build run test test-short lint proto proto-plugins proto-check fuzz bench bench-trace bench-ha bench-agents bench-submit bench-provision bench-vs-slurm clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

# The version every binary's --version prints (internal/version): the
# nearest tag, commits since, and -dirty for uncommitted changes.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X github.com/ibex-hpc/ibex/internal/version.Version=$(VERSION)

# urfave_cli_no_docs leaves out urfave/cli's man-page and markdown
# generators (and their markdown parser), which nothing here uses: 0.7 ms
# less init on every `ibex` call; grpcnotrace leaves out gRPC's
# golang.org/x/net/trace (the /debug/requests pages, whose templates are
# parsed at init), which ibex does not serve: together the CLI's init goes
# from 3.6 ms to 1.4 ms (GODEBUG=inittrace=1 ./bin/ibex --version).
BUILDTAGS := urfave_cli_no_docs,grpcnotrace

# STATIC_CMDS are linked without cgo: the CLI, started once per call, skips
# the dynamic loader and libc (0.8 ms of each call); ibexd and ibex-agent
# keep cgo to resolve job users through NSS. internal/testutil builds the
# test binaries the same way (a test there checks this file).
STATIC_CMDS := ./cmd/ibex

build: ## build ibexd, ibex, ibex-agent and ibex-trace into ./bin, stamped with VERSION
	$(GO) build -tags $(BUILDTAGS) -ldflags "$(LDFLAGS)" -o $(BIN)/ $(filter-out $(STATIC_CMDS),$(addprefix ./,$(wildcard cmd/*)))
	CGO_ENABLED=0 $(GO) build -tags $(BUILDTAGS) -ldflags "$(LDFLAGS)" -o $(BIN)/ $(STATIC_CMDS)

run: build ## start the dev cluster (one server, simulated fat tree, 32 nodes) in the foreground
	$(BIN)/ibexd --dev

test: ## the whole test suite: gofmt, vet, staticcheck, all tests with the race detector, then the trace replays that skip under it
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt -l: run gofmt -w on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) test -race -count=1 -timeout 30m ./...
	# The full trace replays (TestTraceGoals, TestStreamGoals, link isolation)
	# skip under the race detector, which makes them 10x slower: here they run.
	$(GO) test -count=1 -timeout 10m ./bench/trace

test-short: ## unit tests only, no race detector
	$(GO) test -short ./...

lint: ## gofmt and staticcheck (pinned, via go run) over every package
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt -l: run gofmt -w on:"; echo "$$unformatted"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

# The REST gateway and the OpenAPI document come from the same proto and
# the HTTP mapping in proto/ibexv1/ibex_rest.yaml (no annotations in the
# proto). The gateway is its own package, proto/gateway/ibexv1 (grpc-gateway's
# standalone mode), so that the ibex CLI, which imports proto/ibexv1, does
# not link grpc-gateway and the well-known types it registers: every CLI
# process runs their package initialisation (0.1-0.2 ms of `ibex --version`).
# PROTO_OUT lets proto-check generate into a scratch directory.
PROTO_OUT ?= proto
PROTO_BIN ?= $(CURDIR)/$(BIN)
REST_YAML := proto/ibexv1/ibex_rest.yaml
OPENAPI_YAML := proto/ibexv1/ibex_openapi.yaml

proto-plugins: ## install the pinned protoc plugins into PROTO_BIN (default ./bin)
	GOBIN=$(PROTO_BIN) $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(PROTO_BIN) $(GO) install $(PROTOC_GEN_GO_GRPC)
	GOBIN=$(PROTO_BIN) $(GO) install $(PROTOC_GEN_GATEWAY)
	GOBIN=$(PROTO_BIN) $(GO) install $(PROTOC_GEN_OPENAPI)

proto: proto-plugins ## regenerate proto/ibexv1 (messages, gRPC, OpenAPI) and proto/gateway/ibexv1 (REST gateway) with pinned generators (needs protoc)
	mkdir -p $(PROTO_OUT)/gateway
	PATH=$(PROTO_BIN):$$PATH protoc -I proto --go_out=$(PROTO_OUT) --go_opt=paths=source_relative \
		--go-grpc_out=$(PROTO_OUT) --go-grpc_opt=paths=source_relative \
		--grpc-gateway_out=$(PROTO_OUT)/gateway --grpc-gateway_opt=paths=source_relative,standalone=true,grpc_api_configuration=$(REST_YAML) \
		--openapiv2_out=$(PROTO_OUT) --openapiv2_opt=grpc_api_configuration=$(REST_YAML),openapi_configuration=$(OPENAPI_YAML),json_names_for_fields=false \
		proto/ibexv1/ibex.proto

proto-check: ## regenerate proto/ibexv1 and proto/gateway into a scratch directory and fail if the committed files differ
	@tmp=$$(mktemp -d) && trap 'rm -rf '$$tmp EXIT && \
	$(MAKE) --no-print-directory proto PROTO_OUT=$$tmp >/dev/null && \
	for f in $$tmp/ibexv1/* $$tmp/gateway/ibexv1/*; do rel=$${f#$$tmp/}; diff -u proto/$$rel $$f || { echo "proto/$$rel is stale: run make proto"; exit 1; }; done && \
	echo "proto/ibexv1 and proto/gateway are up to date"

fuzz: ## run every fuzz target in turn, FUZZTIME each: make fuzz FUZZTIME=5s (default 30s)
	GO=$(GO) ./scripts/fuzz-all.sh $(FUZZTIME)

bench: ## run the Go benchmarks (scheduler, fabric, parsers)
	$(GO) test -run '^$$' -bench . -benchmem ./scheduler/... ./fabric/...

bench-trace: ## replay an SWF trace through every policy: make bench-trace TRACE=testdata/swf/KTH-SP2-1996-2.1-cln.swf.gz
	$(GO) run ./cmd/ibex-trace $${TRACE:-testdata/swf/KTH-SP2-1996-2.1-cln.swf.gz}

bench-ha: ## submission throughput (1 and 3 servers, 64 clients) and failover time, real processes
	$(GO) test ./bench/cluster -run '^$$' -bench Submit -benchtime 20000x -v
	$(GO) test ./bench/cluster -run '^$$' -bench Failover -benchtime 5x -v

bench-agents: ## submit->running latency and tiny-job throughput on 64 simulated nodes, agent path vs local runner, same run (ROUNDS=1 JOBS=2000; SIM_ROOT_IN=/dev/shm puts the nodes' files on tmpfs; BASE_IBEXD=earlier-ibexd adds its modes)
	$(GO) test ./bench/agentpath -run '^$$' -bench . -benchtime 1x -timeout 60m -args -rounds $${ROUNDS:-1} -jobs $${JOBS:-2000} $${SIM_ROOT_IN:+-sim-root-in $$SIM_ROOT_IN} $${BASE_IBEXD:+-base-ibexd $$BASE_IBEXD -modes agents,local,base-agents,base-local}

bench-submit: ## 3-server submissions/s, p50/p99 and CPU µs per submission (64 clients; CLIENTS=N for more): unary calls, the client library's SubmitStream (one job at a time per client), group commit on/off, SubmitMany of 4 per call, raw raft applies and `true` spawns as baselines, taken in turn (ROUNDS=3 SUBMISSIONS=20000; BASE_BIN=dir-with-earlier-ibexd adds mode base)
	$(GO) test ./bench/cluster -run '^$$' -bench SubmitCompare -benchtime 1x -timeout 60m -args -rounds $${ROUNDS:-3} -submissions $${SUBMISSIONS:-20000} -clients $${CLIENTS:-64} $${BASE_BIN:+-base-bin $$BASE_BIN -modes group,stream,many,nogroup,base,raft-group,raft-nogroup,spawn}

bench-provision: ## provisioning cycles/s (deploy through BMCs, job, cleaning) on 512 simulated nodes, and a cycle's wait on ibex vs the hardware (ROUNDS=2)
	$(GO) test ./bench/provision -run '^$$' -bench . -benchtime 1x -timeout 60m -args -rounds $${ROUNDS:-2}

bench-logstore: ## 3-server submissions/s and p50/p99 per raft log store, stores taken in turn (ROUNDS=3 SUBMISSIONS=10000)
	$(GO) test ./bench/cluster -run '^$$' -bench LogStores -benchtime 1x -timeout 30m -args -rounds $${ROUNDS:-3} -submissions $${SUBMISSIONS:-10000}

bench-vs-slurm: ## tiny jobs/s end to end (CLI loops, one array), CLI submits/s (jobs running, and held) and CLI start-up, ibex vs Slurm 22.05 on the same 64 simulated nodes, same run, with ratios; installs slurm-wlm munge hyperfine with apt if missing, as root (ROUNDS=1 JOBS=400 ARRAY_JOBS=1000 SUBMITS=200 LEAVES=4 NODES_PER_LEAF=16; BASE_BIN=dir-with-earlier-ibex adds its CLI)
	@command -v sbatch >/dev/null && command -v munged >/dev/null && command -v hyperfine >/dev/null || { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge hyperfine >/dev/null; } || echo "bench-vs-slurm: could not install slurm-wlm, munge and hyperfine (needs root and apt); the benchmark will skip"
	$(GO) test ./bench/vsslurm -run '^$$' -bench . -benchtime 1x -timeout 60m -args -rounds $${ROUNDS:-1} -jobs $${JOBS:-400} -array-jobs $${ARRAY_JOBS:-1000} -submits $${SUBMITS:-200} -leaves $${LEAVES:-4} -nodes-per-leaf $${NODES_PER_LEAF:-16} $${SLURM_SCHED_PARAMS:+-slurm-sched-params $$SLURM_SCHED_PARAMS} $${BASE_BIN:+-base-bin $$BASE_BIN}

clean: ## remove build output
	rm -rf $(BIN)
