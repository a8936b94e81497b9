#!/usr/bin/env bash
# Re-vendors axe-core (npm, pinned, digest checked) for the browser tests
# only: e2e/testdata/axe.min.js is injected by chromedp, never served by
# the console. The result is committed; tests never need npm.
set -euo pipefail
VERSION=4.14.1
SHA256=29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "axe-core@$VERSION" >/dev/null
tar -xzf "axe-core-$VERSION.tgz" package/axe.min.js package/LICENSE
echo "$SHA256  package/axe.min.js" | sha256sum -c -
cp package/axe.min.js "$root/e2e/testdata/axe.min.js"
cp package/LICENSE "$root/e2e/testdata/axe.LICENSE.txt"
echo "axe-core $VERSION vendored into e2e/testdata/"
