#!/usr/bin/env bash
# Make a bare Debian 12 machine ready to build and test securitylake.
# Idempotent: installs only what is missing, so a second run takes seconds.
# Needs root for apt-get (CI and the test runner run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential pkg-config
  postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap postgresql-15-cron
  libtap-parser-sourcehandler-pgtap-perl
  libcurl4-openssl-dev libssl-dev libzstd-dev libxml2-dev
  awscli clang libclang-rt-14-dev valgrind zstd python3 curl ca-certificates openssl
  # the Debian package (test/package/deb.sh): dpkg-buildpackage, debhelper, pg_buildext
  dpkg-dev debhelper postgresql-server-dev-all
  # Apache Avro (Java) checks the parquet.avro.schema of every object (test/parquet/AvroCheck.java)
  libavro-java openjdk-17-jdk-headless
  # postgres_exporter runs docs/postgres_exporter.yaml in test/e2e/metrics.test.mjs
  prometheus-postgres-exporter
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm  >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's postgresql package would create and start a "main" cluster on 5432;
  # we only ever use throwaway clusters, so stop it from being created.
  mkdir -p /etc/postgresql-common
  if ! grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf; then
    echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: apt packages present"
fi

# npm packages, exact versions from package-lock.json. Re-install only when the
# lock file changed since the last install (stamp holds its hash).
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.securitylake-lock-hash
if [ -d node_modules ] && [ "$(cat "$stamp" 2>/dev/null)" = "$lock_hash" ]; then
  echo "setup: npm packages present"
else
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > "$stamp"
fi
