// The stage folders meet only through src/event.ts (and the shared modules beside it); only main.ts and
// the pipeline know them all. A type that travels between stages belongs in event.ts, not in a stage.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', 'src');
const STAGES = ['sources', 'enrichment', 'export'] as const;

it.each(STAGES)('src/%s imports no other stage folder', (stage) => {
  const crossings: string[] = [];
  for (const file of readdirSync(join(SRC, stage), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(SRC, stage, file), 'utf8');
    for (const [, specifier] of text.matchAll(/(?:from|import\()\s*'([^']+)'/g)) {
      const other = STAGES.find((s) => s !== stage && new RegExp(`(^|/)\\.\\./${s}/`).test(specifier ?? ''));
      if (other !== undefined) crossings.push(`${stage}/${file} -> ${specifier}`);
    }
  }
  expect(crossings).toEqual([]);
});
