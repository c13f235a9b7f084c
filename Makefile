# make test  — every test of the module, with the test servers this machine
#              can run started and stopped around it (see .ci/test.sh).
# make bench — the side-by-side benchmarks of bench/, -count 6, benchstat.
# make run   — the example service, on in-memory fakes unless configured.

.PHONY: test bench run generate lint

test:
	@./.ci/test.sh

bench:
	@./.ci/bench.sh

run:
	go run ./examples/orders

generate:
	go generate ./...

lint:
	gofmt -l . | (! grep .)
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
