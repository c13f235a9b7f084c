#!/usr/bin/env bash
# The body of `make fuzz`: exploratory fuzzing of every fuzz target of the
# module (bench/ and cmd/ferretdb-testserver, modules of their own,
# excepted), one after another, each for FUZZTIME (default 30s); FUZZ
# narrows the targets to those whose "package Target" matches the
# extended regular expression.
#
# Not part of `make test` or CI: exploration finds new inputs at random,
# and a gate must not fail on a change that did not cause it. `make test`
# runs every committed seed corpus (testdata/fuzz/FuzzX/), deterministically.
# When this finds an input, go test writes it to testdata/fuzz/FuzzX/ in
# the target's package: fix the bug, give the file a name that says what
# it shows, and commit it with the fix, so that every later `make test`
# runs it.
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-30s}
status=0
found=0
while read -r pkg target; do
	[[ -z "$pkg" ]] && continue
	if [[ -n "${FUZZ:-}" ]] && ! grep -Eq -- "$FUZZ" <<<"$pkg $target"; then
		continue
	fi
	found=1
	printf 'make fuzz: %s %s for %s\n' "$pkg" "$target" "$FUZZTIME" >&2
	if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"; then
		status=1
		printf 'make fuzz: %s %s found a failing input: see testdata/fuzz/%s/ in %s; fix it and commit the input as a seed\n' \
			"$pkg" "$target" "$target" "$pkg" >&2
	fi
done < <(git ls-files '*_test.go' | grep -v -e '^bench/' -e '^cmd/ferretdb-testserver/' |
	xargs grep -l '^func Fuzz' | sort |
	while read -r f; do
		d=./$(dirname "$f")
		grep -oE '^func (Fuzz[A-Za-z0-9_]*)' "$f" | awk -v d="$d" '{print d, $2}'
	done)
if [[ $found -eq 0 ]]; then
	printf 'make fuzz: no fuzz target matches FUZZ=%s\n' "${FUZZ:-}" >&2
	exit 2
fi
exit $status
