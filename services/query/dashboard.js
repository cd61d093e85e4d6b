"use strict";
// Everything here is served by the query service: no asset comes from the internet, and the
// page's Content-Security-Policy allows no other (and no inline script or style).
//
// The page speaks the officials' words: every status, step, role, deadline, light and coded
// value is shown by its label from GET /labels (the lifecycle tables' own "中文 / English"
// titles), officers by their names from GET /officers. Nothing here lists the case types or
// their statuses: a new type, status or step shows up with its label once the tables have it.
// A code without a label is shown as the code, marked so (class "raw"), never passed off as one.
const TEXT = {
  zh: {
    title: "大涌镇 案件督查 CaseTrail", overview: "总览", loading: "加载中…", lang: "English",
    cases: "宗", closed: "办结", closure: "办结率", onTime: "按期办结率", supervision: "督办按时反馈", yoy: "同比", persons: "人次",
    replied: "回复率", agreed: "调解成功", amount: "涉案金额（万元）", trend: "月度趋势",
    red: "红灯（已超期）", yellow: "黄灯（临近期限）", case: "案件", caseType: "案件类型", clock: "时限", due: "到期日",
    department: "承办部门", officer: "承办人", status: "状态", opened: "受理时间", channel: "渠道", light: "亮灯",
    timeline: "办理过程", occurred: "发生时间", recorded: "记录时间", actor: "办理人", step: "步骤", content: "办理内容",
    // What /cases/{id}/chain checked, and no more: the rows in PostgreSQL, hashed without a key.
    // Whoever can write the database can rewrite a case and its hashes together; only
    // `casetrail verify` holds them against the Kafka log and its signed checkpoints.
    intact: "审计记录哈希链自洽（仅核对数据库，未核对 Kafka 日志与签名检查点；完整核验请运行 casetrail verify）",
    broken: "审计记录哈希链不一致：数据库中的记录被改动或损坏（请运行 casetrail verify 查明）",
    suite: "密码算法", international: "国际算法（SHA-256、Ed25519、AES-256-GCM）", guomi: "国密算法（SM3、SM2、SM4-GCM）",
    deadlines: "期限", links: "关联案件", more: "更多",
    token: "请输入访问令牌（casetrail tokens create）", none: "无", year: "年度", allYears: "全部年份", any: "全部",
    list: "案件列表", logout: "退出", vouched: "担保签名", gatewayKey: "网关", departmentKey: "部门密钥",
    search: "搜索", searchHint: "案件编号、事由、案号或决定书号", filters: "筛选", found: "共显示", clear: "清除筛选",
    masked: "已遮蔽（个人信息，本角色不可见）", unknownCode: "没有标签的代码", unknownOfficer: "目录中没有此人员",
    yes: "是", no: "否", certificate: "执法证", rate: "比率",
    reasonAsk: "投诉举报人的身份应予保密：查阅须说明理由（记入访问日志）：", reasonShow: "查看",
    download: "下载", csv: "CSV 表格", excel: "Excel 工作簿", caseFile: "下载案卷（PDF）",
  },
  en: {
    title: "Dayong town · CaseTrail", overview: "Overview", loading: "Loading…", lang: "中文",
    cases: "cases", closed: "closed", closure: "Closure rate", onTime: "On-time closure rate", supervision: "Supervision answered on time", yoy: "Year on year", persons: "persons",
    replied: "Reply rate", agreed: "Settled", amount: "In dispute (10k yuan)",
    trend: "Monthly trend", red: "Red lights (overdue)", yellow: "Yellow lights (due soon)",
    case: "Case", caseType: "Case type", clock: "Deadline", due: "Due", department: "Department", officer: "Officer",
    status: "Status", opened: "Opened", channel: "Channel", light: "Light", timeline: "Timeline", occurred: "Happened",
    recorded: "Recorded", actor: "Who", step: "Step", content: "What was done",
    intact: "Audit-trail hash chain consistent (database only: not checked against the Kafka log or its signed checkpoints; run casetrail verify for that)",
    broken: "Audit-trail hash chain broken: rows in the database were altered or damaged (run casetrail verify to find out)",
    suite: "Cryptography", international: "international (SHA-256, Ed25519, AES-256-GCM)", guomi: "guomi (SM3, SM2, SM4-GCM)",
    deadlines: "Deadlines", links: "Linked cases", more: "More", token: "Access token (casetrail tokens create)", none: "none",
    year: "Year", allYears: "All years", any: "Any", list: "Cases", logout: "Log out", vouched: "Vouched by",
    gatewayKey: "gateway", departmentKey: "department key",
    search: "Search", searchHint: "case id, subject, case or decision number", filters: "Filters", found: "Showing",
    clear: "Clear filters", masked: "Masked (personal data this role does not see)", unknownCode: "code without a label",
    unknownOfficer: "not in the officer directory", yes: "Yes", no: "No", certificate: "certificate", rate: "rate",
    reasonAsk: "A complainant may be a whistle-blower: state why you need their identity (kept in the access log):", reasonShow: "Show",
    download: "Download", csv: "CSV", excel: "Excel workbook", caseFile: "Case file (PDF)",
  },
};
let lang = localStorage.getItem("lang") || "zh";
const t = (key) => TEXT[lang][key] || key;
const YEAR = 2020;
const PALETTE = ["#8b1a1a", "#2e6bd1", "#6b4fbb", "#12b76a", "#d97706", "#0e7490", "#be185d", "#4d7c0f"];

