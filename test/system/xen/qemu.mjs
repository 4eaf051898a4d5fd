// Boot Debian's Xen 4.17 + our dom0 under QEMU (TCG: no KVM needed) and collect the serial console
// with a time stamp per line (seconds since QEMU started). Every wait is bounded by `timeoutSec`.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/**
 * @param {object} o
 * @param {string} o.out        directory with xen.elf and vmlinuz
 * @param {string} o.initrd     dom0 initramfs (base + overlay cpio)
 * @param {string} o.logFile    where the time-stamped serial log goes
 * @param {number} o.timeoutSec kill QEMU after this long
 * @param {(line: {t: number, text: string}) => void} [o.onLine]
 * @param {string} [o.dom0Extra] extra dom0 kernel command line words
 * @returns {Promise<{lines: {t:number,text:string}[], timedOut: boolean, exitCode: number|null, seconds: number}>}
 */
export function bootXen(o) {
  const dom0Mem = process.env.XEN_TEST_DOM0_MEM ?? '1536M';
  const xenCmd = `console=com1 com1=115200,8n1 dom0_mem=${dom0Mem},max:${dom0Mem} loglvl=all guest_loglvl=all console_timestamps=boot noreboot`;
  const dom0Cmd = `console=hvc0 earlyprintk=xen rdinit=/sbin/init systemd.show_status=0 quiet ${o.dom0Extra ?? ''}`.trim();
  const args = [
    '-accel', process.env.XEN_TEST_ACCEL ?? 'tcg', '-cpu', 'qemu64', '-m', process.env.XEN_TEST_MEM ?? '3584', '-smp', '2',
    '-nographic', '-no-reboot', '-monitor', 'none', '-serial', 'stdio', '-net', 'none',
    '-kernel', `${o.out}/xen.elf`, '-append', xenCmd,
    '-initrd', `${o.out}/vmlinuz ${dom0Cmd},${o.initrd}`,
  ];
  const started = Date.now();
  const log = createWriteStream(o.logFile);
  const lines = [];
  return new Promise((resolve) => {
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      qemu.kill('SIGKILL');
    }, o.timeoutSec * 1000);
    let partial = '';
    const take = (chunk) => {
      partial += chunk.toString('utf8');
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const raw of parts) emit(raw);
    };
    const emit = (raw) => {
      const text = raw.replace(/\r/g, '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
      const line = { t: (Date.now() - started) / 1000, text };
      lines.push(line);
      log.write(`[${line.t.toFixed(2).padStart(7)}] ${text}\n`);
      o.onLine?.(line);
    };
    qemu.stdout.on('data', take);
    qemu.stderr.on('data', take);
    qemu.on('close', (code) => {
      clearTimeout(timer);
      if (partial) emit(partial);
      const seconds = (Date.now() - started) / 1000;
      log.end(() => resolve({ lines, timedOut, exitCode: code, seconds }));
    });
  });
}
