// The console page. All state that matters lives in the server's runs; the page only remembers
// which run each tab shows (localStorage), so a refresh reattaches to it.
"use strict";
const FINAL = ["finished", "failed", "stopped", "lost"];
const KIND_TAB = {train: "train", eval: "eval", export: "export", api: "chat"};
let T = {};
const shown = {};     // kind -> run id shown in that tab's panel
const last = {};      // kind -> last detail rendered

const $ = (sel, root = document) => root.querySelector(sel);
const t = (key) => T[key] || key;

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} :
    {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail || data));
  return data;
}

async function setLanguage(lang) {
  T = await api(`/api/i18n/${lang}`);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.title = t("title");
  localStorage.setItem("lang", lang);
  $("#lang").value = lang;
  Object.keys(last).forEach((kind) => render(kind, last[kind]));
  refreshRuns();
}

function showTab(tab) {
  document.querySelectorAll(".tab").forEach((s) => { s.hidden = s.id !== `tab-${tab}`; });
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  localStorage.setItem("tab", tab);
}

function formValues(form) {
  const config = {};
  let overrides = [];
  for (const el of form.elements) {
    if (!el.name || el.value.trim() === "") continue;
    if (el.name === "overrides") overrides = el.value.split("\n").map((l) => l.trim()).filter(Boolean);
    else config[el.name] = el.type === "number" ? Number(el.value) : el.value.trim();
  }
  return {config, overrides};
}

async function submit(event) {
  event.preventDefault();
  // getAttribute: form.dataset would be the form's input named "dataset"
  const form = event.target, kind = form.getAttribute("data-kind"), error = $(".error", form);
  error.hidden = true;
  try {
    const run = await api("/api/runs", {kind, ...formValues(form)});
    attach(kind, run.id);
    refreshRuns();
  } catch (e) {
    error.textContent = `${t("error")}: ${e.message}`;
    error.hidden = false;
  }
}

const polling = {};    // kind -> number of the poll loop that may go on (one loop per tab)

function attach(kind, id) {
  shown[kind] = id;
  localStorage.setItem(`run-${kind}`, id);
  if (kind === "api") renderMessages();
  polling[kind] = (polling[kind] || 0) + 1;
  poll(kind, polling[kind]);
}

async function poll(kind, loop) {
  if (polling[kind] !== loop) return;   // another run was attached meanwhile
  let detail;
  try { detail = await api(`/api/runs/${shown[kind]}`); } catch (e) {
    setTimeout(() => poll(kind, loop), 3000);   // the console restarting, say: try again
    return;
  }
  if (polling[kind] !== loop) return;
  last[kind] = detail;
  render(kind, detail);
  if (!FINAL.includes(detail.status)) setTimeout(() => poll(kind, loop), 1000);
  else refreshRuns();
}

function render(kind, d) {
  const panel = $(`.run[data-kind="${kind}"]`);
  panel.innerHTML = "";
  const head = document.createElement("div");
  head.className = "run-head";
  head.innerHTML = `<code class="run-id"></code><span class="status ${d.status}"></span>`;
  $(".run-id", head).textContent = d.id;
  let status = t(`status_${d.status}`);
  if (kind === "api" && d.status === "running") status = d.ready ? t("ready") : t("loading");
  $(".status", head).textContent = status;
  if (d.status === "running") {
    const stop = document.createElement("button");
    stop.className = "stop"; stop.textContent = t("stop");
    stop.onclick = () => api(`/api/runs/${d.id}/stop`, {}).then(() => attach(kind, d.id));
    head.append(stop);
  }
  panel.append(head);
  if (kind === "train") panel.append(chart(d.metrics.filter((m) => m.loss !== undefined)));
  if (kind === "eval" && d.result) panel.append(scores(d.result));
  else if (d.result) panel.append(block("result", JSON.stringify(d.result, null, 2)));
  panel.append(block("log", d.log));
  if (kind === "api") $("#send").disabled = !(d.status === "running" && d.ready);
}

function block(key, text) {
  const wrap = document.createElement("div");
  const h = document.createElement("h3"); h.textContent = t(key);
  const pre = document.createElement("pre"); pre.className = key; pre.textContent = text;
  wrap.append(h, pre);
  return wrap;
}

function scores(result) {   // tool-call accuracy: one row per measure
  const table = document.createElement("table");
  table.className = "scores";
  for (const key of ["overall", "decision", "name", "arguments", "cases"]) {
    const row = table.insertRow();
    row.dataset.key = key;
    row.insertCell().textContent = t(`score_${key}`);
    row.insertCell().textContent = key === "cases" ? result[key] : `${(100 * result[key]).toFixed(1)}%`;
  }
  return table;
}

