GO ?= go
FUZZTIME ?= 30s
SEEDS ?= 5000

.PHONY: help test race fuzz bench vet fmt interop sim soak

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

test: ## the whole suite, as CI runs it
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

race: ## the concurrent packages under the race detector
	$(GO) test -race -count=1 ./internal/...

fuzz: ## each fuzz target for FUZZTIME (a deadline flake of Go 1.26's fuzz coordinator is retried once: scripts/fuzz.sh)
	GO=$(GO) FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

sim: ## the deterministic cluster simulation over SEEDS seeds (CI runs 300)
	$(GO) test -count=1 -timeout 2h ./internal/sim -run 'TestSim$$' -sim.seeds=$(SEEDS)

soak: ## the long fault-matrix variants against real broker processes
	$(GO) test -count=1 -timeout 4h ./test/chaos -v -chaos.soak

bench: ## micro-benchmarks, output for benchstat
	$(GO) test -run '^$$' -bench . -count 5 ./internal/... | tee bench.txt

fmt: ## gofmt check
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

interop: ## drive a broker with kcat, kafkajs, sarama, kafka-go, confluent-kafka-python
	bash test/interop/run.sh
