"use strict";
// Everything here is served by the query service: no asset comes from the internet, and the
// page's Content-Security-Policy allows no other (and no inline script or style).
const TEXT = {
  zh: {
    title: "大涌镇 案件督查 CaseTrail", overview: "总览", loading: "加载中…", lang: "English",
    complaint: "投诉举报", petition: "信访", mediation: "人民调解", enforcement: "行政执法", disclosure: "政府信息公开申请",
    cases: "宗", closed: "办结", closure: "办结率", yoy: "同比", persons: "人次", online: "网络信访",
    replied: "回复率", agreed: "调解成功", amount: "涉案金额（万元）", trend: "月度趋势",
    red: "红灯（已超期）", yellow: "黄灯（临近期限）", case: "案件", clock: "时限", due: "到期日",
    department: "承办部门", officer: "承办人", status: "状态", opened: "受理时间",
    timeline: "办理过程", occurred: "发生时间", recorded: "记录时间", actor: "办理人", step: "步骤",
    // What /cases/{id}/chain checked, and no more: the rows in PostgreSQL, hashed without a key.
    // Whoever can write the database can rewrite a case and its hashes together; only
    // `casetrail verify` holds them against the Kafka log and its signed checkpoints.
    intact: "审计记录哈希链自洽（仅核对数据库，未核对 Kafka 日志与签名检查点；完整核验请运行 casetrail verify）",
    broken: "审计记录哈希链不一致：数据库中的记录被改动或损坏（请运行 casetrail verify 查明）",
    deadlines: "期限", more: "更多",
    token: "请输入访问令牌（casetrail tokens create）", none: "无", year: "年度",
    list: "案件列表", logout: "退出", vouched: "担保签名", gatewayKey: "网关", departmentKey: "部门密钥",
  },
  en: {
    title: "Dayong town · CaseTrail", overview: "Overview", loading: "Loading…", lang: "中文",
    complaint: "Complaints", petition: "Petitions", mediation: "Mediations", enforcement: "Enforcement", disclosure: "Disclosure requests",
    cases: "cases", closed: "closed", closure: "Closure rate", yoy: "Year on year", persons: "persons",
    online: "Online petitions", replied: "Reply rate", agreed: "Settled", amount: "In dispute (10k yuan)",
    trend: "Monthly trend", red: "Red lights (overdue)", yellow: "Yellow lights (due soon)",
    case: "Case", clock: "Deadline", due: "Due", department: "Department", officer: "Officer",
    status: "Status", opened: "Opened", timeline: "Timeline", occurred: "Happened", recorded: "Recorded",
    actor: "Who", step: "Step",
    intact: "Audit-trail hash chain consistent (database only: not checked against the Kafka log or its signed checkpoints; run casetrail verify for that)",
    broken: "Audit-trail hash chain broken: rows in the database were altered or damaged (run casetrail verify to find out)",
    deadlines: "Deadlines", more: "More", token: "Access token (casetrail tokens create)", none: "none",
    year: "Year", list: "Cases", logout: "Log out", vouched: "Vouched by", gatewayKey: "gateway",
    departmentKey: "department key",
  },
};
let lang = localStorage.getItem("lang") || "zh";
const t = (key) => TEXT[lang][key] || key;
const YEAR = 2020;

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
  history.replaceState(null, "", location.pathname + "#/");
  route();
}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: "Bearer " + (token() || "") } });
  if (response.status === 401) { askToken(); throw new Error("unauthenticated"); }
  if (!response.ok) throw new Error((await response.json()).message || response.status);
  return response.json();
}
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
// Who vouched for a step: the gateway (for a department's token) or a department's own key.
const vouched = (v) => v ? `${esc(v.department)} · ${t(v.kind === "gateway" ? "gatewayKey" : "departmentKey")} <code>${esc(v.key_id)}</code>` : "—";
const pct = (x) => (x == null ? "–" : (Number(x) * 100).toFixed(0) + "%");
const change = (x) => x == null ? "–" : `<span class="${x < 0 ? "down" : "up"}">${x > 0 ? "+" : ""}${(x * 100).toFixed(0)}%</span>`;
const day = (iso) => new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { timeZone: "Asia/Shanghai", dateStyle: "medium", timeStyle: "short" });
const view = () => document.getElementById("view");

function askToken() {
  view().innerHTML = `<p>${t("token")}</p><input id="token" type="password" autocomplete="off" size="60"> <button id="save">OK</button>`;
  document.getElementById("save").onclick = () => { sessionStorage.setItem(TOKEN, document.getElementById("token").value.trim()); route(); };
  document.body.dataset.ready = "token";
}

