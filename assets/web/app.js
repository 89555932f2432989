// @ts-check
// Tickler's page script: progressive enhancement only (every page works without it).
//  - live updates: the signed-in user's own events over Server-Sent Events; affected parts of
//    the page ([data-live] regions) are re-fetched and swapped, background happenings announced;
//  - forms marked data-enhance are sent with fetch and the new <main> swapped in (no reload, so
//    the event stream stays connected and the scroll position is kept);
//  - the recurrence preview while typing, computed by the server;
//  - keyboard shortcuts: "n" new task, "/" search.
// Checked by `tsc --noEmit --checkJs --strict` in tests/browser/run.sh.
"use strict";

(() => {
  const body = document.body;
  /** @type {HTMLElement | null} */
  const live = document.getElementById("live");
  const signedIn = body.dataset.since !== undefined;

  /** @type {number | undefined} */
  let announceTimer;

  /** @param {string} text */
  function announce(text) {
    if (!live) return;
    live.textContent = text;
    window.clearTimeout(announceTimer);
    announceTimer = window.setTimeout(() => {
      if (live.textContent === text) live.textContent = "";
    }, 8000);
  }

  /** @param {string} html */
  function parse(html) {
    return new DOMParser().parseFromString(html, "text/html");
  }

  /**
   * Is the user typing in `el` right now (an editable field that has focus)?
   * @param {Element} region
   */
  function editingIn(region) {
    const a = document.activeElement;
    return !!a && region.contains(a) && a.matches("input:not([type=hidden]):not([type=checkbox]), select, textarea");
  }

  /** Re-focuses the element that had focus, found again by id in the new content. */
  function keepFocus() {
    const id = document.activeElement && document.activeElement.id;
    return () => {
      const el = id ? document.getElementById(id) : null;
      if (el && document.activeElement !== el) el.focus({ preventScroll: true });
      return !!el;
    };
  }

  // ---- live regions ----

  let refreshing = false;
  let again = false;
  /** @type {number | undefined} */
  let refreshTimer;

  function scheduleRefresh() {
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(refresh, 120);
  }

  async function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      const res = await fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (!res.ok || new URL(res.url).pathname !== location.pathname) return;
      const fresh = parse(await res.text());
      let deferred = false;
      for (const region of Array.from(document.querySelectorAll("[data-live][id]"))) {
        const next = fresh.getElementById(region.id);
        if (!next || next.outerHTML === region.outerHTML) continue;
        if (editingIn(region)) {
          deferred = true;
          continue;
        }
        const restore = keepFocus();
        region.replaceWith(document.importNode(next, true));
        restore();
      }
      if (deferred) document.addEventListener("focusout", scheduleRefresh, { once: true });
    } catch (_) {
      // Offline for a moment: the next event (or reconnect) refreshes again.
    } finally {
      refreshing = false;
      if (again) {
        again = false;
        scheduleRefresh();
      }
    }
  }

  function connect() {
    if (!signedIn || typeof EventSource === "undefined") return;
    const params = new URLSearchParams({ since: body.dataset.since || "" });
    const after = sessionStorage.getItem("tickler.lastEvent");
    if (after) params.set("after", after);
    const source = new EventSource("/events?" + params.toString());
    /** @param {MessageEvent} e */
    const remember = (e) => {
      if (e.lastEventId) sessionStorage.setItem("tickler.lastEvent", e.lastEventId);
    };
    source.addEventListener("ready", (e) => {
      remember(/** @type {MessageEvent} */ (e));
      body.dataset.live = "ready";
    });
    source.addEventListener("change", (e) => {
      const m = /** @type {MessageEvent} */ (e);
      remember(m);
      /** @type {{type: string, task_id: number | null, summary: string | null}} */
      const change = JSON.parse(m.data);
      if (change.summary) announce(change.summary);
      scheduleRefresh();
    });
    source.addEventListener("expired", () => {
      source.close();
      body.dataset.live = "closed";
      announce("Your session has expired. Reload the page to sign in again.");
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        body.dataset.live = "closed";
        announce("Live updates stopped. Reload the page.");
      } else {
        body.dataset.live = "reconnecting";
      }
    });
  }

  // ---- forms without reload ----

  /**
   * Puts a fetched page in place of this one.
   * @param {string} html
   * @param {string} url
   */
  function swapPage(html, url) {
    const fresh = parse(html);
    const main = document.getElementById("main");
    const next = fresh.getElementById("main");
    if (!main || !next) {
      location.href = url;
      return;
    }
    const restore = keepFocus();
    main.replaceWith(document.importNode(next, true));
    document.title = fresh.title;
    const target = new URL(url);
    if (target.pathname + target.search !== location.pathname + location.search) {
      const push = target.pathname !== location.pathname;
      history[push ? "pushState" : "replaceState"](null, "", target.pathname + target.search + target.hash);
    }
    const errors = document.getElementById("form-errors");
    const wanted = /** @type {HTMLElement | null} */ (document.querySelector("#main [autofocus]"));
    if (errors) {
      errors.focus();
    } else if (wanted) {
      wanted.focus();
    } else if (!restore()) {
      (document.getElementById("flash") || document.getElementById("main"))?.focus();
    }
  }

  document.addEventListener("submit", async (e) => {
    const form = e.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-enhance")) return;
    if (form.method.toLowerCase() !== "post") return;
    e.preventDefault();
    const submitter = /** @type {SubmitEvent} */ (e).submitter;
    const data = new URLSearchParams();
    for (const [k, v] of new FormData(form, submitter || null)) {
      if (typeof v === "string") data.append(k, v);
    }
    for (const b of Array.from(form.querySelectorAll("button"))) b.disabled = true;
    try {
      const res = await fetch(form.action, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (new URL(res.url).pathname === "/login") {
        location.href = res.url;
        return;
      }
      swapPage(await res.text(), res.url);
    } catch (_) {
      form.submit();
    } finally {
      for (const b of Array.from(form.querySelectorAll("button"))) b.disabled = false;
    }
  });

  window.addEventListener("popstate", () => location.reload());

  // ---- recurrence preview ----

  let previewSeq = 0;
  /** @type {number | undefined} */
  let previewTimer;

  /** @param {HTMLInputElement} input */
  async function preview(input) {
    const out = document.getElementById(input.dataset.preview || "");
    if (!out) return;
    const seq = ++previewSeq;
    const rule = input.value.trim();
    if (!rule) {
      out.replaceChildren(para("hint", "Type a repeat rule (daily, weekdays, every 2 weeks…) to see its next dates."));
      return;
    }
    const params = new URLSearchParams({ rule });
    const due = /** @type {HTMLInputElement | null} */ (document.getElementById(input.dataset.previewDue || ""));
    const start = /** @type {HTMLInputElement | null} */ (document.getElementById(input.dataset.previewStart || ""));
    if (due && due.value.trim()) params.set("due", due.value);
    if (start && start.value.trim()) params.set("start", start.value);
    try {
      const res = await fetch("/preview?" + params.toString(), { credentials: "same-origin" });
      if (seq !== previewSeq || !res.ok) return;
      /** @type {{ok: boolean, error?: string, text?: string, time_zone?: string, items?: string[], ends?: boolean}} */
      const p = await res.json();
      if (seq !== previewSeq) return;
      if (!p.ok) {
        out.replaceChildren(para("error", p.error || "Not a rule Tickler understands."));
        return;
      }
      const list = document.createElement("ol");
      for (const item of p.items || []) {
        const li = document.createElement("li");
        li.textContent = item;
        list.append(li);
      }
      const nodes = [para("", `Repeats ${p.text} — next dates in ${p.time_zone}:`), list];
      if (p.ends) nodes.push(para("hint", "The series ends there."));
      out.replaceChildren(...nodes);
    } catch (_) {
      // The preview is a convenience; saving still validates the rule.
    }
  }

  /**
   * @param {string} cls
   * @param {string} text
   */
  function para(cls, text) {
    const p = document.createElement("p");
    if (cls) p.className = cls;
    p.textContent = text;
    return p;
  }

  document.addEventListener("input", (e) => {
    const t = e.target;
    if (!(t instanceof HTMLInputElement)) return;
    /** @type {HTMLInputElement | null} */
    const rule = t.dataset.preview
      ? t
      : document.querySelector(`[data-preview-due="${t.id}"], [data-preview-start="${t.id}"]`);
    if (!rule || !t.id) return;
    window.clearTimeout(previewTimer);
    previewTimer = window.setTimeout(() => preview(rule), 200);
  });

  // ---- keyboard shortcuts ----

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    const a = document.activeElement;
    if (a && a.matches("input, select, textarea, [contenteditable]")) return;
    const id = e.key === "n" ? "qa-title" : e.key === "/" ? "f-q" : "";
    const el = id ? document.getElementById(id) : null;
    if (el) {
      e.preventDefault();
      el.focus();
    }
  });

  connect();
})();
