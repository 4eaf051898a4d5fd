#!/bin/bash
# Build (once, cached under $W) everything the real-Xen system test boots, except the project itself:
#   $W/out/xen.elf        Debian's Xen 4.17 hypervisor, gunzipped (a multiboot ELF QEMU can -kernel)
#   $W/out/vmlinuz        Debian's Linux kernel, used for dom0 and for the PV guests
#   $W/out/domu.cpio.gz   busybox guest; behaviour chosen on its kernel command line (see domu-rcS)
#   $W/out/base.cpio      dom0 root: Debian bookworm, systemd as PID 1, xen-utils, node
# The project (dist + production node_modules), its unit, config and guest configs are packed per run
# by pack-overlay.sh into a second cpio that the kernel unpacks over this one.
# Needs root (apt-get, debootstrap, chroot). Usage: W=/var/tmp/xen-guests-xen build-base.sh
set -euo pipefail
W=${W:-/var/tmp/xen-guests-xen}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$W/debs" "$W/x" "$W/out"
say() { echo "build-base: $*"; }
# The Debian mirror this machine's apt already uses (deb822 or one-line sources), for debootstrap.
debian_mirror() {
  [ -n "${XEN_TEST_MIRROR:-}" ] && { echo "$XEN_TEST_MIRROR"; return; }
  { sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n'
    awk '$1 == "deb" { print ($2 ~ /^\[/ ? $3 : $2) }' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
  } | grep -v -e security -e '^$' | head -1
}

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v cpio >/dev/null || need+=(cpio)
command -v objcopy >/dev/null || need+=(binutils)
command -v xz >/dev/null || need+=(xz-utils)
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx poweroff || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  say "installing host packages: ${need[*]}"
  apt-get update -q >/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# ---------- hypervisor, kernel, modules (apt-get download + dpkg -x; nothing installed on the host) ----------
