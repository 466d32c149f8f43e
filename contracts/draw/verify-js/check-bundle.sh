#!/usr/bin/env bash
# Fails unless the committed dist/ is exactly what build.sh produces from the committed sources
# and package-lock.json: the bundle a citizen runs must be the audited code, rebuilt.
set -euo pipefail
cd "$(dirname "$0")"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
bash build.sh "$TMP" >/dev/null
status=0
for f in verify.bundle.js THIRD-PARTY-LICENSES.txt; do
  if ! cmp -s "dist/$f" "$TMP/$f"; then
    echo "FAIL: dist/$f differs from a rebuild (run: bash contracts/draw/verify-js/build.sh, and commit dist/)" >&2
    diff -u "dist/$f" "$TMP/$f" | head -40 >&2 || true
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "dist/ matches a rebuild from the sources"
exit "$status"
