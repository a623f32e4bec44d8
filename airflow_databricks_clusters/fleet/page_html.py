"""The Clusters page itself: one HTML document with its script, no external asset (the UI may be offline).

Shown in the Airflow UI's frame (the plugin's external view), it reads one page of ``api/clusters``
relative to its own URL as the logged-in user (filters, sort and page are query parameters: the server
does the work, whatever the fleet's size) and refreshes every ``cache_seconds``; an opened row reads its
detail (``api/clusters/<conn_id>/<cluster_id>``, the cluster's events). Every value is inserted as text,
never as HTML. The UI's frame is sandboxed without ``allow-modals`` or ``allow-top-navigation``: so the
terminate confirmation is a dialog of the page's own (``window.confirm`` is silently refused there), and a
link to an Airflow page moves the UI's own router (same origin) instead of navigating the top window.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Databricks clusters</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; color: #1a202c; background: #fff; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .muted { color: #5a6475; }
  .bar { display: flex; gap: 16px; align-items: center; margin: 8px 0 12px; flex-wrap: wrap; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #e2e8f0; vertical-align: top; }
  /* Run ids and reasons are long and unbroken: they wrap anywhere, so the table fits the frame. */
  td[data-col="run"], td[data-col="dag"], td[data-col="reason"], td[data-col="cluster"] {
    overflow-wrap: anywhere; }
  td[data-col="task"], td[data-col="uptime"], button { white-space: nowrap; }
  th { background: #f7fafc; font-weight: 600; white-space: nowrap; }
  tr.orphaned td { background: #fff5f5; }
  .state { font-weight: 600; white-space: nowrap; }
  .state.RUNNING { color: #2f855a; } .state.PENDING, .state.RESTARTING, .state.RESIZING { color: #b7791f; }
  .state.TERMINATED, .state.TERMINATING { color: #5a6475; } .state.ERROR { color: #c53030; }
  .tag { display: inline-block; font-size: 12px; padding: 0 6px; border-radius: 8px; background: #fed7d7;
         color: #9b2c2c; margin-left: 4px; }
  button.terminate, button.danger { color: #fff; background: #c53030; border: 0; border-radius: 4px;
                                    padding: 3px 10px; cursor: pointer; }
  button.terminate:disabled { background: #a0aec0; cursor: default; }
  dialog { border: 1px solid #cbd5e0; border-radius: 6px; max-width: 560px; }
  dialog .bar { justify-content: flex-end; }
  #confirm-text { white-space: pre-line; }
  #errors div { color: #9b2c2c; margin: 4px 0; }
  a { color: #2b6cb0; }
  th button.sort { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer;
                   color: inherit; }
  th button.sort[aria-sort]::after { content: attr(data-arrow); margin-left: 4px; }
  button.details { margin-right: 6px; }
  tr.detail td { background: #f7fafc; }
  tr.detail table td, tr.detail table th { padding: 2px 8px; font-size: 13px; }
  .pager { display: flex; gap: 8px; align-items: center; margin: 12px 0; }
</style>
</head>
<body>
<h1>Databricks clusters</h1>
<div class="muted">Every cluster a Databricks create task made, found by its task instance tags.
  <span id="read-at"></span></div>
<div class="bar">
  <label>State <select id="filter-state"><option value="">any</option></select></label>
  <label>DAG <select id="filter-dag"><option value="">any</option></select></label>
  <label id="filter-conn-label" hidden>Connection <select id="filter-conn"><option value="">any</option>
    </select></label>
  <label><input type="checkbox" id="only-orphaned"> Only orphaned: live, and no task will terminate it
    (what the leak sweeper terminates)</label>
  <span id="counts" class="muted"></span>
</div>
<div id="errors" role="alert"></div>
<table id="clusters">
  <thead><tr>
    <th><button type="button" class="sort" data-sort="cluster">Cluster</button></th>
    <th><button type="button" class="sort" data-sort="state">State</button></th>
    <th><button type="button" class="sort" data-sort="dag">DAG</button></th>
    <th><button type="button" class="sort" data-sort="run">Run</button></th>
    <th><button type="button" class="sort" data-sort="task">Task</button></th>
    <th><button type="button" class="sort" data-sort="uptime">Uptime</button></th>
    <th>Workers</th><th>Termination reason</th><th></th>
  </tr></thead>
  <tbody></tbody>
</table>
<div class="pager">
  <button type="button" id="prev-page">Previous</button>
  <span id="page-info" class="muted"></span>
  <button type="button" id="next-page">Next</button>
  <label>Rows per page <select id="per-page">
    <option>25</option><option selected>50</option><option>100</option><option>200</option>
  </select></label>
</div>
<dialog id="confirm-dialog" aria-labelledby="confirm-text">
  <p id="confirm-text"></p>
  <div class="bar">
    <button type="button" id="cancel-terminate">Cancel</button>
    <button type="button" id="confirm-terminate" class="danger">Terminate</button>
  </div>
</dialog>
<script>
"use strict";
// What the table shows: its query (sent to the server) and the rows opened to their detail.
const query = {page: 1, per_page: 50, sort: "default", order: "asc", state: "", dag_id: "", conn_id: "",
               orphaned: false};
const opened = new Map();  // "<conn_id>/<cluster_id>" -> its detail, or null while it is read
let answer = null;
let refreshSeconds = 15;
let loadNumber = 0;  // each load's number: an answer is shown only if no load was sent after it
const detailsReading = new Set();

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function openInAirflow(event) {
  const href = new URL(event.currentTarget.getAttribute("href"), window.location.href).href;
  if (window.top === window || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  try {
    // The UI's router follows the top window's history: a new entry and a popstate move it there.
    const history = window.top.history;
    const index = ((history.state && history.state.idx) || 0) + 1;
    history.pushState({usr: null, key: Math.random().toString(36).slice(2, 10), idx: index}, "", href);
    window.top.dispatchEvent(new PopStateEvent("popstate", {state: history.state}));
  } catch (err) {
    window.location.href = href;  // not the UI's frame after all: open it here
  }
}

function airflowLink(path, text) {
  // This page is served at <base>/databricks-clusters/: Airflow's pages are one level up.
  const link = el("a", {href: "../" + path.map(encodeURIComponent).join("/"), target: "_top"}, text);
  link.addEventListener("click", openInAirflow);
  return link;
}

function confirmOnPage(text) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-text").textContent = text;
  return new Promise((resolve) => {
    const answer = (yes) => { dialog.onclose = null; dialog.close(); resolve(yes); };
    document.getElementById("confirm-terminate").onclick = () => answer(true);
    document.getElementById("cancel-terminate").onclick = () => answer(false);
    dialog.onclose = () => resolve(false);  // Escape
    dialog.showModal();
  });
}

function uptime(seconds) {
  if (seconds === null || seconds === undefined) return "\\u2014";
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
  if (m) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${s} s`;
}

function workers(row) {
  const cell = el("span", {}, row.workers_on_spot === null
    ? "\\u2014" : `${row.workers_on_spot} spot, ${row.workers_on_demand} on demand`);
  if (row.fell_back) cell.append(el("span", {class: "tag"}, "fell back to on-demand"));
  if (row.capacity_fallback !== null) {
    const title = "the create task's capacity_fallback alternative this cluster runs on";
    cell.append(el("span", {class: "tag", title}, `capacity_fallback[${row.capacity_fallback}]`));
  }
  return cell;
}

function rowKey(row) { return `${row.conn_id}/${row.cluster_id}`; }

// The row's cluster in the page's API: its detail, and with /terminate its terminate action.
function clusterApi(row) {
  return `api/clusters/${encodeURIComponent(row.conn_id)}/${encodeURIComponent(row.cluster_id)}`;
}

function detailContent(detail) {
  const cell = el("td", {colspan: "9"});
  if (detail === null) {
    cell.append(el("span", {class: "muted"}, "Reading the cluster's events\u2026"));
    return cell;
  }
  if (detail.error) { cell.append(el("span", {class: "muted"}, detail.error)); return cell; }
  const fallback = detail.fell_back
    ? `yes (${detail.fallback_events} event${detail.fallback_events === 1 ? "" : "s"} report it)` : "no";
  cell.append(el("div", {},
    "Nodes lost: ", el("strong", {"data-field": "nodes-lost"}, detail.nodes_lost),
    " \u00b7 nodes added: ", el("strong", {"data-field": "nodes-added"}, detail.nodes_added),
    " \u00b7 fell back to on-demand: ", el("strong", {"data-field": "fell-back"}, fallback),
    el("span", {class: "muted"}, ` \u00b7 from its newest ${detail.events_read} events`)));
  const events = el("table", {"data-field": "events"},
    el("thead", {}, el("tr", {}, el("th", {}, "Time"), el("th", {}, "Event"), el("th", {}, "Details"))),
    el("tbody", {}, ...detail.last_events.map((event) => el("tr", {},
      el("td", {}, event.timestamp ? new Date(event.timestamp).toLocaleString() : ""),
      el("td", {}, event.type), el("td", {}, event.text)))));
  cell.append(events);
  return cell;
}

async function readDetail(row) {
  const key = rowKey(row);
  if (detailsReading.has(key)) return;  // one read of a row's events at a time
  detailsReading.add(key);
  const url = clusterApi(row);
  let detail;
  try {
    const reply = await fetch(url, {credentials: "same-origin", cache: "no-store"});
    const refused = reply.ok ? null : await reply.json().catch(() => ({}));
    detail = reply.ok ? await reply.json()
      : {error: `The events could not be read: ${refused.detail || reply.status}`};
  } catch (err) {
    detail = {error: `The events could not be read: ${err.message}`};
  } finally {
    detailsReading.delete(key);
  }
  if (!opened.has(key)) return;  // closed meanwhile
  opened.set(key, detail);
  render();
}

function toggleDetail(row) {
  const key = rowKey(row);
  if (opened.has(key)) { opened.delete(key); render(); return; }
  opened.set(key, null);
  render();
  readDetail(row);
}

function fillSelect(id, values, chosen) {
  const select = document.getElementById(id);
  const shown = chosen && !values.includes(chosen) ? [...values, chosen] : values;
  const wanted = JSON.stringify([shown, chosen]);
  if (select.dataset.filled === wanted) return;  // unchanged: an open list stays open
  select.dataset.filled = wanted;
  const options = shown.map((value) => el("option", {value}, value));
  select.replaceChildren(el("option", {value: ""}, "any"), ...options);
  select.value = chosen;
}

function render() {
  const rows = answer ? answer.clusters : [];
  const body = document.querySelector("#clusters tbody");
  body.replaceChildren(...rows.flatMap((row) => {
    const state = el("span", {class: "state " + row.state}, row.state);
    const stateCell = el("td", {"data-col": "state"}, state);
    if (row.orphaned) stateCell.append(el("span", {class: "tag", title: row.verdict}, "orphaned"));
    const key = rowKey(row);
    const action = el("td", {"data-col": "action"});
    const details = el("button", {class: "details", type: "button", "aria-expanded": String(opened.has(key))},
      opened.has(key) ? "Hide details" : "Details");
    details.addEventListener("click", () => toggleDetail(row));
    action.append(details);
    if (row.can_terminate) {
      const button = el("button", {class: "terminate", type: "button"}, "Terminate");
      button.addEventListener("click", () => terminate(row, button));
      action.append(button);
    }
    const task = row.map_index >= 0 ? `${row.task_id}[${row.map_index}]` : row.task_id;
    const taskPath = ["dags", row.dag_id, "runs", row.run_id, "tasks", row.task_id];
    if (row.map_index >= 0) taskPath.push("mapped", String(row.map_index));
    const line = el("tr", {"data-cluster-id": row.cluster_id, "data-conn-id": row.conn_id,
                           class: row.orphaned ? "orphaned" : ""},
      el("td", {"data-col": "cluster"}, el("a", {href: row.url, target: "_blank", rel: "noopener"},
        row.cluster_name || row.cluster_id), el("div", {class: "muted"}, row.cluster_id)),
      stateCell,
      el("td", {"data-col": "dag"}, airflowLink(["dags", row.dag_id], row.dag_id)),
      el("td", {"data-col": "run"}, airflowLink(["dags", row.dag_id, "runs", row.run_id], row.run_id)),
      el("td", {"data-col": "task"},
        airflowLink(taskPath, task),
        el("div", {class: "muted"}, row.task_state || "")),
      el("td", {"data-col": "uptime"}, uptime(row.uptime_seconds)),
      el("td", {"data-col": "workers"}, workers(row)),
      el("td", {"data-col": "reason"}, row.termination_reason || ""),
      action);
    if (!opened.has(key)) return [line];
    const detail = el("tr", {class: "detail", "data-detail-for": row.cluster_id},
      detailContent(opened.get(key)));
    return [line, detail];
  }));
  for (const button of document.querySelectorAll("th button.sort")) {
    const sorted = button.dataset.sort === query.sort;
    if (sorted) {
      button.setAttribute("aria-sort", query.order === "desc" ? "descending" : "ascending");
      button.dataset.arrow = query.order === "desc" ? "\u25bc" : "\u25b2";
    } else {
      button.removeAttribute("aria-sort");
    }
  }
  if (!answer) return;
  const counts = answer.counts;
  const plural = counts.clusters === 1 ? "" : "s";
  document.getElementById("counts").textContent = `${counts.clusters} cluster${plural}, ` +
    `${counts.live} live, ${counts.orphaned} orphaned`;
  const first = answer.matching ? (answer.page - 1) * answer.per_page + 1 : 0;
  const last = Math.min(answer.page * answer.per_page, answer.matching);
  document.getElementById("page-info").textContent =
    `Page ${answer.page} of ${answer.pages} \u00b7 ${first}\u2013${last} of ${answer.matching} matching`;
  document.getElementById("prev-page").disabled = answer.page <= 1;
  document.getElementById("next-page").disabled = answer.page >= answer.pages;
  fillSelect("filter-state", ["live", ...answer.states], query.state);
  fillSelect("filter-dag", answer.dag_ids, query.dag_id);
  fillSelect("filter-conn", answer.conn_ids, query.conn_id);
  document.getElementById("filter-conn-label").hidden = answer.conn_ids.length < 2;
}

function showErrors(messages) {
  document.getElementById("errors").replaceChildren(...messages.map((text) => el("div", {}, text)));
}

function queryText() {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === "" || value === false) continue;
    params.set(key, String(value));
  }
  return params.toString();
}

async function load() {
  const number = ++loadNumber;
  try {
    const reply = await fetch(`api/clusters?${queryText()}`, {credentials: "same-origin", cache: "no-store"});
    if (reply.status === 401 || reply.status === 403) {
      showErrors(["Log in to Airflow to see the clusters."]);
      return;
    }
    if (!reply.ok) throw new Error(`${reply.status} ${await reply.text()}`);
    const data = await reply.json();
    // A load sent after this one (a changed query, a terminate) has the newer answer.
    if (number !== loadNumber) return;
    answer = data;
    query.page = data.page;
    refreshSeconds = Math.max(data.cache_seconds || 15, 5);
    const problems = data.workspaces.filter((w) => w.error)
      .map((w) => `Workspace ${w.conn_id} could not be read: ${w.error}`);
    if (data.lookup_error) problems.push(data.lookup_error);
    showErrors(problems);
    const stamps = data.workspaces.map((w) => w.read_at).filter(Boolean);
    const reading = data.workspaces.some((w) => !w.complete);
    document.getElementById("read-at").textContent = (stamps.length ?
      `Read from the workspace at ${new Date(Math.min(...stamps) * 1000).toLocaleTimeString()}.` : "") +
      (reading ? " Reading the terminated clusters\u2026" : "");
    if (reading) refreshSeconds = 2;
    render();
    for (const row of data.clusters) if (opened.has(rowKey(row))) readDetail(row);
  } catch (err) {
    showErrors([`The clusters could not be read: ${err.message}`]);
  }
}

function changeQuery(changes) {
  Object.assign(query, changes);
  load();
}

async function terminate(row, button) {
  const what = `cluster ${row.cluster_name || row.cluster_id} (${row.cluster_id}) of ${row.dag_id} / ` +
    `${row.run_id}`;
  const warning = row.orphaned ? "" :
    `\n\nIts task instance is ${row.task_state || "unknown"}: a task may still be using it.`;
  if (!await confirmOnPage(`Terminate ${what}?${warning}`)) return;
  button.disabled = true;
  loadNumber++;  // an answer read before the terminate must not show the cluster live again
  const url = `${clusterApi(row)}/terminate`;
  try {
    const answer = await fetch(url, {method: "POST", credentials: "same-origin",
                                     headers: {"Content-Type": "application/json"}, body: "{}"});
    if (!answer.ok) {
      const detail = await answer.json().catch(() => ({}));
      throw new Error(detail.detail || answer.status);
    }
  } catch (err) {
    showErrors([`Could not terminate ${row.cluster_id}: ${err.message}`]);
    button.disabled = false;
    return;
  }
  await load();
}

document.getElementById("only-orphaned").addEventListener("change",
  (event) => changeQuery({orphaned: event.target.checked, page: 1}));
document.getElementById("filter-state").addEventListener("change",
  (event) => changeQuery({state: event.target.value, page: 1}));
document.getElementById("filter-dag").addEventListener("change",
  (event) => changeQuery({dag_id: event.target.value, page: 1}));
document.getElementById("filter-conn").addEventListener("change",
  (event) => changeQuery({conn_id: event.target.value, page: 1}));
document.getElementById("per-page").addEventListener("change",
  (event) => changeQuery({per_page: Number(event.target.value), page: 1}));
document.getElementById("prev-page").addEventListener("click", () => changeQuery({page: query.page - 1}));
document.getElementById("next-page").addEventListener("click", () => changeQuery({page: query.page + 1}));
for (const button of document.querySelectorAll("th button.sort")) {
  button.addEventListener("click", () => {
    const same = query.sort === button.dataset.sort;
    changeQuery({sort: button.dataset.sort, order: same && query.order === "asc" ? "desc" : "asc", page: 1});
  });
}
async function loop() {
  await load();
  setTimeout(loop, refreshSeconds * 1000);
}
loop();
</script>
</body>
</html>
"""
