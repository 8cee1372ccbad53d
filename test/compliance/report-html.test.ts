/**
 * The readable and printable forms of a compliance report: a real agent in a real sandbox makes
 * allowed reads and denials (enough for a monitor alert); `agentos compliance report --format
 * html|pdf` renders the SOC 2 assessment of that log. The HTML is opened in real headless
 * Chromium (playwright-core): the summary shows the overall status, every SOC 2 requirement is
 * there, a non-compliant control's reason is visible, the charts have bars, and a policy path
 * carrying `<script>` is shown as text, never run. The PDF is rasterised with pdftoppm: at least
 * two pages, as many as the PDF says, and none of them blank. A screenshot is saved.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import { createSandbox } from '../../dist/index.js';
import { frameworkById } from '../../dist/compliance/frameworks/index.js';
import type { ComplianceReport } from '../../dist/compliance/report.js';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { chromiumPath, needs } from '../helpers/requirements.js';
import { skipUnless } from '../helpers/skip.js';
import { agentosIn } from '../helpers/cli.js';
import { TEST_CACHE_DIR, tempDir } from '../helpers/sandbox.js';

const SHOTS = join(REPO_ROOT, 'test', 'compliance', 'screenshots');
const tmp = tempDir('agentos-compliance-html-');
afterAll(() => tmp.cleanup());

const agentos = agentosIn(tmp.dir);

const auditDir = join(tmp.dir, 'audit');
const data = join(tmp.dir, 'data');
const good = {
  version: 1,
  capabilities: { allowed: ['read_files'], forbidden: ['network_access'] },
  mounts: [{ guest: '/w', host: data, mode: 'ro' }],
  fileAccess: { forbidden: ['/w/secret.txt'] },
};
// A policy whose path (as given on the command line, so in the report's reasons and sources) is markup.
const HOSTILE_DIR = 'x<script>window.pwned=1<';
const HOSTILE = `${HOSTILE_DIR}/script>.json`;
const wide = { version: 1, capabilities: { allowed: ['read_files'], forbidden: ['network_access'] }, mounts: [{ guest: '/host-etc', host: '/etc', mode: 'rw' }] };
const REPORT_ARGS = ['compliance', 'report', '--framework', 'soc2', '--audit', auditDir, '--policy', 'good.json', '--policy', HOSTILE];

/** The latest assessment the CLI keeps (the signed JSON), whatever the format written. */
const latest = () => JSON.parse(readFileSync(join(auditDir, 'compliance', 'soc2.json'), 'utf8')) as ComplianceReport;

/** Decode an 8-bit, non-interlaced PNG (what pdftoppm writes) into its channels and the share of pixels that are not white. */
function inkShare(file: string): number {
  const png = readFileSync(file);
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  for (let off = 8; off < png.length; ) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    const body = png.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      expect(body[8]).toBe(8);
      expect(body[12]).toBe(0);
      channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[body[9]!] ?? 0;
    } else if (type === 'IDAT') idat.push(body);
    off += 12 + len;
  }
  expect(channels).toBeGreaterThan(0);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const cur = Buffer.alloc(stride);
  const prev = Buffer.alloc(stride);
  let ink = 0;
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? cur[i - channels]! : 0;
      const b = prev[i]!;
      const c = i >= channels ? prev[i - channels]! : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      cur[i] = (line[i]! + pred) & 0xff;
    }
    for (let x = 0; x < width; x++) {
      const px = cur.subarray(x * channels, x * channels + Math.min(channels, 3));
      if (px.some((v) => v < 240)) ink++;
    }
    cur.copy(prev);
  }
  return ink / (width * height);
}

