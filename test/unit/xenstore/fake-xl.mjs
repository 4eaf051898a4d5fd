#!/usr/bin/env node
// Stand-in for the `xl` binary in unit tests: a real child process that hands its arguments to the
// test's fake Xen host over a Unix socket ($FAKE_XL_SOCKET) and prints what the host answers.
import net from 'node:net';

const socketPath = process.env.FAKE_XL_SOCKET;
if (!socketPath) {
  process.stderr.write('fake xl: FAKE_XL_SOCKET is not set\n');
  process.exit(127);
}
const s = net.createConnection({ path: socketPath });
let answer = '';
s.on('connect', () => s.end(JSON.stringify(process.argv.slice(2))));
s.on('data', (d) => (answer += d.toString('utf8')));
s.on('error', (err) => {
  process.stderr.write(`fake xl: ${err.message}\n`);
  process.exit(127);
});
s.on('close', () => {
  const r = JSON.parse(answer || '{"code":127,"stdout":"","stderr":"fake xl: no answer\\n"}');
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  process.exitCode = r.code;
});
