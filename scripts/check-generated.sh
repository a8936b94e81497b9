#!/usr/bin/env bash
# Fails when the committed templ output (*_templ.go) is stale or missing:
# regenerates every .templ file into a scratch copy with the templ version
# pinned in go.mod (go tool templ) and compares. Needs no git.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cd "$root"
mapfile -t templs < <(find . -name '*.templ' -not -path './.git/*' | sort)
[ "${#templs[@]}" -gt 0 ] || exit 0
for f in "${templs[@]}"; do
  mkdir -p "$tmp/$(dirname "$f")"
  cp "$f" "$tmp/$f"
done
go tool templ generate -path "$tmp" >/dev/null 2>&1 || go tool templ generate -path "$tmp"
stale=0
for f in "${templs[@]}"; do
  g="${f%.templ}_templ.go"
  if [ ! -f "$g" ]; then
    echo "missing generated file: $g (run: make generate)"; stale=1
  elif ! cmp -s "$g" "$tmp/$g"; then
    echo "stale generated file: $g (run: make generate)"; stale=1
  fi
done
while IFS= read -r g; do
  [ -f "${g%_templ.go}.templ" ] || { echo "orphaned generated file: $g (its .templ is gone)"; stale=1; }
done < <(find . -name '*_templ.go' -not -path './.git/*')
exit $stale