DEBS="xen-hypervisor-4.17-amd64 xenstore-utils libxenstore4 libxentoolcore1"
if [ "$(cat "$W/debs/.done" 2>/dev/null)" != "$DEBS" ]; then
  [ -n "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock)" ] || apt-get update -q >/dev/null
  KVER=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}' | sed 's/linux-image-//')
  [ -n "$KVER" ] || { say "cannot find the kernel package behind linux-image-amd64"; exit 1; }
  say "downloading $DEBS linux-image-$KVER"
  rm -f "$W"/debs/*.deb
  (cd "$W/debs" && apt-get download -q $DEBS "linux-image-$KVER" >/dev/null)
  for d in "$W"/debs/*.deb; do dpkg -x "$d" "$W/x"; done
  echo "$KVER" > "$W/debs/kver"
  echo "$DEBS" > "$W/debs/.done"
  rm -f "$W/out/domu.cpio.gz"
fi
KVER=$(cat "$W/debs/kver")
X=$W/x
[ -s "$W/out/xen.elf" ] || zcat "$X"/boot/xen-4.17-amd64.gz > "$W/out/xen.elf"
[ -s "$W/out/vmlinuz" ] || cp "$X/boot/vmlinuz-$KVER" "$W/out/vmlinuz"
# The guests boot the same kernel, as a plain ELF: otherwise every `xl create` decompresses the
# xz bzImage in dom0 userspace, which under TCG costs more than the rest of the domain build.
if [ ! -s "$W/out/vmlinux" ] || [ "$W/out/vmlinuz" -nt "$W/out/vmlinux" ]; then
  off=$(node -e 'const b = require("fs").readFileSync(process.argv[1]); console.log(b.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0])))' "$W/out/vmlinuz")
  [ "$off" -gt 0 ] || { say "no xz stream in $W/out/vmlinuz: cannot make the guests' plain kernel"; exit 1; }
  tail -c +$((off + 1)) "$W/out/vmlinuz" | xz -dc --single-stream > "$W/out/vmlinux.full" 2>/dev/null || true
  objcopy --strip-all "$W/out/vmlinux.full" "$W/out/vmlinux" && rm -f "$W/out/vmlinux.full"
fi

# ---------- the guest: busybox init + xenstore-write (to publish readiness keys from inside) ----------
if [ ! -s "$W/out/domu.cpio.gz" ] || [ "$HERE/domu-rcS" -nt "$W/out/domu.cpio.gz" ] || [ "$0" -nt "$W/out/domu.cpio.gz" ]; then
  say "building the busybox guest"
  D=$W/domu; rm -rf "$D"; mkdir -p "$D"/{bin,sbin,etc,proc,sys,dev,tmp,lib64,usr/lib/x86_64-linux-gnu}
  cp /bin/busybox "$D/bin/busybox"
  for a in $(/bin/busybox --list | grep -vx busybox); do ln -sf /bin/busybox "$D/bin/$a"; done
  for a in init poweroff halt reboot; do ln -sf /bin/busybox "$D/sbin/$a"; done
  cp -a "$X"/usr/bin/xenstore "$X"/usr/bin/xenstore-write "$X"/usr/bin/xenstore-read "$D/bin/" 2>/dev/null || true
  cp -a "$X"/usr/lib/x86_64-linux-gnu/libxenstore.so* "$X"/usr/lib/x86_64-linux-gnu/libxentoolcore.so* "$D/usr/lib/x86_64-linux-gnu/" 2>/dev/null || true
  for l in $(LD_LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu ldd "$D"/bin/xenstore* | awk '/=> \//{print $3}' | sort -u | grep -v "^$D"); do
    mkdir -p "$D$(dirname "$l")"; cp -L "$l" "$D$l"; done
  cp -L /lib64/ld-linux-x86-64.so.2 "$D/lib64/"
  printf '::sysinit:/etc/rcS\n::shutdown:/etc/rcK\n' > "$D/etc/inittab"
  install -m755 "$HERE/domu-rcS" "$D/etc/rcS"
  printf '#!/bin/sh\necho "DOMU rcK: shutting down by itself uptime=$(cut -d" " -f1 /proc/uptime)"\n' > "$D/etc/rcK"; chmod +x "$D/etc/rcK"
  (cd "$D" && find . | cpio -H newc -o --quiet | gzip -1) > "$W/out/domu.cpio.gz"
fi

# ---------- dom0: Debian bookworm minbase, systemd as PID 1, Debian's xen-utils ----------
R=$W/rootfs
if [ ! -x "$R/usr/lib/xen-4.17/bin/xl" ]; then
  say "debootstrap of the dom0 root (once; about a minute)"
  rm -rf "$R"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,kmod bookworm "$R" "$(debian_mirror)" >"$W/debootstrap.log" 2>&1 \
    || { tail -20 "$W/debootstrap.log"; exit 1; }
  printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod +x "$R/usr/sbin/policy-rc.d"
  chroot "$R" apt-get update -q >/dev/null
  chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends xen-utils-4.17 xenstore-utils libgcc-s1 >/dev/null
  rm -rf "$R"/var/cache/apt/* "$R"/var/lib/apt/lists/* "$R"/usr/share/{doc,man,locale,info}/*
fi
if [ ! -s "$W/out/base.cpio" ] || [ "$0" -nt "$W/out/base.cpio" ] || [ "$(command -v node)" -nt "$W/out/base.cpio" ]; then
  say "customising and packing the dom0 root"
  mkdir -p "$R/lib/modules/$KVER/kernel/drivers/xen"
  for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs; do
    cp "$(find "$X/lib/modules/$KVER" -name "$m.ko*" | head -1)" "$R/lib/modules/$KVER/kernel/drivers/xen/"; done
  cp "$X/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} "$R/lib/modules/$KVER/" 2>/dev/null || true
  chroot "$R" depmod "$KVER"
  grep -q XENCONSOLED_ARGS "$R/etc/default/xen" 2>/dev/null || \
    echo 'XENCONSOLED_ARGS="--log=guest --log-dir=/var/log/xen/console"' >> "$R/etc/default/xen"
  mkdir -p "$R/var/log/xen/console" "$R/root" "$R/etc/xen/auto"
  cp -L "$(command -v node)" "$R/usr/bin/node"
  mkdir -p "$R/etc/systemd/journald.conf.d"
  printf '[Journal]\nStorage=volatile\nForwardToConsole=yes\nMaxLevelConsole=info\n' > "$R/etc/systemd/journald.conf.d/console.conf"
  # Under TCG every process start costs: keep only what a Xen host needs to boot, run the daemon
  # and power off. The sysv generator stays (Debian's xen.service comes from /etc/init.d/xen).
  mkdir -p "$R/etc/systemd/system-generators"
  for g in cryptsetup debug fstab getty gpt-auto hibernate-resume integritysetup rc-local run system-update veritysetup; do
    ln -sf /dev/null "$R/etc/systemd/system-generators/systemd-$g-generator"; done
  for u in serial-getty@hvc0.service getty@tty1.service getty-static.service systemd-networkd-wait-online.service \
           e2scrub_reap.service e2scrub_all.timer apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer fstrim.timer \
           systemd-tmpfiles-clean.timer systemd-udevd.service systemd-udev-trigger.service systemd-udev-settle.service \
           systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-random-seed.service systemd-sysusers.service \
           systemd-update-utmp.service systemd-update-utmp-runlevel.service \
           systemd-pstore.service systemd-remount-fs.service systemd-sysctl.service systemd-firstboot.service \
           systemd-machine-id-commit.service systemd-journal-catalog-update.service systemd-hwdb-update.service \
           modprobe@configfs.service modprobe@dm_mod.service modprobe@drm.service modprobe@efi_pstore.service \
           modprobe@fuse.service modprobe@loop.service sys-kernel-debug.mount sys-kernel-tracing.mount \
           sys-kernel-config.mount sys-fs-fuse-connections.mount dev-mqueue.mount dev-hugepages.mount \
           systemd-ask-password-console.path systemd-ask-password-wall.path; do
    ln -sf /dev/null "$R/etc/systemd/system/$u"; done
  ln -sf /lib/systemd/system/multi-user.target "$R/etc/systemd/system/default.target"
  # Debian's xendomains would save guests at shutdown and race with us; the test installs the real
  # unit (which conflicts with it) and also masks it, as the README tells xl users to do.
  ln -sf /dev/null "$R/etc/systemd/system/xendomains.service"
  echo dom0 > "$R/etc/hostname"; : > "$R/etc/machine-id"
  # Left out of the packed root (not needed to run xl, xenstored or node; they only slow the unpacking).
  (cd "$R" && find . -xdev \( -path ./usr/lib/python3 -o -path './usr/lib/python3.*' -o -path ./usr/lib/udev/hwdb.d \
      -o -path ./usr/share/zoneinfo -o -path ./usr/lib/x86_64-linux-gnu/gconv -o -path ./var/cache/debconf \) -prune -o -print \
      | cpio -H newc -o --quiet) > "$W/out/base.cpio.tmp"
  mv "$W/out/base.cpio.tmp" "$W/out/base.cpio"
fi
ls -la "$W/out"
