// Placeholder until the simulator lands; replaced by its owner.
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('xen-guests sim: not implemented yet\n');
  return 1;
}