function chart(points) {
  const ns = "http://www.w3.org/2000/svg", W = 640, H = 220, P = 36;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.dataset.points = points.length;
  const label = (x, y, text) => {
    const el = document.createElementNS(ns, "text");
    el.setAttribute("x", x); el.setAttribute("y", y); el.textContent = text; svg.append(el);
  };
  label(P, 14, t("loss"));
  if (!points.length) return svg;
  const steps = points.map((p) => p.step), losses = points.map((p) => p.loss);
  const [s0, s1] = [Math.min(...steps), Math.max(...steps)], [l0, l1] = [Math.min(...losses), Math.max(...losses)];
  const x = (s) => P + (s1 > s0 ? (s - s0) / (s1 - s0) : 0.5) * (W - 2 * P);
  const y = (l) => H - P + (l1 > l0 ? -(l - l0) / (l1 - l0) : -0.5) * (H - 2 * P);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.map((p) => `${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`).join(" "));
  svg.append(line);
  label(2, P, l1.toFixed(3)); label(2, H - P, l0.toFixed(3));
  label(P, H - 8, `${t("step")} ${s0}`); label(W - P - 40, H - 8, `${t("step")} ${s1}`);
  return svg;
}

async function refreshRuns() {
  let runs;
  try { runs = await api("/api/runs"); } catch (e) { return; }
  const list = $("#runs");
  list.innerHTML = "";
  for (const r of runs) {
    const li = document.createElement("li");
    li.dataset.id = r.id;
    li.textContent = `${t(`tab_${KIND_TAB[r.kind]}`)} · ${t(`status_${r.status}`)} · ${r.id}`;
    li.onclick = () => { showTab(KIND_TAB[r.kind]); attach(r.kind, r.id); };
    list.append(li);
  }
  return runs;
}

// --- chat: the history of each model server's conversation is kept for the tab's session ------
const history = () => JSON.parse(sessionStorage.getItem(`chat-${shown.api}`) || "[]");

function renderMessages() {
  const box = $("#messages");
  box.innerHTML = "";
  const messages = history();
  for (const m of messages) {
    const div = document.createElement("div");
    div.className = `msg ${m.role}`;
    const who = {user: "you", assistant: "assistant", tool: "tool_result"}[m.role];
    div.textContent = `${t(who)}: ${m.content || ""}`;
    for (const call of m.tool_calls || []) {
      const c = document.createElement("div");
      c.className = "call";
      c.textContent = `${t("tool_call")}: ${call.function.name}(${call.function.arguments})`;
      div.append(c);
    }
    box.append(div);
  }
  // The model called tools: the user plays them, typing each call's result, and the model goes on.
  const calls = messages.length ? messages[messages.length - 1].tool_calls || [] : [];
  if (!calls.length) return;
  const form = document.createElement("div");
  form.id = "tool-results";
  for (const call of calls) {
    const label = document.createElement("label");
    label.className = "wide";
    const span = document.createElement("span");
    span.textContent = `${t("tool_result")}: ${call.function.name}`;
    const input = document.createElement("textarea");
    input.rows = 1; input.dataset.callId = call.id; input.placeholder = '{"temperature": 21}';
    label.append(span, input);
    form.append(label);
  }
  const button = document.createElement("button");
  button.textContent = t("send_results");
  button.onclick = () => {
    const results = [...form.querySelectorAll("textarea")].map((el) =>
      ({role: "tool", tool_call_id: el.dataset.callId, content: el.value.trim()}));
    ask([...messages, ...results]);
  };
  form.append(button);
  box.append(form);
}

async function send() {
  const text = $("#message").value.trim();
  if (!text || !shown.api) return;
  $("#message").value = "";
  await ask([...history(), {role: "user", content: text}]);
}

async function ask(messages) {
  const error = $("#chat-error");
  error.hidden = true;
  let tools;
  try { tools = $("#tools").value.trim() ? JSON.parse($("#tools").value) : undefined; } catch (e) {
    error.textContent = `${t("error")}: tools: ${e.message}`; error.hidden = false; return;
  }
  const key = `chat-${shown.api}`;
  sessionStorage.setItem(key, JSON.stringify(messages));
  renderMessages();
  $("#send").disabled = true;
  try {
    const reply = await api(`/api/runs/${shown.api}/chat`, {messages, tools});
    messages.push({role: "assistant", content: reply.content, tool_calls: reply.tool_calls || undefined});
    sessionStorage.setItem(key, JSON.stringify(messages));
    renderMessages();
  } catch (e) {
    error.textContent = `${t("error")}: ${e.message}`; error.hidden = false;
  } finally {
    $("#send").disabled = false;
  }
}

async function main() {
  document.querySelectorAll("nav button").forEach((b) => { b.onclick = () => showTab(b.dataset.tab); });
  document.querySelectorAll("form[data-kind]").forEach((f) => f.addEventListener("submit", submit));
  $("#lang").onchange = (e) => setLanguage(e.target.value);
  $("#send").onclick = send;
  showTab(localStorage.getItem("tab") || "train");
  const lang = localStorage.getItem("lang") || (navigator.language.startsWith("zh") ? "zh" : "en");
  await setLanguage(lang);
  const runs = (await refreshRuns()) || [];
  for (const kind of Object.keys(KIND_TAB)) {   // reattach: the run this tab showed, else its newest
    const remembered = localStorage.getItem(`run-${kind}`);
    const run = runs.find((r) => r.id === remembered) || runs.find((r) => r.kind === kind);
    if (run) attach(kind, run.id);
  }
}
main();
