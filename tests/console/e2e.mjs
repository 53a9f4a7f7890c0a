// Browser steps of tests/compat/test_console_browser.py: Playwright driving Debian's chromium
// headless against a real `archfn serve`. Usage: node e2e.mjs <phase> <base url> <json args>.
// Prints one JSON object of what the page showed; exits 1 (with the error) when a step fails.
// Screenshots go to ARCHFN_SCREENSHOTS when it is set (docs/console/ for the README).
import { chromium } from 'playwright-core';
import path from 'node:path';

const [phase, base, rawArgs] = process.argv.slice(2);
const args = JSON.parse(rawArgs || '{}');
const shots = process.env.ARCHFN_SCREENSHOTS;

async function shot(page, name) {
  if (shots) await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

const phases = {
  // The functions list, a function's page, the architecture switch (scan first), a test invoke,
  // and a payload that is not JSON.
  async switch(page) {
    const fn = args.function;
    await page.goto(`${base}/console/`);
    const row = page.locator('tr', { has: page.locator(`a:text-is("${fn}")`) });
    const listedArch = (await row.locator('.badge').first().textContent()).trim();
    await shot(page, 'functions');
    await row.locator(`a:text-is("${fn}")`).click();
    await page.waitForSelector('h1');
    await shot(page, 'function');
    await page.getByRole('link', { name: /Switch to arm64/ }).click();
    await page.waitForSelector('form.switch, .findings, h1');
    const review = await page.locator('main').innerText();
    await shot(page, 'architecture-switch');
    await page.getByRole('button', { name: /Switch to arm64/ }).click();
    await page.waitForURL(/\/console\/functions\//);
    const switchedArch = (await page.locator('h1 .badge').textContent()).trim();
    // The switch is an UpdateFunctionCode: until its update is done, Invoke answers a conflict.
    let invoke = '';
    for (let i = 0; i < 60; i++) {
      await page.fill('#payload', '{"from": "console"}');
      await page.getByRole('button', { name: 'Invoke' }).click();
      await page.waitForSelector('h1');
      invoke = await page.locator('main').innerText();
      if (!invoke.includes('ResourceConflictException')) break;
      await page.goBack();
      await page.waitForTimeout(500);
    }
    await shot(page, 'test-invoke');
    await page.goBack();
    await page.fill('#payload', '{not json');
    await page.getByRole('button', { name: 'Invoke' }).click();
    const badPayload = await page.locator('main').innerText();
    return { listedArch, review, switchedArch, invoke, badPayload };
  },

  // An alias's weight set with the slider, then a weight over 100% refused.
  async weights(page) {
    const { function: fn, alias, version, percent } = args;
    await page.goto(`${base}/console/functions/${fn}`);
    const form = page.locator(`form.weights[action*="/aliases/${alias}"]`);
    await form.locator('select[name=version]').selectOption(version);
    const slider = form.locator('input[type=range]');
    await slider.focus();
    // Keyboard use: Home to 0, then the arrow key to the weight.
    await slider.press('Home');
    for (let i = 0; i < percent; i++) await slider.press('ArrowRight');
    const shown = (await form.locator('output').textContent()).trim();
    await shot(page, 'alias-weight');
    await form.getByRole('button', { name: 'Set' }).click();
    await page.waitForURL(/\/console\/functions\//);
    const after = await page.locator('main').innerText();
    const form2 = page.locator(`form.weights[action*="/aliases/${alias}"]`);
    await form2.locator('input[type=range]').evaluate((el) => { el.max = '1000'; el.value = '150'; });
    await form2.getByRole('button', { name: 'Set' }).click();
    const tooMuch = await page.locator('main').innerText();
    return { shown, after, tooMuch };
  },

  // New code uploaded from the page, then a zip over Lambda's limit refused.
  async upload(page) {
    const { function: fn, zip, bigZip } = args;
    await page.goto(`${base}/console/functions/${fn}`);
    const before = await page.locator('dl').innerText();
    await page.setInputFiles('#zip', zip);
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.waitForURL(/\/console\/functions\//);
    const after = await page.locator('dl').innerText();
    await page.setInputFiles('#zip', bigZip);
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.waitForSelector('h1');
    const tooBig = await page.locator('main').innerText();
    return { before, after, tooBig };
  },

  // A traffic shift started from the console and watched live until it ends.
  async shift(page) {
    const { function: fn, alias, version, steps } = args;
    await page.goto(`${base}/console/shifts`);
    await page.fill('#function', fn);
    await page.fill('#alias', alias);
    await page.fill('#to', version);
    await page.fill('input[name=custom]', steps);
    await page.fill('#max_error_rate', '0.1');
    await page.getByRole('button', { name: 'Start' }).click();
    await page.waitForURL(/\/console\/shifts\/d-/);
    const id = page.url().split('/').pop();
    const started = await page.locator('main').innerText();
    // The page updates itself (and reloads once the shift ends): wait for the end.
    await page.waitForSelector('.status.RolledBack, .status.Succeeded, .status.Stopped, .status.Failed',
      { timeout: 120000 });
    await page.waitForLoadState('load');
    const ended = await page.locator('main').innerText();
    await shot(page, 'traffic-shift');
    return { id, started, ended };
  },

  // The other pages, as they are.
  async pages(page) {
    const out = {};
    for (const [name, url] of [['layers', '/console/layers'], ['images', '/console/images'],
      ['comparisons', '/console/comparisons'], ['shifts', '/console/shifts']]) {
      await page.goto(`${base}${url}`);
      out[name] = await page.locator('main').innerText();
      await shot(page, name);
    }
    return out;
  },

  // Signing in under --auth sigv4.
  async login(page) {
    const resp = await page.goto(`${base}/console/`);
    const redirected = page.url();
    await shot(page, 'sign-in');
    await page.fill('#key', args.key);
    await page.fill('#secret', 'not-the-secret');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const refused = await page.locator('main').innerText();
    await page.fill('#key', args.key);
    await page.fill('#secret', args.secret);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/console\/$/);
    const signedIn = await page.locator('main').innerText();
    const cookies = await page.context().cookies();
    return { status: resp.status(), redirected, refused, signedIn, cookies };
  },
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(60000);
  const run = phases[phase];
  if (!run) throw new Error(`unknown phase ${phase}`);
  const result = await run(page);
  process.stdout.write(JSON.stringify(result));
} catch (e) {
  process.stderr.write(String(e && e.stack || e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
