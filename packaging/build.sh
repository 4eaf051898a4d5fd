#!/usr/bin/env bash
# `npm run package`: builds, from this clone,
#   out/xen-guests                          one self-contained x86_64 executable (Bun runtime + the
#                                           program bundled from dist/, the same JS `npm test` runs)
#   out/xen-guests-VERSION-1.x86_64.rpm     for XCP-ng / XenServer dom0 (rpm 4.11, systemd 219)
#   out/xen-guests_VERSION-1_amd64.deb      for Debian-based plain Xen hosts (xl)
# Needs only npm and Debian's packages: rpm (rpmbuild) is installed with apt-get when missing.
# Reproducible: the same commit gives the same bytes (fixed build directory, SOURCE_DATE_EPOCH from
# the commit, fixed build host, sorted payloads, no timestamps of this run).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
VERSION=$(node -p 'require("./package.json").version')
RUNTIME_PACKAGE=@oven/bun-linux-x64-baseline
RUNTIME_VERSION=$(node -p "require('./packaging/runtime/package.json').dependencies['$RUNTIME_PACKAGE']")
# Bun embeds the absolute paths of bundled modules (e.g. __dirname of CommonJS ones): one fixed
# directory, whatever the clone's path, so two builds of one commit are byte-identical.
BUILD=/tmp/xen-guests-package
OUT=$REPO/out
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export TZ=UTC LC_ALL=C

say() { printf '== package: %s\n' "$*"; }

need() { # need COMMAND DEBIAN_PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "package: $1 is missing: install Debian's $2 (apt-get install $2) and run again" >&2
    exit 1
  fi
  say "installing $2 with apt-get (for $1)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
}
need rpmbuild rpm
need dpkg-deb dpkg
need flock util-linux

# One build at a time in the fixed directory.
exec 9>"$BUILD.lock"
flock 9

say "compiling TypeScript (dist/)"
npm run build --silent

say "runtime $RUNTIME_PACKAGE@$RUNTIME_VERSION from npm (npm ci checks the lockfile's integrity hash)"
npm ci --prefix packaging/runtime --no-audit --no-fund --ignore-scripts --loglevel=error
BUN=$REPO/packaging/runtime/node_modules/$RUNTIME_PACKAGE/bin/bun
[ "$("$BUN" --version)" = "$RUNTIME_VERSION" ] || { echo "package: $BUN is not version $RUNTIME_VERSION" >&2; exit 1; }

say "staging the program in $BUILD"
rm -rf "$BUILD"
mkdir -p "$BUILD/src"
cp -a dist/src dist/examples package.json "$BUILD/src/"
mkdir -p "$BUILD/src/dist" && mv "$BUILD/src/src" "$BUILD/src/examples" "$BUILD/src/dist/"
# The modules as npm installed them for this lockfile; the bundler takes only what the two entries
# import (the simulator's XML parser, sax, is a dev dependency).
cp -a node_modules "$BUILD/src/"

say "compiling the executable with bun build --compile"
# Two entries: the CLI, and the simulated host, which the CLI loads by a run-time path (it is not
# part of the product's module graph) and which `sim` and `demo` need. Bun embeds the second at
# /$bunfs/root/sim/cli.js, where src/cli/main.ts looks for it in the executable.
(cd "$BUILD/src" && "$BUN" build --compile --compile-executable-path="$BUN" --keep-names \
  --no-compile-autoload-dotenv --no-compile-autoload-bunfig \
  dist/src/cli/bin.js dist/src/sim/cli.js --outfile "$BUILD/xen-guests" >/dev/null)
mkdir -p "$OUT"
install -m 0755 "$BUILD/xen-guests" "$OUT/xen-guests"

# The installed tree, shared by the RPM and the .deb (which differ only in the unit).
stage() { # stage ROOT UNIT_DIR UNITS...
  local root=$1 unitdir=$2; shift 2
  install -D -m 0755 "$OUT/xen-guests" "$root/usr/bin/xen-guests"
  install -D -m 0644 config/config.toml "$root/etc/xen-guests/config.toml"
  install -D -m 0644 README.md "$root/usr/share/doc/xen-guests/README.md"
  install -D -m 0644 LICENSE "$root/usr/share/doc/xen-guests/LICENSE"
  install -D -m 0644 docs/xen-guests.8 "$root/usr/share/man/man8/xen-guests.8"
  install -D -m 0644 completion/xen-guests.bash "$root/usr/share/bash-completion/completions/xen-guests"
  install -d -m 0700 "$root/var/lib/xen-guests"
  install -d -m 0755 "$root/$unitdir"
  for unit in "$@"; do
    # The plain-Xen unit runs node from /opt/xen-guests for the Node route; packaged, it runs the executable.
    sed -e 's|^ExecStart=/usr/bin/node .*/opt/xen-guests/dist/src/cli/bin.js |ExecStart=/usr/bin/xen-guests |' \
        -e 's|^Documentation=file:/opt/xen-guests/README.md|Documentation=file:/usr/share/doc/xen-guests/README.md|' \
        "units/$unit" >"$root/$unitdir/$unit"
    chmod 0644 "$root/$unitdir/$unit"
  done
  find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

say "building the RPM"
stage "$BUILD/rpm-root" usr/lib/systemd/system xen-guests.service
RPM_NAME=xen-guests-$VERSION-1.x86_64.rpm
# w6.gzdio: a gzip payload (rpm 4.18 defaults to zstd, which rpm 4.11 cannot read).
rpmbuild -bb --quiet --target x86_64 \
  --define "_topdir $BUILD/rpmbuild" \
  --define "stage $BUILD/rpm-root" \
  --define "xg_version $VERSION" \
  --define "_binary_payload w6.gzdio" \
  --define "_buildhost xen-guests-build" \
  --define "use_source_date_epoch_as_buildtime 1" \
  --define "clamp_mtime_to_source_date_epoch 1" \
  --define "_rpmfilename $RPM_NAME" \
  packaging/xen-guests.spec
install -m 0644 "$BUILD/rpmbuild/RPMS/$RPM_NAME" "$OUT/$RPM_NAME"

say "building the .deb"
DEB_ROOT=$BUILD/deb-root
stage "$DEB_ROOT" lib/systemd/system xen-guests-xl.service
mkdir -p "$DEB_ROOT/DEBIAN"
sed -e "s|@VERSION@|$VERSION-1|" -e "s|@SIZE@|$(du -sk --exclude=DEBIAN "$DEB_ROOT" | cut -f1)|" packaging/deb/control >"$DEB_ROOT/DEBIAN/control"
for script in postinst prerm postrm; do install -m 0755 "packaging/deb/$script" "$DEB_ROOT/DEBIAN/$script"; done
echo /etc/xen-guests/config.toml >"$DEB_ROOT/DEBIAN/conffiles"
find "$DEB_ROOT/DEBIAN" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
DEB_NAME=xen-guests_${VERSION}-1_amd64.deb
dpkg-deb --root-owner-group -Zgzip -z6 --build "$DEB_ROOT" "$OUT/$DEB_NAME" >/dev/null

say "done:"
(cd "$OUT" && ls -l xen-guests "$RPM_NAME" "$DEB_NAME" && sha256sum xen-guests "$RPM_NAME" "$DEB_NAME")
