// End-to-end tests of the web page against the real binary (see run.sh).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  BASE,
  DESKTOP,
  PHONE,
  launch,
  liveReady,
  loginLink,
  quickAdd,
  row,
  screenshot,
  seriousViolations,
  signedIn,
} from "./harness.mjs";

/** @type {import("playwright-core").Browser} */
let browser;
/** Alice's page, shared by the scenario tests that build on each other. */
let alice;

before(async () => {
  browser = await launch();
  alice = await signedIn(browser, "alice");
});

after(async () => {
  await browser?.close();
});

/** Marks the document so a test can prove the page was not reloaded. */
async function mark(page) {
  await page.evaluate(() => {
    // @ts-ignore
    window.__noReload = true;
  });
}
async function notReloaded(page) {
  // @ts-ignore
  assert.equal(await page.evaluate(() => window.__noReload === true), true, "the page was reloaded");
}

test("sign in with a one-time link: HttpOnly SameSite=Strict cookie; a used link, no session and a bad session get the sign-in page", async () => {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  const link = process.env.TICKLER_STARTUP_LINK;
  assert.ok(link, "--role all printed a sign-in link at start-up");
  await page.goto(link);
  await page.waitForURL(`${BASE}/`);
  await page.getByRole("heading", { name: "Pending tasks" }).waitFor();
  const cookie = (await context.cookies()).find((c) => c.name === "tickler_session");
  assert.ok(cookie, "session cookie set");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");
  assert.equal(await page.evaluate(() => document.cookie.includes("tickler_session")), false, "not readable by scripts");

  // The link works once.
  await page.goto(link);
  await page.getByText("This sign-in link has already been used").waitFor();

  // Signed out: the sign-in page, with a clear message, never a raw 401.
  await page.goto(`${BASE}/`);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByText("You have been signed out.").waitFor();
  const res = await page.goto(`${BASE}/`);
  assert.equal(res?.status(), 200);
  await page.getByRole("heading", { name: "Sign in to Tickler" }).waitFor();
  await page.getByText("Sign in to see your tasks.").waitFor();

  // A session that no longer verifies (expired, or another secret).
  await context.addCookies([{ name: "tickler_session", value: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4IiwiZXhwIjoxfQ.bad", url: BASE }]);
  await page.goto(`${BASE}/tasks/1`);
  await page.getByText("Your session has expired or is no longer valid").waitFor();

  // Pasting a link into the sign-in page works too.
  await page.getByLabel("Or paste the sign-in link here").fill(loginLink("carol", "carol@example.com"));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Pending tasks" }).waitFor();
  await context.close();
});

test("quick-add a recurring task with a reminder and see the preview", async () => {
  const { page } = alice;
  await liveReady(page);
  await mark(page);
  await page.getByLabel("Task", { exact: true }).fill("Water the plants");
  await page.getByLabel("Due", { exact: true }).fill("in 6 seconds");
  await page.getByLabel("Repeat", { exact: true }).fill("every day");
  const preview = page.locator("#qa-preview");
  await preview.getByText("Repeats every day").waitFor();
  assert.equal(await preview.locator("li").count(), 5, "five next dates");
  assert.match((await preview.locator("li").nth(1).textContent()) ?? "", /^Tomorrow \d\d:\d\d$/);
  // A rule the server does not understand says so while typing.
  await page.getByLabel("Repeat", { exact: true }).fill("every blue moon");
  await preview.getByText("Recurrence pattern not recognized").waitFor();
  await page.getByLabel("Repeat", { exact: true }).fill("daily");
  await preview.getByText("Repeats every day").waitFor();
  await page.getByLabel("Reminder", { exact: true }).selectOption({ label: "At due time" });
  await screenshot(page, "quick-add-preview-desktop");
  await page.getByRole("button", { name: "Add task" }).click();
  await page.getByRole("status").filter({ hasText: "Task added." }).waitFor();
  const r = row(page, "Water the plants");
  await r.getByText("Repeats every day").waitFor();
  await r.locator("[data-reminder-state=pending]").waitFor();
  await r.getByText("Due today").waitFor();
  await notReloaded(page);
});

test("watch the reminder turn to sent live, without a reload", async () => {
  const { page } = alice;
  const r = row(page, "Water the plants");
  await r.locator("[data-reminder-state=sent]").waitFor({ timeout: 30_000 });
  await page.locator("#live").getByText("Reminder for “Water the plants” sent.").waitFor();
  await notReloaded(page);
  // Its history on the task's page: state and delivery time.
  const link = r.getByRole("link", { name: "Water the plants" });
  const href = await link.getAttribute("href");
  const detail = await alice.context.newPage();
  await detail.goto(`${BASE}${href}`);
  const rem = detail.locator("#reminders tbody tr").first();
  await rem.getByText("Sent", { exact: true }).waitFor();
  await rem.getByText("E-mail delivered.").waitFor();
  const cells = await rem.locator("td").allTextContents();
  assert.match(cells[4], /\d\d:\d\d:\d\d/, `delivered time shown: ${cells}`);
  await screenshot(detail, "task-detail-desktop");
  await detail.close();
});

test("complete the task and see the next occurrence appear", async () => {
  const { page } = alice;
  await mark(page);
  const first = row(page, "Water the plants");
  const firstId = await first.getAttribute("data-task-id");
  await first.getByRole("button", { name: "Complete “Water the plants”" }).click();
  await page.getByRole("status").filter({ hasText: "Task completed." }).waitFor();
  // The recurring role creates tomorrow's occurrence; the page shows it without a reload.
  const next = row(page, "Water the plants");
  await next.getByText(/Due Tomorrow/).waitFor({ timeout: 10_000 });
  assert.notEqual(await next.getAttribute("data-task-id"), firstId);
  await notReloaded(page);
});

test("edit every field, then delete with undo", async () => {
  const { page } = alice;
  // Labels with colours, for the edit.
  await page.getByRole("link", { name: "Categories & tags" }).click();
  await page.getByLabel("New category").fill("Home");
  await page.locator("#cat-new-color").fill("#16a34a");
  await page.getByRole("button", { name: "Add category" }).click();
  await page.getByText("Created.").waitFor();
  await page.getByLabel("New tag").fill("errand");
  await page.locator("#tag-new-color").fill("#dc2626");
  await page.getByRole("button", { name: "Add tag" }).click();
  await page.locator(".label-list input[value='errand']").waitFor();
  assert.equal(await page.locator(".label-list circle[fill='#dc2626']").count(), 1, "tag colour shown");

  await page.getByRole("link", { name: "Tasks", exact: true }).click();
  // Overdue tasks stand out.
  await quickAdd(page, { title: "Pay the electricity bill", due: "yesterday 18:00", remind: "No reminder" });
  await row(page, "Pay the electricity bill").getByText("Overdue").waitFor();
  assert.match((await row(page, "Pay the electricity bill").getAttribute("class")) ?? "", /overdue/);
  await quickAdd(page, { title: "Buy milk" });
  await row(page, "Buy milk").getByRole("link", { name: "Buy milk" }).click();
  await page.getByRole("heading", { name: "Edit task" }).waitFor();
  await page.getByLabel("Title").fill("Buy oat milk");
  await page.getByLabel("Description").fill("The barista one");
  await page.getByLabel("Priority").selectOption("high");
  await page.getByLabel(/^Due/).fill("2031-03-04T18:30");
  await page.getByLabel("Category").selectOption({ label: "Home" });
  await page.getByLabel("errand").check();
  await page.getByLabel("Repeat").fill("every 2 weeks");
  await page.locator("#e-preview").getByText("Repeats every 2 weeks").waitFor();
  assert.match((await page.locator("#e-preview li").first().textContent()) ?? "", /4 Mar 2031 18:30/);
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("status").filter({ hasText: "Task saved." }).waitFor();
  const r = row(page, "Buy oat milk");
  await r.getByText("High priority").waitFor();
  await r.getByText("Home").waitFor();
  await r.getByText("#errand").waitFor();
  await r.getByText("Repeats every 2 weeks").waitFor();
  await r.getByText(/4 Mar 2031 18:30/).waitFor();

  // The edit page shows what was saved, in the user's zone.
  await r.getByRole("link", { name: "Buy oat milk" }).click();
  assert.equal(await page.getByLabel(/^Due/).inputValue(), "2031-03-04T18:30");
  assert.equal(await page.getByLabel("Description").inputValue(), "The barista one");
  assert.equal(await page.getByLabel("errand").isChecked(), true);
  await page.getByRole("button", { name: "Delete task" }).click();
  await page.getByText("Deleted “Buy oat milk”.").waitFor();
  assert.equal(await row(page, "Buy oat milk").count(), 0);
  await page.getByRole("button", { name: "Undo" }).click();
  await page.getByRole("status").filter({ hasText: "Task restored." }).waitFor();
  const back = row(page, "Buy oat milk");
  await back.getByText("High priority").waitFor();
  await back.getByText("#errand").waitFor();
});

test("a second user sees none of the first user's tasks and cannot open or change them", async () => {
  const id = await row(alice.page, "Buy oat milk").getAttribute("data-task-id");
  const bob = await signedIn(browser, "bob");
  const { page } = bob;
  assert.equal(await page.locator("li.task").count(), 0, "bob has no tasks");
  await page.goto(`${BASE}/?status=all&q=milk`);
  await page.getByText("No task matches your search.").waitFor();
  const res = await page.goto(`${BASE}/tasks/${id}`);
  assert.equal(res?.status(), 404);
  await page.getByText("No such task.").waitFor();
  // Even with his own valid CSRF token, bob cannot complete or delete alice's task.
  await page.goto(`${BASE}/`);
  const csrf = await page.evaluate(() => document.body.dataset.csrf);
  for (const action of ["complete", "delete"]) {
    const r = await page.request.post(`${BASE}/tasks/${id}/${action}`, {
      form: { _csrf: csrf ?? "" },
      headers: { Origin: BASE },
      maxRedirects: 0,
    });
    assert.equal(r.status(), 404, action);
  }
  await bob.context.close();
  await alice.page.reload();
  await row(alice.page, "Buy oat milk").waitFor();
});

test("state-changing requests need this origin and the CSRF token", async () => {
  const { page } = alice;
  const csrf = await page.evaluate(() => document.body.dataset.csrf);
  const post = (form, headers) =>
    page.request.post(`${BASE}/tasks`, { form, headers, maxRedirects: 0 });
  assert.equal((await post({ title: "x", _csrf: csrf ?? "" }, { Origin: "http://evil.example" })).status(), 403);
  assert.equal((await post({ title: "x" }, { Origin: BASE })).status(), 403);
  assert.equal((await post({ title: "x", _csrf: "forged" }, { Origin: BASE })).status(), 403);
  assert.equal((await post({ title: "Book the dentist", _csrf: csrf ?? "" }, { Origin: BASE })).status(), 303);
});

test("keyboard-only creation of a task", async () => {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  await page.goto(loginLink("dora", "dora@example.com"));
  await page.waitForURL(`${BASE}/`);
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Skip to content");
  // Tab through the header to the quick-add title field.
  for (let i = 0; i < 12; i++) {
    if (await page.evaluate(() => document.activeElement?.id === "qa-title")) break;
    await page.keyboard.press("Tab");
  }
  assert.equal(await page.evaluate(() => document.activeElement?.id), "qa-title", "reached the quick-add box by Tab");
  await page.keyboard.type("Call the plumber");
  await page.keyboard.press("Tab");
  await page.keyboard.type("tomorrow 9am");
  await page.keyboard.press("Enter");
  await page.getByRole("status").filter({ hasText: "Task added." }).waitFor();
  await row(page, "Call the plumber").getByText("Due Tomorrow 09:00").waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), "qa-title", "focus stays in the quick-add box");
  // Focus is visible: the focused field has an outline.
  const outline = await page.evaluate(() => getComputedStyle(/** @type {Element} */ (document.activeElement)).outlineStyle);
  assert.notEqual(outline, "none");
  // "n" from anywhere jumps back to the quick-add box; Enter on a row's button completes it.
  await page.locator("#f-status").focus();
  await page.evaluate(() => /** @type {HTMLElement} */ (document.activeElement).blur());
  await page.keyboard.press("n");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "qa-title");
  const id = await row(page, "Call the plumber").getAttribute("data-task-id");
  await page.locator(`#complete-${id}`).focus();
  await page.keyboard.press("Enter");
  await page.getByRole("status").filter({ hasText: "Task completed." }).waitFor();
  await context.close();
});

