#!/usr/bin/env bash
# Runs the fuzz targets one after another and prints a markdown summary.
#
#   scripts/fuzz.sh [--save-corpus] [--go-only] [--parallel N] [FUZZTIME] [TARGET...]
#
# FUZZTIME is a Go duration per target (default 10m; "1000x" means that many
# inputs). With a duration, Go 1.26 may end a clean run with a bare "context
# deadline exceeded" and no failing input (golang/go#75804, a race in its
# coordinator, fixed in Go 1.27): that is not a finding. Counts never hit it,
# which is why CI uses one. TARGET is a fuzz function name (FuzzServeRequest, ...) or
# "manifest" (scripts/fuzz_manifest.py); default: all of them.
#
# --save-corpus copies what each run found (Go: the corpus go test keeps in
# $(go env GOCACHE)/fuzz/<package>/<FuzzName>/; manifest: its work corpus)
# into the committed corpus, testdata/fuzz/<FuzzName>/ beside the package (so
# that a plain `go test` replays it) or tests/fuzz_corpus/manifest/, smallest
# files first, at most FUZZ_CORPUS_MAX_BYTES (2000000) and
# FUZZ_CORPUS_MAX_FILES (300) per target, counting what is already there.
#
# Environment: FUZZ_PARALLEL (2: the CI machine has 2 cores), FUZZ_MINIMIZE
# (-fuzzminimizetime, 5s: with Go's 60 s default, minimising each new input
# of the whole-request target stalls the run for long stretches), PYTHON
# (.venv/bin/python when there is one).
set -uo pipefail
cd "$(dirname "$0")/.."

save=0
go_only=0
parallel=${FUZZ_PARALLEL:-2}
fuzztime=""
selected=()
while (($#)); do
	case "$1" in
	--save-corpus) save=1 ;;
	--go-only) go_only=1 ;;
	--parallel) parallel=$2; shift ;;
	--parallel=*) parallel=${1#*=} ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	-*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
	*)
		if [[ -z $fuzztime && $1 =~ ^[0-9] ]]; then fuzztime=$1; else selected+=("$1"); fi ;;
	esac
	shift
done
fuzztime=${fuzztime:-10m}
minimize=${FUZZ_MINIMIZE:-5s}
max_bytes=${FUZZ_CORPUS_MAX_BYTES:-2000000}
max_files=${FUZZ_CORPUS_MAX_FILES:-300}