describe('agentos compliance report --format html|pdf', () => {
  beforeAll(async () => {
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'a.txt'), 'a');
    writeFileSync(join(data, 'secret.txt'), 's');
    writeFileSync(join(tmp.dir, 'good.json'), JSON.stringify(good));
    mkdirSync(join(tmp.dir, HOSTILE_DIR), { recursive: true });
    writeFileSync(join(tmp.dir, HOSTILE), JSON.stringify(wide));
    const sandbox = createSandbox({ audit: { dir: auditDir }, cacheDir: TEST_CACHE_DIR });
    try {
      const agent = await sandbox.load(fixturePath('fsprobe'), { policy: good });
      await agent.run(['read /w/a.txt', 'read /w/a.txt', 'read /w/a.txt', ...Array.from({ length: 10 }, () => 'read /w/secret.txt')].join('\n'));
      await sandbox.monitor.settle();
    } finally {
      await sandbox.close();
    }
  }, 120_000);

  it('html: one self-contained page, every string escaped, and the signed JSON still kept as the latest assessment', () => {
    const r = agentos([...REPORT_ARGS, '--format', 'html', '-o', 'r.html']);
    expect(r.stderr).toMatch(/^SOC 2 .*: non_compliant .*written to r\.html$/m);
    expect(r.status).toBe(0);
    const html = readFileSync(join(tmp.dir, 'r.html'), 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    // No script at all, no external resource; the hostile path only as escaped text.
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\b(?:src|href)="(?!#)/);
    expect(html).toContain('x&#60;script&#62;window.pwned=1&#60;/script&#62;.json');
    const report = latest();
    expect(report.format).toBe('agentos-compliance-report/1');
    expect(report.signature).toMatch(/^[A-Za-z0-9+/]+=*$/);
    // To stdout without --out.
    const out = agentos([...REPORT_ARGS, '--format', 'html']);
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^<!doctype html>[^]*<\/html>\n$/);
  }, 120_000);

  it('html in Chromium: the overall status, every SOC 2 requirement, a non-compliant reason, bars in the charts, the hostile path shown and not run', async (ctx) => {
    skipUnless(ctx, needs.chromium());
    if (!existsSync(join(tmp.dir, 'r.html'))) expect(agentos([...REPORT_ARGS, '--format', 'html', '-o', 'r.html']).status).toBe(0);
    const report = latest();
    const browser = await chromium.launch({ executablePath: chromiumPath()!, headless: true, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      await page.goto(pathToFileURL(join(tmp.dir, 'r.html')).href);
      // The summary: the overall status, as the signed report says it.
      expect(report.assessment.overallStatus).toBe('non_compliant');
      expect(await page.locator('#summary .overall .badge').textContent()).toBe('non-compliant');
      const s = report.assessment.summary;
      for (const [k, n] of Object.entries({ compliant: s.compliant, partial: s.partial, non_compliant: s.non_compliant, not_assessed: s.not_assessed })) expect(await page.locator(`.count.${k} .n`).textContent()).toBe(String(n));
      expect(await page.locator('#summary .notice').textContent()).toMatch(/not compliant by software alone/);
      // Every requirement of SOC 2, in its order, each with a heading naming it.
      const ids = frameworkById('soc2')!.requirements.map((q) => q.id);
      expect(ids.length).toBeGreaterThan(5);
      expect(await page.locator('section.requirement').evaluateAll((els) => els.map((e) => e.getAttribute('data-requirement')))).toEqual(ids);
      for (const id of ids) expect(await page.locator(`section.requirement[data-requirement="${id}"] h3`).textContent()).toContain(id);
      // A non-compliant control and its reason, visible: the unsigned component.
      const unsigned = page.locator('tr.control.non_compliant').filter({ hasText: 'none of the 1 components started had a verified signature' }).first();
      expect(await unsigned.isVisible()).toBe(true);
      expect(await unsigned.locator('.badge').textContent()).toBe('non-compliant');
      // Controls that need a person say so.
      expect(await page.locator('tr.control.not_assessed').filter({ hasText: 'needs a person' }).count()).toBe(s.manual);
      // Record evidence: cited sequence numbers, each marked proven.
      expect(await page.locator('.seq.proven').count()).toBeGreaterThan(3);
      expect(await page.locator('.seq.unproven').count()).toBe(0);
      // The charts: decisions (allowed and denied) and alerts, as bars of some height.
      const heights = await page.locator('svg.chart rect.bar').evaluateAll((els) => els.map((e) => ({ cls: e.getAttribute('class'), h: Number(e.getAttribute('height')) })));
      expect(heights.filter((b) => b.cls === 'bar allowed' && b.h > 0).length).toBeGreaterThan(0);
      expect(heights.filter((b) => b.cls === 'bar denied' && b.h > 0).length).toBeGreaterThan(0);
      expect(heights.filter((b) => b.cls === 'bar alert' && b.h > 0).length).toBeGreaterThan(0);
      expect(await page.locator('svg.chart rect.bar.denied title').first().textContent()).toMatch(/: 10 denied$/);
      // The hostile policy path: shown as text (in a reason and as a source), no script element, nothing run.
      expect(await page.locator('script').count()).toBe(0);
      expect(await page.evaluate('typeof window.pwned')).toBe('undefined');
      expect(await page.locator('td.source').filter({ hasText: HOSTILE }).count()).toBeGreaterThan(0);
      const reason = page.locator('tr.control.non_compliant li').filter({ hasText: `${HOSTILE}: mounts /etc read-write at /host-etc` }).first();
      expect(await reason.isVisible()).toBe(true);
      mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, 'report-soc2.png'), fullPage: true });
      await page.emulateMedia({ media: 'print' });
      await page.screenshot({ path: join(SHOTS, 'report-soc2-print.png'), fullPage: false });
    } finally {
      await browser.close();
    }
  }, 120_000);

  it('pdf: A4 pages printed by Chromium, at least two, none blank', (ctx) => {
    skipUnless(ctx, needs.chromium(), needs.pdftoppm());
    const r = agentos([...REPORT_ARGS, '--format', 'pdf', '-o', 'r.pdf']);
    expect(r.stderr).toMatch(/written to r\.pdf/);
    expect(r.status).toBe(0);
    expect(readFileSync(join(tmp.dir, 'r.pdf')).subarray(0, 5).toString()).toBe('%PDF-');
    const info = spawnSync('pdfinfo', ['r.pdf'], { cwd: tmp.dir, encoding: 'utf8' });
    const pages = Number(/^Pages:\s+(\d+)$/m.exec(info.stdout)?.[1]);
    expect(info.stdout).toMatch(/^Page size:.*\(A4\)$/m);
    // Page 1: header, summary, charts and the overview; the requirements start on a page of their own.
    expect(pages).toBeGreaterThanOrEqual(2);
    const ras = spawnSync('pdftoppm', ['-png', '-r', '50', 'r.pdf', 'page'], { cwd: tmp.dir, encoding: 'utf8' });
    expect(ras.status, ras.stderr).toBe(0);
    const images = readdirSync(tmp.dir).filter((f) => /^page-\d+\.png$/.test(f)).sort();
    expect(images.length).toBe(pages);
    // The first page carries the header, the summary and the charts; the second, requirements; the last is not an empty spill-over.
    expect(inkShare(join(tmp.dir, images[0]!))).toBeGreaterThan(0.02);
    expect(inkShare(join(tmp.dir, images[1]!))).toBeGreaterThan(0.02);
    expect(inkShare(join(tmp.dir, images[images.length - 1]!))).toBeGreaterThan(0.002);
  }, 180_000);

  it('pdf needs --out (usage, exit 2); without Chromium it fails saying what to install, and writes nothing', () => {
    const noOut = agentos([...REPORT_ARGS, '--format', 'pdf']);
    expect(noOut.status).toBe(2);
    expect(noOut.stderr).toMatch(/--format pdf writes a file: give --out FILE/);
    const missing = agentos([...REPORT_ARGS, '--format', 'pdf', '-o', 'none.pdf'], { AGENTOS_CHROMIUM: join(tmp.dir, 'no-such-chromium') });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/PDF output needs Chromium and none was found.*apt-get install chromium/);
    expect(existsSync(join(tmp.dir, 'none.pdf'))).toBe(false);
    expect(agentos([...REPORT_ARGS, '--format', 'docx']).status).toBe(2);
  }, 60_000);
});
