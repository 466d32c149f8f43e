#!/usr/bin/env bash
# Builds dist/verify.bundle.js: src/verify.js and src/messages.js (entry src/browser.js) with
# their pinned dependencies, as ONE self-contained browser script exposing `window.vrsVerify`.
# Deterministic: pinned esbuild, fixed target, no timestamps, no legal comments in the bundle
# (the dependencies' licences go to dist/THIRD-PARTY-LICENSES.txt instead).
#
#   bash build.sh            # into dist/
#   bash build.sh OUTDIR     # into OUTDIR (check-bundle.sh uses a temporary one)
set -euo pipefail
cd "$(dirname "$0")"
OUT="${1:-dist}"
mkdir -p "$OUT"

npm ci --no-audit --no-fund --silent

./node_modules/.bin/esbuild src/browser.js \
  --bundle \
  --format=iife \
  --global-name=vrsVerify \
  --platform=browser \
  --target=es2020 \
  --charset=utf8 \
  --legal-comments=none \
  --log-level=warning \
  --outfile="$OUT/verify.bundle.js"

{
  echo "dist/verify.bundle.js bundles the following packages (pinned in package-lock.json)."
  for p in @noble/curves @noble/hashes; do
    v=$(node -p "require('./node_modules/$p/package.json').version")
    printf '\n==== %s %s ====\n\n' "$p" "$v"
    cat "node_modules/$p/LICENSE"
  done
} > "$OUT/THIRD-PARTY-LICENSES.txt"

echo "built $OUT/verify.bundle.js ($(wc -c < "$OUT/verify.bundle.js") bytes)"
