.PHONY: test setup run conformance bench

# Everything: setup, vet, gofmt check, race tests, conformance suite.
test:
	scripts/test.sh

# Install redis, Node 22 and the conformance suite (idempotent).
setup:
	scripts/setup.sh

# Pass arguments with ARGS, e.g. make run ARGS='serve --addr 127.0.0.1:9000'
run:
	go run ./cmd/mooring $(ARGS)

# Pass arguments with ARGS, e.g. make conformance ARGS='--scenario ping'
conformance:
	scripts/conformance.sh $(ARGS)

# The side-by-side benchmark against peer MCP servers (bench/, issue 5): a
# few minutes; results in bench/results/latest.{json,md,png}. Pass flags with
# ARGS, e.g. make bench ARGS='-duration 10s -rounds 3 -idle-sessions 10000'.
# The Go micro-benchmarks: go test -run '^$$' -bench . -benchmem ./...
bench:
	bench/run.sh $(ARGS)
