#!/usr/bin/env bash
# test/package/deb.sh: the Debian package end to end (issue 17). Prints TAP.
#
#   1. builds postgresql-15-securitylake from a copy of the working tree with
#      dpkg-buildpackage -us -uc -b: the packager's default build, which must not use
#      -Werror;
#   2. checks the .deb: name, version (default_version), dependencies, and the files
#      (library, control file, the current and every frozen install script, every
#      upgrade script);
#   3. installs it into the system PostgreSQL (/usr/lib/postgresql/15,
#      /usr/share/postgresql/15) with apt;
#   4. runs the demo (demo/run) against the installed files: the system PostgreSQL's
#      binaries, nothing built or installed from the tree (SECURITYLAKE_INSTALLED=1);
#   5. removes the package (dpkg --purge) and puts back the securitylake files that were
#      there before (a `make install` into the system PostgreSQL, as CI's test/run does),
#      byte for byte; with none before, none after. Also when a step fails or the run is
#      interrupted (EXIT trap).
#
# Needs root (test/run and CI run as root) and the build dependencies (test/setup.sh).
# Two runs on one machine take turns (a lock), as they share the system PostgreSQL.
# Run alone: test/one test/package/deb.sh, or bash test/package/deb.sh.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

PKG=postgresql-15-securitylake
SYS_LIB=/usr/lib/postgresql/15/lib
SYS_SHARE=/usr/share/postgresql/15/extension
SYS_BIN=/usr/lib/postgresql/15/bin
VERSION=$(sed -n "s/^default_version = '\(.*\)'/\1/p" securitylake.control)
WORK=$(mktemp -d /tmp/securitylake-deb.XXXXXX)
N=0
FAILED=0
INSTALLED=0
BACKED_UP=0

ok() { N=$((N + 1)); echo "ok $N - $*"; }
not_ok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $*"; }
# show FILE [LINES]: the end of a log as TAP comments.
show() { tail -n "${2:-40}" "$1" | sed 's/^/# /'; }

system_files() {
  find "$SYS_LIB" "$SYS_SHARE" -maxdepth 2 -name 'securitylake*' \( -type f -o -type l \) 2>/dev/null | sort
}

# Put the system back: the package out, the files that were there before back in.
restore_system() {
  if [ "$INSTALLED" = 1 ]; then
    dpkg --purge "$PKG" >"$WORK/purge.log" 2>&1 || { show "$WORK/purge.log"; return 1; }
    INSTALLED=0
  fi
  if [ "$BACKED_UP" = 1 ]; then
    (cd "$WORK/before" && find . -type f -o -type l) | while read -r f; do
      cp -a "$WORK/before/$f" "/${f#./}"
    done
    BACKED_UP=0
  fi
}

finish() {
  local rc=$?
  if [ "$INSTALLED" = 1 ] || [ "$BACKED_UP" = 1 ]; then
    echo "# interrupted: removing the package and restoring the system's files"
    restore_system
  fi
  rm -rf "$WORK"
  exit $rc
}
trap finish EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" != 0 ]; then
  echo "1..0 # SKIP needs root (dpkg, the system PostgreSQL)"
  exit 0
fi
for tool in dpkg-buildpackage dh pg_buildext; do
  command -v "$tool" >/dev/null || { not_ok "$tool is installed (test/setup.sh installs the build dependencies)"; echo "1..$N"; exit 1; }
done

# One run at a time per machine: the system PostgreSQL is shared.
LOCK=/run/lock/securitylake-package-test.lock
[ -d /run/lock ] && [ -w /run/lock ] || LOCK=/tmp/securitylake-package-test.lock
exec 9>"$LOCK"
flock -w 900 9 || { not_ok "the package test lock ($LOCK) is free within 15 minutes"; echo "1..$N"; exit 1; }

if [ "$(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null)" = installed ]; then
  not_ok "$PKG is not installed before the test (it is: this test will not touch it)"
  echo "1..$N"; exit 1
fi

# --- 1. build -------------------------------------------------------------------------
# A copy of the working tree (tracked and new files, nothing ignored: no build products),
# so the build sees uncommitted changes and leaves nothing here; dpkg-buildpackage writes
# the .deb next to the source directory.
SRC=$WORK/securitylake-$VERSION
mkdir -p "$SRC"
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard |
    tar --null --no-recursion --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$SRC"
else
  tar --exclude=./node_modules --exclude=./build --exclude='*.o' --exclude='*.so' -cf - . | tar -xf - -C "$SRC"
fi
start=$(date +%s)
# The packager's environment: no WERROR, no private PG_CONFIG.
if (cd "$SRC" && env -u WERROR -u PG_CONFIG -u COPT dpkg-buildpackage -us -uc -b -j"$(nproc)") >"$WORK/build.log" 2>&1; then
  ok "dpkg-buildpackage -us -uc -b builds $PKG ($(( $(date +%s) - start )) s)"
else
  not_ok "dpkg-buildpackage -us -uc -b builds $PKG"; show "$WORK/build.log" 60
  echo "1..$N"; exit 1
