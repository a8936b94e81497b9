#!/usr/bin/env bash
# The lint gate (make lint, run by make test and so by CI). Runs every check,
# prints every finding and fails when any check found one. Nothing here
# rewrites a file: formatters run to stdout and are compared.
set -uo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
failed=()

step() { # step NAME: runs the rest of the line, records NAME when it fails
  local name="$1"; shift
  echo "lint: $name"
  if ! "$@"; then failed+=("$name"); fi
}

gofmt_clean() {
  local out
  out="$(gofmt -l $(git ls-files -co --exclude-standard '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))"
  [ -z "$out" ] || { echo "gofmt would change:"; echo "$out"; return 1; }
}

templ_fmt_clean() {
  # templ fmt -fail rewrites the files it complains about; -stdout does not.
  local bad=0 f
  while IFS= read -r f; do
    if ! "$GO" tool templ fmt -stdout "$f" 2>/dev/null | cmp -s - "$f"; then
      echo "templ fmt would change: $f (run: make fmt)"; bad=1
    fi
  done < <(find . -name '*.templ' -not -path './.git/*' | sort)
  return $bad
}

tidy_clean() {
  "$GO" mod tidy -diff || { echo "go.mod/go.sum are not tidy (run: go mod tidy)"; return 1; }
}

deadcode_clean() {
  # Functions no main and no test reaches, exported ones included (staticcheck's
  # U1000 sees only unexported code). deadcode exits 0 either way.
  local out
  out="$("$GO" tool deadcode -test ./...)" || return 1
  [ -z "$out" ] || { echo "$out"; echo "unreachable code: use it or remove it"; return 1; }
}

step gofmt gofmt_clean
step "templ fmt" templ_fmt_clean
step "go mod tidy" tidy_clean
step "generated code" ./scripts/check-generated.sh
step "go vet" "$GO" vet ./...
step staticcheck "$GO" tool staticcheck ./...
step deadcode deadcode_clean

if [ "${#failed[@]}" -gt 0 ]; then
  echo "lint failed: ${failed[*]}"
  exit 1
fi
echo "lint: clean"