# name package: every target, in the order they run.
all=(
	"FuzzParseURI ./go/connector"
	"FuzzParseConfig ./go/connector"
	"FuzzCredentialsFile ./go/connector"
	"FuzzDecodePartChecksums ./go/connector"
	"FuzzPacked ./go/packed"
	"FuzzDecodeListPage ./go/connector"
	"FuzzParse ./go/tarindex"
	"FuzzParseUpstream ./go/tarindex"
	"FuzzParseRange ./go/ossemu"
	"FuzzAuthorizationHeader ./go/ossemu"
	"FuzzServeRequest ./go/ossemu"
	"manifest scripts/fuzz_manifest.py"
)
targets=()
for t in "${all[@]}"; do
	name=${t%% *}
	if ((${#selected[@]})); then
		for s in "${selected[@]}"; do [[ $s == "$name" ]] && targets+=("$t"); done
	elif [[ $name != manifest || $go_only == 0 ]]; then
		targets+=("$t")
	fi
done
if ((${#selected[@]})) && ((${#targets[@]} != ${#selected[@]})); then
	echo "fuzz.sh: unknown target among: ${selected[*]} (known: $(printf '%s ' "${all[@]%% *}"))" >&2
	exit 2
fi

# seconds of a Go duration such as 10m, 90s or 1h2m3s.
seconds() {
	local d=$1 total=0 n u
	while [[ $d =~ ^([0-9.]+)(h|m|s|ms)(.*)$ ]]; do
		n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
		case $u in h) total=$(awk "BEGIN{print $total+$n*3600}") ;; m) total=$(awk "BEGIN{print $total+$n*60}") ;;
		s) total=$(awk "BEGIN{print $total+$n}") ;; ms) total=$(awk "BEGIN{print $total+$n/1000}") ;; esac
	done
	[[ -z $d ]] || { echo "fuzz.sh: cannot read the duration $1" >&2; return 1; }
	awk "BEGIN{s=int($total+0.999); print (s<1?1:s)}"
}

# save_corpus SRC DST: copy SRC's files into DST, smallest first, within the caps.
save_corpus() {
	local src=$1 dst=$2 have nfiles added=0 size path
	[[ -d $src ]] || { echo 0; return; }
	mkdir -p "$dst"
	have=$(find "$dst" -type f -printf '%s\n' | awk '{s+=$1} END{print s+0}')
	nfiles=$(find "$dst" -type f | wc -l)
	while read -r size path; do
		[[ -e $dst/${path##*/} ]] && continue
		((have + size > max_bytes || nfiles >= max_files)) && break
		cp "$path" "$dst/" && have=$((have + size)) nfiles=$((nfiles + 1)) added=$((added + 1))
	done < <(find "$src" -type f -printf '%s %p\n' | sort -n)
	echo "$added"
}

py=${PYTHON:-}
if [[ -z $py ]]; then
	if [[ -x .venv/bin/python ]]; then py=.venv/bin/python; else py=python3; fi
fi
gocache=$(go env GOCACHE)
rows=()
failed=0
for t in "${targets[@]}"; do
	name=${t%% *} pkg=${t#* }
	log=$(mktemp)
	start=$SECONDS
	execs="" new="" corpus="" findings="none" saved=""
	echo "=== $name ($pkg, $fuzztime)"
	if [[ $name == manifest ]]; then
		if ! "$py" -c 'import osstorchconnector._native' 2>/dev/null; then
			echo "osstorchconnector is not installed for $py: skipped"
			rows+=("| manifest | $pkg | - | - | - | - | skipped (package not installed) |")
			rm -f "$log"
			continue
		fi
		work=${FUZZ_MANIFEST_WORK:-$gocache/fuzz/manifest-corpus}
		art=${FUZZ_ARTIFACTS:-$gocache/fuzz/manifest-artifacts}
		mkdir -p "$work" "$art"
		if [[ $fuzztime =~ ^([0-9]+)x$ ]]; then limit="-runs=${BASH_REMATCH[1]}"; else limit="-max_total_time=$(seconds "$fuzztime")" || exit 2; fi
		"$py" scripts/fuzz_manifest.py "$limit" -max_len=4096 -timeout=20 -print_final_stats=1 \
			-artifact_prefix="$art/" "$work" tests/fuzz_corpus/manifest 2>&1 | tee "$log" | grep -vE --line-buffered '^#[0-9]+[[:space:]]+(NEW|REDUCE|RELOAD)'
		rc=${PIPESTATUS[0]}
		execs=$(sed -nE 's/^Done ([0-9]+) runs.*/\1/p' "$log" | tail -1)
		if grep -q '^FUZZ-SUMMARY' "$log"; then
			corpus=$(sed -nE 's/^FUZZ-SUMMARY.* corpus=([0-9]+).*/\1/p' "$log" | tail -1)
			new="(hypothesis)"
		else
			new=$(grep -cE '^#[0-9]+[[:space:]]+NEW' "$log")
			corpus=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' "$log" | tail -1)
		fi
		if ((rc != 0)); then
			findings="FAILED: $(grep -oE 'Test unit written to [^ ]+' "$log" | tail -1 | sed 's/Test unit written to //')"
			[[ $findings == "FAILED: " ]] && findings="FAILED (exit $rc, see the log above)"
			failed=1
		fi
		((save)) && saved=$(save_corpus "$work" tests/fuzz_corpus/manifest)
	else
		go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" -parallel "$parallel" "$pkg" 2>&1 | tee "$log"
		rc=${PIPESTATUS[0]}
		last=$(grep -E '^fuzz: elapsed: .*execs: ' "$log" | tail -1)
		execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
		new=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
		corpus=$(sed -nE 's/.*\(total: ([0-9]+)\).*/\1/p' <<<"$last")
		if [[ -z $last ]] && grep -q 'gathering baseline coverage' "$log"; then
			# -fuzztime ran out while the corpus was being replayed: nothing new
			# was tried (a larger FUZZTIME is needed with this corpus).
			execs=0 findings="none (time ran out replaying the corpus)"
			[[ $fuzztime =~ x$ ]] && findings="none (the count was spent replaying the corpus)"
		fi
		if ((rc != 0)); then
			input=$(sed -nE 's/.*Failing input written to (.*)$/\1/p' "$log" | tail -1)
			findings="FAILED${input:+: $pkg/$input}"
			[[ -z $input ]] && findings="FAILED (exit $rc, see the log above)"
			failed=1
		fi
		if ((save)); then
			ipath=$(go list "$pkg")
			saved=$(save_corpus "$gocache/fuzz/$ipath/$name" "$pkg/testdata/fuzz/$name")
		fi
	fi
	[[ -n $saved ]] && findings+="; $saved corpus files saved"
	rows+=("| $name | $pkg | $((SECONDS - start))s | ${execs:--} | ${new:--} | ${corpus:--} | $findings |")
	rm -f "$log"
done

echo
echo "| target | package | time | execs | new interesting | corpus entries | findings |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit $failed
