#!/usr/bin/env bash
# Re-vendors htmx from the npm registry at the pinned version and checks its
# digest. The result is committed; builds and tests never need npm.
set -euo pipefail
VERSION=2.0.11
SHA256=d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "htmx.org@$VERSION" >/dev/null
tar -xzf "htmx.org-$VERSION.tgz" package/dist/htmx.min.js package/LICENSE
echo "$SHA256  package/dist/htmx.min.js" | sha256sum -c -
cp package/dist/htmx.min.js "$root/static/js/htmx.min.js"
cp package/LICENSE "$root/static/js/htmx.LICENSE.txt"
echo "htmx $VERSION vendored into static/js/"
