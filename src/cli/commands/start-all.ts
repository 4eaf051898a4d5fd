// Placeholder until the command lands; replaced by its owner.
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('xen-guests start-all: not implemented yet\n');
  return 1;
}
