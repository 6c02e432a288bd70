#!/usr/bin/env bash
# Copies the OCSF Authentication (class 3002) samples the benchmark amplifies from
# ../shared/ocsf-examples into bench/parquet/data/ (compacted to one line each), so the
# benchmark runs without ../shared. Run once from anywhere; the copies are committed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${OCSF_EXAMPLES:-$HERE/../../../shared/ocsf-examples}
OUT=$HERE/data
mkdir -p "$OUT"
copy() { node -e 'const fs=require("fs");process.stdout.write(JSON.stringify(JSON.parse(fs.readFileSync(process.argv[1],"utf8")))+"\n")' "$SRC/$1" > "$OUT/$2"; }
copy "mappings/markdown/AWS/v1.1.0/CloudTrail/Authentication/samples/authentication.ocsf" aws-cloudtrail-1.1.0.json
copy "mappings/markdown/Okta/v1.3.0/System Logs/Authentication/samples/authentication.ocsf" okta-1.3.0.json
copy "mappings/markdown/Microsoft/Windows Events/4624/4624_0.json" windows-4624.json
copy "mappings/markdown/Microsoft/Windows Events/4625/4625_0.json" windows-4625.json
copy "mappings/markdown/GitHub/v1.3.0/Github Audit Logs/Authentication/samples/authentication.ocsf" github-1.3.0.json
wc -c "$OUT"/*.json
