/**
 * The Dockerfile, read as text (no Docker engine is needed): two stages on Node 24, a
 * build that runs what CI runs with every file tsc compiles in its context, a runtime
 * stage with what the command imports and nothing of the benchmarks, iptables and
 * iproute2 installed without recommends or package lists, a non-root user, no
 * HEALTHCHECK, OCI labels.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/process.js';

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Instructions of a Dockerfile: comments dropped, continuation lines joined. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    pending += line.replace(/\\\s*$/, ' ');
    if (/\\\s*$/.test(line)) continue;
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(pending.trim());
    if (m?.[1] && m[2] !== undefined) out.push({ keyword: m[1].toUpperCase(), args: m[2].trim() });
    pending = '';
  }
  return out;
}

const all = instructions(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
/** The stages, each starting with its FROM. */
const stages: Instruction[][] = [];
for (const i of all) {
  if (i.keyword === 'FROM') stages.push([]);
  stages.at(-1)?.push(i);
}
const build = stages[0] ?? [];
const final = stages.at(-1) ?? [];
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; license: string; scripts: Record<string, string> };
const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };

/** Sources and destination of a COPY (flags such as --from kept apart). */
function copy(i: Instruction): { from: string | undefined; sources: string[]; dest: string } {
  const words = i.args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((w) => !w.startsWith('--'));
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1) ?? '' };
}
const copies = (stage: Instruction[]) => stage.filter((i) => i.keyword === 'COPY').map(copy);

/** .dockerignore as Docker reads it (no `!` exceptions: the test asserts there are none). */
const ignorePatterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
const ignoreRegexes = ignorePatterns.map(
  (p) => new RegExp(`^${normalize(p).replace(/^\/+/, '').replace(/[.+^${}()|[\]]/g, '\\$&').replace(/\*\*\/?|\*|\?/g, (t) => (t.startsWith('**') ? '(.*/)?' : t === '*' ? '[^/]*' : '[^/]'))}$`),
);
/** True when the path, or a directory above it, is kept out of the build context. */
function ignored(path: string): boolean {
  const parts = normalize(path).split('/');
  return parts.some((_, n) => ignoreRegexes.some((re) => re.test(parts.slice(0, n + 1).join('/'))));
}

/** Top-level directories of the files `entry` imports, transitively (relative imports, import(), new URL(..., import.meta.url)). */
function importedDirectories(entry: string): Set<string> {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop() ?? '';
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(join(ROOT, file), 'utf8');
    const specifiers = [...text.matchAll(/(?:from |import\(?)\s*'(\.\.?\/[^']+)'|new URL\('(\.\.?\/[^']+)', import\.meta\.url\)/g)].map((m) => m[1] ?? m[2] ?? '');
    for (const s of specifiers) {
      if (s.includes('/dist/')) continue;
      const target = normalize(join(dirname(file), s)).replace(/\.js$/, '.ts');
      if (existsSync(join(ROOT, target))) queue.push(target);
    }
  }
  return new Set([...seen].map((f) => f.split('/')[0] ?? ''));
}

