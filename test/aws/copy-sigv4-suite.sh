#!/usr/bin/env bash
# Copy AWS's SigV4 test suite (header-form vectors) from ../shared into the repo, so the
# unit tests run without ../shared. Run from the repository root.
set -euo pipefail
src=${1:-../shared/aws-sigv4-test-suite}
dst=test/aws/sigv4-suite
rm -rf "$dst"
mkdir -p "$dst"
cp "$src/LICENSE" "$src/NOTICE" "$dst/"
for d in "$src"/*/; do
  name=$(basename "$d")
  mkdir -p "$dst/$name"
  for f in context.json request.txt header-canonical-request.txt header-string-to-sign.txt header-signature.txt; do
    [ -f "$d/$f" ] && cp "$d/$f" "$dst/$name/"
  done
done
echo "copied $(ls -d "$dst"/*/ | wc -l) cases into $dst"