test("no serious accessibility violations (axe-core), light and dark", async () => {
  const { page } = alice;
  const id = await row(page, "Buy oat milk").getAttribute("data-task-id");
  const pages = ["/", `/tasks/${id}`, "/labels", "/profile", "/?status=all&overdue=true"];
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const path of pages) {
      await page.goto(`${BASE}${path}`);
      const v = await seriousViolations(page);
      assert.deepEqual(v, [], `${scheme} ${path}: ${JSON.stringify(v, null, 1)}`);
    }
  }
  const anon = await browser.newPage();
  await anon.goto(`${BASE}/login`);
  assert.deepEqual(await seriousViolations(anon), []);
  await anon.close();
  await page.emulateMedia({ colorScheme: "light" });
});

test("phone width: no horizontal scrolling, no layout shift while loading; screenshots", async () => {
  for (const [name, viewport] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    for (const scheme of ["light", "dark"]) {
      const context = await browser.newContext({ viewport, colorScheme: scheme });
      await context.addCookies(await alice.context.cookies());
      const page = await context.newPage();
      await page.addInitScript(() => {
        // @ts-ignore
        window.__cls = 0;
        new PerformanceObserver((list) => {
          for (const e of list.getEntries()) {
            // @ts-ignore
            if (!e.hadRecentInput) window.__cls += e.value;
          }
        }).observe({ type: "layout-shift", buffered: true });
      });
      await page.goto(`${BASE}/`);
      await liveReady(page);
      await page.waitForTimeout(300);
      // @ts-ignore
      const cls = await page.evaluate(() => window.__cls);
      assert.ok(cls < 0.01, `${name} ${scheme}: cumulative layout shift ${cls}`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${name} ${scheme}: ${overflow}px of horizontal scrolling`);
      await screenshot(page, `tasks-${name}-${scheme}`);
      const id = await row(page, "Buy oat milk").getAttribute("data-task-id");
      await page.goto(`${BASE}/tasks/${id}`);
      const overflow2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow2 <= 0, `${name} ${scheme} edit page: ${overflow2}px of horizontal scrolling`);
      await screenshot(page, `edit-${name}-${scheme}`);
      await context.close();
    }
  }
});

test("profile: a searchable time zone changes how due dates are shown and entered", async () => {
  const { page } = alice;
  await page.goto(`${BASE}/profile`);
  const zone = page.getByLabel("Time zone");
  assert.ok((await page.locator("#zones option").count()) > 300, "IANA zones offered");
  await zone.fill("Asia/Tokyo");
  await page.getByLabel("Default reminder (minutes before the due date)").fill("15");
  await page.getByRole("button", { name: "Save profile" }).click();
  await page.getByText("Profile saved.").waitFor();
  const id = await page.goto(`${BASE}/`).then(() => row(page, "Buy oat milk").getAttribute("data-task-id"));
  await page.goto(`${BASE}/tasks/${id}`);
  await page.getByText("Due (Asia/Tokyo)").waitFor();
  // 18:30 in UTC (the zone it was entered in) is 03:30 the next day in Tokyo.
  assert.equal(await page.getByLabel(/^Due/).inputValue(), "2031-03-05T03:30");
  await page.goto(`${BASE}/profile`);
  await zone.fill("Mars/Olympus");
  await page.getByRole("button", { name: "Save profile" }).click();
  await page.getByText("Unknown IANA time zone").waitFor();
});