function yearFilter() {
  return `opened_from=${YEAR}-01-01T00:00:00%2B08:00&opened_to=${YEAR + 1}-01-01T00:00:00%2B08:00`;
}

async function overview() {
  const [byType, byChannel, byMonth, red, yellow] = await Promise.all([
    api(`/statistics?year=${YEAR}&by=case_type`),
    api(`/statistics?year=${YEAR}&by=case_type,channel`),
    api(`/statistics?year=${YEAR}&by=case_type,month`),
    api("/deadlines?light=red&limit=50"),
    api("/deadlines?light=yellow&limit=50"),
  ]);
  const rows = Object.fromEntries(byType.rows.map((r) => [r.case_type, r]));
  const online = byChannel.rows.find((r) => r.case_type === "petition" && r.channel === "online");
  const card = (type, extra) => {
    const r = rows[type];
    if (!r) return `<div class="card"><h2>${t(type)}</h2><p class="muted">${t("none")}</p></div>`;
    return `<div class="card" data-type="${type}"><h2>${t(type)}</h2>
      <div class="figure" data-drill="case_type=${type}" data-figure="${type}-cases">${r.cases}</div>
      <div class="row"><span>${t("closed")}</span><span class="figure small" data-drill="case_type=${type}&status=closed" data-figure="${type}-closed">${r.closed}</span></div>
      <div class="row"><span>${t("closure")}</span><span data-figure="${type}-closure">${pct(r.closure_rate)}</span></div>
      <div class="row"><span>${t("yoy")}</span><span data-figure="${type}-yoy">${change(r.year_over_year.cases)}</span></div>${extra(r)}</div>`;
  };
  const cards = [
    card("petition", (r) => `<div class="row"><span>${t("persons")}</span><span data-figure="petition-persons">${r.persons}</span></div>
      <div class="row"><span>${t("online")}</span><span class="figure small" data-drill="case_type=petition&channel=online" data-figure="petition-online">${online ? online.cases : 0}</span></div>
      <div class="row"><span>${t("online")} ${t("yoy")}</span><span data-figure="petition-online-yoy">${change(online && online.year_over_year.cases)}</span></div>`),
    card("complaint", (r) => `<div class="row"><span>${t("replied")}</span><span>${pct(r.reply_rate)}</span></div>`),
    card("mediation", (r) => `<div class="row"><span>${t("agreed")}</span><span data-figure="mediation-agreed">${r.mediations_agreed} (${pct(r.mediation_success_rate)})</span></div>
      <div class="row"><span>${t("amount")}</span><span data-figure="mediation-amount">${(r.amount_in_dispute_fen / 1e6).toFixed(1)}</span></div>`),
    card("enforcement", () => ""),
    card("disclosure", (r) => `<div class="row"><span>${t("replied")}</span><span>${pct(r.reply_rate)}</span></div>`),
  ].join("");
  view().innerHTML = `<h2>${YEAR} ${t("year")}</h2><div class="cards">${cards}</div>
    <section><h2>${t("trend")}</h2>${trend(byMonth.rows)}</section>
    <section><h2><span class="light red"></span>${t("red")}</h2>${deadlineTable(red)}</section>
    <section><h2><span class="light yellow"></span>${t("yellow")}</h2>${deadlineTable(yellow)}</section>`;
  view().querySelectorAll("[data-drill]").forEach((el) => { el.onclick = () => { location.hash = "#/cases?" + el.dataset.drill; }; });
}

function trend(rows) {
  const types = ["petition", "complaint", "enforcement", "mediation", "disclosure"];
  const colours = { petition: "#8b1a1a", complaint: "#2e6bd1", enforcement: "#6b4fbb", mediation: "#12b76a", disclosure: "#b7791f" };
  const months = [...Array(12).keys()].map((m) => `${YEAR}-${String(m + 1).padStart(2, "0")}`);
  const count = (type, month) => (rows.find((r) => r.case_type === type && r.month === month) || { cases: 0 }).cases;
  const top = Math.max(1, ...months.map((m) => types.reduce((s, ty) => s + count(ty, m), 0)));
  const width = 60, height = 160;
  const bars = months.map((m, i) => {
    let y = height;
    return types.map((ty) => {
      const h = (count(ty, m) / top) * (height - 10);
      y -= h;
      return `<rect x="${i * width + 10}" y="${y}" width="${width - 20}" height="${h}" fill="${colours[ty]}"><title>${t(ty)} ${m}: ${count(ty, m)}</title></rect>`;
    }).join("") + `<text x="${i * width + 16}" y="${height + 14}">${m.slice(5)}</text>`;
  }).join("");
  const legend = types.map((ty, i) => `<rect x="${i * 110}" y="${height + 24}" width="10" height="10" fill="${colours[ty]}"></rect><text x="${i * 110 + 14}" y="${height + 33}">${t(ty)}</text>`).join("");
  return `<svg viewBox="0 0 ${12 * width + 10} ${height + 40}" width="100%" role="img" aria-label="${t("trend")}">${bars}${legend}</svg>`;
}

