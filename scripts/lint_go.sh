#!/usr/bin/env bash
# The Go side's linters: gofmt, go vet, staticcheck (pinned in go.mod as a
# tool, so `go tool staticcheck` runs the version the tree was checked with)
# and `go mod tidy -diff`. Every check runs even when an earlier one fails, so
# one run lists all that is wrong; the exit status is non-zero if any failed.
set -u
cd "$(dirname "$0")/.."

failed=()

# check NAME CMD...: runs CMD and judges it by its exit status alone (a first
# run may print "go: downloading ..." lines that are no finding); its output is
# shown only when it failed.
check() {
	local name=$1
	shift
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "FAIL: $name"
		[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/    /'
		failed+=("$name")
	else
		echo "ok:   $name"
	fi
}

# gofmt -l exits 0 whatever it finds: the files it lists are the failure.
unformatted() {
	local files
	files=$(gofmt -l go) || return 1
	[ -z "$files" ] && return 0
	echo "not gofmt-formatted (run gofmt -w on them):"
	printf '%s\n' "$files"
	return 1
}

check "gofmt -l go" unformatted
check "go vet ./..." go vet ./...
check "staticcheck ./..." go tool staticcheck ./...
check "go mod tidy -diff" go mod tidy -diff

if [ ${#failed[@]} -gt 0 ]; then
	(
		IFS=,
		echo "Go lint failed: ${failed[*]}"
	)
	exit 1
fi
echo "Go lint: all checks passed"
