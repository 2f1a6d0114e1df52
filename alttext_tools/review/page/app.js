/* alttext review page: plain JavaScript, no build step.
 *
 * Every request carries the per-run token (X-Alttext-Token header; ?token= only for <img> URLs).
 * Data from the server is put into the page with textContent, never as HTML.
 */
"use strict";

(() => {
  const token = new URLSearchParams(window.location.search).get("token") || "";
  const PAGE_SIZE = 50;
  const state = { offset: 0, filter: "all", data: null, current: null, busy: false };

  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
  const itemsBox = $("#items");
  const statusBox = $("#status");
  const help = $("#help");
  let helpOpener = null;

  // ------------------------------------------------------------------ helpers

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name === "hidden") node.hidden = true;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function chars(text) {
    return Array.from(text).length; // code points, as the server counts them
  }

  function shorten(text, limit = 90) {
    return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
  }

  function plural(n, word) {
    return `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;
  }

  function announce(text, isError = false) {
    statusBox.classList.toggle("error", isError);
    // The same message twice in a row still has to be read out: make the text differ.
    statusBox.textContent = statusBox.textContent === text ? `${text}\u00a0` : text;
  }

  async function api(path, { method = "GET", body } = {}) {
    const init = { method, headers: { "X-Alttext-Token": token }, cache: "no-store" };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new Error("The review server does not answer: is `alttext review` still running?");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      throw new Error((data && data.error) || `The server answered HTTP ${response.status}`);
    }
    return data;
  }

  // ------------------------------------------------------------------ loading and rendering

  async function load({ offset = state.offset, focus = null } = {}) {
    const query = new URLSearchParams({ offset: String(Math.max(0, offset)), limit: String(PAGE_SIZE), filter: state.filter });
    const data = await api(`/api/items?${query}`);
    state.data = data;
    state.offset = data.offset;
    render(data);
    if (focus) applyFocus(focus);
  }

  function render(data) {
    const c = data.counts;
    const parts = [`${plural(c.total, "image")} listed`, `${c.todo.toLocaleString("en")} to review`,
      `${c.reviewed.toLocaleString("en")} accepted`, `${c.edited.toLocaleString("en")} edited`];
    if (c.decorative) parts.push(`${c.decorative.toLocaleString("en")} of them decorative`);
    $("#summary").textContent = `${parts.join(", ")}.`;

    const note = $("#model-note");
    if (data.regenerate.available) {
      const models = Object.entries(data.regenerate.models).map(([slot, name]) => `${name} (${slot})`);
      note.textContent = `Models for regenerate: ${models.join(", ")}.`;
    } else {
      note.textContent = `Regenerate is off: ${data.regenerate.reason}.`;
    }
    note.hidden = false;

    const first = data.matching ? data.offset + 1 : 0;
    const last = data.offset + data.items.length;
    const pages = Math.max(1, Math.ceil(data.matching / data.limit));
    const page = Math.floor(data.offset / data.limit) + 1;
    for (const info of $$(".page-info")) {
      info.textContent = `Images ${first.toLocaleString("en")}–${last.toLocaleString("en")} of ${data.matching.toLocaleString("en")}, page ${page} of ${pages}`;
    }
    for (const button of $$(".prev-page")) button.disabled = data.offset === 0;
    for (const button of $$(".next-page")) button.disabled = last >= data.matching;

    itemsBox.replaceChildren();
    if (!data.items.length) {
      const empty = {
        all: "No image needs review: every image has alt text a person wrote or accepted.",
        todo: "Nothing left to review here.",
        done: "No decision yet.",
      }[data.filter];
      itemsBox.append(el("p", { class: "empty", text: empty }));
      return;
    }
    for (const item of data.items) itemsBox.append(renderItem(item, data));
    if (state.current !== null) markCurrent(state.current);
  }

  const STATE_LABEL = { missing: "no proposal", generated: "not reviewed", reviewed: "accepted", edited: "edited" };

  function renderItem(item, data) {
    const id = item.id;
    const headingId = `h-${id}`;
    const heading = el("h3", { id: headingId },
      el("span", { text: `${item.page}, line ${item.line}` }),
      el("span", { class: `badge state-${item.state}`, text: STATE_LABEL[item.state] || item.state }),
      item.proposal && item.proposal.decorative ? el("span", { class: "badge badge-decorative", text: "decorative" }) : null);

    const preview = el("div", { class: "preview" });
    if (item.image_url) {
      preview.append(el("img", {
        src: `${item.image_url}?token=${encodeURIComponent(token)}`,
        alt: `Preview of ${shorten(item.src || "the image", 80)}`,
        loading: "lazy",
        decoding: "async",
      }));
    } else {
      preview.append(el("p", { class: "no-image", text: `No preview: ${item.image_error || "the image cannot be read"}` }));
    }

    const facts = el("dl", { class: "facts" });
    const fact = (label, value) => {
      if (value === null || value === undefined || value === "") return;
      facts.append(el("dt", { text: label }), el("dd", {}, value));
    };
    fact("Image", el("code", { text: shorten(item.src || "(no src)", 120) }));
    fact("Why listed", item.reason === "needs-alt"
      ? (item.findings.join(" ") || "It needs alt text.")
      : "A model wrote the alt text in the source and no person has reviewed it.");
    let now;
    if (item.current_alt === null) now = "none (no alt at all)";
    else if (item.current_alt === "") now = "empty (decorative, or not yet written)";
    else now = `“${item.current_alt}”`;
    fact("Alt in the source now", now);
    const ctx = item.context;
    fact("Page title", ctx.page_title);
    if (ctx.heading !== ctx.page_title) fact("Heading above", ctx.heading);
    fact("Caption", ctx.caption);
    if (ctx.in_link || ctx.in_button) {
      const target = ctx.link_href ? ` → ${ctx.link_href}` : "";
      fact(ctx.in_button ? "Inside a button" : "Inside a link", `${ctx.link_text ? `“${ctx.link_text}”` : "(no other text)"}${target}`);
    }
    fact("Text around it", ctx.paragraph);

    const proposal = el("div", { class: "proposal" }, el("h4", { id: `p-${id}`, text: "Proposed alt text" }));
    const p = item.proposal;
    if (!p) {
      proposal.append(el("p", { class: "alt-text none", text: "No proposal yet: write one (e) or mark the image decorative (d)." }));
    } else if (p.decorative) {
      proposal.append(el("p", { class: "alt-text none", text: "Decorative: the alt will be empty (alt=\"\")." }));
    } else {
      proposal.append(el("p", { class: "alt-text", lang: p.language || item.language || null, text: p.alt }));
    }
    if (p) {
      const meta = el("p", { class: "meta" });
      if (!p.decorative) {
        meta.append(`${plural(p.chars, "character")}`);
        if (p.too_long) meta.append(" ", el("span", { class: "too-long", text: `(over the ${data.max_length}-character limit)` }));
        meta.append(" · ");
      }
      meta.append(`written by ${p.written_by}`);
      if (p.written_by !== p.model && p.model !== "a person") meta.append(` (first proposal by ${p.model})`);
      proposal.append(meta);
    }

    const regen = data.regenerate.available;
    const button = (action, label, key, extra = {}) => el("button", {
      type: "button", "data-action": action, "aria-describedby": headingId, "aria-keyshortcuts": key,
      disabled: !item.can_decide || (action === "regenerate" && !regen), ...extra,
    }, label, el("kbd", { "aria-hidden": "true", text: key }));
    const actions = el("div", { class: "actions", role: "group", "aria-label": "Decision" },
      button("accept", "Accept", "a", { class: "primary" }),
      button("edit", "Edit", "e"),
      button("decorative", "Decorative", "d"),
      button("regenerate", "Regenerate with the other model", "r"));

    const details = el("div", { class: "details" }, facts, proposal, actions);
    if (!item.can_decide) {
      details.append(el("p", { class: "note", text: `No decision can be stored: ${item.image_error || "the image cannot be read"} (the cache is keyed by the image's bytes).` }));
    }
    return el("article", { class: `item is-${item.state}`, id: `item-${id}`, tabindex: "-1", "aria-labelledby": headingId, "data-id": id },
      heading, el("div", { class: "item-body" }, preview, details));
  }

  // ------------------------------------------------------------------ focus and the current item

  function articles() {
    return $$("article.item", itemsBox);
  }

  function articleOf(id) {
    return document.getElementById(`item-${id}`);
  }

  function markCurrent(id) {
    state.current = id;
    for (const article of articles()) article.classList.toggle("current", article.dataset.id === String(id));
  }

  function focusArticle(article) {
    if (!article) return;
    markCurrent(Number(article.dataset.id));
    article.focus({ preventScroll: true });
    article.scrollIntoView({ block: "nearest" });
  }

  function applyFocus(focus) {
    const list = articles();
    if (!list.length) {
      $("#items-heading").focus();
      return;
    }
    if (focus.first) return focusArticle(list[0]);
    if (focus.last) return focusArticle(list[list.length - 1]);
    if (focus.element) {
      const target = document.getElementById(focus.element);
      if (target) return target.focus();
    }
    const index = list.findIndex((a) => a.dataset.id === String(focus.id));
    if (index >= 0) {
      if (focus.button) {
        const button = $(`button[data-action="${focus.button}"]`, list[index]);
        markCurrent(focus.id);
        if (button && !button.disabled) return button.focus();
      }
      return focusArticle(focus.advance && index + 1 < list.length ? list[index + 1] : list[index]);
    }
    // The item left the list (a filter): stay at the same position.
    return focusArticle(list[Math.min(focus.index ?? 0, list.length - 1)]);
  }

  function currentArticle() {
    const active = document.activeElement && document.activeElement.closest ? document.activeElement.closest("article.item") : null;
    if (active) return active;
    return state.current !== null ? articleOf(state.current) : null;
  }

  async function move(step) {
    const list = articles();
    if (!list.length) return;
    const current = currentArticle();
    const index = current ? list.indexOf(current) : -1;
    const next = index + step;
    if (index === -1) return focusArticle(list[0]);
    if (next >= 0 && next < list.length) return focusArticle(list[next]);
    const data = state.data;
    if (step > 0 && data.offset + data.items.length < data.matching) {
      await load({ offset: data.offset + data.limit, focus: { first: true } });
      announce(`Next page: ${$(".page-info").textContent}`);
    } else if (step < 0 && data.offset > 0) {
      await load({ offset: data.offset - data.limit, focus: { last: true } });
      announce(`Previous page: ${$(".page-info").textContent}`);
    } else {
      announce(step > 0 ? "This is the last image." : "This is the first image.");
    }
  }

  // ------------------------------------------------------------------ actions

  function itemData(id) {
    return state.data ? state.data.items.find((item) => item.id === id) : null;
  }

  async function act(id, action, body = {}) {
    if (state.busy) {
      announce("Still working on the previous action…");
      return false;
    }
    const article = articleOf(id);
    state.busy = true;
    if (article) article.setAttribute("aria-busy", "true");
    if (action === "regenerate") announce("Regenerating with the other model; this can take a while…");
    const before = state.data.items.map((item) => item.id);
    try {
      const result = await api(`/api/items/${id}/${action}`, { method: "POST", body });
      const advance = action !== "regenerate";
      await load({ focus: { id, index: before.indexOf(id), advance, button: advance ? null : "regenerate" } });
      announce(result.message);
      return true;
    } catch (err) {
      if (article) article.removeAttribute("aria-busy");
      announce(err.message, true);
      return false;
    } finally {
      state.busy = false;
    }
  }

  function accept(id) {
    const item = itemData(id);
    if (!item) return;
    if (!item.proposal) {
      openEditor(id, "There is no proposal to accept: write the alt text, then press Enter.");
      return;
    }
    act(id, "accept");
  }

  function openEditor(id, message = null) {
    const article = articleOf(id);
    const item = itemData(id);
    if (!article || !item) return;
    markCurrent(id);
    const existing = $(".edit-form", article);
    if (existing) {
      $("textarea", existing).focus();
      return;
    }
    const max = state.data.max_length;
    const start = item.proposal && !item.proposal.decorative ? item.proposal.alt : (item.current_alt || "");
    const count = el("p", { class: "count", id: `count-${id}` });
    const error = el("p", { class: "error", id: `err-${id}`, hidden: true });
    const hint = el("p", { class: "hint", id: `hint-${id}`, text: message || "Describe what the image shows or does here. Enter saves, Escape cancels." });
    const field = el("textarea", { id: `alt-${id}`, rows: "2", "aria-describedby": `hint-${id} count-${id} err-${id}`, spellcheck: "true" });
    field.value = start;
    const updateCount = () => {
      const n = chars(field.value.trim());
      count.textContent = `${n} of ${max} characters${n > max ? " (too long)" : ""}`;
    };
    updateCount();
    const save = el("button", { type: "button", class: "primary", text: "Save" });
    const cancel = el("button", { type: "button", text: "Cancel" });
    const form = el("div", { class: "edit-form", role: "group", "aria-labelledby": `label-${id}` },
      el("label", { for: `alt-${id}`, id: `label-${id}`, text: `New alt text for ${shorten(item.src || "the image", 80)}` }),
      hint, field, count, error, el("div", { class: "buttons" }, save, cancel));
    const close = () => {
      form.remove();
      const editButton = $('button[data-action="edit"]', article);
      if (editButton) editButton.focus();
    };
    const submit = async () => {
      const text = field.value.replace(/\s+/g, " ").trim();
      if (!text) {
        error.textContent = "The alt text is empty: write a description, or mark the image decorative (d).";
        error.hidden = false;
        field.setAttribute("aria-invalid", "true");
        field.focus();
        announce(error.textContent, true);
        return;
      }
      const ok = await act(id, "edit", { alt: field.value });
      if (!ok && document.body.contains(field)) {
        error.textContent = statusBox.textContent;
        error.hidden = false;
        field.setAttribute("aria-invalid", "true");
        field.focus();
      }
    };
    field.addEventListener("input", () => {
      updateCount();
      if (!error.hidden) {
        error.hidden = true;
        field.removeAttribute("aria-invalid");
      }
    });
    field.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        close();
        announce("Edit cancelled.");
      }
    });
    save.addEventListener("click", submit);
    cancel.addEventListener("click", () => {
      close();
      announce("Edit cancelled.");
    });
    $(".details", article).append(form);
    field.focus();
    field.setSelectionRange(field.value.length, field.value.length);
    if (message) announce(message);
  }

  function perform(action, id) {
    const item = itemData(id);
    if (!item) return;
    if (!item.can_decide) {
      announce(`No decision can be stored for this image: ${item.image_error || "it cannot be read"}.`, true);
      return;
    }
    if (action === "accept") accept(id);
    else if (action === "edit") openEditor(id);
    else if (action === "decorative") act(id, "decorative");
    else if (action === "regenerate") {
      if (!state.data.regenerate.available) announce(`Regenerate is off: ${state.data.regenerate.reason}.`, true);
      else act(id, "regenerate");
    }
  }

  async function apply() {
    if (state.busy) return;
    state.busy = true;
    announce("Writing the reviewed alt text into the sources…");
    try {
      const result = await api("/api/apply", { method: "POST", body: {} });
      showResult(result);
      await load({ offset: 0 });
      announce(result.message);
      $("#result-heading").focus();
    } catch (err) {
      announce(err.message, true);
    } finally {
      state.busy = false;
    }
  }

  function showResult(result) {
    $("#result").hidden = false;
    $("#result-summary").textContent = `${result.message}.`;
    const notes = $("#result-notes");
    notes.replaceChildren();
    for (const file of result.files) {
      if (file.error) notes.append(el("li", { text: `${file.path}: not changed: ${file.error}` }));
      for (const note of file.notes) notes.append(el("li", { text: note }));
    }
    const diff = $("#diff");
    diff.replaceChildren();
    if (!result.diff) {
      diff.hidden = true;
      return;
    }
    diff.hidden = false;
    for (const line of result.diff.split("\n")) {
      if (line === "") continue;
      let kind = null;
      if (line.startsWith("--- ") || line.startsWith("+++ ")) kind = "file";
      else if (line.startsWith("@@")) kind = "hunk";
      else if (line.startsWith("+")) kind = "add";
      else if (line.startsWith("-")) kind = "del";
      if (kind) diff.append(el("span", { class: kind, text: line }), "\n");
      else diff.append(`${line}\n`);
    }
  }

  // ------------------------------------------------------------------ help dialog

  function openHelp() {
    helpOpener = document.activeElement;
    help.showModal();
    $("#help-close").focus();
  }

  function closeHelp() {
    if (help.open) help.close();
  }

  help.addEventListener("close", () => {
    if (helpOpener && document.body.contains(helpOpener)) helpOpener.focus();
  });

  // ------------------------------------------------------------------ events

  function typing(target) {
    if (!target || !target.closest) return false;
    return Boolean(target.closest("textarea, input, select, [contenteditable]:not([contenteditable='false'])"));
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing || event.defaultPrevented) return;
    if (typing(event.target)) return;
    if (help.open) {
      if (event.key === "?") {
        event.preventDefault();
        closeHelp();
      }
      return;
    }
    const key = event.key;
    if (key === "?") {
      event.preventDefault();
      openHelp();
      return;
    }
    if (key === "j" || key === "k") {
      event.preventDefault();
      move(key === "j" ? 1 : -1);
      return;
    }
    if (key === "]" || key === "[") {
      event.preventDefault();
      const next = key === "]" ? $(".next-page") : $(".prev-page");
      if (!next.disabled) changePage(key === "]" ? 1 : -1, true);
      return;
    }
    const action = { a: "accept", e: "edit", d: "decorative", r: "regenerate" }[key];
    if (!action || event.repeat) return;
    const article = currentArticle();
    if (!article) {
      announce("Choose an image first: j moves to the next one.");
      return;
    }
    event.preventDefault();
    perform(action, Number(article.dataset.id));
  });

  itemsBox.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button || button.disabled) return;
    const article = button.closest("article.item");
    perform(button.dataset.action, Number(article.dataset.id));
  });

  itemsBox.addEventListener("focusin", (event) => {
    const article = event.target.closest("article.item");
    if (article) markCurrent(Number(article.dataset.id));
  });

  async function changePage(step, focusFirst = false) {
    const data = state.data;
    try {
      await load({ offset: data.offset + step * data.limit, focus: focusFirst ? { first: true } : null });
      announce(`Showing ${$(".page-info").textContent}`);
    } catch (err) {
      announce(err.message, true);
    }
  }

  for (const button of $$(".prev-page")) button.addEventListener("click", () => changePage(-1));
  for (const button of $$(".next-page")) button.addEventListener("click", () => changePage(1));
  $("#filter").addEventListener("change", async (event) => {
    state.filter = event.target.value;
    try {
      await load({ offset: 0 });
      announce(`Showing ${$(".page-info").textContent}`);
    } catch (err) {
      announce(err.message, true);
    }
  });
  $("#apply").addEventListener("click", apply);
  $("#help-open").addEventListener("click", openHelp);
  $("#help-close").addEventListener("click", closeHelp);

  if (!token) {
    announce("This page needs the token from the URL that `alttext review` printed.", true);
    return;
  }
  load({ offset: 0 }).catch((err) => announce(err.message, true));
})();
