// Shared set-up of the browser suite: Chromium through playwright-core, sign-in links from the
// real binary, screenshots, axe-core. Everything comes from run.sh's environment.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the suite through tests/browser/run.sh`);
  return v;
}

export const BASE = env("TICKLER_URL");
const require = createRequire(path.join(env("TICKLER_NPM_DIR"), "package.json"));
const { chromium } = require("playwright-core");
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const ARTIFACTS = env("TICKLER_ARTIFACTS");

export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 390, height: 844 };

/** Headless Chromium; the flags keep it from calling Google. Playwright gives every launch a
 *  fresh temporary profile (its own --user-data-dir; it refuses one passed in `args`). */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A one-time sign-in URL minted by `tickler login-link`. */
export function loginLink(sub, email) {
  const args = ["login-link", "--sub", sub, "--base-url", BASE, "--data-dir", env("TICKLER_DATA_DIR")];
  if (email) args.push("--email", email);
  // The suite's own TICKLER_* variables are no configuration of the binary's.
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TICKLER_")));
  return execFileSync(env("TICKLER_BIN"), args, { encoding: "utf8", env: clean }).trim();
}

/** A browser context signed in as `sub` (through a sign-in link), and its page. */
export async function signedIn(browser, sub, options = {}) {
  const context = await browser.newContext({ viewport: DESKTOP, ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  await page.goto(loginLink(sub, `${sub}@example.com`));
  await page.waitForURL(`${BASE}/`);
  await page.getByRole("heading", { name: "Pending tasks" }).waitFor();
  return { context, page };
}

/** Waits until the page's event stream is connected. */
export async function liveReady(page) {
  await page.waitForFunction(() => document.body.dataset.live === "ready", null, { timeout: 10_000 });
}

export async function screenshot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** axe-core's violations of impact serious or critical (evaluated through CDP: the page's CSP
 *  forbids injected script tags, rightly). */
export async function seriousViolations(page) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    // @ts-ignore axe is defined by the evaluated source
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
    }));
  });
  return result.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** The quick-add form, filled and sent. */
export async function quickAdd(page, { title, due, repeat, remind }) {
  await page.getByLabel("Task", { exact: true }).fill(title);
  if (due !== undefined) await page.getByLabel("Due", { exact: true }).fill(due);
  if (repeat !== undefined) await page.getByLabel("Repeat", { exact: true }).fill(repeat);
  if (remind !== undefined) await page.getByLabel("Reminder", { exact: true }).selectOption({ label: remind });
  await page.getByRole("button", { name: "Add task" }).click();
  await page.getByRole("status").filter({ hasText: "Task added." }).waitFor();
}

/** The list row of the pending task titled `title`. */
export function row(page, title) {
  return page.locator("li.task").filter({ has: page.getByRole("link", { name: title, exact: true }) });
}
