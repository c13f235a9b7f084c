# make test  — every test of the module, with the test servers this machine
#              can run started around it and only those stopped after it
#              (see .ci/test.sh). Deterministic: fuzz targets run their
#              committed seed corpora (testdata/fuzz/), nothing random.
# make fuzz  — exploratory fuzzing of every fuzz target, one after another,
#              FUZZTIME each (default 30s: make fuzz FUZZTIME=5m), FUZZ=regexp
#              to pick targets ("package FuzzName"; see .ci/fuzz.sh). Not part
#              of make test or CI. When it finds an input, go test writes it
#              under the package's testdata/fuzz/FuzzName/: fix the bug, name
#              the file after what it shows, and commit it with the fix as a
#              seed, so that every later make test runs it.
# make difftest — exploratory differential runs (fake vs real servers):
#              new random seeds, DIFFSCALE times make test's operations
#              per run (default 5: 100 000 per MySQL model, 500 per Pub/Sub
#              server), without -race; outside the gate like make fuzz. A
#              divergence it reports prints its seed: fix it, add a
#              regression test, and make test's fixed-seed run keeps it.
# make bench — the side-by-side benchmarks of bench/, -count 6, benchstat.
# make run   — the example service, on in-memory fakes unless configured.

FUZZTIME ?= 30s
FUZZ ?=

DIFFSCALE ?= 5

.PHONY: test fuzz difftest bench run generate lint

test:
	@./.ci/test.sh

fuzz:
	@FUZZTIME='$(FUZZTIME)' FUZZ='$(FUZZ)' ./.ci/fuzz.sh

difftest:
	@PORTKIT_DIFF_SEED=random PORTKIT_DIFF_SCALE='$(DIFFSCALE)' TEST_PACKAGES=./internal/difftest/ \
		GOTESTFLAGS='-v -run ^TestDiff -timeout 60m' NORACE=1 ./.ci/test.sh

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