// The token: taken from a link once (`/#token=…`, as `casetrail demo` prints it), then removed
// from the address bar and from this history entry, and kept for this tab only (sessionStorage:
// gone when the tab closes, never written to disk like localStorage). "Log out" forgets it.
const TOKEN = "casetrail.token";
const token = () => sessionStorage.getItem(TOKEN);
function takeTokenFromLink() {
  localStorage.removeItem("token");  // where an earlier version of this page kept it
  const found = /^#token=([^&]*)/.exec(location.hash);
  if (!found) return;
  sessionStorage.setItem(TOKEN, decodeURIComponent(found[1]));
  history.replaceState(null, "", location.pathname + location.search + "#/");
}
function logout() {
  sessionStorage.removeItem(TOKEN);
  OFFICERS = null;
  history.replaceState(null, "", location.pathname + "#/");
  route();
}

async function answer(path) {
  const response = await fetch(path, { headers: { Authorization: "Bearer " + (token() || "") } });
  if (response.status === 401) { askToken(); throw new Error("unauthenticated"); }
  if (!response.ok) throw new Error((await response.json()).message || response.status);
  return response;
}
const api = async (path) => (await answer(path)).json();

// Downloads need the token too, so they are fetched (not plain links) and saved under the
// name the server gives (Content-Disposition: filename*, the Chinese one).
function savedName(disposition) {
  const found = /filename\*=UTF-8''([^;]+)/i.exec(disposition || "");
  return found ? decodeURIComponent(found[1]) : "casetrail";
}
async function save(path) {
  const response = await answer(path);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = savedName(response.headers.get("Content-Disposition"));
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}
// Buttons that save what the view shows: [id, label, path] each.
const downloadButtons = (buttons) => `<p class="downloads">${t("download")}：${buttons.map(([id, label]) => `<button type="button" id="${id}">${label}</button>`).join(" ")}</p>`;
function onDownloads(buttons) {
  for (const [id, , path] of buttons) {
    document.getElementById(id).onclick = () => save(path).catch((error) => {
      if (error.message !== "unauthenticated") alert(error.message);
    });
  }
}
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const pct = (x, digits = 0) => (x == null ? "–" : (Number(x) * 100).toFixed(digits) + "%");
const change = (x) => x == null ? "–" : `<span class="${x < 0 ? "down" : "up"}">${x > 0 ? "+" : ""}${(x * 100).toFixed(0)}%</span>`;
const day = (iso) => new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { timeZone: "Asia/Shanghai", dateStyle: "medium", timeStyle: "short" });
const yuan = (fen) => new Intl.NumberFormat(lang === "zh" ? "zh-CN" : "en-GB", { style: "currency", currency: "CNY" }).format(Number(fen) / 100);
const view = () => document.getElementById("view");

// --- labels ---------------------------------------------------------------------------------

let LABELS = null;   // GET /labels: public, loaded once per page
let OFFICERS = null; // GET /officers: id → {name, department, roles}, once per token

