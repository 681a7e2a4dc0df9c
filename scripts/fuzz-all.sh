#!/usr/bin/env bash
# Run every fuzz target of the module, one after the other, for FUZZTIME
# each: make fuzz [FUZZTIME=30s], or
#
#   scripts/fuzz-all.sh [FUZZTIME] [PACKAGES...]     # default 30s ./...
#
# Targets are found with `go test -list '^Fuzz'` (so build tags count),
# asked only of the packages whose test files declare a func Fuzz...:
# listing every package would compile every test binary. Prints one line
# per target and fails if any target failed; Go writes a failing input to
# PKG/testdata/fuzz/FuzzXxx/, which becomes a regression case once
# committed. FUZZPARALLEL=N limits the fuzzing workers (default GOMAXPROCS).
set -uo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
fuzztime=${1:-${FUZZTIME:-30s}}
shift || true
patterns=("${@:-./...}")

fail() { echo "fuzz-all: $*" >&2; exit 2; }

# Candidate packages: a test file with a fuzz target in it.
pkgs=$("$GO" list -f '{{.ImportPath}} {{.Dir}}{{range .TestGoFiles}} {{.}}{{end}}{{range .XTestGoFiles}} {{.}}{{end}}' "${patterns[@]}") ||
  fail "go list ${patterns[*]} failed"
candidates=()
while read -r pkg dir files; do
  # shellcheck disable=SC2086 # $files is a list of file names
  [ -n "$files" ] && (cd "$dir" && grep -qs '^func Fuzz' $files) && candidates+=("$pkg")
done <<<"$pkgs"
[ ${#candidates[@]} -gt 0 ] || fail "no fuzz targets in ${patterns[*]}"

# "go test -list" prints a package's names, then its "ok <pkg>" line.
listing=$("$GO" test -list '^Fuzz' "${candidates[@]}") || { echo "$listing" >&2; fail "go test -list failed"; }
targets=()
names=()
while IFS=$' \t' read -r first second _; do
  case $first in
    Fuzz*) names+=("$first") ;;
    ok)
      for n in "${names[@]}"; do targets+=("$second $n"); done
      names=()
      ;;
  esac
done <<<"$listing"
[ ${#targets[@]} -gt 0 ] || fail "no fuzz targets in ${patterns[*]}"

logs=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-all.XXXXXX")
parallel=()
[ -n "${FUZZPARALLEL:-}" ] && parallel=(-parallel "$FUZZPARALLEL")
echo "fuzz-all: ${#targets[@]} targets, $fuzztime each; logs in $logs"
failed=()
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  log="$logs/$(echo "$pkg" | tr / _).$name.log"
  start=$SECONDS
  if "$GO" test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "${parallel[@]}" "$pkg" >"$log" 2>&1; then
    printf 'ok    %-50s %-26s %4ds\n' "$pkg" "$name" $((SECONDS - start))
  else
    tail -n 30 "$log" >&2
    line=$(printf 'FAIL  %-50s %-26s %4ds  %s' "$pkg" "$name" $((SECONDS - start)) "$log")
    echo "$line"
    failed+=("$line")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-all: ${#failed[@]} of ${#targets[@]} targets failed ($fuzztime each):" >&2
  printf '%s\n' "${failed[@]}" >&2
  exit 1
fi
rm -rf "$logs"
echo "fuzz-all: all ${#targets[@]} targets passed ($fuzztime each)"
