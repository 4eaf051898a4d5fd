// Stage the per-run overlay of the dom0 root (the project, its unit, config, guest configs, test
// units) in a directory, pack it as a cpio and append it to the cached base: the kernel unpacks
// concatenated archives in order, so the overlay wins.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function createStage(dir) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const at = (p) => path.join(dir, p);
  return {
    dir,
    file(p, content, mode = 0o644) {
      mkdirSync(path.dirname(at(p)), { recursive: true });
      writeFileSync(at(p), content);
      chmodSync(at(p), mode);
    },
    copy(from, p) {
      mkdirSync(path.dirname(at(p)), { recursive: true });
      cpSync(from, at(p), { recursive: true, dereference: true });
    },
    link(target, p) {
      mkdirSync(path.dirname(at(p)), { recursive: true });
      rmSync(at(p), { force: true });
      symlinkSync(target, at(p));
    },
    /** Enable a unit the way `systemctl enable` would for WantedBy=multi-user.target. */
    enable(unit, target = 'multi-user.target') {
      this.link(`/etc/systemd/system/${unit}`, `etc/systemd/system/${target}.wants/${unit}`);
    },
  };
}

/** dist/ and the production dependencies only (the dev tools are large and unused in dom0). */
export function stageProject(stage, repo) {
  if (!existsSync(path.join(repo, 'dist/src/cli/bin.js'))) throw new Error(`${repo}/dist/src/cli/bin.js missing: run npm run build first`);
  stage.copy(path.join(repo, 'dist'), 'opt/xen-guests/dist');
  stage.copy(path.join(repo, 'package.json'), 'opt/xen-guests/package.json');
  const listed = spawnSync('npm', ['ls', '--omit=dev', '--parseable', '--all'], { cwd: repo, encoding: 'utf8' });
  const dirs = listed.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith(path.join(repo, 'node_modules')));
  if (dirs.length === 0) throw new Error(`npm ls found no production dependencies in ${repo}: ${listed.stderr.slice(0, 400)}`);
  for (const d of dirs) stage.copy(d, path.join('opt/xen-guests', path.relative(repo, d)));
  stage.file('usr/local/bin/xen-guests', '#!/bin/sh\nexec /usr/bin/node /opt/xen-guests/dist/src/cli/bin.js "$@"\n', 0o755);
}

export function packInitrd(stage, baseCpio, outFile) {
  const overlay = `${outFile}.overlay`;
  execFileSync('sh', ['-c', `cd "${stage.dir}" && find . | cpio -H newc -o --quiet > "${overlay}" && cat "${baseCpio}" "${overlay}" > "${outFile}"`]);
  rmSync(overlay, { force: true });
}
