// The timeline page's script: reads the run's data (see timeline.rs for its shape), draws
// the Gantt rows in view and fills the tables, filtered by the search box. Keys and messages
// only ever reach the page as textContent or attribute values, never as markup.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("run-data").textContent);
  const OUTCOMES = ["executed", "restored", "failed", "skipped"];
  const ROW = 20; // px, as --row in the CSS
  const MAX_HEIGHT = 8e6; // px: browsers cap an element's height; taller lists are scaled
  const TABLE_ROWS = 200; // rows a table shows at most; the search narrows the rest
  const SLOWEST = 20;

  const tasks = data.tasks;
  const n = tasks.length;
  const wall = Math.max(data.wall, 1);
  let from = 0, span = wall; // the time the chart's width shows, in microseconds
  const lower = new Array(n);
  for (let i = 0; i < n; i++) lower[i] = tasks[i][0].toLowerCase();
  const critical = new Uint8Array(n);
  for (const i of data.critical) critical[i] = 1;

  // Reductions: a task named `key/3.5` (digits 0-7 joined by dots) beside a task `key` is
  // an inner merge of the reduction `key`, whose root is the task `key`.
  const reductions = [];
  {
    const MERGE = /^(.*)\/([0-7](?:\.[0-7])*)$/;
    const index = new Map();
    for (let i = 0; i < n; i++) index.set(tasks[i][0], i);
    const byRoot = new Map();
    for (let i = 0; i < n; i++) {
      const match = MERGE.exec(tasks[i][0]);
      const root = match && index.get(match[1]);
      if (root === undefined || root === null) continue;
      let reduction = byRoot.get(root);
      if (!reduction) {
        reduction = { root, members: [root], levels: 1 };
        byRoot.set(root, reduction);
        reductions.push(reduction);
      }
      reduction.members.push(i);
      reduction.levels = Math.max(reduction.levels, match[2].split(".").length + 1);
    }
  }

  const $ = (id) => document.getElementById(id);
  const search = $("search"), criticalOnly = $("critical-only"), fit = $("fit"), shown = $("shown");
  const viewport = $("viewport"), spacer = $("spacer"), rowsBox = $("rows");

  const keyOf = (ref) => (typeof ref === "number" ? tasks[ref][0] : ref);
  const lowerOf = (ref) => (typeof ref === "number" ? lower[ref] : ref.toLowerCase());
  const duration = (i) => tasks[i][3] - tasks[i][2];
  const reasonOf = (i) => (tasks[i].length > 4 ? data.reasons[tasks[i][4]] : "");
  const plural = (count, word) => count.toLocaleString("en") + " " + word + (count === 1 ? "" : "s");

  function fmt(us) {
    if (us >= 1e6) return (us / 1e6).toFixed(2) + " s";
    if (us >= 1e3) return (us / 1e3).toFixed(1) + " ms";
    return us + " µs";
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  let query = ""; // as typed
  let needle = ""; // lower-cased
  let visible = new Int32Array(0); // indexes of the Gantt's rows, in start order
  let matching = new Int32Array(0); // indexes of the tasks whose key matches the query

  function applyFilter() {
    const q = (needle = query.toLowerCase());
    const onlyCritical = criticalOnly.checked;
    const rows = new Int32Array(n), matches = new Int32Array(n);
    let r = 0, m = 0;
    for (let i = 0; i < n; i++) {
      if (q !== "" && !lower[i].includes(q)) continue;
      matches[m++] = i;
      if (!onlyCritical || critical[i]) rows[r++] = i;
    }
    visible = rows.subarray(0, r);
    matching = matches.subarray(0, m);
    shown.textContent = visible.length.toLocaleString("en") + " of " + plural(n, "task") + " shown";
  }

  // The Gantt: only the rows in view (and one above and below) are in the document.
  function drawRows() {
    const full = visible.length * ROW;
    const height = Math.min(full, MAX_HEIGHT);
    viewport.style.height = Math.max(full, 3 * ROW) + "px"; // up to the CSS's max-height
    spacer.style.height = height + "px";
    const view = viewport.clientHeight;
    const top = viewport.scrollTop;
    const virtualTop = full > height && height > view ? (top * (full - view)) / (height - view) : top;
    const first = Math.max(0, Math.floor(virtualTop / ROW) - 1);
    const count = Math.max(0, Math.min(visible.length - first, Math.ceil(view / ROW) + 3));
    rowsBox.style.top = top - (virtualTop - first * ROW) + "px";
    from = 0;
    span = wall;
    if (fit.checked && count > 0) {
      let lo = Infinity, hi = 0;
      for (let j = 0; j < count; j++) {
        const t = tasks[visible[first + j]];
        lo = Math.min(lo, t[2]);
        hi = Math.max(hi, t[3]);
      }
      from = lo;
      span = Math.max(hi - lo, 1);
    }
    drawAxis();
    const frag = document.createDocumentFragment();
    for (let j = 0; j < count; j++) frag.appendChild(ganttRow(visible[first + j]));
    if (visible.length === 0) frag.appendChild(el("div", "empty", "No task matches the search."));
    rowsBox.replaceChildren(frag);
  }

  function ganttRow(i) {
    const [key, outcome, start, end] = tasks[i];
    const row = el("div", "row " + OUTCOMES[outcome] + (critical[i] ? " crit" : ""));
    row.dataset.index = i;
    const reason = reasonOf(i);
    row.title = key + "\n" + OUTCOMES[outcome] + ", " + fmt(end - start) + ", from " + fmt(start) +
      " to " + fmt(end) + (reason ? "\nran because: " + reason : "") + (critical[i] ? "\non the critical path" : "");
    const label = el("div", "key", key);
    const track = el("div", "track");
    const bar = el("div", "bar");
    bar.style.left = ((start - from) / span) * 100 + "%";
    if (OUTCOMES[outcome] !== "restored") bar.style.width = ((end - start) / span) * 100 + "%";
    track.appendChild(bar);
    row.append(label, track);
    return row;
  }

  function drawAxis() {
    const rough = span / 8;
    const magnitude = Math.pow(10, Math.floor(Math.log10(rough)));
    const step = Math.max(1, [1, 2, 5, 10].map((f) => f * magnitude).find((s) => s >= rough));
    const frag = document.createDocumentFragment();
    const firstTick = Math.ceil(from / step) * step;
    for (let t = firstTick; t <= from + span; t += step) {
      const tick = el("span", "", fmt(Math.round(t)));
      tick.style.left = ((t - from) / span) * 100 + "%";
      frag.appendChild(tick);
    }
    $("ticks").replaceChildren(frag);
    const gantt = $("gantt");
    const width = step / span, offset = (firstTick - from) / span;
    gantt.style.setProperty("--tick", width * 100 + "%");
    // A background's percentage position is of the room left beside it: (1 - width).
    gantt.style.setProperty("--tick-offset", (width < 1 ? (offset / (1 - width)) * 100 : 0) + "%");
  }

  // One table: `items` filtered to the query, at most TABLE_ROWS of them drawn.
  function fillTable(name, items, cells, noun) {
    const body = $(name).tBodies[0];
    const frag = document.createDocumentFragment();
    const total = items.total === undefined ? items.length : items.total;
    for (const item of items.slice(0, TABLE_ROWS)) {
      const tr = el("tr");
      for (const [className, text, index] of cells(item)) {
        const td = el("td", className, text);
        if (typeof index === "number") td.dataset.index = index;
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
    $(name + "-count").textContent = "(" + (query ? items.length.toLocaleString("en") + " of " : "") + total.toLocaleString("en") + ")";
    const more = items.length - TABLE_ROWS;
    $(name + "-more").textContent = items.length === 0 ? (query ? "No " + noun + " matches the search." : "None.")
      : more > 0 ? plural(more, "more " + noun) + " not shown: narrow the search." : "";
  }

  const keyCell = (ref) => ["key", keyOf(ref), ref];
  const matches = (ref) => needle === "" || lowerOf(ref).includes(needle);

  function drawTables() {
    const chain = data.critical.filter(matches);
    chain.total = data.critical.length;
    fillTable("critical", chain, (i) => [
      keyCell(i), ["num", fmt(tasks[i][2])], ["num", fmt(duration(i))], ["outcome-" + OUTCOMES[tasks[i][1]], OUTCOMES[tasks[i][1]]],
    ], "task of the chain");

    const slowest = [];
    let ran = 0;
    for (const i of matching) {
      const outcome = OUTCOMES[tasks[i][1]];
      if (outcome !== "executed" && outcome !== "failed") continue;
      ran++;
      if (slowest.length === SLOWEST && duration(i) <= duration(slowest[SLOWEST - 1])) continue;
      let at = slowest.length;
      while (at > 0 && duration(slowest[at - 1]) < duration(i)) at--;
      slowest.splice(at, 0, i);
      if (slowest.length > SLOWEST) slowest.pop();
    }
    slowest.total = ran;
    fillTable("slowest", slowest, (i) => [
      ["num", String(slowest.indexOf(i) + 1)], keyCell(i), ["num", fmt(duration(i))],
      ["outcome-" + OUTCOMES[tasks[i][1]], OUTCOMES[tasks[i][1]]], ["", reasonOf(i) || "—"],
      ["num", tasks[i].length > 4 ? String(tasks[i][5]) : "—"],
    ], "task that ran");
    $("slowest-count").textContent = "(top " + slowest.length + " of " + plural(ran, "task") + " that ran" + (query ? " and match" : "") + ")";

    const shownReductions = reductions.filter((r) => matches(r.root));
    shownReductions.total = reductions.length;
    fillTable("reductions", shownReductions, (r) => {
      const count = [0, 0, 0, 0];
      let busy = 0, first = Infinity, last = 0;
      for (const i of r.members) {
        const [, outcome, start, end] = tasks[i];
        count[outcome]++;
        if (OUTCOMES[outcome] !== "restored") busy += end - start;
        first = Math.min(first, start);
        last = Math.max(last, end);
      }
      return [
        ["reduction", keyOf(r.root), r.root], ["num", r.members.length.toLocaleString("en")],
        ["num", String(r.levels)], ["num", count[0].toLocaleString("en")],
        ["num", count[1].toLocaleString("en")], ["num", (count[2] + count[3]).toLocaleString("en")],
        ["num", fmt(busy)], ["num", fmt(first)], ["num", fmt(last)],
      ];
    }, "reduction");

    const failures = data.failed.filter(([ref]) => matches(ref));
    failures.total = data.failed.length;
    fillTable("failures", failures, ([ref, message]) => [keyCell(ref), ["message", message]], "failure");

    const skipped = data.skipped.filter(([ref, upstream]) => matches(ref) || upstream.some(matches));
    skipped.total = data.skipped.length;
    fillTable("skipped", skipped, ([ref, upstream]) => [
      keyCell(ref), ["key", upstream.length ? upstream.map(keyOf).join(", ") : "(not known)"],
    ], "skipped task");
  }

  function update() {
    applyFilter();
    drawRows();
    drawTables();
  }

  // Clicking a reduction searches for its key: the chart shows its root and its merges.
  document.addEventListener("click", (event) => {
    const cell = event.target.closest("td.reduction");
    if (!cell) return;
    search.value = cell.textContent;
    search.dispatchEvent(new Event("input"));
  });

  // Clicking a key in a table scrolls the Gantt to its row.
  document.addEventListener("click", (event) => {
    const cell = event.target.closest("td.key[data-index]");
    if (!cell) return;
    const index = Number(cell.dataset.index);
    let lo = 0, hi = visible.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (visible[mid] < index) lo = mid + 1; else hi = mid; }
    if (visible[lo] !== index) return;
    const full = visible.length * ROW, height = Math.min(full, MAX_HEIGHT), view = viewport.clientHeight;
    const virtualTop = Math.max(0, lo * ROW - view / 2);
    viewport.scrollTop = full > height ? (virtualTop * (height - view)) / (full - view) : virtualTop;
    viewport.scrollIntoView({ block: "nearest" });
  });

  let drawPending = false;
  function redrawSoon() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => { drawPending = false; drawRows(); });
  }
  viewport.addEventListener("scroll", redrawSoon, { passive: true });
  window.addEventListener("resize", redrawSoon);

  let searchTimer = 0;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      query = search.value;
      const url = location.pathname + location.search + (query ? "#q=" + encodeURIComponent(query) : "");
      try { history.replaceState(null, "", url); } catch (e) { /* some file:// pages refuse */ }
      update();
    }, n > 20000 ? 150 : 30);
  });
  criticalOnly.addEventListener("change", () => { applyFilter(); drawRows(); });
  fit.addEventListener("change", drawRows);

  function queryFromHash() {
    const match = /^#q=(.*)$/.exec(location.hash);
    if (!match) return "";
    try { return decodeURIComponent(match[1]); } catch (e) { return match[1]; }
  }
  window.addEventListener("hashchange", () => {
    query = queryFromHash();
    search.value = query;
    update();
  });

  if (data.started) $("started").textContent = "Started " + new Date(data.started).toString();
  query = queryFromHash();
  search.value = query;
  update();
  const firstRows = performance.now();
  document.body.dataset.firstRowsMs = firstRows.toFixed(1);
  $("loaded").textContent = "First rows drawn " + Math.round(firstRows) + " ms after the page began to load.";
})();
