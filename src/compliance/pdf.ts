/**
 * The PDF form of a compliance report: the HTML of html.ts printed by a headless Chromium
 * (Debian's `chromium`), driven by playwright-core. The page runs with JavaScript disabled and
 * every network request refused: it needs neither.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { SandboxError } from '../errors.js';

/** Names the Chromium executable to use (then only it is tried). */
export const CHROMIUM_ENV = 'AGENTOS_CHROMIUM';

/** What to install where no Chromium is found. */
export const CHROMIUM_INSTALL = 'apt-get install chromium';

const NAMES = ['chromium', 'chromium-browser', 'google-chrome'];

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * A Chromium to print with: `$AGENTOS_CHROMIUM` when set (and only it), else `chromium`,
 * `chromium-browser` or `google-chrome` on PATH or in /usr/bin.
 */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const named = env[CHROMIUM_ENV];
  if (named !== undefined && named !== '') return executable(named) ? named : undefined;
  const dirs = [...(env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''), '/usr/bin'];
  for (const name of NAMES) for (const dir of dirs) if (executable(join(dir, name))) return join(dir, name);
  return undefined;
}

/** The error where no Chromium is found: what to install. */
export function chromiumMissing(env: NodeJS.ProcessEnv = process.env): SandboxError {
  const named = env[CHROMIUM_ENV];
  const where = named ? `${CHROMIUM_ENV}=${named} is not an executable` : `none of ${NAMES.join(', ')} is on PATH`;
  return new SandboxError('INTERNAL', `PDF output needs Chromium and none was found (${where}); install it (${CHROMIUM_INSTALL}), or write --format html and print that`, { missing: 'chromium' });
}

type Playwright = typeof import('playwright-core');

async function playwright(): Promise<Playwright> {
  // A variable specifier: playwright-core is needed only here, so it is loaded only here.
  const specifier = 'playwright-core';
  try {
    return (await import(specifier)) as Playwright;
  } catch (e) {
    throw new SandboxError('INTERNAL', `PDF output needs the playwright-core package, which could not be loaded (${(e as Error).message}); install it (npm install playwright-core)`, { missing: 'playwright-core' });
  }
}

/** Print `html` to `outFile` (A4, backgrounds kept, page numbers in the footer) with the Chromium at `chromiumPath`. */
export async function renderReportPdf(html: string, outFile: string, chromiumPath: string): Promise<void> {
  const { chromium } = await playwright();
  let browser;
  try {
    // As root, Chromium starts only without its own sandbox; the page runs no script and loads nothing.
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  } catch (e) {
    throw new SandboxError('INTERNAL', `could not start Chromium (${chromiumPath}): ${(e as Error).message.split('\n')[0]}; check it runs (${chromiumPath} --headless --version), or reinstall it (${CHROMIUM_INSTALL})`, { chromium: chromiumPath });
  }
  try {
    const context = await browser.newContext({ javaScriptEnabled: false, offline: true });
    const page = await context.newPage();
    await page.route('**/*', (route) => route.abort());
    await page.setContent(html, { waitUntil: 'load' });
    await page.pdf({
      path: outFile,
      format: 'A4',
      printBackground: true,
      margin: { top: '14mm', right: '12mm', bottom: '16mm', left: '12mm' },
      displayHeaderFooter: true,
      headerTemplate: '<span></span>',
      footerTemplate: '<div style="width:100%;font-size:8px;color:#5f6b7a;text-align:center"><span class="pageNumber"></span> / <span class="totalPages"></span></div>',
    });
  } finally {
    await browser.close();
  }
}