async function loadLabels() {
  if (LABELS) return;
  const response = await fetch("/labels");
  if (!response.ok) throw new Error("/labels: " + response.status);
  LABELS = await response.json();
}
async function loadOfficers() {
  if (OFFICERS) return;
  try {
    OFFICERS = Object.fromEntries((await api("/officers")).map((o) => [o.officer_id, o]));
  } catch (error) {
    if (error.message === "unauthenticated") throw error;
    OFFICERS = {};  // a token that may not read cases: ids stay ids (and say so)
  }
}
// One half of a "中文 / English" title: the Chinese by default, the English on the switch.
const half = (title) => {
  const at = title.indexOf(" / ");
  if (at < 0) return title;
  return lang === "zh" ? title.slice(0, at) : title.slice(at + 3);
};
const raw = (code) => `<code class="raw" title="${esc(t("unknownCode"))}">${esc(code)}</code>`;
const labelled = (title, code) => (title ? esc(half(title)) : raw(code));
const caseTypeLabel = (type) => labelled(LABELS.case_types[type], type);
const statusLabel = (type, status) => labelled((LABELS.statuses[type] || {})[status], status);
const stepLabel = (event) => labelled(LABELS.events[event], event);
const roleLabel = (role) => labelled(LABELS.roles[role], role);
// A rule with one clock per starting event names each "<rule>#<case version>" (a supervision
// note's answer): the rule's label, then which one.
const clockLabel = (clock) => {
  const [rule, key] = String(clock).split("#");
  const label = labelled(LABELS.clocks[rule], rule);
  return key === undefined ? label : `${label} #${esc(key)}`;
};
const valueLabel = (enumName, value) => labelled((LABELS.values[enumName] || {})[value], value);
const lightDot = (light) => `<span class="light ${esc(light)}" role="img" aria-label="${esc(LABELS.lights[light] ? half(LABELS.lights[light]) : light)}"></span>`;
const lightLabel = (light) => `${lightDot(light)}${labelled(LABELS.lights[light], light)}`;
function officerName(id) {
  if (!id) return "–";
  const officer = (OFFICERS || {})[id];
  if (!officer) return `<code class="raw" title="${esc(t("unknownOfficer"))}">${esc(id)}</code>`;
  return `<span title="${esc(id)}">${esc(officer.name)}</span>`;
}
// The coded values a case type's opening step names its channel by (from the payload fields).
function channelValues(type) {
  const values = {};
  for (const [event, fields] of Object.entries(LABELS.fields)) {
    if (type && !event.startsWith(type + ".")) continue;
    const field = fields.channel;
    if (field && field.kind === "enum") Object.assign(values, LABELS.values[field.enum] || {});
  }
  return values;
}
function channelLabel(type, channel) {
  if (!channel) return "–";
  return labelled(channelValues(type)[channel], channel);
}

// --- a step's content -------------------------------------------------------------------------

function empty(value) {
  return value == null || value === "" || (Array.isArray(value) && value.length === 0);
}
// One value as its field says it is shown. "***" is what the API masked for this reader: it
// stays masked (nothing here could, or may, unmask it).
function fieldValue(field, value) {
  if (value === "***") return `<span class="masked" title="${esc(t("masked"))}">***</span>`;
  switch (field && field.kind) {
    case "fen": return esc(yuan(value));
    case "enum": return valueLabel(field.enum, value);
    case "hash": return `<code title="${esc(value)}">${esc(String(value).slice(0, 12))}…</code>`;
    case "bool": return t(value ? "yes" : "no");
    case "datetime": return esc(day(value));
    case "clock": return clockLabel(value);
    case "officer": return Array.isArray(value) ? value.map(officerName).join("、") : officerName(value);
    case "case": return `<a href="#/case/${esc(encodeURIComponent(value))}">${esc(value)}</a>`;
    case "object": return fieldList(field.fields || {}, value);
    case "list":
      if (!Array.isArray(value)) break;
      if (field.fields) return `<ol class="items">${value.map((item) => `<li>${fieldList(field.fields, item)}</li>`).join("")}</ol>`;
      return value.map((v) => esc(v)).join("、");
    default: break;
  }
  if (value !== null && typeof value === "object") return `<code>${esc(JSON.stringify(value))}</code>`;
  return esc(value);
}
// A payload as a list of "label: value", in the fields' own order; a field the catalogue does
// not know (a newer schema than these labels) keeps its code, marked.
function fieldList(fields, payload) {
  if (payload === "***" || payload == null || typeof payload !== "object") return fieldValue(null, payload);
  const names = [...Object.keys(fields).filter((k) => k in payload), ...Object.keys(payload).filter((k) => !(k in fields))];
  const rows = names.filter((name) => !empty(payload[name])).map((name) => {
    const field = fields[name];
    const title = field && field.title ? esc(half(field.title)) : raw(name);
    return `<dt>${title}</dt><dd>${fieldValue(field, payload[name])}</dd>`;
  });
  return rows.length ? `<dl class="content">${rows.join("")}</dl>` : "";
}
const stepContent = (entry) => fieldList(LABELS.fields[entry.type] || {}, entry.payload);

