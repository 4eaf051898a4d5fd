#!/usr/bin/env bash
# CI gates on the packaged artefacts (run by .ci/run as root, after the Node-way tests):
#  1. `npm run package` twice: the executable, the RPM and the .deb are byte-identical both times;
#  2. the executable needs nothing newer than glibc 2.17 and no libstdc++ (GLIBCXX_/CXXABI_);
#  3. the RPM: automatic requirements name nothing above GLIBC_2.17, only rpmlib() features and a
#     payload compressor that rpm 4.11 knows, digests rpm 4.11 checks (`rpm -K`), installs into an
#     empty --root, `rpm -V` clean there, the installed executable byte-identical to out/xen-guests;
#     the .deb holds the same executable;
#  4. what ships is what is tested: the daemon e2e tests, the fault matrix's daemon rows, the CLI
#     tests and the whole-cycle test run against out/xen-guests, the whole cycle again under Linux
#     4.19's syscall table (k419 + fakeuname from ../shared/dom0), then the real-systemd nspawn test
#     with it as /usr/bin/xen-guests.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DOM0=${XEN_GUESTS_DOM0_TOOLS:-$REPO/../shared/dom0}
VERSION=$(node -p 'require("./package.json").version')
EXE=out/xen-guests
RPM=out/xen-guests-$VERSION-1.x86_64.rpm
DEB=out/xen-guests_${VERSION}-1_amd64.deb
WORK=$(mktemp -d /tmp/xen-guests-ci.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

fail() { echo "package gate FAILED: $*" >&2; exit 1; }
pass() { echo "package gate ok: $*"; }

# 1. Reproducible.
npm run package --silent
(cd out && sha256sum xen-guests "${RPM#out/}" "${DEB#out/}") >"$WORK/first.sha256"
rm -rf out
npm run package --silent
(cd out && sha256sum -c --quiet "$WORK/first.sha256") || fail "a second build gave other bytes"
pass "two builds are byte-identical: $(tr '\n' ' ' <"$WORK/first.sha256")"

# 2. glibc 2.17, no libstdc++.
python3 "$DOM0/check-abilist.py" "$DOM0/glibc-2.17-x86_64.abilist" "$EXE" || fail "$EXE imports symbols glibc 2.17 lacks"
if objdump -T "$EXE" | grep -E 'GLIBCXX_|CXXABI_'; then fail "$EXE imports libstdc++ symbols"; fi
pass "$EXE: glibc 2.17 symbols only, no GLIBCXX_/CXXABI_"

# 3. The RPM.
rpm -qp --requires "$RPM" >"$WORK/requires"
newest=$(grep -o 'GLIBC_[0-9.]*' "$WORK/requires" | sed 's/GLIBC_//' | sort -V | tail -1)
[ "$(printf '%s\n2.17\n' "$newest" | sort -V | tail -1)" = 2.17 ] || fail "the RPM requires GLIBC_$newest"
# rpmlib() features rpm 4.11 provides; anything else it refuses to install. Taken from the
# rpmlibProvides table in lib/rpmds.c at tag rpm-4.11.3-release (commit 7b5db7d98e02) of
# https://github.com/rpm-software-management/rpm, in its order, byte for byte the output of
#   git clone --bare https://github.com/rpm-software-management/rpm.git rpm.git
#   git -C rpm.git show rpm-4.11.3-release:lib/rpmds.c | grep -o '"rpmlib([A-Za-z0-9]*)"' \
#     | sed 's/"rpmlib(\(.*\))"/\1/' | paste -sd'|'
# (the same 16 at rpm-4.11.0 to 4.11.2). PayloadIsBzip2, PayloadIsXz/PayloadIsLzma, BuiltinLuaScripts
# and FileCaps are there only when rpm was built with bzip2, xz, Lua and libcap support.
RPM411='VersionedDependencies|CompressedFileNames|PayloadIsBzip2|PayloadIsXz|PayloadIsLzma|PayloadFilesHavePrefix|ExplicitPackageProvide|HeaderLoadSortsTags|ScriptletInterpreterArgs|PartialHardlinkSets|ConcurrentAccess|BuiltinLuaScripts|FileDigests|FileCaps|ScriptletExpansion|TildeInVersions'
if grep '^rpmlib(' "$WORK/requires" | grep -vE "^rpmlib\(($RPM411)\)"; then fail "the RPM needs rpmlib features rpm 4.11 lacks"; fi
compressor=$(rpm -qp --qf '%{PAYLOADCOMPRESSOR}' "$RPM")
case $compressor in gzip | xz) ;; *) fail "payload compressor $compressor (rpm 4.11 reads gzip or xz)" ;; esac
rpm -Kv "$RPM" | tee "$WORK/digests"
grep -q 'Header SHA1 digest: OK' "$WORK/digests" && grep -q 'MD5 digest: OK' "$WORK/digests" || fail "no SHA1 header / MD5 digest for rpm 4.11 to check"
ROOT=$WORK/root
mkdir -p "$ROOT"
rpm --root "$ROOT" --initdb
# --nodeps: the empty root has no glibc; --noscripts: nor a /bin/sh (the scriptlets are run for real
# by test/packaging/systemd219.test.ts).
rpm -i --root "$ROOT" --nodeps --noscripts "$RPM"
rpm -V --root "$ROOT" --nodeps xen-guests || fail "rpm -V in the --root is not clean"
cmp "$ROOT/usr/bin/xen-guests" "$EXE" || fail "the installed executable differs from $EXE"
cmp "$ROOT/usr/lib/systemd/system/xen-guests.service" units/xen-guests.service || fail "the installed unit is not units/xen-guests.service"
cmp "$ROOT/etc/xen-guests/config.toml" config/config.toml || fail "the installed config is not config/config.toml"
pass "RPM: requires up to GLIBC_$newest, $compressor payload, digests OK, installs into an empty root, rpm -V clean, executable identical"
dpkg-deb -x "$DEB" "$WORK/deb"
cmp "$WORK/deb/usr/bin/xen-guests" "$EXE" || fail "the .deb's executable differs from $EXE"
grep -q '^ExecStart=/usr/bin/xen-guests daemon' "$WORK/deb/lib/systemd/system/xen-guests-xl.service" || fail "the .deb's unit does not run /usr/bin/xen-guests"
pass ".deb: holds the same executable and a unit running it"

# 4. The tests against the executable.
export XEN_GUESTS_BIN=$REPO/$EXE
# (Under plain vitest the fault matrix's rows write no record; only `npm run reliability` does.)
npx vitest run test/e2e test/cli test/packaging test/faults/daemon.test.ts
cc -O2 -o "$WORK/k419" "$DOM0/k419.c"
cc -O2 -shared -fPIC -o "$WORK/fakeuname.so" "$DOM0/fakeuname.c" -ldl
[ "$(LD_PRELOAD=$WORK/fakeuname.so "$WORK/k419" uname -r)" = 4.19.0+1 ] || fail "the 4.19 emulation does not take"
echo "== the whole cycle again, under Linux 4.19's syscall table (k419) with uname saying 4.19"
XEN_GUESTS_BIN_WRAPPER="env LD_PRELOAD=$WORK/fakeuname.so $WORK/k419" npx vitest run test/packaging/cycle.test.ts
npx vitest run --config vitest.system.config.ts test/system/nspawn/daemon.test.ts
pass "e2e, CLI, whole cycle (also under Linux 4.19's syscall table) and nspawn ran against $EXE"
