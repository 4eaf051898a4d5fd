// xl guest configs for the busybox test guest (built by build-base.sh). Its behaviour is chosen by
// words on its kernel command line (see domu-rcS).

/**
 * @param {object} g
 * @param {string} g.name
 * @param {string} [g.readyKey]  the guest writes data/<readyKey>=1 once up
 * @param {number} [g.delay]     seconds the guest takes before it is up
 * @param {boolean} [g.hang]     accepts control/shutdown but never powers off
 * @param {number} [g.memory]    MiB
 */
export function guestConfig(g) {
  const words = ['console=hvc0', 'rdinit=/sbin/init', 'quiet'];
  if (g.readyKey) words.push(`xg.ready=${g.readyKey}`);
  if (g.delay) words.push(`xg.delay=${g.delay}`);
  if (g.hang) words.push('xg.hang');
  return [
    `name = "${g.name}"`,
    'type = "pv"',
    'kernel = "/var/lib/xen-test/vmlinux"',
    'ramdisk = "/var/lib/xen-test/domu.cpio.gz"',
    `extra = "${words.join(' ')}"`,
    `memory = ${g.memory ?? 128}`,
    'vcpus = 1',
    'on_poweroff = "destroy"',
    'on_crash = "destroy"',
    '',
  ].join('\n');
}