// --- views ----------------------------------------------------------------------------------

// Who vouched for a step: the gateway (for a department's token) or a department's own key.
const vouched = (v) => v ? `${esc(v.department)} · ${t(v.kind === "gateway" ? "gatewayKey" : "departmentKey")} <code>${esc(v.key_id)}</code>` : "—";

function askToken() {
  view().innerHTML = `<p><label for="token">${t("token")}</label></p><input id="token" type="password" autocomplete="off" size="60"> <button id="save" type="button">OK</button>`;
  document.getElementById("save").onclick = () => { sessionStorage.setItem(TOKEN, document.getElementById("token").value.trim()); route(); };
  document.body.dataset.ready = "token";
}

// The measures of a statistics row shown on every card that has them (by what the row holds,
// not by case type); a rate the page has no words for yet still shows, under its code.
const KNOWN_MEASURES = new Set(["cases", "accepted", "closed", "closure_rate", "closed_on_time", "on_time_closure_rate", "persons", "replied", "reply_rate", "mediations_agreed",
  "mediation_success_rate", "amount_in_dispute_fen", "average_handling_days", "longest_handling_days", "year_over_year", "case_type",
  "supervision_notes", "supervision_answered_on_time", "supervision_on_time_rate"]);

async function overview() {
  const [byType, byChannel, byMonth, red, yellow] = await Promise.all([
    api(`/statistics?year=${YEAR}&by=case_type`),
    api(`/statistics?year=${YEAR}&by=case_type,channel`),
    api(`/statistics?year=${YEAR}&by=case_type,month`),
    api("/deadlines?light=red&limit=50"),
    api("/deadlines?light=yellow&limit=50"),
  ]);
  const rows = Object.fromEntries(byType.rows.map((r) => [r.case_type, r]));
  const types = Object.keys(LABELS.case_types);
  const card = (type) => {
    const r = rows[type];
    const title = `<h2>${caseTypeLabel(type)}</h2>`;
    if (!r) return `<div class="card" data-type="${esc(type)}">${title}<p class="muted">${t("none")}</p></div>`;
    const q = encodeURIComponent(type);
    const row = (label, value) => `<div class="row"><span>${label}</span>${value}</div>`;
    const extra = [];
    if (r.persons > 0) extra.push(row(t("persons"), `<span data-figure="${esc(type)}-persons">${r.persons}</span>`));
    const online = byChannel.rows.find((c) => c.case_type === type && c.channel === "online");
    if (online) {
      extra.push(row(channelLabel(type, "online"), `<a class="figure small" href="#/cases?case_type=${q}&channel=online" data-figure="${esc(type)}-online">${online.cases}</a>`));
      extra.push(row(`${channelLabel(type, "online")} · ${t("yoy")}`, `<span data-figure="${esc(type)}-online-yoy">${change(online.year_over_year.cases)}</span>`));
    }
    if (r.replied > 0) extra.push(row(t("replied"), `<span data-figure="${esc(type)}-replied">${pct(r.reply_rate)}</span>`));
    if (r.mediation_success_rate != null) extra.push(row(t("agreed"), `<span data-figure="${esc(type)}-agreed">${r.mediations_agreed} (${pct(r.mediation_success_rate)})</span>`));
    if (r.supervision_notes > 0) extra.push(row(t("supervision"), `<span data-figure="${esc(type)}-supervision">${r.supervision_answered_on_time}/${r.supervision_notes} (${pct(r.supervision_on_time_rate)})</span>`));
    if (r.amount_in_dispute_fen > 0) extra.push(row(t("amount"), `<span data-figure="${esc(type)}-amount">${(r.amount_in_dispute_fen / 1e6).toFixed(1)}</span>`));
    for (const [key, value] of Object.entries(r)) {
      if (!KNOWN_MEASURES.has(key) && key.endsWith("_rate") && value != null) extra.push(row(raw(key), `<span data-figure="${esc(type)}-${esc(key)}">${pct(value)}</span>`));
    }
    return `<div class="card" data-type="${esc(type)}">${title}
      <a class="figure" href="#/cases?case_type=${q}" data-figure="${esc(type)}-cases">${r.cases}</a>
      ${row(t("closed"), `<a class="figure small" href="#/cases?case_type=${q}&status=closed" data-figure="${esc(type)}-closed">${r.closed}</a>`)}
      ${row(t("closure"), `<span data-figure="${esc(type)}-closure">${pct(r.closure_rate)}</span>`)}
      ${row(t("onTime"), `<span data-figure="${esc(type)}-on-time">${pct(r.on_time_closure_rate, 1)}</span>`)}
      ${row(t("yoy"), `<span data-figure="${esc(type)}-yoy">${change(r.year_over_year.cases)}</span>`)}${extra.join("")}</div>`;
  };
  // Types with cases this year first (the figures the report gives), then the others.
  const ordered = [...types.filter((ty) => rows[ty]), ...types.filter((ty) => !rows[ty])];
  // The workbook holds the breakdowns this view is drawn from, a sheet each.
  const downloads = [
    ["stats-xlsx", t("excel"), `/statistics.xlsx?year=${YEAR}&by=case_type&by=case_type,channel&by=case_type,month`],
    ["stats-csv", t("csv"), `/statistics.csv?year=${YEAR}&by=case_type`],
  ];
  view().innerHTML = `<h2>${YEAR} ${t("year")}</h2>${downloadButtons(downloads)}<div class="cards">${ordered.map(card).join("")}</div>
    <section><h2>${t("trend")}</h2>${trend(byMonth.rows, types)}</section>
    <section><h2>${lightDot("red")}${t("red")}</h2>${deadlineTable(red)}</section>
    <section><h2>${lightDot("yellow")}${t("yellow")}</h2>${deadlineTable(yellow)}</section>`;
  onDownloads(downloads);
}