function deadlineTable(rows) {
  if (!rows.length) return `<p class="muted">${t("none")}</p>`;
  return `<table><tr><th>${t("case")}</th><th>${t("clock")}</th><th>${t("due")}</th><th>${t("department")}</th></tr>` +
    rows.map((r) => `<tr><td><span class="light ${r.light}"></span><a href="#/case/${esc(r.case_id)}">${esc(r.case_id)}</a></td><td>${esc(r.clock)}</td><td>${esc(r.due_day)}</td><td>${esc(r.owner_department)}</td></tr>`).join("") + "</table>";
}

async function caseList(query) {
  let next = null;
  const base = `/cases?limit=50&${query}${query.includes("opened_") ? "" : "&" + yearFilter()}`;
  view().innerHTML = `<h2>${t("list")}</h2><p class="muted">${esc(decodeURIComponent(query))}</p>
    <table id="cases"><tr><th>${t("case")}</th><th>${t("status")}</th><th>${t("department")}</th><th>${t("opened")}</th></tr></table>
    <button class="more" id="more">${t("more")}</button>`;
  async function page() {
    const data = await api(base + (next ? "&after=" + encodeURIComponent(next) : ""));
    document.getElementById("cases").insertAdjacentHTML("beforeend", data.cases.map((c) =>
      `<tr><td><a href="#/case/${esc(c.case_id)}">${esc(c.case_id)}</a></td><td>${esc(c.status)}</td><td>${esc(c.owner_department)}</td><td>${day(c.opened_at)}</td></tr>`).join(""));
    next = data.next;
    document.getElementById("more").hidden = !next;
  }
  document.getElementById("more").onclick = page;
  await page();
}

async function casePage(id) {
  const [c, history, chain] = await Promise.all([
    api(`/cases/${encodeURIComponent(id)}`), api(`/cases/${encodeURIComponent(id)}/history`), api(`/cases/${encodeURIComponent(id)}/chain`),
  ]);
  const badge = chain.intact ? `<p class="badge ok" id="badge">✔ ${t("intact")}</p>` : `<p class="badge bad" id="badge">✘ ${t("broken")}</p>`;
  const deadlines = c.deadlines.length ? c.deadlines.map((d) => `<span class="light ${d.light}"></span>${esc(d.clock)} ${esc(d.due_day)}`).join("<br>") : t("none");
  view().innerHTML = `<h2 id="case-title">${t(c.case_type)} ${esc(c.case_id)}</h2>${badge}
    <div class="card"><div class="row"><span>${t("status")}</span><span>${esc(c.status)}</span></div>
    <div class="row"><span>${t("department")}</span><span>${esc(c.owner_department)}</span></div>
    <div class="row"><span>${t("officer")}</span><span>${esc(c.assigned_officer || "–")}</span></div>
    <div class="row"><span>${t("opened")}</span><span>${day(c.opened_at)}</span></div>
    <div class="row"><span>${t("deadlines")}</span><span>${deadlines}</span></div></div>
    <section><h2>${t("timeline")}</h2><table id="timeline"><tr><th>#</th><th>${t("step")}</th><th>${t("actor")}</th><th>${t("occurred")}</th><th>${t("recorded")}</th><th>${t("vouched")}</th></tr>` +
    history.map((e) => `<tr><td>${e.version}</td><td>${esc(e.type)}</td><td>${esc(e.actor.officer_id)} · ${esc(e.actor.role)} · ${esc(e.actor.department)}${e.actor.certificate ? " · 证 " + esc(e.actor.certificate) : ""}</td><td>${day(e.occurred_at)}</td><td>${day(e.recorded_at)}</td><td>${vouched(e.vouched_by)}</td></tr>`).join("") +
    "</table></section>";
}

async function route() {
  delete document.body.dataset.ready;  // set again once this view is drawn (tests wait on it)
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  document.getElementById("lang").textContent = t("lang");
  document.getElementById("logout").textContent = t("logout");
  document.getElementById("logout").hidden = !token();
  if (!token()) return askToken();
  const hash = location.hash || "#/";
  try {
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
window.addEventListener("hashchange", route);
takeTokenFromLink();
route();
