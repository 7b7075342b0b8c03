/**
 * scripts/build.mjs, which `npm run build` runs and `npm start` runs with --if-stale first: a
 * developer who edited src/ never runs a stale dist/, an unchanged tree is not recompiled, and
 * without TypeScript (a production install) a missing or stale dist/ is an error, while a
 * published package (dist/ without src/) runs as shipped. Exercised on a one-file project
 * laid out like Deputy, with this checkout's TypeScript.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('scripts/build.mjs', () => {
  let project: string;
  const file = (name: string) => path.join(project, name);
  const build = (...args: string[]) => spawnSync(process.execPath, [file('scripts/build.mjs'), ...args], { cwd: project, encoding: 'utf8' });
  /** Marks a source as edited after the last build, whatever the file system's time resolution. */
  const edit = (source: string) => {
    writeFileSync(file(source), `export const built = ${Date.now()};\n`);
    const later = new Date(statSync(file('dist/.tsbuildinfo')).mtimeMs + 5000);
    utimesSync(file(source), later, later);
  };

  beforeAll(() => {
    project = mkdtempSync(path.join(os.tmpdir(), 'deputy-build-'));
    mkdirSync(file('scripts'));
    mkdirSync(file('src'));
    copyFileSync(path.join(ROOT, 'scripts/build.mjs'), file('scripts/build.mjs'));
    writeFileSync(file('tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, types: [] } }));
    writeFileSync(
      file('tsconfig.build.json'),
      JSON.stringify({ extends: './tsconfig.json', compilerOptions: { rootDir: 'src', outDir: 'dist', incremental: true, tsBuildInfoFile: 'dist/.tsbuildinfo' }, include: ['src'] }),
    );
    writeFileSync(file('src/main.ts'), 'export const built = 1;\n');
    symlinkSync(path.join(ROOT, 'node_modules'), file('node_modules'), 'dir');
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it('--if-stale builds a missing dist/', () => {
    const result = build('--if-stale');
    expect([result.status, result.stderr]).toEqual([0, 'deputy: building dist/ (src/ changed since the last build)\n']);
    expect(readFileSync(file('dist/main.js'), 'utf8')).toContain('built = 1');
  });

  it('--if-stale leaves an up-to-date dist/ alone, without compiling', () => {
    const stamp = statSync(file('dist/.tsbuildinfo')).mtimeMs;
    const result = build('--if-stale');
    expect([result.status, result.stdout, result.stderr]).toEqual([0, '', '']);
    expect(statSync(file('dist/.tsbuildinfo')).mtimeMs).toBe(stamp);
  });

  it('--if-stale rebuilds after a source changed', () => {
    edit('src/main.ts');
    const result = build('--if-stale');
    expect([result.status, result.stderr]).toEqual([0, 'deputy: building dist/ (src/ changed since the last build)\n']);
    expect(readFileSync(file('dist/main.js'), 'utf8')).toMatch(/built = \d{13}/);
    expect(build('--if-stale').stderr).toBe('');
  });

  it('without TypeScript, refuses a stale dist/ instead of running it', () => {
    unlinkSync(file('node_modules'));
    edit('src/main.ts');
    const result = build('--if-stale');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('src/ changed after dist/ was built, and TypeScript (a dev dependency) is not installed');
  });

  it('without TypeScript, runs a published package as shipped (dist/ and no src/)', () => {
    rmSync(file('src'), { recursive: true });
    rmSync(file('dist/.tsbuildinfo')); // npm pack leaves it out
    expect(build('--if-stale')).toMatchObject({ status: 0, stderr: '' });
  });

  it('without TypeScript, says how to build a missing dist/', () => {
    rmSync(file('dist'), { recursive: true });
    const result = build('--if-stale');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('dist/ is missing and TypeScript (a dev dependency) is not installed: run `npm ci` then `npm run build`');
  });
});