function trend(rows, types) {
  const months = [...Array(12).keys()].map((m) => `${YEAR}-${String(m + 1).padStart(2, "0")}`);
  const count = (type, month) => (rows.find((r) => r.case_type === type && r.month === month) || { cases: 0 }).cases;
  const top = Math.max(1, ...months.map((m) => types.reduce((s, ty) => s + count(ty, m), 0)));
  const width = 60, height = 160;
  const colour = (i) => PALETTE[i % PALETTE.length];
  const name = (type) => esc(LABELS.case_types[type] ? half(LABELS.case_types[type]) : type);
  const bars = months.map((m, i) => {
    let y = height;
    return types.map((ty, k) => {
      const h = (count(ty, m) / top) * (height - 10);
      y -= h;
      return `<rect x="${i * width + 10}" y="${y}" width="${width - 20}" height="${h}" fill="${colour(k)}"><title>${name(ty)} ${m}: ${count(ty, m)}</title></rect>`;
    }).join("") + `<text x="${i * width + 16}" y="${height + 14}">${m.slice(5)}</text>`;
  }).join("");
  // The legend is HTML below the chart, so that long names wrap instead of overlapping.
  const legend = types.map((ty, i) => `<li><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" fill="${colour(i)}"></rect></svg> ${name(ty)}</li>`).join("");
  return `<svg viewBox="0 0 ${12 * width + 10} ${height + 20}" width="100%" role="img" aria-label="${t("trend")}">${bars}</svg><ul class="legend">${legend}</ul>`;
}