fi
if grep -qE -- '-Werror( |$)' "$WORK/build.log"; then
  not_ok "the packager's default build does not use -Werror"; grep -m3 -oE -- '.{0,60} -Werror( .{0,60}|$)' "$WORK/build.log" | sed 's/^/# .../'
elif ! grep -q -- '-c -o src/worker.o' "$WORK/build.log"; then
  not_ok "the packager's default build compiles the sources (no compiler line for src/worker.o in the log)"
else
  ok "the packager's default build does not use -Werror"
fi

# --- 2. the .deb ------------------------------------------------------------------------
DEB=$(ls "$WORK"/"${PKG}"_*.deb 2>/dev/null | head -1)
if [ -z "$DEB" ]; then not_ok "the build made ${PKG}_*.deb"; echo "1..$N"; exit 1; fi
fields=$(dpkg-deb -f "$DEB" Package Version Depends)
if [ "$(dpkg-deb -f "$DEB" Package)" = "$PKG" ] &&
   [[ "$(dpkg-deb -f "$DEB" Version)" == "$VERSION"-* ]] &&
   dpkg-deb -f "$DEB" Depends | grep -q 'postgresql-15'; then
  ok "the package is $PKG $VERSION-*, depending on postgresql-15"
else
  not_ok "the package is $PKG $VERSION-*, depending on postgresql-15"; echo "$fields" | sed 's/^/# /'
fi
dpkg-deb -c "$DEB" | awk '{print $NF}' | sed 's|^\./|/|' >"$WORK/contents"
want=("$SYS_LIB/securitylake.so" "$SYS_SHARE/securitylake.control" "$SYS_SHARE/securitylake--$VERSION.sql")
for f in sql/securitylake--*.sql; do want+=("$SYS_SHARE/$(basename "$f")"); done
missing=()
for f in "${want[@]}"; do grep -qxF "$f" "$WORK/contents" || missing+=("$f"); done
if [ ${#missing[@]} -eq 0 ]; then
  ok "the package holds the library, the control file, every install and upgrade script (${#want[@]} files)"
else
  not_ok "the package holds the library, the control file, every install and upgrade script"
  printf '# missing: %s\n' "${missing[@]}"
fi

# --- 3. install -------------------------------------------------------------------------
# What a `make install` put into the system PostgreSQL before: kept aside, put back at the end.
mkdir -p "$WORK/before"
system_files >"$WORK/files-before"
while read -r f; do
  [ -n "$f" ] && mkdir -p "$WORK/before$(dirname "$f")" && cp -a "$f" "$WORK/before$f"
done <"$WORK/files-before"
BACKED_UP=1
INSTALLED=1 # from here on the EXIT trap removes the package
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$DEB" >"$WORK/install.log" 2>&1 ||
   dpkg -i "$DEB" >>"$WORK/install.log" 2>&1; then
  ok "apt-get installs $(basename "$DEB")"
else
  not_ok "apt-get installs $(basename "$DEB")"; show "$WORK/install.log"
fi
owner=$(dpkg -S "$SYS_LIB/securitylake.so" 2>/dev/null | cut -d: -f1)
if [ "$owner" = "$PKG" ] && dpkg -L "$PKG" | grep -qxF "$SYS_SHARE/securitylake--$VERSION.sql" &&
   dpkg --verify "$PKG" >/dev/null 2>&1; then
  ok "the system PostgreSQL's securitylake files are the package's"
else
  not_ok "the system PostgreSQL's securitylake files are the package's (securitylake.so belongs to: ${owner:-nobody})"
fi

# --- 4. the demo against the installed files ---------------------------------------------
start=$(date +%s)
if env -u PG_CONFIG PG_BIN="$SYS_BIN" SECURITYLAKE_INSTALLED=1 bash demo/run >"$WORK/demo.log" 2>&1 &&
   grep -q 'securitylake.flush()' "$WORK/demo.log" && grep -qE '\.parquet$' "$WORK/demo.log"; then
  ok "the demo runs against the installed package ($(grep -cE '\.parquet$' "$WORK/demo.log") objects listed, $(( $(date +%s) - start )) s)"
else
  not_ok "the demo runs against the installed package"; show "$WORK/demo.log"
fi

# --- 5. remove, and the system as it was --------------------------------------------------
if restore_system; then
  ok "dpkg --purge removes $PKG"
else
  not_ok "dpkg --purge removes $PKG"
fi
system_files >"$WORK/files-after"
changed=()
while read -r f; do
  [ -n "$f" ] && ! cmp -s "$f" "$WORK/before$f" && changed+=("$f")
done <"$WORK/files-before"
if diff -q "$WORK/files-before" "$WORK/files-after" >/dev/null && [ ${#changed[@]} -eq 0 ]; then
  ok "the system PostgreSQL holds the securitylake files it held before ($(wc -l <"$WORK/files-before") files)"
else
  not_ok "the system PostgreSQL holds the securitylake files it held before"
  diff "$WORK/files-before" "$WORK/files-after" | sed 's/^/# /'
  printf '# changed: %s\n' "${changed[@]}"
fi

echo "1..$N"
[ "$FAILED" -eq 0 ]
