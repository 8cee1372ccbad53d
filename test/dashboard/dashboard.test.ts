/**
 * The dashboard in a real headless browser (Debian chromium, driven by playwright-core): a
 * denial appears within a second of the call; after a brute-force scenario the alert and the
 * quarantine appear, and the incident is released from the page with the token. Screenshots
 * are saved. Plus the server's own refusals: another Host (DNS rebinding), actions without the
 * token or from another origin.
 */
import { request } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
// Through the package's own entry, as a user imports it.
import { createSandbox, startDashboard } from 'agent-os-sandbox';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { chromiumPath, needs } from '../helpers/requirements.js';
import { skipUnless } from '../helpers/skip.js';
import { TEST_CACHE_DIR, tempDir } from '../helpers/sandbox.js';

const tmp = tempDir('agentos-dashboard-');
afterAll(() => tmp.cleanup());
/** Where the screenshots go (the README shows one). */
const SHOTS = join(REPO_ROOT, 'test', 'dashboard', 'screenshots');

function raw(port: number, path: string, headers: Record<string, string>, method = 'GET', body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('dashboard', () => {
  it('shows a denial within a second, then the brute-force alert and the quarantine, and releases the incident with the token', async (ctx) => {
    skipUnless(ctx, needs.chromium());
    const audit = join(tmp.dir, 'audit');
    writeFileSync(join(tmp.dir, 'a.txt'), 'a');
    const s = createSandbox({ cacheDir: TEST_CACHE_DIR, audit: { dir: audit }, prewarmWorkers: 0, monitor: { containAt: 'high' } });
    const policy = { version: 1, capabilities: { allowed: ['read_files'] }, mounts: [{ guest: '/w', host: tmp.dir, mode: 'ro' }], fileAccess: { readonly: ['/w/**'], readwrite: [], forbidden: ['/w/secret.txt'] } };
    const agent = await s.load(fixturePath('fsprobe'), { policy });
    await agent.run('read /w/a.txt');
    const d = await startDashboard({ audit, token: 'a dashboard token, long enough', metrics: () => s.metrics() });
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: chromiumPath()!, headless: true, args: ['--no-sandbox'] });
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await page.goto(d.url);
      await page.locator('#verify').filter({ hasText: 'verified' }).waitFor({ timeout: 10_000 });
      // A denial, seen on the page within a second of the call returning.
      await agent.run('read /w/secret.txt');
      const t0 = Date.now();
      await page.locator('#records tr.denied').filter({ hasText: '/w/secret.txt' }).first().waitFor({ timeout: 1000 });
      expect(Date.now() - t0).toBeLessThan(1000);
      mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, 'dashboard-denial.png'), fullPage: true });
      // Brute force: a revoked identity keeps calling; high alerts contain here.
      agent.revokeIdentity({ reason: 'test: brute force' });
      await agent.run(Array.from({ length: 5 }, () => 'read /w/a.txt').join('\n')).catch(() => {});
      await page.locator('#alerts tr[data-alert="brute_force_attack"]').first().waitFor({ timeout: 5000 });
      await page.locator('#agents td.state-quarantined').first().waitFor({ timeout: 5000 });
      const row = page.locator('#incidents tr[data-state="contained"]').first();
      await row.waitFor({ timeout: 5000 });
      await page.screenshot({ path: join(SHOTS, 'dashboard-quarantine.png'), fullPage: true });
      // Without the token the page refuses to act; with it, the release is handed to the sandbox.
      await page.fill('#token', 'a dashboard token, long enough');
      page.once('dialog', (dlg) => void dlg.accept('reviewed: a drill'));
      await row.locator('button.release').click();
      await page.locator('#message').filter({ hasText: 'release' }).waitFor({ timeout: 5000 });
      await vi.waitFor(() => expect(s.monitor.quarantined()).toEqual([]), { timeout: 5000 });
      await page.locator('#incidents tr[data-state="resolved"]').first().waitFor({ timeout: 5000 });
      await page.screenshot({ path: join(SHOTS, 'dashboard-released.png'), fullPage: true });
      const metrics = await raw(d.port, '/metrics', { host: `127.0.0.1:${d.port}` });
      expect(metrics.body).toContain('agentos_alerts_total{type="brute_force_attack",severity="high"} 1');
    } finally {
      await browser?.close();
      await d.close();
      await s.close();
    }
  }, 60_000);

  it('refuses requests for another host, actions without the token and actions from another origin', async () => {
    const audit = join(tmp.dir, 'audit-empty');
    const d = await startDashboard({ audit, token: 'a dashboard token, long enough' });
    try {
      const own = { host: `127.0.0.1:${d.port}` };
      expect((await raw(d.port, '/api/state', own)).status).toBe(200);
      expect((await raw(d.port, '/api/state', { host: `evil.example:${d.port}` })).status).toBe(403);
      const release = (headers: Record<string, string>) => raw(d.port, '/api/incidents/inc-abc-12345678/release', { ...own, 'content-type': 'application/json', ...headers }, 'POST', JSON.stringify({ reason: 'x', by: 'y' }));
      expect((await release({})).status).toBe(401);
      expect((await release({ authorization: 'Bearer wrong token, long enough' })).status).toBe(401);
      expect((await release({ authorization: 'Bearer a dashboard token, long enough', origin: 'http://evil.example' })).status).toBe(403);
      expect((await release({ authorization: 'Bearer a dashboard token, long enough' })).status).toBe(400);
    } finally {
      await d.close();
    }
  });
});