function deadlineTable(rows) {
  if (!rows.length) return `<p class="muted">${t("none")}</p>`;
  return `<table><tr><th scope="col">${t("case")}</th><th scope="col">${t("clock")}</th><th scope="col">${t("due")}</th><th scope="col">${t("department")}</th><th scope="col">${t("officer")}</th></tr>` +
    rows.map((r) => `<tr><td>${lightDot(r.light)}<a href="#/case/${esc(encodeURIComponent(r.case_id))}">${esc(r.case_id)}</a></td><td>${clockLabel(r.clock)}</td><td>${esc(r.due_day)}</td><td>${esc(r.owner_department)}</td><td>${officerName(r.assigned_officer)}</td></tr>`).join("") + "</table>";
}

// --- the case list: search and filters --------------------------------------------------------

// The list's own parameters (in the address, so a list can be bookmarked and drilled into):
// those GET /cases takes, and `year` (the year opened in; "all" for every year).
const FILTERS = ["q", "case_type", "status", "department", "channel", "light", "officer", "year"];

function apiQuery(params) {
  const query = new URLSearchParams();
  for (const [key, value] of params) if (value && key !== "year") query.set(key, value);
  const year = params.get("year") || String(YEAR);
  if (year !== "all" && !params.has("opened_from") && !params.has("opened_to")) {
    query.set("opened_from", `${year}-01-01T00:00:00+08:00`);
    query.set("opened_to", `${Number(year) + 1}-01-01T00:00:00+08:00`);
  }
  return query;
}

function options(choices, chosen) {
  const list = [`<option value="">${t("any")}</option>`, ...choices.map(([value, label]) =>
    `<option value="${esc(value)}"${value === chosen ? " selected" : ""}>${esc(label)}</option>`)];
  if (chosen && !choices.some(([value]) => value === chosen)) list.push(`<option value="${esc(chosen)}" selected>${esc(chosen)}</option>`);
  return list.join("");
}

function filterForm(params) {
  const type = params.get("case_type") || "";
  const halfOf = (titles) => Object.entries(titles).map(([code, title]) => [code, half(title)]);
  // Statuses of the chosen type, or of every type (a status shared by several, once).
  const statuses = type ? halfOf(LABELS.statuses[type] || {}) : Object.values(LABELS.statuses).flatMap(halfOf)
    .filter(([code], i, all) => all.findIndex(([other]) => other === code) === i);
  const officers = Object.values(OFFICERS || {});
  const departments = [...new Set(officers.map((o) => o.department))].sort();
  const department = params.get("department") || "";
  const staff = officers.filter((o) => !department || o.department === department).map((o) => [o.officer_id, `${o.name}（${o.department}）`]);
  const years = [YEAR + 1, YEAR, YEAR - 1, YEAR - 2].map((y) => [String(y), String(y)]);
  const field = (name, label, control) => `<div class="field"><label for="f-${name}">${label}</label>${control}</div>`;
  const select = (name, choices) => `<select id="f-${name}" name="${name}">${options(choices, params.get(name) || "")}</select>`;
  const year = params.get("year") || String(YEAR);
  return `<form id="filters" class="filters" aria-label="${t("filters")}">
    ${field("q", t("search"), `<input id="f-q" name="q" type="search" value="${esc(params.get("q") || "")}" placeholder="${esc(t("searchHint"))}">`)}
    ${field("case_type", t("caseType"), select("case_type", halfOf(LABELS.case_types)))}
    ${field("status", t("status"), select("status", statuses))}
    ${field("department", t("department"), select("department", departments.map((d) => [d, d])))}
    ${field("officer", t("officer"), select("officer", staff))}
    ${field("channel", t("channel"), select("channel", halfOf(channelValues(type))))}
    ${field("light", t("light"), select("light", halfOf(LABELS.lights)))}
    ${field("year", t("year"), `<select id="f-year" name="year">${[["all", t("allYears")], ...years].map(([v, l]) => `<option value="${v}"${v === year ? " selected" : ""}>${l}</option>`).join("")}</select>`)}
    <div class="field buttons"><button type="submit">${t("search")}</button><a href="#/cases">${t("clear")}</a></div>
  </form>`;
}

function showList(form) {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const value = (form.elements[name] && form.elements[name].value.trim()) || "";
    if (value && !(name === "year" && value === String(YEAR))) params.set(name, value);
  }
  location.hash = "#/cases" + (params.toString() ? "?" + params : "");
}

