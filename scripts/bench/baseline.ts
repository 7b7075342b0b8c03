/**
 * The previous build, for a same-run comparison: `git archive <ref>` into a temp directory, this
 * checkout's node_modules linked in and its generated clients copied (both are build outputs the
 * archive lacks), and this checkout's bench server entry (scripts/bench/server.ts, common.ts)
 * copied over the old one, so both builds are started and configured the same way. Deputy runs
 * from its sources through tsx in both, as the bench always runs it.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface BaselineCheckout {
  ref: string;
  commit: string;
  dir: string;
  /** The server entry to start (startServerChild's `script`). */
  serverScript: string;
  remove(): Promise<void>;
}

export async function checkOutBaseline(root: string, ref: string): Promise<BaselineCheckout> {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 512 * 1024 * 1024 });
  const commit = git('rev-parse', '--verify', `${ref}^{commit}`).trim();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'deputy-bench-baseline-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    const archive = execFileSync('git', ['archive', '--format=tar', commit], { cwd: root, maxBuffer: 512 * 1024 * 1024 });
    execFileSync('tar', ['-x', '-C', dir], { input: archive });
    await symlink(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    for (const generated of ['src/generated', 'src/cli/generated']) {
      await cp(path.join(root, generated), path.join(dir, generated), { recursive: true, force: true }).catch(() => {});
    }
    for (const file of ['server.ts', 'common.ts']) {
      await cp(path.join(root, 'scripts/bench', file), path.join(dir, 'scripts/bench', file), { force: true });
    }
  } catch (error) {
    await remove();
    throw error;
  }
  return { ref, commit, dir, serverScript: path.join(dir, 'scripts/bench/server.ts'), remove };
}
