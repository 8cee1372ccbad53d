/**
 * The run's closing summary, after the default reporter's coloured one:
 * - every skipped test grouped under the reason it was skipped for and the command that
 *   enables it (the note of `ctx.skip(note)`, see `test/helpers/requirements.ts`); a skip with
 *   no reason is listed by name, so nothing is skipped silently;
 * - parts of the run that did not start at all (the wasmtime project without the addon);
 * - one plain closing line, `N passed, N failed` (and `, N skipped`), so tools that read a
 *   run's last line need not parse colours.
 */
import type { Reporter } from 'vitest/reporters';

interface TaskLike {
  type: string;
  name: string;
  mode?: string;
  result?: { state?: string; note?: string };
  tasks?: TaskLike[];
  projectName?: string;
  file?: { projectName?: string; name?: string };
}

/**
 * Parts of the run left out before any test was collected, with their reason: vitest.config.ts
 * puts them in this variable as a JSON list of lines (config and reporter are loaded apart).
 */
export const LEFT_OUT_ENV = 'AGENTOS_TEST_LEFT_OUT';

function leftOutLines(): string[] {
  try {
    const v: unknown = JSON.parse(process.env[LEFT_OUT_ENV] ?? '[]');
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
}

export default class SummaryReporter implements Reporter {
  onFinished(files: TaskLike[] = []): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const reasons = new Map<string, number>();
    const silent: string[] = [];
    const walk = (t: TaskLike, note: string | undefined, path: string) => {
      // A suite's reason: the note of a skipped test directly inside it (describeNeeds).
      const here = t.tasks?.find((c) => c.type === 'test' && c.result?.note)?.result?.note ?? note;
      const label = path ? `${path} > ${t.name}` : t.name;
      if (t.tasks) {
        for (const c of t.tasks) walk(c, here, label);
      }
      if (t.type !== 'test') return;
      const state = t.result?.state;
      if (state === 'pass') passed++;
      else if (state === 'fail') failed++;
      else {
        skipped++;
        const reason = t.result?.note ?? here;
        if (reason) reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        else if (t.mode !== 'todo') silent.push(label);
      }
    };
    for (const f of files) walk(f, undefined, f.projectName ? `[${f.projectName}]` : '');
    const leftOut = leftOutLines();
    const out: string[] = [];
    if (reasons.size > 0 || silent.length > 0 || leftOut.length > 0) out.push('', 'Skipped:');
    for (const line of leftOut) out.push(`  ${line}`);
    for (const [reason, n] of reasons) out.push(`  ${n} test${n === 1 ? '' : 's'}: ${reason}`);
    if (silent.length > 0) {
      out.push(`  ${silent.length} test${silent.length === 1 ? '' : 's'} skipped without a reason (give them one with test/helpers/requirements.ts):`);
      for (const name of silent.slice(0, 20)) out.push(`    ${name}`);
      if (silent.length > 20) out.push(`    … and ${silent.length - 20} more`);
    }
    out.push('', `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
    process.stdout.write(out.join('\n') + '\n');
  }
}