async function caseList(query) {
  const params = new URLSearchParams(query);
  const base = "/cases?limit=50&" + apiQuery(params);
  let next = null, shown = 0;
  // The whole list as filtered, every page of it.
  const downloads = [
    ["list-xlsx", t("excel"), "/cases.xlsx?" + apiQuery(params)],
    ["list-csv", t("csv"), "/cases.csv?" + apiQuery(params)],
  ];
  view().innerHTML = `<h2>${t("list")}</h2>${filterForm(params)}${downloadButtons(downloads)}
    <p class="muted" id="shown" aria-live="polite"></p>
    <table id="cases"><tr><th scope="col">${t("case")}</th><th scope="col">${t("caseType")}</th><th scope="col">${t("status")}</th><th scope="col">${t("department")}</th><th scope="col">${t("officer")}</th><th scope="col">${t("channel")}</th><th scope="col">${t("opened")}</th></tr></table>
    <button class="more" id="more" type="button">${t("more")}</button>`;
  onDownloads(downloads);
  const form = document.getElementById("filters");
  form.onsubmit = (event) => { event.preventDefault(); showList(form); };
  // A choice applies at once; the type and the department narrow the other lists, so redraw.
  form.querySelectorAll("select").forEach((el) => {
    el.onchange = () => {
      if (el.name === "case_type") { form.elements.status.value = ""; form.elements.channel.value = ""; }
      if (el.name === "department") form.elements.officer.value = "";
      showList(form);
    };
  });
  async function page() {
    const data = await api(base + (next ? "&after=" + encodeURIComponent(next) : ""));
    document.getElementById("cases").insertAdjacentHTML("beforeend", data.cases.map((c) =>
      `<tr><td><a href="#/case/${esc(encodeURIComponent(c.case_id))}">${esc(c.case_id)}</a></td><td>${caseTypeLabel(c.case_type)}</td><td class="status">${statusLabel(c.case_type, c.status)}</td><td>${esc(c.owner_department)}</td><td>${officerName(c.assigned_officer)}</td><td>${channelLabel(c.case_type, c.channel)}</td><td>${day(c.opened_at)}</td></tr>`).join(""));
    next = data.next;
    shown += data.cases.length;
    document.getElementById("shown").textContent = `${t("found")} ${shown}${next ? "+" : ""} ${t("cases")}`;
    document.getElementById("more").hidden = !next;
  }
  document.getElementById("more").onclick = page;
  await page();
}

// --- one case -------------------------------------------------------------------------------

function actor(a) {
  const parts = [officerName(a.officer_id), roleLabel(a.role), esc(a.department)];
  if (a.certificate) parts.push(`${t("certificate")} ${esc(a.certificate)}`);
  return parts.join(" · ");
}

// A link reads from both cases: recorded on this one ("outgoing": this case is a repeat of, or
// came from, the other) or on the other one, naming this case ("incoming").
function linkList(links) {
  if (!links.length) return t("none");
  return links.map((l) => {
    const kind = valueLabel(l.direction === "incoming" ? "CaseLinkKindSeenFromTheOtherCase" : "CaseLinkKind", l.kind);
    const other = `<a href="#/case/${encodeURIComponent(l.other_case_id)}">${esc(l.other_case_id)}</a>`;
    const where = l.other_case_type ? ` (${caseTypeLabel(l.other_case_type)} · ${statusLabel(l.other_case_type, l.other_status)})` : "";
    return `<span class="link" data-link="${esc(l.other_case_id)}">${kind} ${other}${where}${l.note ? ` — ${esc(l.note)}` : ""}</span>`;
  }).join("<br>");
}