describe('Dockerfile', () => {
  it('has a build stage and a runtime stage, both on Node 24 LTS', () => {
    expect(stages).toHaveLength(2);
    expect(build[0]?.args).toMatch(/^node:24-bookworm-slim AS build$/i);
    expect(final[0]?.args).toBe('node:24-bookworm-slim');
  });

  it('builds with what CI runs: npm ci (whose prepare builds dist/), then npm prune --omit=dev', () => {
    const run = build.filter((i) => i.keyword === 'RUN').map((i) => i.args).join(' && ');
    const ci = /^\s*(npm ci\b.*)$/m.exec(readFileSync(join(ROOT, '.ci', 'run'), 'utf8'))?.[1]?.trim();
    expect(ci).toBeDefined();
    expect(run).toContain(ci);
    expect(run.indexOf('npm prune --omit=dev')).toBeGreaterThan(run.indexOf(ci ?? ''));
    expect(pkg.scripts['prepare']).toBe('npm run build');
    expect(pkg.scripts['build']).toBe('tsc -p tsconfig.json');
  });

  it('gives the build every file tsc compiles, and no COPY names something missing or kept out of the context', () => {
    const sources = copies(build).flatMap((c) => c.sources);
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json']) expect(sources).toContain(f);
    for (const dir of tsconfig.include) expect(sources, dir).toContain(dir);
    for (const c of copies(all).filter((x) => x.from === undefined)) {
      for (const s of c.sources) {
        expect(existsSync(join(ROOT, s)), s).toBe(true);
        expect(ignored(s), s).toBe(false);
      }
    }
    const compiled = execFileSync('git', ['ls-files', ...tsconfig.include], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((f) => f.endsWith('.ts'));
    expect(compiled.length).toBeGreaterThan(50);
    expect(compiled.filter(ignored)).toEqual([]);
    expect(ignorePatterns.filter((p) => p.startsWith('!'))).toEqual([]);
    // The context leaves out what the image never needs.
    for (const path of ['node_modules/x', 'dist/x', '.git', 'test/x.ts', 'bench/results/x', 'deploy/x', 'keys/holdfast.key', 'a/b.key']) expect(ignored(path), path).toBe(true);
  });

  it('keeps in the image what the holdfast command imports, and not the benchmarks', () => {
    const fromBuild = copies(final).filter((c) => c.from === 'build').flatMap((c) => c.sources.map((s) => relative('/app', s)));
    for (const dir of importedDirectories('cli/main.ts')) expect(fromBuild, dir).toContain(`dist/${dir}`);
    for (const needed of ['package.json', 'node_modules', 'bin']) expect(fromBuild).toContain(needed);
    expect(fromBuild.filter((s) => s === 'dist' || s.startsWith('dist/bench') || s.startsWith('bench'))).toEqual([]);
    expect(final.find((i) => i.keyword === 'ENTRYPOINT')?.args).toBe('["node", "/app/bin/holdfast"]');
    expect(readFileSync(join(ROOT, 'bin', 'holdfast'), 'utf8')).toContain("'../dist/cli/main.js'");
  });

  it('runs as a non-root user and has no HEALTHCHECK', () => {
    const user = final.filter((i) => i.keyword === 'USER').at(-1)?.args ?? '';
    const uid = user.split(':')[0] ?? '';
    // Numeric, so that kubelet can check runAsNonRoot without the image's passwd file.
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    expect(all.filter((i) => i.keyword === 'HEALTHCHECK')).toEqual([]);
  });

  it('installs iptables and iproute2 without recommends, and drops the package lists', () => {
    const apt = final.filter((i) => i.keyword === 'RUN' && i.args.includes('apt-get install'));
    expect(apt).toHaveLength(1);
    const run = apt[0]?.args ?? '';
    expect(run).toMatch(/apt-get install -y --no-install-recommends/);
    expect(run.split(/\s+/)).toEqual(expect.arrayContaining(['iptables', 'iproute2']));
    expect(run).toMatch(/apt-get update/);
    expect(run).toMatch(/rm -rf \/var\/lib\/apt\/lists\/\*$/);
  });

  it('carries the OCI labels, with the version and licence of package.json', () => {
    const labels = Object.fromEntries(
      [...final.filter((i) => i.keyword === 'LABEL').map((i) => i.args).join(' ').matchAll(/(\S+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    for (const key of ['title', 'description', 'version', 'revision', 'licenses']) expect(labels[`org.opencontainers.image.${key}`], key).toBeTruthy();
    const args = Object.fromEntries(final.filter((i) => i.keyword === 'ARG').map((i) => i.args.split('=')));
    expect(labels['org.opencontainers.image.version']).toBe('${VERSION}');
    expect(args['VERSION']).toBe(pkg.version);
    expect(labels['org.opencontainers.image.licenses']).toBe(pkg.license);
  });
});
