// Pyoneer's web view and report: draws the page's data (embedded in the page, the same
// JSON the server gives at config.api), and in the web view follows it live (Server-Sent
// Events). No framework, no network but the page's own server; in a report, none at all.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("pyoneer-config").textContent);
  let data = JSON.parse(document.getElementById("pyoneer-data").textContent);
  const main = document.getElementById("main");
  const live = document.getElementById("live");
  const report = config.mode === "report";
  const opened = new Set(); // matrix nodes (or layers) whose members are listed
  const ROWS = 400; // the state table's rows drawn at first; the rest on a click

  const ICONS = {
    succeeded: "✓", reused: "↺", failed: "✗", running: "●", ready: "○", not_ready: "·",
    skipped: "↷", cancelled: "⊘", interrupted: "⊘", lost: "✗", working: "●", idle: "·",
    stopped: "■", created: "·",
  };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (key === "style") node.style.cssText = value;  // the CSSOM: the page's policy refuses style attributes
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }
  // a status by text and icon as well as colour
  function state(word) {
    if (!word) return el("span", { class: "muted", text: "-" });
    return el("span", { class: "state s-" + word }, el("span", { class: "icon", "aria-hidden": "true", text: ICONS[word] || "" }), " " + word.replace("_", " "));
  }
  function clock(at) { return at ? new Date(at * 1000).toLocaleTimeString([], { hour12: false }) : ""; }
  function day(at) { return at ? new Date(at * 1000).toLocaleString([], { hour12: false }) : ""; }
  function span(start, end) {
    if (!start) return "";
    const seconds = (end || Date.now() / 1000) - start;
    if (seconds < 60) return seconds.toFixed(1) + " s";
    const minutes = Math.floor(seconds / 60);
    return minutes + "m" + String(Math.floor(seconds % 60)).padStart(2, "0") + "s";
  }
  function runLink(id) { return report ? "#" : config.base + "/runs/" + encodeURIComponent(id); }
  // a report holds the ends of the failed attempts' logs only: it links to those, and to nothing else
  function logLink(row) {
    if (!report) return config.base + row.link;
    const key = row.name + "/" + row.attempt;
    return data.tails && data.tails[key] ? "#log-" + key : null;
  }

  // The runs ----------------------------------------------------------------------
  function drawRuns() {
    const chosen = new URLSearchParams(location.search).get("result") || "";
    const filter = el("select", { "aria-label": "result", onchange: (event) => {
      const params = new URLSearchParams(location.search);
      if (event.target.value) params.set("result", event.target.value); else params.delete("result");
      history.replaceState(null, "", "?" + params.toString());
      drawRuns();
    } });
    for (const word of ["", "running", "succeeded", "failed", "interrupted", "lost"]) {
      filter.append(el("option", { value: word, selected: word === chosen, text: word || "every result" }));
    }
    const table = el("table", { id: "runs" });
    // single scripts side by side share a folder's history: a column says whose each run is
    const named = new Set(data.runs.map((run) => run.project)).size > 1;
    table.append(el("tr", {}, ...["run", ...(named ? ["project"] : []), "started", "duration", "result", "succeeded", "failed", "skipped", "reused", "matrices", "resumed from"]
      .map((name) => el("th", { class: ["succeeded", "failed", "skipped", "reused"].includes(name) ? "num" : null, text: name }))));
    const runs = data.runs.filter((run) => !chosen || run.result === chosen);
    for (const run of runs) {
      const jobs = run.jobs;
      const matrices = Object.entries(run.matrices || {}).map(([group, ends]) => group + " " + ((ends.succeeded || 0) + (ends.reused || 0)) + "/" + Object.values(ends).reduce((a, b) => a + b, 0)).join(", ");
      table.append(el("tr", { "data-run": run.id },
        el("td", {}, el("a", { href: runLink(run.id), class: "mono", text: run.id })),
        ...(named ? [el("td", { text: run.project })] : []),
        el("td", { text: day(run.started) }), el("td", { text: span(run.started, run.ended) }), el("td", {}, state(run.result)),
        ...["succeeded", "failed", "skipped", "reused"].map((word) => el("td", { class: "num", text: String(jobs[word] || 0) })),
        el("td", { text: matrices }), el("td", { class: "mono", text: run.resumed_from || "" })));
    }
    main.replaceChildren(el("h1", { text: "Runs" }), el("div", { class: "controls" }, filter, el("span", { class: "muted", text: runs.length + " of " + data.runs.length + " runs" })),
      el("div", { class: "panel" }, runs.length ? table : el("p", { class: "muted", text: data.runs.length ? "No run matches." : "Waiting for the first run: it appears here when it starts." })));
  }

  // One run -----------------------------------------------------------------------
  function drawRun() {
    const run = data.run, graph = data.graph;
    const counts = Object.entries(graph.counts).map(([word, count]) => count + " " + word.replace("_", " ")).join(", ");
    const head = [el("h1", {}, "Run ", el("span", { class: "mono", text: run.id }), " ", state(run.result)),
      el("div", { class: "summary" },
        el("span", { text: graph.done + "/" + graph.total + " jobs done" }), el("span", { text: counts }),
        el("span", { text: "started " + day(run.started) }), el("span", { text: span(run.started, run.ended) }),
        el("span", { text: "manager pid " + run.manager.pid + " on " + run.manager.host }),
        run.resumed_from ? el("span", {}, "resumed from ", el("a", { href: runLink(run.resumed_from), class: "mono", text: run.resumed_from })) : null)];
    main.replaceChildren(...[...head,
      el("h2", { text: "Graph" }), graphMore(graph), el("div", { class: "panel", id: "graph" }, drawGraph(graph)), drawOpened(graph),
      el("h2", { text: "Timeline" }), el("div", { class: "panel", id: "timeline" }, drawTimeline(data.timeline)),
      el("h2", { text: "State" }), el("div", { class: "panel" }, drawState(data.blueprints)),
      report ? drawTails() : null].filter(Boolean));
    highlightFromHash();
  }

  function drawGraph(graph) {
    if (graph.mode === "layers") return drawLayers(graph);
    const W = 200, H = 34, GX = 60, GY = 14;
    const fit = graphFit(graph), rows = Math.max(1, ...graph.nodes.map((node) => node.row + 1));
    const height = rows * (H + GY) + 8;
    const place = {};
    for (const node of graph.nodes) place[node.id] = { x: node.layer * (W + GX) + 4, y: node.row * (H + GY) + 4 };
    // a little too wide: drawn a little smaller; much too wide: as it is, and the panel scrolls
    const picture = svg("svg", { width: Math.round(fit.width * fit.scale), height: Math.round(height * fit.scale),
      viewBox: `0 0 ${fit.width} ${height}`, role: "img", "aria-label": "the run's graph" });
    for (const [from, to] of graph.edges) {
      const a = place[from], b = place[to];
      if (!a || !b) continue;
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mid = (x1 + x2) / 2;
      picture.append(svg("path", { class: "edge", d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}` }));
    }
    for (const node of graph.nodes) {
      const { x, y } = place[node.id];
      const matrix = node.members !== null;
      const label = matrix ? `${node.id}  ${(node.counts.succeeded || 0) + (node.counts.reused || 0)}/${node.members.length}` : node.id;
      const group = svg("g", { class: "node" + (matrix ? " matrix" : ""), "data-node": node.id, transform: `translate(${x},${y})`, tabindex: matrix ? "0" : null });
      const title = svg("title");
      title.textContent = node.id + ": " + node.state + (node.why ? " — " + node.why : "") + (matrix ? " (click to list its members)" : "");
      group.append(title, svg("rect", { width: W, height: H, rx: 6, style: `stroke: var(--${node.state})` }));
      const text = svg("text", { x: 10, y: H / 2 + 4 });
      const icon = svg("tspan", { style: `fill: var(--${node.state})` });
      icon.textContent = (ICONS[node.state] || "") + " ";
      const name = svg("tspan");
      name.textContent = label.length > 28 ? label.slice(0, 27) + "…" : label;
      text.append(icon, name);
      group.append(text);
      if (matrix) group.addEventListener("click", () => toggle(node.id));
      picture.append(group);
    }
    return picture;
  }

  // the graph's natural width, and the scale it is drawn at to fit the page (not below SHRINK)
  function graphFit(graph) {
    const SHRINK = 0.7;
    const width = Math.max(1, graph.layers) * 260 - 60 + 8, room = Math.max(320, (main.clientWidth || 900) - 64);
    const scale = width <= room ? 1 : room / width >= SHRINK ? room / width : 1;
    return { width, scale, cut: width * scale > room };
  }
  // a sign, in words, that the graph goes on past the right edge
  function graphMore(graph) {
    if (graph.mode === "layers" || !graphFit(graph).cut) return null;
    return el("p", { class: "notice", id: "graph-more" }, "The graph has " + graph.layers + " steps, wider than this window: scroll it sideways to see them all →");
  }

  function drawLayers(graph) {
    // too many nodes to draw one by one: one box a layer, its counts, opened on a click
    const box = el("div", { class: "members", "data-mode": "layers" });
    const layers = [];
    for (const node of graph.nodes) (layers[node.layer] = layers[node.layer] || []).push(node);
    layers.forEach((nodes, number) => {
      const states = {};
      for (const node of nodes) {
        const ends = node.members ? node.counts : { [node.state]: 1 };
        for (const [word, count] of Object.entries(ends)) states[word] = (states[word] || 0) + count;
      }
      const words = Object.entries(states).map(([word, count]) => count + " " + word.replace("_", " ")).join(", ");
      box.append(el("button", { class: "chip", "data-layer": number, onclick: () => toggle("layer:" + number) }, "step " + (number + 1) + ": " + nodes.length + " nodes — " + words));
    });
    return el("div", {}, el("p", { class: "muted", text: graph.nodes.length + " nodes: too many to draw one by one, so each step of the graph is one box." }), box);
  }

  function toggle(key) {
    if (opened.has(key)) opened.delete(key); else opened.add(key);
    const old = document.getElementById("opened");
    if (old) old.replaceWith(drawOpened(data.graph));
  }

  function drawOpened(graph) {
    const box = el("div", { id: "opened" });
    for (const key of opened) {
      let members = [];
      let title = key;
      if (key.startsWith("layer:")) {
        const number = Number(key.slice(6));
        title = "step " + (number + 1);
        for (const node of graph.nodes) if (node.layer === number) members.push(...(node.members || [{ name: node.id, state: node.state, why: node.why }]));
      } else {
        const node = graph.nodes.find((each) => each.id === key);
        if (!node || !node.members) continue;
        members = node.members;
      }
      const shown = members.slice(0, 500);
      box.append(el("div", { class: "panel", "data-opened": key }, el("strong", { text: title + " — " + members.length + " jobs" }),
        el("div", { class: "members" }, ...shown.map((member) => el("a", { class: "chip", href: "#job=" + encodeURIComponent(member.name), title: member.why || "" }, state(member.state), " " + member.name))),
        members.length > shown.length ? el("p", { class: "muted", text: (members.length - shown.length) + " more: see the state table" }) : null));
    }
    return box;
  }

  function drawTimeline(timeline) {
    if (!timeline.bars.length && !timeline.reused.length) return el("p", { class: "muted", text: "No task has started yet." });
    const lanes = timeline.lanes, LABEL = 150, ROW = 22;
    const width = Math.max(480, (main.clientWidth || 900) - 60);
    const start = timeline.start, end = timeline.end || Date.now() / 1000;
    const scale = (width - LABEL - 10) / Math.max(0.001, end - start);
    const picture = svg("svg", { width: width, height: lanes.length * ROW + 26, role: "img", "aria-label": "timeline of the task attempts" });
    lanes.forEach((lane, index) => {
      const label = svg("text", { class: "lane-label", x: 0, y: index * ROW + 15 });
      label.textContent = lane;
      picture.append(label, svg("line", { class: "axis", x1: LABEL, x2: width, y1: index * ROW + ROW, y2: index * ROW + ROW }));
    });
    for (const bar of timeline.bars) {
      const row = lanes.indexOf(bar.lane);
      const x = LABEL + (bar.start - start) * scale, w = Math.max(2, ((bar.end || end) - bar.start) * scale);
      const href = logLink({ name: bar.job + "/" + bar.task, attempt: bar.attempt, link: bar.link });
      const link = svg(href ? "a" : "g", { href: href, "data-bar": bar.job + "/" + bar.task + "/" + bar.attempt });
      const title = svg("title");
      title.textContent = `${bar.job}/${bar.task} attempt ${bar.attempt}: ${bar.state}${bar.reason ? " (" + bar.reason + ")" : ""}, ${span(bar.start, bar.end)}`;
      link.append(title, svg("rect", { x: x, y: row * ROW + 4, width: w, height: ROW - 8, rx: 3, style: `fill: var(--${bar.state}); opacity: .85` }));
      if (w > 40) {  // the job (and task) on the bar, as much as fits
        const text = svg("text", { x: x + 4, y: row * ROW + 15, style: "fill: var(--bg); font-size: 11px" });
        text.textContent = barLabel(bar, Math.floor((w - 8) / 6.5));
        link.append(text);
      }
      picture.append(link);
    }
    const axis = svg("text", { class: "lane-label", x: LABEL, y: lanes.length * ROW + 18 });
    axis.textContent = clock(start) + " → " + (timeline.end ? clock(end) : "now") + " (" + span(start, timeline.end) + ")";
    picture.append(axis);
    const reused = timeline.reused.length ? el("p", { class: "muted" }, state("reused"), ` ${timeline.reused.length} job(s) reused from earlier runs: ` + timeline.reused.slice(0, 20).join(", ") + (timeline.reused.length > 20 ? ", …" : "")) : null;
    return el("div", {}, picture, reused);
  }

  // What a bar says, as much as fits in `fits` characters. The attempt's number and the
  // values that tell a member apart go last: first the task's name, then the job's, then
  // the values from the first key on (the last key varies fastest: it is kept longest).
  function barLabel(bar, fits) {
    const icon = (ICONS[bar.state] || "") + " ";
    const retry = bar.attempt > 1 ? " #" + bar.attempt : "";
    const open = bar.job.indexOf("[");
    const values = open < 0 ? [] : bar.job.slice(open + 1, -1).split(",");
    const candidates = [bar.job + "/" + bar.task, bar.job];
    for (let first = 0; first < values.length; first += 1) candidates.push((first ? "…" : "") + values.slice(first).join(","));
    for (const words of candidates) if ((icon + words + retry).length <= fits) return icon + words + retry;
    const room = fits - icon.length - retry.length - 1;
    if (room <= 0) return icon.trim() + retry;
    // a member: the end of its values; a job of its own: the start of its name
    return values.length ? icon + "…" + values[values.length - 1].slice(-room) + retry : icon + bar.job.slice(0, room) + "…" + retry;
  }

  function drawState(rows) {
    const table = el("table", { id: "state" });
    const why = rows.some((row) => row.why);
    const heads = ["pyoneer", "status", "kind", "blueprint", "blueprint status", "attempt", "started", "duration", "exit", "host"];
    if (why) heads.push("why");
    table.append(el("tr", {}, ...heads.map((name) => el("th", { class: ["attempt", "exit"].includes(name) ? "num" : null, text: name }))));
    const groups = {};
    for (const row of rows) if (row.kind === "job" && row.matrix) (groups[row.name.split("[")[0]] = groups[row.name.split("[")[0]] || []).push(row);
    let hiding = false, member = false, shown = 0, left = 0;
    for (const row of rows) {
      if (row.kind === "job" && row.matrix) {
        const group = row.name.split("[")[0];
        if (groups[group]) {
          const ends = groups[group];
          delete groups[group];
          const done = ends.filter((each) => each.status === "succeeded").length;
          table.append(el("tr", { class: "matrix", id: "job-" + group }, el("td"), el("td"), el("td", { text: "matrix" }), el("td", {}, el("strong", { text: group })),
            el("td", { text: done + "/" + ends.length + " succeeded" }), el("td"), el("td"), el("td"), el("td"), el("td"), why ? el("td") : null));
        }
        hiding = row.status === "succeeded" && !opened.has(group);
      }
      if (row.kind !== "task") { member = !!row.matrix; hiding = hiding && member; }
      if (hiding) continue;
      if (shown >= ROWS && !opened.has("all rows")) { left += 1; continue; }  // a big run: the rest on demand
      shown += 1;
      const word = row.reused ? "reused" : row.status;
      const href = row.kind === "task" ? logLink(row) : row.kind === "job" && !report ? jobLink(row.name) : null;
      const name = href ? el("a", { href: href, text: row.name }) : el("span", { text: row.name, title: row.kind === "task" && report ? "its log is not in this report" : null });
      const held = !["ready", "not_ready"].includes(row.status);  // before it runs, no pyoneer works on it
      const tr = el("tr", { class: row.kind + (member && row.kind === "job" ? " member" : ""), id: row.kind === "job" ? "job-" + row.name : null },
        el("td", { text: held && row.pyoneer || "-" }), el("td", {}, state(held ? row.pyoneer_status : null)), el("td", { text: row.kind }), el("td", {}, name),
        el("td", {}, state(word), row.reason && row.kind === "task" ? el("span", { class: "muted", text: " (" + row.reason + ")" }) : null),
        el("td", { class: "num", text: row.kind === "task" ? String(row.attempt) : "" }), el("td", { text: clock(row.started) }),
        el("td", { text: span(row.started, row.ended) }), el("td", { class: "num", text: row.exit_code === null ? "" : String(row.exit_code) }),
        el("td", { text: row.host || "" }), why ? el("td", { class: "why", text: row.kind === "job" ? row.why || "" : "" }) : null);
      table.append(tr);
    }
    if (!left) return table;
    const more = el("button", { id: "more-rows", onclick: () => { opened.add("all rows"); draw(); } }, "show the other " + left + " rows");
    return el("div", {}, table, el("p", {}, more));
  }

  function drawTails() {
    const tails = data.tails || {};
    const keys = Object.keys(tails);
    if (!keys.length) return null;
    return el("div", {}, el("h2", { text: "Failed tasks: the end of their logs" }),
      ...keys.map((key) => el("div", { id: "log-" + key }, el("h3", { class: "mono", text: key }),
        tails[key].left_out ? el("p", { class: "notice", text: tails[key].left_out }) : drawLines(tails[key].text, tails[key].offset, "log-" + key + "-O"))));
  }

  function highlightFromHash() {
    const match = location.hash.match(/^#job=(.+)$/);
    if (!match) return;
    const name = decodeURIComponent(match[1]);
    const group = name.split("[")[0];
    const matrix = data.graph.nodes.some((node) => node.id === group && node.members);
    if (matrix && !opened.has(group)) { opened.add(group); drawRun(); return; }  // a member, or the matrix itself: listed
    const row = document.getElementById("job-" + name);
    if (row) { row.classList.add("hl"); row.scrollIntoView({ block: "center" }); }
    else if (!opened.has("all rows") && document.getElementById("more-rows")) { opened.add("all rows"); drawRun(); }
  }

  // A job -------------------------------------------------------------------------
  // Its row and its tasks' attempts, then what its fork server preloads and why.
  function jobLink(name) { return config.base + "/runs/" + encodeURIComponent(data.run.id) + "/jobs/" + encodeURIComponent(name); }

  function drawJob() {
    const run = data.run, job = data.job;
    const title = el("h1", {}, el("a", { href: runLink(run.id), class: "mono", text: run.id }), " / job " + job.name + " ", state(job.reused ? "reused" : job.status));
    const summary = el("div", { class: "summary" }, job.why ? el("span", { text: job.why }) : null,
      el("span", { text: "started " + day(job.started) }), el("span", { text: span(job.started, job.ended) }));
    const tasks = el("table", { id: "tasks" }, el("tr", {}, ...["task", "status", "attempt", "started", "duration", "exit"].map((name) => el("th", { text: name }))));
    for (const row of data.tasks) {
      tasks.append(el("tr", {}, el("td", {}, el("a", { href: logLink(row), text: row.name.slice(job.name.length + 1) })),
        el("td", {}, state(row.status), row.reason ? el("span", { class: "muted", text: " (" + row.reason + ")" }) : null),
        el("td", { class: "num", text: String(row.attempt) }), el("td", { text: clock(row.started) }),
        el("td", { text: span(row.started, row.ended) }), el("td", { class: "num", text: row.exit_code === null ? "" : String(row.exit_code) })));
    }
    main.replaceChildren(title, summary, el("h2", { text: "Tasks" }), el("div", { class: "panel" }, tasks),
      el("h2", { text: "Preload" }), drawPreload());
  }

  function verdict(row) {
    const [look, icon, word] = row.preloaded ? ["succeeded", "✓", "preloaded"] : row.verdict ? ["failed", "✗", "refused"] : ["skipped", "↷", "not preloaded"];
    return el("span", { class: "state s-" + look }, el("span", { class: "icon", "aria-hidden": "true", text: icon }), " " + word);
  }

  function drawPreload() {
    const about = el("p", { class: "muted", text: "What this job's fork server imports before it forks each task, on the next run: " +
      "the modules given in preload, then those its tasks imported from outside the project that cost at least " +
      data.threshold_ms + " ms and are safe to import before a fork." });
    const note = data.preload_note ? el("p", { class: "notice", text: data.preload_note }) : null;
    if (!data.preload.length) return el("div", { class: "panel", id: "preload" }, note, about, el("p", { text: "Nothing yet: the first warm run of this job teaches it." }));
    const table = el("table", {}, el("tr", {}, ...["module", "next run", "import cost", "from", "why"].map((name) => el("th", { class: name === "import cost" ? "num" : null, text: name }))));
    for (const row of data.preload) {
      const from = row.source === "given" ? el("span", { text: "given in preload" })
        : row.run ? el("span", {}, "learned in ", row.when === "this run" ? el("strong", { text: "this run" }) : el("a", { href: runLink(row.run), class: "mono", text: row.run }))
        : el("span", { class: "muted", text: "learned in an earlier run" });
      table.append(el("tr", { class: row.preloaded ? "preloaded" : "refused", "data-module": row.module },
        el("td", { class: "mono", text: row.module }), el("td", {}, verdict(row)),
        el("td", { class: "num", text: row.cost_us === null ? "" : (row.cost_us / 1000).toFixed(1) + " ms" }),
        el("td", {}, from), el("td", { class: "why", text: row.becomes })));
    }
    return el("div", { class: "panel", id: "preload" }, note, about, table);
  }

  // A log -------------------------------------------------------------------------
  // Each line is anchored by the byte offset it starts at (#O1234): a link that holds
  // however much of the log a page shows. Lines are numbered when the log is shown
  // from its start; a tail's place in a big log is given in bytes instead.
  const encoder = new TextEncoder();
  let cursor = { offset: 0, number: null };
  function drawLines(text, offset, prefix) {
    const pre = el("pre", { class: "log" });
    appendLines(pre, text, { offset: offset || 0, number: offset ? null : 1 }, prefix);
    return pre;
  }
  // prefix: what each line's anchor starts with ("O" on a log's page; in a report, one per log)
  function appendLines(pre, text, at, prefix = "O") {
    if (!text) return at;
    const lines = text.split("\n");
    const whole = lines[lines.length - 1] === "";
    if (whole) lines.pop();
    let { offset, number } = at;
    const fragment = document.createDocumentFragment();
    lines.forEach((line, index) => {
      const anchor = prefix + offset;
      fragment.append(el("span", { class: "line", id: anchor },
        el("a", { class: "no", href: "#" + anchor, title: "byte " + offset, text: number === null ? "…" : String(number) }), line));
      offset += encoder.encode(line).length + (index < lines.length - 1 || whole ? 1 : 0);
      if (number !== null) number += 1;
    });
    pre.append(fragment);
    return { offset, number };
  }

  function drawLog() {
    const log = data.log;
    const title = el("h1", {}, el("a", { href: runLink(data.run_id), class: "mono", text: data.run_id }), " / " + log.job + "/" + log.task + " attempt " + log.attempt + " ", el("span", { id: "log-state" }, state(log.state)));
    const raw = el("a", { href: config.base + log.raw, text: "download the whole log" });
    const note = log.start > 0
      ? el("p", { class: "notice" }, "Its last " + kib(log.end - log.start) + " of " + kib(log.size) + ": ", el("a", { href: "?from=0", text: "from the start" }), " · ", raw)
      : el("p", { class: "muted" }, raw);
    const pre = el("pre", { class: "log", id: "log" });
    cursor = appendLines(pre, log.text, { offset: log.start, number: log.start === 0 ? 1 : null });
    main.replaceChildren(title, note, pre);
    const wanted = location.hash.match(/^#O(\d+)$/);
    if (wanted && Number(wanted[1]) < log.start && !location.search.includes("from=")) {
      location.replace("?from=" + wanted[1] + location.hash);  // a line before the tail: show from it
      return;
    }
    if (wanted) { const line = document.getElementById(location.hash.slice(1)); if (line) line.scrollIntoView({ block: "center" }); }
    else window.scrollTo(0, document.body.scrollHeight);
    if (!report) follow(pre, log.end);
  }
  function kib(bytes) { return bytes < 1024 ? bytes + " bytes" : Math.round(bytes / 1024) + " KiB"; }

  function follow(pre, offset) {
    // from the byte offset shown last: a dropped connection comes back with Last-Event-ID
    // (the offset after the last piece), so no line is lost or shown twice; the stream
    // ends when the attempt has ended and everything is sent
    const source = new EventSource(config.base + config.stream + "?offset=" + offset);
    source.addEventListener("piece", (event) => {
      const piece = JSON.parse(event.data);
      if (piece.offset !== cursor.offset) return; // not where this page is: never twice
      const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
      cursor = appendLines(pre, piece.text, cursor);
      if (atBottom) window.scrollTo(0, document.body.scrollHeight);
    });
    source.addEventListener("end", (event) => {
      source.close();
      const ended = JSON.parse(event.data);
      document.getElementById("log-state").replaceChildren(state(ended.state));
      pre.dataset.ended = "true";
      setLive("");
    });
    source.onerror = () => setLive("reconnecting…");
    source.onopen = () => setLive("following");
  }

  // Live --------------------------------------------------------------------------
  function setLive(text) { live.hidden = !text; live.textContent = text ? "● " + text : ""; }

  function watch() {
    if (report || !config.live) return;
    const source = new EventSource(config.base + config.live);
    let busy = false, again = false;
    async function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      try {
        const response = await fetch(config.base + config.api, { headers: { accept: "application/json" } });
        if (response.ok) { data = await response.json(); draw(); }
      } finally {
        busy = false;
        if (again) { again = false; refresh(); }
      }
    }
    source.addEventListener("change", refresh);
    source.addEventListener("end", () => { source.close(); refresh(); setLive(""); });
    source.onopen = () => setLive("live");
    source.onerror = () => setLive("reconnecting…");
  }

  function draw() {
    if (data.page === "runs") drawRuns();
    else if (data.page === "run") drawRun();
    else if (data.page === "log") drawLog();
    else if (data.page === "job") drawJob();
  }

  window.addEventListener("hashchange", () => { if (data.page === "run") highlightFromHash(); });
  draw();
  if (data.page !== "log") watch();
  window.pyoneerDrawn = true; // for the tests: the first frame is on screen
})();