// A complaint's persons come masked until the reader states a reason, which the API records.
async function casePage(id, reason) {
  const path = `/cases/${encodeURIComponent(id)}`;
  const historyPath = `${path}/history` + (reason ? "?" + new URLSearchParams({ reason }) : "");
  const [c, historyAnswer, chain] = await Promise.all([api(path), answer(historyPath), api(`${path}/chain`)]);
  const history = await historyAnswer.json();
  const wantsReason = historyAnswer.headers.get("X-CaseTrail-Personal-Data") === "reason-required";
  const ask = wantsReason ? `<form id="reason-form" class="card"><label>${t("reasonAsk")} <input id="reason" maxlength="500" required></label> <button>${t("reasonShow")}</button></form>` : "";
  // The suite whose hash the chain was checked with (one per log: CASETRAIL_CRYPTO_SUITE).
  const suite = `<span id="suite"> · ${t("suite")}: ${esc(t(chain.suite))}</span>`;
  const badge = chain.intact ? `<p class="badge ok" id="badge">✔ ${t("intact")}${suite}</p>` : `<p class="badge bad" id="badge">✘ ${t("broken")}${suite}</p>`;
  const deadlines = c.deadlines.length ? c.deadlines.map((d) => `${lightDot(d.light)}${clockLabel(d.clock)} ${esc(d.due_day)}`).join("<br>") : t("none");
  const row = (label, value, id) => `<div class="row"><span>${label}</span><span${id ? ` id="${id}"` : ""}>${value}</span></div>`;
  // The case file as this reader sees the case here (with the reason given, if any).
  const downloads = [["case-pdf", t("caseFile"), `${path}/file.pdf` + (reason ? "?" + new URLSearchParams({ reason }) : "")]];
  view().innerHTML = `<h2 id="case-title">${caseTypeLabel(c.case_type)} ${esc(c.case_id)}</h2>${badge}${downloadButtons(downloads)}
    <div class="card">${row(t("status"), statusLabel(c.case_type, c.status), "case-status")}
    ${row(t("department"), esc(c.owner_department))}
    ${row(t("officer"), officerName(c.assigned_officer))}
    ${c.channel ? row(t("channel"), channelLabel(c.case_type, c.channel)) : ""}
    ${row(t("opened"), day(c.opened_at))}
    ${row(t("deadlines"), deadlines)}
    ${row(t("links"), linkList(c.links || []), "case-links")}</div>${ask}
    <section><h2>${t("timeline")}</h2><table id="timeline"><tr><th scope="col">#</th><th scope="col">${t("step")}</th><th scope="col">${t("content")}</th><th scope="col">${t("actor")}</th><th scope="col">${t("occurred")}</th><th scope="col">${t("recorded")}</th><th scope="col">${t("vouched")}</th></tr>` +
    history.map((e) => `<tr data-event="${esc(e.type)}"><td>${e.version}</td><td class="step">${stepLabel(e.type)}</td><td class="content">${stepContent(e)}</td><td>${actor(e.actor)}</td><td>${day(e.occurred_at)}</td><td>${day(e.recorded_at)}</td><td>${vouched(e.vouched_by)}</td></tr>`).join("") +
    "</table></section>";
  onDownloads(downloads);
  if (wantsReason) {
    document.getElementById("reason-form").onsubmit = async (event) => {
      event.preventDefault();
      delete document.body.dataset.ready;
      await casePage(id, document.getElementById("reason").value.trim());
      document.body.dataset.ready = location.hash;
    };
  }
}

async function route() {
  delete document.body.dataset.ready;  // set again once this view is drawn (tests wait on it)
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  document.getElementById("lang").textContent = t("lang");
  document.getElementById("logout").textContent = t("logout");
  document.getElementById("logout").hidden = !token();
  document.getElementById("q").placeholder = t("searchHint");
  document.getElementById("search").hidden = !token();
  if (!token()) return askToken();
  const hash = location.hash || "#/";
  try {
    await loadLabels();
    await loadOfficers();
    if (hash.startsWith("#/case/")) await casePage(decodeURIComponent(hash.slice(7)));
    else if (hash.startsWith("#/cases")) await caseList(hash.split("?")[1] || "");
    else await overview();
    document.body.dataset.ready = hash;
  } catch (error) {
    if (error.message !== "unauthenticated") view().innerHTML = `<p class="bad badge">${esc(error.message)}</p>`;
  }
}
document.getElementById("lang").onclick = () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("lang", lang); route(); };
document.getElementById("logout").onclick = logout;
// The search in the header looks through every year; the list's own form keeps its filters.
document.getElementById("search").onsubmit = (event) => {
  event.preventDefault();
  const q = document.getElementById("q").value.trim();
  location.hash = "#/cases?" + new URLSearchParams(q ? { q, year: "all" } : { year: "all" });
};
window.addEventListener("hashchange", route);
takeTokenFromLink();
route();
