// Facet gallery: plain modern JavaScript, no framework. State lives in the
// URL (filters, sort, open photo), so a reload shows the same view.

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(e.dataset, v);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
};

// ---------- Interface text: one table per language (web/i18n/LANG.json) ----------

// The languages with a complete table; English is the fallback.
export const LANGUAGES = ["en", "fr"];
const i18n = { lang: "en", strings: {}, fallback: {}, plural: null };

// The language: `?lang=` when it names a known one, else the one chosen in
// the page, else the browser's first known one, else English.
function chooseLanguage() {
  const known = (l) => LANGUAGES.find((x) => x === String(l || "").toLowerCase().split("-")[0]);
  return known(params().get("lang")) || known(localStorage.getItem("facet.lang"))
    || (navigator.languages || [navigator.language]).map(known).find(Boolean) || "en";
}

async function loadLanguage(lang) {
  const table = async (l) => {
    try {
      return await (await fetch(`/assets/i18n/${l}.json`)).json();
    } catch (_) {
      return {};
    }
  };
  const [fallback, strings] = await Promise.all([table("en"), lang === "en" ? null : table(lang)]);
  Object.assign(i18n, { lang, fallback, strings: strings || fallback });
  i18n.plural = new Intl.PluralRules(locale());
}

// The locale of dates, numbers and lists ("en-GB": "14 July 2021", "a, b and c").
const locale = () => t("meta.locale");
export const has = (key) => key in i18n.strings || key in i18n.fallback;

/** The text of `key` in the chosen language (else English, else the key),
 * its `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const s = i18n.strings[key] ?? i18n.fallback[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

/** A count in words: `key.one`, `key.other`, … as the language's plural
 * rules choose for `n`, with `{n}` the number. */
export function tn(key, n, vars = {}) {
  const form = `${key}.${i18n.plural?.select(n) ?? "other"}`;
  return t(has(form) ? form : `${key}.other`, { n: n.toLocaleString(locale()), ...vars });
}

// "a, b and c" in the chosen language.
const listWords = (words) => new Intl.ListFormat(locale(), { type: "conjunction" }).format(words);

/** A stored date ("2021-07-14", or "2021-07-14T09:30:05…" as taken, local
 * time) in the chosen language. */
export function fmtDate(s, options = { dateStyle: "long" }) {
  const [y, mo, d = 1, h = 0, mi = 0, sec = 0] = String(s).match(/\d+/g).map(Number);
  return new Intl.DateTimeFormat(locale(), { ...options, timeZone: "UTC" }).format(Date.UTC(y, mo - 1, d, h, mi, sec));
}

// The page's own text: `data-i18n` (the text), `data-i18n-title`,
// `data-i18n-placeholder` and `data-i18n-aria-label`.
function translatePage() {
  document.documentElement.lang = i18n.lang;
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const a of ["title", "placeholder", "aria-label"]) {
    for (const e of document.querySelectorAll(`[data-i18n-${a}]`)) e.setAttribute(a, t(e.getAttribute(`data-i18n-${a}`)));
  }
}

// The language picker: the choice is kept (localStorage) and the page shown again in it.
function bindLanguage() {
  const pick = $("lang");
  pick.value = i18n.lang;
  pick.addEventListener("change", () => {
    localStorage.setItem("facet.lang", pick.value);
    setParam("lang", null);
    location.reload();
  });
}

const FILTER_KEYS = ["category", "camera", "lens", "tag", "min_score", "top_picks", "favorites", "rating_min", "date_from", "date_to", "bbox", "person"];
// Parameters the URL holds as "1" and the API wants as "true".
const FLAG_KEYS = ["top_picks", "favorites"];

const state = {
  config: null,
  photos: [],
  total: 0,
  page: 0,
  loading: false,
  done: false,
  // The grid stopped loading after a failure (see gridFailed), and how many in a row.
  halted: false,
  failures: 0,
  generation: 0,
  gridStale: false,
  open: -1,
  detail: null,
  persons: null,
};

// ---------- URL state ----------

function params() {
  return new URLSearchParams(location.search);
}

function setParam(key, value) {
  const p = params();
  if (value === null || value === undefined || value === "" || value === false) p.delete(key);
  else p.set(key, value === true ? "1" : String(value));
  const q = p.toString();
  history.replaceState(null, "", q ? `?${q}` : location.pathname);
}

function sortKey() {
  return params().get("sort") || state.config.defaults.sort;
}

function sortDir() {
  return params().get("dir") || state.config.defaults.sort_direction;
}

function query(extra = {}) {
  const p = new URLSearchParams();
  const cur = params();
  for (const k of FILTER_KEYS) {
    const v = cur.get(k);
    if (v) p.set(k, v === "1" && FLAG_KEYS.includes(k) ? "true" : v);
  }
  p.set("sort", sortKey());
  p.set("dir", sortDir());
  // "Show hidden": burst and duplicate non-leads, blinks and rejects too.
  if (cur.get("show_hidden")) {
    for (const k of ["hide_bursts", "hide_duplicates", "hide_blinks", "hide_rejected"]) p.set(k, "false");
  }
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return p;
}

// ---------- Login (viewer.password / viewer.edition_password, or users) ----------

/** Who this session is (`/api/me`), shown in the toolbar. */
async function loadMe() {
  try {
    state.me = await (await fetch("/api/me")).json();
  } catch (_) {
    state.me = {};
  }
  const user = state.me.user;
  $("me").hidden = !user;
  $("me").textContent = user ? t("me.user", { name: user.display_name, role: tOr(`role.${user.role}`, user.role) }) : "";
  $("logout").hidden = !user && !state.me.password_required;
  $("logout").onclick = async () => {
    await fetch("/api/logout", { method: "POST" });
    location.reload();
  };
  // A member's own account: password and "log out everywhere".
  $("account").hidden = !user;
  $("account").onclick = openAccount;
}

/** The account dialog: change the password (the member's other sessions
 * end), or end every session of the member, this one included. */
function openAccount() {
  const dlg = $("account-dialog");
  const msg = $("account-message");
  const say = (text) => {
    msg.textContent = text;
    msg.hidden = false;
  };
  msg.hidden = true;
  $("current-password").value = "";
  $("new-password").value = "";
  $("password-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const r = await fetch("/api/auth/password", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        current_password: $("current-password").value,
        new_password: $("new-password").value,
      }),
    });
    if (r.ok) {
      $("current-password").value = "";
      $("new-password").value = "";
      say(t("account.changed"));
    } else {
      const body = await r.json().catch(() => ({}));
      say(t("account.failed", { reason: body.error || r.status }));
    }
  };
  $("logout-all").onclick = async () => {
    await fetch("/api/auth/logout-all", { method: "POST" });
    location.reload();
  };
  $("account-close").onclick = () => dlg.close();
  dlg.showModal();
}

/** Asks for a password (and, with users, a user name) and logs in;
 * resolves once a session is set. */
async function askLogin(why) {
  if (!state.me) await loadMe();
  const multi = !!state.me.multi_user;
  const dlg = $("login");
  $("login-why").textContent = why;
  $("login-error").hidden = true;
  $("login-password").value = "";
  $("login-user").hidden = !multi;
  $("login-user").required = multi;
  return new Promise((resolve) => {
    $("login-form").onsubmit = async (ev) => {
      ev.preventDefault();
      const body = { password: $("login-password").value };
      if (multi) body.username = $("login-user").value;
      const r = await fetch("/api/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      if (r.ok) {
        dlg.close();
        await loadMe();
        resolve();
      } else {
        const e = $("login-error");
        e.textContent = t(r.status === 429 ? "login.too_many" : multi ? "login.wrong_user" : "login.wrong_password");
        e.hidden = false;
      }
    };
    if (!dlg.open) dlg.showModal();
  });
}

// The filters alone (the timeline, map and memories take them, not the sort).
function filterQuery(extra = {}) {
  const p = query(extra);
  for (const k of ["sort", "dir"]) if (!(k in extra)) p.delete(k);
  return p;
}

const feature = (name) => !!state.config.features?.[name];

async function api(path, options) {
  let r = await fetch(path, options);
  // With users, a 403 is the role's answer: logging in again changes nothing.
  if (r.status === 401 || (r.status === 403 && !state.me?.multi_user)) {
    await askLogin(t(r.status === 401 ? "login.protected" : "login.edition"));
    r = await fetch(path, options);
  }
  if (!r.ok) {
    let msg = `${r.status}`;
    try {
      msg = (await r.json()).error || msg;
    } catch (_) {}
    const err = new Error(msg);
    err.status = r.status;
    throw err;
  }
  return r.json();
}

const enc = (path) => encodeURIComponent(path);

// ---------- Toast ----------

let toastTimer = 0;
function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (box.hidden = true), 2000);
}

function showError(e) {
  const box = $("error");
  box.textContent = t("error.any", { message: e.message || e });
  box.hidden = false;
}

// ---------- Toolbar ----------

function fillSelect(select, items, current, label = (v) => v) {
  select.replaceChildren(el("option", { value: "" }, t("filter.all")));
  for (const { value, count } of items) {
    select.append(el("option", { value }, `${label(value)} (${count})`));
  }
  if (current && !items.some((i) => i.value === current)) {
    select.append(el("option", { value: current }, label(current)));
  }
  select.value = current || "";
}

// ---------- Searchable filters: camera, lens, tag, person ----------

// Each filter's values (`{values: [{value, label?, count}], total}`) for
// what is typed: the most frequent when nothing is.
const searchField = (field) => (q) => api(`/api/filter_options?${new URLSearchParams({ field, q })}`);
const COMBOS = {
  camera: { source: searchField("camera") },
  lens: { source: searchField("lens") },
  tag: { source: searchField("tag") },
  // People, from /api/persons (all of them): the most photographed
  // (viewer.dropdowns.max_persons, min_photos_for_person), any by name.
  person: {
    source: async (q) => {
      const d = state.config.dropdowns || {};
      const needle = q.toLowerCase();
      const all = (await personsList()).filter((p) => !p.hidden);
      const found = all.filter((p) => (q ? personLabel(p).toLowerCase().includes(needle) : p.photo_count >= (d.min_photos_for_person ?? 10)));
      return {
        total: q ? found.length : all.length,
        values: found.slice(0, d.max_persons ?? 50).map((p) => ({ value: String(p.person_id), label: personLabel(p), count: p.photo_count })),
      };
    },
    label: (id) => {
      const p = state.persons?.find((x) => String(x.person_id) === id);
      return p ? personLabel(p) : t("person.n", { id });
    },
  },
};

/** Makes `input` an accessible combobox (ARIA 1.2: an input and a listbox):
 * focused, it lists the most frequent values and says how many there are
 * ("50 of 53 — type to search"); typed, every value containing the text,
 * from the API. Up/Down move, Enter or a tap picks, Escape closes; picking
 * sets the filter's URL parameter as a select did. */
function combobox(key) {
  const input = $(`f-${key}`);
  const { source, label = (v) => v } = COMBOS[key];
  const list = el("ul", { id: `f-${key}-list`, className: "combo-list", role: "listbox", dataset: { testid: `combo-${key}` } });
  const note = el("p", { id: `f-${key}-note`, className: "combo-note", dataset: { testid: `combo-${key}-note` } });
  const pop = el("div", { className: "combo-pop", hidden: true }, list, note);
  input.after(pop);
  for (const [k, v] of Object.entries({ role: "combobox", "aria-autocomplete": "list", "aria-expanded": "false",
    "aria-controls": list.id, "aria-describedby": note.id, autocomplete: "off", autocapitalize: "off", spellcheck: "false", enterkeyhint: "search" })) {
    input.setAttribute(k, v);
  }
  let items = [];
  let active = -1;
  let asked = 0;
  let timer = 0;
  const show = (open) => {
    pop.hidden = !open;
    input.setAttribute("aria-expanded", String(open));
  };
  const highlight = (i) => {
    active = i;
    [...list.children].forEach((li, k) => li.setAttribute("aria-selected", String(k === i)));
    if (i >= 0) {
      input.setAttribute("aria-activedescendant", list.children[i].id);
      list.children[i].scrollIntoView({ block: "nearest" });
    } else input.removeAttribute("aria-activedescendant");
  };
  const pick = (item) => {
    show(false);
    clearTimeout(timer);
    input.dataset.typed = "0";
    input.value = item.value ? item.label ?? item.value : "";
    setParam(key, item.value || null);
    reload();
  };
  const search = async () => {
    const q = input.dataset.typed === "1" ? input.value.trim() : "";
    const n = ++asked;
    pop.dataset.ready = "0";
    try {
      const r = await source(q);
      if (n !== asked) return;
      items = [...(q ? [] : [{ value: "", label: t("filter.all") }]), ...r.values];
      list.replaceChildren(...items.map((it, i) => {
        const li = el("li", { id: `${list.id}-${i}`, role: "option", dataset: { testid: "combo-option", value: it.value } },
          it.value ? `${it.label ?? it.value} (${it.count.toLocaleString(locale())})` : it.label);
        li.addEventListener("mousedown", (e) => e.preventDefault());
        li.addEventListener("click", () => pick(it));
        return li;
      }));
      note.textContent = r.values.length < r.total
        ? t(q ? "combo.more_matches" : "combo.top", { shown: r.values.length, total: r.total.toLocaleString(locale()) })
        : q ? tn("combo.matches", r.total) : "";
      highlight(q && items.length ? 0 : -1);
    } catch (e) {
      items = [];
      list.replaceChildren();
      note.textContent = e.message;
    }
    pop.dataset.ready = "1";
  };
  // Focused or tapped: the most frequent values.
  const open = () => {
    if (!pop.hidden) return;
    input.dataset.typed = "0";
    input.select();
    show(true);
    search();
  };
  input.addEventListener("focus", open);
  input.addEventListener("click", open);
  input.addEventListener("input", () => {
    input.dataset.typed = "1";
    show(true);
    clearTimeout(timer);
    timer = setTimeout(search, 150);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      if (pop.hidden) open();
      else if (items.length) {
        const down = e.key === "ArrowDown";
        highlight(active < 0 ? (down ? 0 : items.length - 1) : (active + (down ? 1 : -1) + items.length) % items.length);
      }
    } else if (e.key === "Enter") {
      const typed = input.value.trim();
      const item = items[active] ?? (typed ? items.find((i) => (i.label ?? i.value).toLowerCase() === typed.toLowerCase()) : { value: "" });
      if (item) pick(item);
    } else if (e.key === "Escape" && !pop.hidden) {
      show(false);
      syncCombo(key);
    } else return;
    e.preventDefault();
    e.stopPropagation();
  });
  input.addEventListener("blur", () => {
    show(false);
    syncCombo(key);
  });
}

// The combobox shows its filter's value (a person by name).
function syncCombo(key) {
  const v = params().get(key) || "";
  $(`f-${key}`).value = v ? (COMBOS[key].label ?? String)(v) : "";
}

async function loadToolbar() {
  const p = params();
  const [options, counts] = await Promise.all([
    api("/api/filter_options"),
    api("/api/type_counts"),
  ]);
  fillSelect($("f-category"), options.categories, p.get("category"), categoryName);
  $("f-favorites").closest("label").hidden = !feature("show_rating_controls");
  $("f-rating-min").closest("label").hidden = !feature("show_rating_controls");
  renderTypes(counts);
  // The person filter, when there are people (or one is asked for).
  try {
    $("f-person-label").hidden = !(await personsList()).some((x) => !x.hidden) && !p.get("person");
    syncCombo("person");
  } catch (_) {}
}

function renderTypes(counts) {
  const p = params();
  const nav = $("types");
  const chip = (label, n, pressed, onclick, testid) => {
    const b = el(
      "button",
      { type: "button", onclick, dataset: { testid } },
      label,
      el("span", { className: "n" }, String(n)),
    );
    b.setAttribute("aria-pressed", pressed ? "true" : "false");
    return b;
  };
  const none = !p.get("top_picks") && !p.get("category");
  nav.replaceChildren(
    chip(t("types.all"), counts.all, none, () => {
      setParam("top_picks", null);
      setParam("category", null);
      syncControls();
      reload();
    }, "type-all"),
    chip(t("filter.top_picks"), counts.top_picks, !!p.get("top_picks"), () => {
      setParam("top_picks", true);
      syncControls();
      reload();
    }, "type-top-picks"),
  );
}

function syncControls() {
  const p = params();
  $("f-category").value = p.get("category") || "";
  for (const key of Object.keys(COMBOS)) syncCombo(key);
  $("f-min-score").value = p.get("min_score") || "";
  $("f-top-picks").checked = !!p.get("top_picks");
  $("f-favorites").checked = !!p.get("favorites");
  $("f-rating-min").value = p.get("rating_min") || "";
  $("f-date-from").value = p.get("date_from") || "";
  $("f-date-to").value = p.get("date_to") || "";
  renderChips();
  $("sort").value = sortKey();
  showPersonChip();
  const dir = sortDir().toLowerCase();
  const b = $("dir");
  b.dataset.dir = dir;
  b.textContent = dir === "asc" ? `\u2191 ${t("sort.asc")}` : `\u2193 ${t("sort.desc")}`;
}

function bindToolbar() {
  const onChange = (id, key, read = (e) => e.value) => {
    $(id).addEventListener("change", () => {
      setParam(key, read($(id)));
      reload();
    });
  };
  onChange("f-category", "category");
  for (const key of Object.keys(COMBOS)) combobox(key);
  onChange("f-min-score", "min_score");
  onChange("f-top-picks", "top_picks", (e) => e.checked);
  onChange("f-favorites", "favorites", (e) => e.checked);
  $("f-rating-min").append(...[1, 2, 3, 4, 5].map((n) => el("option", { value: String(n) }, t(n < 5 ? "filter.rating_or_more" : "filter.rating_exactly", { stars: "\u2605".repeat(n) }))));
  onChange("f-rating-min", "rating_min");
  onChange("f-date-from", "date_from");
  onChange("f-date-to", "date_to");
  $("empty-clear").addEventListener("click", clearFilters);
  onChange("sort", "sort");
  $("dir").addEventListener("click", () => {
    setParam("dir", sortDir().toLowerCase() === "asc" ? "desc" : "asc");
    syncControls();
    reload();
  });
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  $("filters-toggle").addEventListener("click", () => {
    const open = $("filters").classList.toggle("open");
    $("filters-toggle").setAttribute("aria-expanded", String(open));
  });
  const size = $("size");
  const slider = state.config.display.thumbnail_slider;
  size.min = slider.min_px;
  size.max = slider.max_px;
  size.step = slider.step_px;
  size.value = localStorage.getItem("facet.size") || slider.default_px;
  const apply = () => document.documentElement.style.setProperty("--size", `${size.value}px`);
  size.addEventListener("input", () => {
    apply();
    localStorage.setItem("facet.size", size.value);
  });
  apply();
  // Grid (squares) or mosaic (justified rows keeping each photo's shape).
  const applyLayout = () => {
    const mosaic = layout() === "mosaic";
    $("grid").classList.toggle("mosaic", mosaic);
    $("layout").dataset.layout = layout();
    $("layout").textContent = t(mosaic ? "layout.mosaic" : "layout.grid");
  };
  $("layout").addEventListener("click", () => {
    localStorage.setItem("facet.layout", layout() === "mosaic" ? "grid" : "mosaic");
    applyLayout();
  });
  applyLayout();
  // Semantic search: only with a text encoder (facet serve --pipeline).
  $("search-form").hidden = !(feature("show_semantic_search") && state.config.search?.available);
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("search").value.trim();
    setParam("q", q || null);
    setView(q ? "search" : "");
  });
  $("show-hidden").addEventListener("click", () => {
    setParam("show_hidden", params().get("show_hidden") ? null : true);
    reload();
  });
  $("person-clear").addEventListener("click", () => {
    setParam("person", null);
    syncControls();
    reload();
  });
}

// ---------- Active filters as chips ----------

// Each active filter in words, with a way to remove it.
function chipLabel(k, v) {
  switch (k) {
    case "category": return t("chip.category", { value: categoryName(v) });
    case "rating_min": return t("chip.rating_min", { stars: "\u2605".repeat(Number(v) || 0) });
    case "date_from":
    case "date_to": return t(`chip.${k}`, { date: /^\d{4}-\d{2}-\d{2}$/.test(v) ? fmtDate(v, { dateStyle: "medium" }) : v });
    default: return has(`chip.${k}`) ? t(`chip.${k}`, { value: v }) : `${k}: ${v}`;
  }
}

function renderChips() {
  const p = params();
  const box = $("chips");
  // The person has its own chip (name and face) beside the tabs.
  const active = [...FILTER_KEYS, "show_hidden"].filter((k) => k !== "person" && p.get(k));
  box.hidden = active.length === 0;
  const chips = active.map((k) => {
    const remove = el("button", { type: "button", title: t("chip.remove"), dataset: { testid: "chip-remove" } }, "\u00d7");
    remove.addEventListener("click", () => {
      setParam(k, null);
      syncControls();
      reload();
    });
    return el("span", { className: "chip", dataset: { testid: "chip", key: k } }, chipLabel(k, p.get(k)), remove);
  });
  const clear = el("button", { type: "button", className: "icon-button", dataset: { testid: "chips-clear" } }, t("chip.clear_all"));
  clear.addEventListener("click", clearFilters);
  box.replaceChildren(...chips, ...(active.length > 1 ? [clear] : []));
}

// "N files could not be analysed": the run's failures, with their reasons.
async function loadFailures() {
  const box = $("failures");
  try {
    const r = await api("/api/failures");
    box.hidden = r.total === 0;
    box.dataset.total = String(r.total);
    $("failures-summary").textContent = tn("failures.summary", r.total);
    $("failures-list").replaceChildren(
      ...r.failures.map((f) => el("li", { dataset: { testid: "failure", path: f.path }, title: f.path }, el("strong", {}, f.filename), ` \u2014 ${f.reason}`)),
      ...(r.total > r.failures.length ? [el("li", { className: "summary" }, tn("failures.more", r.total - r.failures.length))] : []),
    );
  } catch (_) {
    box.hidden = true;
  }
}

function clearFilters() {
  for (const k of [...FILTER_KEYS, "show_hidden"]) setParam(k, null);
  syncControls();
  reload();
}

function layout() {
  const l = localStorage.getItem("facet.layout") || state.config.gallery_mode || "mosaic";
  return l === "grid" ? "grid" : "mosaic";
}

// ---------- Grid ----------

function scoreClass(score) {
  const q = state.config.quality_thresholds;
  if (score >= q.best) return "best";
  if (score >= q.great) return "great";
  return "";
}

function marks(photo) {
  if (!feature("show_rating_badge")) return "";
  let s = "";
  if (photo.favorite) s += "\u2665 ";
  if (photo.rating > 0) s += "\u2605".repeat(photo.rating);
  return s.trim();
}

// A photo without a stored thumbnail (a pipeline without the thumbnail
// stage): the image itself, once.
function withFallback(img, path) {
  img.addEventListener("error", () => {
    if (!img.dataset.fallback) {
      img.dataset.fallback = "1";
      img.src = `/image?path=${enc(path)}`;
    }
  });
  return img;
}

function card(photo, index) {
  const img = withFallback(el("img", {
    src: `/thumbnail?path=${enc(photo.path)}`,
    alt: photo.filename,
    loading: "lazy",
    decoding: "async",
  }), photo.path);
  const a = el(
    "a",
    {
      className: "card" + (photo.rejected ? " rejected" : ""),
      href: `?${new URLSearchParams({ ...Object.fromEntries(params()), photo: photo.path })}`,
      title: `${photo.filename}${photo.camera_model ? " \u00b7 " + photo.camera_model : ""}`,
      role: "listitem",
      dataset: {
        testid: "card",
        index: String(index),
        path: photo.path,
        aggregate: photo.aggregate ?? "",
        camera: photo.camera_model ?? "",
        rating: String(photo.rating),
      },
    },
    img,
  );
  // The mosaic's row share: the photo's shape (after EXIF orientation).
  const ar = photo.width > 0 && photo.height > 0 ? Math.min(4, Math.max(0.25, photo.width / photo.height)) : 1.5;
  a.style.setProperty("--ar", ar.toFixed(3));
  if (photo.aggregate !== null && photo.aggregate !== undefined) {
    a.append(el("span", { className: `badge ${scoreClass(photo.aggregate)}` }, photo.aggregate.toFixed(1)));
  }
  if (photo.is_top_pick) a.append(el("span", { className: "pick", title: t("viewer.top_pick") }, "\u2605"));
  a.append(el("span", { className: "marks", dataset: { testid: "card-marks" } }, marks(photo)));
  const group = groupBadge(photo);
  if (group) a.append(el("span", { className: "group-badge", dataset: { testid: "card-group" } }, group));
  if (photo.hidden_by?.length) {
    a.classList.add("was-hidden");
    a.append(el("span", { className: "hidden-why", dataset: { testid: "card-hidden" } }, photo.hidden_by.map((w) => tOr(`hidden.${w}`, w)).join(" \u00b7 ")));
  }
  a.addEventListener("click", (e) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    openPhoto(index);
  });
  return a;
}

// Why the gallery hides a photo by default (`hidden.<reason>` in words).
const HIDDEN_REASONS = ["burst", "duplicate", "blink", "rejected"];

// "Best of 8" on the lead of a burst, a duplicate set or a similar set.
function groupBadge(photo) {
  const kind = GROUP_KINDS.find((k) => photo[`is_${k}_lead`] && photo[`${k}_size`] > 1);
  return kind ? tn(`badge.${kind}`, photo[`${kind}_size`]) : "";
}

// The toolbar's "Show hidden (N)" after a first page: how many photos the
// defaults hide from these filters.
function renderHidden(hidden) {
  const b = $("show-hidden");
  const showing = !!params().get("show_hidden");
  const n = hidden?.total ?? 0;
  b.hidden = !showing && n === 0;
  b.setAttribute("aria-pressed", String(showing));
  b.dataset.count = String(n);
  b.textContent = showing ? tn("hidden.hide_again", n) : t("hidden.show", { n: n.toLocaleString(locale()) });
  const parts = HIDDEN_REASONS.filter((k) => hidden?.[k]).map((k) => `${t(`hidden.${k}`)}: ${hidden[k]}`);
  b.title = parts.length ? parts.join("; ") : t("hidden.nothing");
}

function updateCard(index) {
  const old = document.querySelector(`.card[data-index="${index}"]`);
  if (old) old.replaceWith(card(state.photos[index], index));
}

// A page of the grid that failed stops the loading: a request the server
// refused (a bad filter in the URL) is not asked again, a failure of the
// server or the network is retried after 2, 4 and 8 s, then left to the
// user's "Try again". Either way the message offers a way out.
const GRID_RETRIES = 3;

function gridFailed(e) {
  state.halted = true;
  const retry = !(e.status >= 400 && e.status < 500) && state.failures < GRID_RETRIES;
  state.failures += 1;
  const box = $("error");
  const again = el("button", { type: "button", dataset: { testid: "error-retry" } }, t("error.retry"));
  again.addEventListener("click", () => {
    state.failures = 0;
    state.halted = false;
    box.hidden = true;
    loadMore();
  });
  const all = el("button", { type: "button", dataset: { testid: "error-reset" } }, t("error.reset"));
  all.addEventListener("click", () => {
    location.href = location.pathname;
  });
  box.replaceChildren(
    el("span", {}, t(retry ? "error.photos_retrying" : "error.photos", { message: e.message || e })),
    " ",
    again,
    " ",
    all,
  );
  box.hidden = false;
  if (retry) {
    const generation = state.generation;
    setTimeout(() => {
      if (generation !== state.generation || !state.halted) return;
      state.halted = false;
      loadMore();
    }, 2000 * 2 ** (state.failures - 1));
  }
}

async function loadMore() {
  if (state.loading || state.done || state.halted) return;
  state.loading = true;
  const generation = state.generation;
  try {
    const data = await api(`/api/photos?${query({ page: state.page + 1 })}`);
    if (generation !== state.generation) return;
    state.page = data.page;
    state.total = data.total;
    if (data.hidden) renderHidden(data.hidden);
    state.done = !data.has_more;
    const grid = $("grid");
    const frag = document.createDocumentFragment();
    for (const photo of data.photos) {
      state.photos.push(photo);
      frag.append(card(photo, state.photos.length - 1));
    }
    grid.append(frag);
    $("count").textContent = tn("count.photos", state.total);
    $("empty").hidden = state.total > 0;
    grid.dataset.loaded = String(state.photos.length);
    grid.dataset.total = String(state.total);
    state.failures = 0;
    $("error").hidden = true;
  } catch (e) {
    if (generation === state.generation) gridFailed(e);
  } finally {
    if (generation === state.generation) state.loading = false;
  }
  // Keep filling while the end of the grid is on screen.
  if (generation === state.generation && !state.done && !state.halted && sentinelVisible()) await loadMore();
}

function sentinelVisible() {
  const r = $("sentinel").getBoundingClientRect();
  return r.top < window.innerHeight + 800;
}

// The filters and sort of a query string, to tell whether two differ.
const LISTING_KEYS = [...FILTER_KEYS, "show_hidden", "sort", "dir"];
const filterKey = (search) => {
  const p = new URLSearchParams(search);
  return LISTING_KEYS.map((k) => `${k}=${p.get(k) ?? ""}`).join("&");
};

async function reload() {
  // A change of filters is a step in the history (Back undoes it): the
  // entry shown gets its filters back and the new URL is pushed.
  const now = location.search;
  if (!state.popping && state.shownSearch != null && filterKey(now) !== filterKey(state.shownSearch)) {
    const before = new URLSearchParams(now);
    const shown = new URLSearchParams(state.shownSearch);
    for (const k of LISTING_KEYS) {
      if (shown.has(k)) before.set(k, shown.get(k));
      else before.delete(k);
    }
    history.replaceState(history.state, "", before.toString() ? `?${before}` : location.pathname);
    history.pushState(null, "", now || location.pathname);
  }
  state.shownSearch = now;
  showPersonChip();
  renderChips();
  // Filters changed in another view: reload that view, and the grid when shown.
  if (currentView()) {
    state.gridStale = true;
    showView();
    return;
  }
  state.gridStale = false;
  state.generation += 1;
  state.photos = [];
  state.page = 0;
  state.done = false;
  state.loading = false;
  state.halted = false;
  state.failures = 0;
  $("grid").replaceChildren();
  $("grid").dataset.ready = "0";
  $("error").hidden = true;
  await loadMore();
  $("grid").dataset.ready = "1";
  api(`/api/type_counts`).then(renderTypes).catch(() => {});
}

// ---------- Photo view ----------

// "Canon" + "Canon EOS 40D" is "Canon EOS 40D", "NIKON CORPORATION" +
// "NIKON D750" is "NIKON D750": the make only when the model does not
// already start with it (or with its first word).
export function cameraName(make, model) {
  if (!model) return make || "";
  if (!make) return model;
  const m = model.toLowerCase();
  const first = make.trim().split(/\s+/)[0].toLowerCase();
  if (m.startsWith(make.trim().toLowerCase()) || (first && m.startsWith(first))) return model;
  return `${make.trim()} ${model}`;
}

const fmt = (v, digits = 2) =>
  v === null || v === undefined ? "\u2014" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(digits)) : String(v);

// Metrics, adjustments and categories as a photographer names them
// (`metric.<id>`, `adjustment.<id>`, `category.<id>`); an id without a
// name (a user-defined category) in words of its own.
const tOr = (key, fallback) => (has(key) ? t(key) : fallback);
const idWords = (id) => id.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase());
export const metricName = (m) => tOr(`metric.${m}`, idWords(m));
export const categoryName = (c) => (c ? tOr(`category.${c}`, idWords(c)) : "");

// A one-line critique from the breakdown: what carries the score (measured
// metrics at 7 or more, the heaviest first: `critique.good.<metric>`) and
// what holds it back (those at 4 or less, `critique.bad.<metric>`, and the
// penalties, `critique.bad.<adjustment>`).
export function critique(items, photo = {}) {
  const measured = (items || []).filter((i) => i.kind === "metric" && !(i.neutral && (i.raw === null || i.raw === undefined)) && i.weight_percent > 0);
  const byWeight = [...measured].sort((a, b) => b.weight_percent - a.weight_percent);
  const words = (side, test) => byWeight.filter((i) => test(i.normalized) && has(`critique.${side}.${i.metric}`)).slice(0, 2).map((i) => t(`critique.${side}.${i.metric}`));
  const good = words("good", (n) => n >= 7);
  const bad = words("bad", (n) => n <= 4);
  for (const i of items || []) {
    if (i.kind !== "metric" && i.points < 0 && has(`critique.bad.${i.name}`)) bad.push(t(`critique.bad.${i.name}`));
  }
  if (photo.width > 0 && photo.height > 0 && photo.width * photo.height < 1e6) bad.unshift(t("critique.bad.low_resolution"));
  const cap = (s) => s.charAt(0).toLocaleUpperCase(locale()) + s.slice(1);
  if (!good.length && !bad.length) return t(measured.length ? "critique.average" : "critique.unmeasured");
  if (!bad.length) return cap(t("critique.good_only", { good: listWords(good) }));
  if (!good.length) return cap(t("critique.bad_only", { bad: listWords(bad) }));
  return cap(t("critique.both", { good: listWords(good), bad: listWords(bad) }));
}

function renderBreakdown(items, photo) {
  $("v-critique-line").textContent = critique(items, photo);
  const metrics = $("v-breakdown").tBodies[0];
  const adjustments = $("v-adjustments").tBodies[0];
  metrics.replaceChildren();
  adjustments.replaceChildren();
  for (const item of items || []) {
    const signed = (p) => el("td", { className: p > 0 ? "plus" : p < 0 ? "minus" : "" }, (p > 0 ? "+" : "") + fmt(p));
    if (item.kind === "metric") {
      // Not measured: no usable input, no weight (the others carry the score).
      const unmeasured = item.neutral && (item.raw === null || item.raw === undefined);
      const raw = el("td", { className: item.neutral ? "neutral" : "" }, unmeasured ? t("breakdown.not_measured") : item.neutral ? t("breakdown.neutral") : fmt(item.raw));
      metrics.append(
        el("tr", { dataset: { testid: "breakdown-row", metric: item.metric }, className: unmeasured ? "unmeasured" : "", title: item.metric },
          el("td", {}, metricName(item.metric)),
          raw,
          el("td", {}, fmt(item.normalized)),
          el("td", {}, `${fmt(item.weight_percent, 0)}%`),
          signed(item.points)),
      );
    } else {
      adjustments.append(
        el("tr", { dataset: { testid: "adjustment-row", name: item.name } },
          el("td", { title: item.name }, tOr(`adjustment.${item.name}`, item.name)),
          signed(item.points),
          el("td", { className: "reason", title: item.reason || "" }, tOr(`adjustment_why.${item.name}`, item.reason || ""))),
      );
    }
  }
  if (!adjustments.children.length) {
    adjustments.append(el("tr", {}, el("td", { colSpan: 3, className: "reason" }, t("breakdown.none"))));
  }
}

function renderExif(d) {
  const rows = [
    ["camera", cameraName(d.camera_make, d.camera_model)],
    ["lens", d.lens],
    ["taken", d.date_taken && fmtDate(d.date_taken, { dateStyle: "long", timeStyle: "medium" })],
    ["exposure", [d.shutter_speed_text && `${d.shutter_speed_text} s`, d.f_number && `f/${fmt(d.f_number, 1)}`, d.iso && `ISO ${d.iso}`].filter(Boolean).join(" \u00b7 ")],
    ["focal_length", d.focal_length && `${fmt(d.focal_length, 0)} mm${d.focal_length_35mm ? ` ${t("exif.equivalent", { mm: fmt(d.focal_length_35mm, 0) })}` : ""}`],
    ["size", d.width && `${d.width} \u00d7 ${d.height}`],
    ["format", d.format],
    ["gps", d.gps_lat !== null && d.gps_lat !== undefined ? `${fmt(d.gps_lat, 5)}, ${fmt(d.gps_lon, 5)}` : null],
    ["aesthetic", d.aesthetic],
    ["sharpness", d.sharpness],
    ["exposure_score", d.exposure_score],
    ["color_score", d.color_score],
    ["top_picks_score", d.top_picks_score],
    ["tags", (d.tags || []).join(", ")],
    ["path", d.path],
  ];
  const dl = $("v-exif");
  dl.replaceChildren();
  for (const [k, v] of rows) {
    if (v === null || v === undefined || v === "") continue;
    dl.append(el("dt", { dataset: { key: k } }, t(`exif.${k}`)), el("dd", {}, fmt(v)));
  }
}

function renderState(p) {
  const stars = $("v-rating");
  stars.dataset.rating = String(p.rating || 0);
  for (const b of stars.querySelectorAll("button")) {
    b.classList.toggle("on", Number(b.dataset.star) <= (p.rating || 0));
  }
  $("v-favorite").setAttribute("aria-pressed", String(!!p.favorite));
  $("v-reject").setAttribute("aria-pressed", String(!!p.rejected));
}

async function openPhoto(index) {
  if (index < 0) return;
  if (index >= state.photos.length) {
    if (state.done) return;
    await loadMore();
    if (index >= state.photos.length) return;
  }
  const photo = state.photos[index];
  await showPhoto(photo.path, index);
}

async function showPhoto(path, index) {
  state.open = index;
  const viewer = $("viewer");
  viewer.dataset.ready = "0";
  viewer.dataset.path = path;
  viewer.hidden = false;
  document.body.classList.add("viewing");
  // Opening a photo is a step in the history (Back closes it); stepping to
  // the next photo replaces it.
  const p = params();
  const had = p.has("photo");
  p.set("photo", path);
  if (had) history.replaceState(history.state, "", `?${p}`);
  else history.pushState({ photo: true }, "", `?${p}`);
  const img = $("v-image");
  img.src = `/thumbnail?path=${enc(path)}`;
  $("v-similar").hidden = true;
  $("v-similar-list").replaceChildren();
  $("v-groups").hidden = true;
  state.groups = null;
  $("v-download").href = `/api/download?path=${enc(path)}`;
  try {
    const d = await api(`/api/photo?path=${enc(path)}`);
    if ($("viewer").dataset.path !== path) return;
    state.detail = d;
    $("v-title").textContent = d.filename;
    img.alt = d.filename;
    $("v-score").textContent = d.aggregate === null || d.aggregate === undefined ? "\u2014" : d.aggregate.toFixed(1);
    $("v-category").textContent = categoryName(d.category);
    $("v-top-pick").hidden = !d.is_top_pick;
    renderBreakdown(d.score_breakdown, d);
    renderExif(d);
    renderState(d);
    await loadGroups(path);
    const full = new Image();
    full.onload = () => {
      if ($("viewer").dataset.path === path) img.src = full.src;
    };
    full.src = `/image?path=${enc(path)}`;
    viewer.dataset.ready = "1";
  } catch (e) {
    toast(t("toast.cannot_open", { message: e.message }));
    closePhoto();
  }
}

// Closes the photo: Back when opening it made a history step (the
// popstate then closes it), else the URL loses its photo. The grid shows
// the photo last viewed, and follows group decisions made meanwhile.
function closePhoto(fromHistory = false) {
  if (!fromHistory && history.state?.photo && params().has("photo")) {
    history.back();
    return;
  }
  const last = state.open;
  $("viewer").hidden = true;
  $("viewer").dataset.path = "";
  document.body.classList.remove("viewing");
  state.open = -1;
  state.detail = null;
  state.groups = null;
  if (!fromHistory) setParam("photo", null);
  if (state.gridStale && !currentView()) reload();
  else document.querySelector(`.card[data-index="${last}"]`)?.scrollIntoView({ block: "nearest" });
}

window.addEventListener("popstate", async () => {
  // Back or Forward to other filters: the grid follows.
  if (state.shownSearch != null && filterKey(location.search) !== filterKey(state.shownSearch)) {
    state.popping = true;
    try {
      syncControls();
      await reload();
    } finally {
      state.popping = false;
    }
  }
  showCapsuleFromUrl();
  const path = params().get("photo");
  if (!path) {
    if (!$("viewer").hidden) closePhoto(true);
    return;
  }
  if ($("viewer").dataset.path !== path) showPhoto(path, state.photos.findIndex((x) => x.path === path));
});

async function change(route, body, apply) {
  const d = state.detail;
  if (!d) return;
  const viewer = $("viewer");
  viewer.dataset.saved = "0";
  try {
    const s = await api(route, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: d.path, ...body }),
    });
    Object.assign(d, s);
    renderState(d);
    if (state.open >= 0 && state.photos[state.open]?.path === d.path) {
      Object.assign(state.photos[state.open], s);
      updateCard(state.open);
    }
    viewer.dataset.saved = "1";
    toast(apply(s));
  } catch (e) {
    toast(t("toast.not_saved", { message: e.message }));
  }
}

// ---------- Groups: bursts, duplicates, similar shots ----------

// A photo's group kinds, in the order its keys act on them.
const GROUP_KINDS = ["burst", "duplicate", "similar"];

/** The open photo's groups (`/api/groups`), shown under its actions. */
async function loadGroups(path) {
  const box = $("v-groups");
  box.dataset.ready = "0";
  try {
    const g = await api(`/api/groups?path=${enc(path)}`);
    if ($("viewer").dataset.path !== path) return;
    state.groups = g;
    renderGroups(g);
  } catch (e) {
    state.groups = null;
    box.hidden = true;
  }
  box.dataset.ready = "1";
}

function renderGroups(g) {
  const box = $("v-groups");
  const list = $("v-groups-list");
  const kinds = GROUP_KINDS.filter((k) => g[k]);
  box.hidden = kinds.length === 0;
  list.replaceChildren(
    ...kinds.map((k) => {
      const group = g[k];
      const lead = group.members.find((m) => m.is_lead);
      const how = t(`group.decision.${group.decision || "auto"}`);
      const why = group.decision !== "keep_all" && group.why_codes?.length ? ` \u00b7 ${listWords(group.why_codes.map((c) => tOr(`group.why.${c}`, c)))}` : "";
      const head = el(
        "p",
        { className: "summary", dataset: { testid: "group-summary" } },
        t("group.summary", { kind: tn(`group.kind.${k}`, group.size), how, why }),
      );
      const strip = el("div", { className: "strip group-strip" });
      for (const m of group.members) {
        const tile = thumb(m, m.is_lead ? ` \u00b7 ${t("group.best")}` : "");
        tile.dataset.testid = "group-member";
        tile.dataset.lead = String(!!m.is_lead);
        if (m.path === g.path) tile.classList.add("current");
        if (m.is_lead) tile.append(el("span", { className: "group-badge" }, t("group.best")));
        strip.append(tile);
      }
      const button = (label, testid, onclick, title) =>
        el("button", { type: "button", className: "toggle", onclick, title, dataset: { testid } }, label);
      const actions = el(
        "div",
        { className: "actions" },
        button(t("group.make_best"), "group-lead", () => decide(k, "lead"), "B"),
        button(t("group.keep_all"), "group-keep-all", () => decide(k, "keep_all"), "K"),
        button(t("group.automatic"), "group-reset", () => decide(k, "reset"), "U"),
        button(t("group.reject_rest"), "group-reject-rest", () => rejectRest(k), "R"),
      );
      const section = el("section", { className: "group", dataset: { testid: `group-${k}`, kind: k, lead: lead?.path || "" } }, head, strip, actions);
      return section;
    }),
  );
}

// The group a key acts on: the open photo's burst, else its duplicate set,
// else its similar set.
const keyGroup = () => GROUP_KINDS.find((k) => state.groups?.[k]);

async function decide(kind, decision) {
  const d = state.detail;
  if (!d || !kind) return;
  $("v-groups").dataset.ready = "0";
  try {
    const g = await api("/api/groups/decide", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: d.path, kind, decision }),
    });
    if (state.detail?.path !== d.path) return;
    state.groups = g;
    renderGroups(g);
    state.gridStale = true;
    toast(t(`group.toast.${decision}`));
  } catch (e) {
    toast(t("toast.not_saved", { message: e.message }));
  }
  $("v-groups").dataset.ready = "1";
}

// Rejects every member of the group but its lead(s).
async function rejectRest(kind) {
  const group = state.groups?.[kind];
  if (!group) return;
  const rest = group.members.filter((m) => !m.is_lead && !m.rejected);
  try {
    for (const m of rest) {
      await api("/api/reject", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ path: m.path, rejected: true }),
      });
      m.rejected = true;
    }
    state.gridStale = true;
    toast(tn("group.toast.rejected", rest.length));
  } catch (e) {
    toast(t("toast.not_saved", { message: e.message }));
  }
}

const rate = (n) => change("/api/rating", { rating: n }, (s) => (s.rating ? t("toast.rated", { stars: "\u2605".repeat(s.rating) }) : t("toast.rating_cleared")));
const toggleFavorite = () =>
  change("/api/favorite", { favorite: !state.detail?.favorite }, (s) => t(s.favorite ? "toast.favorite" : "toast.not_favorite"));
const toggleReject = () =>
  change("/api/reject", { rejected: !state.detail?.rejected }, (s) => t(s.rejected ? "toast.rejected" : "toast.not_rejected"));

// Prev / next walk the grid; a photo opened from another view has no neighbours.
const step = (d) => {
  if (state.open >= 0) openPhoto(state.open + d);
};

function bindViewer() {
  $("v-close").addEventListener("click", () => closePhoto());
  $("v-prev").addEventListener("click", () => step(-1));
  $("v-next").addEventListener("click", () => step(1));
  $("v-similar-button").addEventListener("click", showSimilar);
  for (const b of $("v-rating").querySelectorAll("button")) {
    b.addEventListener("click", () => {
      const n = Number(b.dataset.star);
      rate(state.detail?.rating === n ? 0 : n);
    });
  }
  $("v-favorite").addEventListener("click", toggleFavorite);
  $("v-reject").addEventListener("click", toggleReject);
  document.addEventListener("keydown", (e) => {
    if ($("viewer").hidden) return;
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const ratings = feature("show_rating_controls");
    if (ratings && /^[0-5]$/.test(e.key)) rate(Number(e.key));
    else if (ratings && (e.key === "f" || e.key === "F")) toggleFavorite();
    else if (e.key === "x" || e.key === "X") toggleReject();
    else if (feature("show_similar_button") && (e.key === "s" || e.key === "S")) showSimilar();
    else if (keyGroup() && (e.key === "b" || e.key === "B")) decide(keyGroup(), "lead");
    else if (keyGroup() && (e.key === "k" || e.key === "K")) decide(keyGroup(), "keep_all");
    else if (keyGroup() && (e.key === "u" || e.key === "U")) decide(keyGroup(), "reset");
    else if (keyGroup() && (e.key === "r" || e.key === "R")) rejectRest(keyGroup());
    else if (e.key === "ArrowRight") step(1);
    else if (e.key === "ArrowLeft") step(-1);
    else if (e.key === "Escape") closePhoto();
    else return;
    e.preventDefault();
  });
  // Touch screens: swipe sideways between photos; swipe up to keep (no
  // longer rejected) and down to reject, each moving on to the next photo.
  let start = null;
  const stage = document.querySelector(".stage");
  stage.addEventListener("touchstart", (e) => (start = [e.touches[0].clientX, e.touches[0].clientY]), { passive: true });
  stage.addEventListener("touchend", async (e) => {
    if (start === null) return;
    const dx = e.changedTouches[0].clientX - start[0];
    const dy = e.changedTouches[0].clientY - start[1];
    start = null;
    if (Math.abs(dx) > 50 && Math.abs(dx) > Math.abs(dy)) step(dx < 0 ? 1 : -1);
    else if (Math.abs(dy) > 60 && state.detail) {
      const reject = dy > 0;
      const say = (rejected) => t(rejected ? "toast.rejected" : "toast.kept");
      if (!!state.detail.rejected !== reject) await change("/api/reject", { rejected: reject }, (s) => say(s.rejected));
      else toast(say(reject));
      step(1);
    }
  });
}

// ---------- Small photo tiles (timeline, map list, memories, similar) ----------

function thumb(photo, extra = "") {
  const a = el(
    "a",
    {
      className: "thumb",
      href: `?${new URLSearchParams({ ...Object.fromEntries(params()), photo: photo.path })}`,
      title: `${photo.filename}${photo.date_taken ? " \u00b7 " + fmtDate(photo.date_taken, { dateStyle: "medium", timeStyle: "short" }) : ""}${extra}`,
      dataset: { testid: "thumb", path: photo.path },
    },
    withFallback(el("img", { src: `/thumbnail?path=${enc(photo.path)}`, alt: photo.filename, loading: "lazy", decoding: "async" }), photo.path),
  );
  if (photo.aggregate !== null && photo.aggregate !== undefined) {
    a.append(el("span", { className: `badge ${scoreClass(photo.aggregate)}` }, photo.aggregate.toFixed(1)));
  }
  a.addEventListener("click", (e) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    showPhoto(photo.path, -1);
  });
  return a;
}

async function showSimilar() {
  const d = state.detail;
  if (!d || !feature("show_similar_button")) return;
  const box = $("v-similar");
  const list = $("v-similar-list");
  box.hidden = false;
  box.dataset.ready = "0";
  list.replaceChildren(el("p", { className: "summary" }, t("similar.looking")));
  try {
    const r = await api(`/api/similar?path=${enc(d.path)}&limit=12`);
    if (state.detail?.path !== d.path) return;
    list.replaceChildren(...r.photos.map((p) => thumb(p, ` \u00b7 ${t("similar.similarity", { value: p.similarity.toFixed(2) })}`)));
    if (!r.photos.length) list.append(el("p", { className: "summary" }, t("similar.none")));
  } catch (e) {
    list.replaceChildren(el("p", { className: "summary" }, e.message));
  }
  box.dataset.ready = "1";
}

// ---------- Views: grid, timeline, map, memories ----------

// Each view and the viewer.features switch it needs (null: always there).
const VIEWS = { timeline: "show_timeline", map: "show_map", memories: "show_memories", persons: null, compare: null, search: "show_semantic_search", albums: "show_albums", capsules: "show_capsules" };

function viewOn(v) {
  if (!(v in VIEWS)) return false;
  if (v === "search") return feature("show_semantic_search") && !!state.config.search?.available;
  return VIEWS[v] === null || feature(VIEWS[v]);
}

function currentView() {
  const v = params().get("view") || "";
  return viewOn(v) ? v : "";
}

function setView(v) {
  setParam("view", v || null);
  if (v !== "timeline") {
    setParam("year", null);
    setParam("month", null);
  }
  if (v !== "search") setParam("q", null);
  showView();
}

function showView() {
  const v = currentView();
  for (const b of $("views").querySelectorAll("button")) {
    b.setAttribute("aria-pressed", String(b.dataset.view === v));
  }
  const grid = v === "";
  for (const id of ["grid", "sentinel"]) $(id).hidden = !grid;
  if (grid && state.gridStale) reload();
  $("types").hidden = !grid;
  if (!grid) $("empty").hidden = true;
  $("timeline").hidden = v !== "timeline";
  $("map-view").hidden = v !== "map";
  $("memories").hidden = v !== "memories";
  $("persons").hidden = v !== "persons";
  $("compare").hidden = v !== "compare";
  $("search-view").hidden = v !== "search";
  $("albums").hidden = v !== "albums";
  $("capsules").hidden = v !== "capsules";
  if (v !== "capsules" && !$("show").hidden) closeShow(true);
  document.body.dataset.view = v || "grid";
  if (v === "timeline") loadTimeline();
  else if (v === "map") loadMap();
  else if (v === "memories") loadMemories();
  else if (v === "persons") loadPersons();
  else if (v === "compare") loadCompare();
  else if (v === "search") loadSearch();
  else if (v === "albums") loadAlbums();
  else if (v === "capsules") loadCapsules();
}

function bindViews() {
  let any = false;
  for (const b of $("views").querySelectorAll("button")) {
    const v = b.dataset.view;
    if (v) {
      b.hidden = !viewOn(v);
      any ||= !b.hidden;
    }
    b.addEventListener("click", () => setView(b.dataset.view));
  }
  $("views").hidden = !any;
  $("v-similar-button").hidden = !feature("show_similar_button");
  $("v-critique").hidden = !feature("show_critique");
  const ratings = feature("show_rating_controls");
  $("v-rating").hidden = !ratings;
  $("v-favorite").hidden = !ratings;
  bindPersons();
  bindCompare();
  bindAlbums();
  bindCapsules();
  bindScan();
}

// A timeline group's day, month or year, in the chosen language.
function groupLabel(g) {
  if (g.day) return fmtDate(`${g.year}-${g.month}-${g.day}`);
  if (g.month) return fmtDate(`${g.year}-${g.month}`, { month: "long", year: "numeric" });
  return String(g.year);
}

async function loadTimeline() {
  const box = $("timeline");
  box.dataset.ready = "0";
  const year = params().get("year");
  const month = params().get("month");
  const extra = {};
  if (year) extra.year = year;
  if (year && month) extra.month = month;
  const crumbs = $("tl-crumbs");
  const crumb = (label, y, m) =>
    el("button", { type: "button", className: "crumb", onclick: () => drill(y, m), dataset: { testid: "timeline-crumb" } }, label);
  crumbs.replaceChildren(crumb(t("timeline.all_years"), null, null));
  if (year) crumbs.append(crumb(year, year, null));
  if (year && month) crumbs.append(crumb(fmtDate(`2000-${month}`, { month: "long" }), year, month));
  try {
    const tl = await api(`/api/timeline?${filterQuery(extra)}`);
    if (currentView() !== "timeline") return;
    $("tl-summary").textContent = tn("count.photos", tl.total) + (tl.undated ? ` \u00b7 ${tn("timeline.undated", tl.undated)}` : "");
    const groups = $("tl-groups");
    groups.replaceChildren();
    for (const g of tl.groups) {
      const head = el(
        "button",
        { type: "button", className: "group-head", dataset: { testid: "timeline-group", key: g.key, count: String(g.count) } },
        groupLabel(g),
        el("span", { className: "n" }, `${g.count}`),
      );
      head.addEventListener("click", () => {
        if (tl.level === "year") drill(g.year, null);
        else if (tl.level === "month") drill(g.year, g.month);
        else openDay(g.key);
      });
      const more = g.count > g.photos.length ? el("span", { className: "more" }, `+${g.count - g.photos.length}`) : "";
      groups.append(el("section", { className: "group" }, head, el("div", { className: "strip" }, ...g.photos.map((p) => thumb(p)), more)));
    }
    if (!tl.groups.length) groups.append(el("p", { className: "summary" }, t("timeline.none")));
  } catch (e) {
    showError(e);
  }
  box.dataset.ready = "1";
}

function drill(year, month) {
  setParam("year", year);
  setParam("month", month);
  loadTimeline();
}

// A day of the timeline: every photo of it in the grid, in capture order.
function openDay(day) {
  setParam("date_from", day);
  setParam("date_to", day);
  setParam("sort", "date");
  setParam("dir", "asc");
  syncControls();
  setView("");
  reload();
}

async function loadMemories() {
  const box = $("memories");
  box.dataset.ready = "0";
  try {
    // The day: the URL's (`day=YYYY-MM-DD`, from the picker), else today.
    const day = params().get("day");
    const m = await api(`/api/memories?${filterQuery(day ? { date: day } : {})}`);
    $("mem-date").value = m.date;
    $("mem-title").textContent = t("memories.title", { day: fmtDate(m.date, { day: "numeric", month: "long" }) });
    $("mem-years").textContent = m.total
      ? m.years.map((y) => `${y.year}: ${y.count}`).join(" \u00b7 ")
      : t("memories.none");
    $("mem-photos").replaceChildren(
      ...m.photos.map((p) => thumb(p, ` \u00b7 ${tn("memories.years_ago", p.years_ago)}`)),
    );
  } catch (e) {
    showError(e);
  }
  box.dataset.ready = "1";
}

// ---------- Map: Leaflet from a CDN at run time, a plain list without it ----------

const LEAFLET = {
  css: "https://unpkg.com/leaflet@1.9.4/dist/leaflet.css",
  cssIntegrity: "sha256-p4NxAoJBhIIN+hmNHrzRCf9tD/miZyoHS5obTRR9BMY=",
  js: "https://unpkg.com/leaflet@1.9.4/dist/leaflet.js",
  jsIntegrity: "sha256-20nQCchB9co0qIjJZRGuk2/Z9VM+kNiyxNV1lvTlZBo=",
};
let leafletPromise = null;

function loadLeaflet(timeoutMs = 6000) {
  if (window.L) return Promise.resolve(window.L);
  if (leafletPromise) return leafletPromise;
  leafletPromise = new Promise((resolve, reject) => {
    document.head.append(el("link", { rel: "stylesheet", href: LEAFLET.css, integrity: LEAFLET.cssIntegrity, crossOrigin: "" }));
    const script = el("script", { src: LEAFLET.js, integrity: LEAFLET.jsIntegrity, crossOrigin: "" });
    const timer = setTimeout(() => reject(new Error("timed out")), timeoutMs);
    script.onload = () => {
      clearTimeout(timer);
      window.L ? resolve(window.L) : reject(new Error("no Leaflet"));
    };
    script.onerror = () => {
      clearTimeout(timer);
      reject(new Error("unreachable"));
    };
    document.head.append(script);
  });
  leafletPromise.catch(() => (leafletPromise = null));
  return leafletPromise;
}

const mapState = { map: null, layer: null, generation: 0, fitted: false };

async function loadMap() {
  const box = $("map-view");
  box.dataset.ready = "0";
  let L = null;
  try {
    L = await loadLeaflet();
  } catch (e) {
    await mapList(t("map.no_library", { message: e.message }));
    return;
  }
  $("map").hidden = false;
  $("map-list").hidden = true;
  box.dataset.mode = "map";
  if (!mapState.map) {
    const map = L.map("map", { worldCopyJump: true }).setView([20, 0], 2);
    L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
      maxZoom: 19,
      attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
    }).addTo(map);
    mapState.layer = L.layerGroup().addTo(map);
    mapState.map = map;
    map.on("moveend", () => drawMarkers(L));
  } else {
    mapState.map.invalidateSize();
  }
  await drawMarkers(L);
}

async function drawMarkers(L) {
  const map = mapState.map;
  const generation = ++mapState.generation;
  const q = filterQuery({ zoom: String(map.getZoom()), bbox: map.getBounds().toBBoxString() });
  try {
    const r = await api(`/api/map?${q}`);
    if (generation !== mapState.generation) return;
    mapState.layer.clearLayers();
    for (const m of r.markers) {
      const icon = L.divIcon({
        className: "pin",
        html: el("span", { className: m.count > 1 ? "cluster" : "one", dataset: { testid: "map-marker", count: String(m.count) } },
          m.count > 1 ? String(m.count) : el("img", { src: `/thumbnail?path=${enc(m.photo.path)}`, alt: "" })),
        iconSize: m.count > 1 ? [36, 36] : [44, 44],
      });
      const marker = L.marker([m.lat, m.lon], { icon, title: m.count > 1 ? tn("count.photos", m.count) : m.photo.filename });
      marker.on("click", () => {
        if (m.count > 1 && map.getZoom() < 16) map.setView([m.lat, m.lon], Math.min(map.getZoom() + 2, 18));
        else if (m.count > 1) openPlace(m);
        else showPhoto(m.photo.path, -1);
      });
      mapState.layer.addLayer(marker);
    }
    $("map-status").textContent = tn("map.here", r.total) + (r.truncated ? ` ${t("map.truncated")}` : "");
    if (!mapState.fitted && r.markers.length) {
      mapState.fitted = true;
      map.fitBounds(r.markers.map((m) => [m.lat, m.lon]), { maxZoom: 12, padding: [30, 30] });
    }
  } catch (e) {
    showError(e);
  }
  $("map-view").dataset.ready = "1";
}

// A map place's photos, all of them: the grid filtered to the place's box.
function openPlace(m) {
  setParam("bbox", m.bbox);
  setView("");
  syncControls();
  reload();
}

function placeButton(m) {
  const b = el("button", { type: "button", className: "toggle", dataset: { testid: "map-place-all" } }, m.count > 1 ? t("map.all", { n: m.count }) : t("map.open"));
  b.addEventListener("click", () => openPlace(m));
  return b;
}

async function mapList(why) {
  const box = $("map-view");
  box.dataset.mode = "list";
  $("map").hidden = true;
  const list = $("map-list");
  list.hidden = false;
  try {
    const r = await api(`/api/map?${filterQuery({ zoom: "4" })}`);
    $("map-status").textContent = `${why} ${tn("map.geotagged", r.total)}`;
    list.replaceChildren(
      ...r.markers.map((m) =>
        el("li", { dataset: { testid: "map-place", count: String(m.count) } },
          thumb(m.photo),
          el("span", {}, `${tn("map.near", m.count, { lat: m.lat.toFixed(3), lon: m.lon.toFixed(3) })} `),
          placeButton(m),
        ),
      ),
    );
  } catch (e) {
    showError(e);
  }
  box.dataset.ready = "1";
}

// ---------- People ----------

const personLabel = (p) => p.name || t("person.n", { id: p.person_id });

async function personsList(force = false) {
  if (!state.persons || force) state.persons = (await api("/api/persons?include_hidden=true")).persons;
  return state.persons;
}

// The person filter, shown as a chip in the toolbar.
async function showPersonChip() {
  const id = params().get("person");
  const chip = $("person-chip");
  chip.hidden = !id;
  if (!id) return;
  $("person-chip-name").textContent = t("person.n", { id });
  try {
    const p = (await personsList()).find((x) => String(x.person_id) === id);
    if (p && params().get("person") === id) $("person-chip-name").textContent = personLabel(p);
  } catch (_) {}
}

function bindMemories() {
  $("mem-date").addEventListener("change", () => {
    setParam("day", $("mem-date").value || null);
    loadMemories();
  });
  $("mem-today").addEventListener("click", () => {
    setParam("day", null);
    loadMemories();
  });
}

function bindPersons() {
  $("persons-hidden").addEventListener("change", loadPersons);
}

async function loadPersons() {
  const box = $("persons");
  box.dataset.ready = "0";
  const list = $("persons-list");
  try {
    const all = await personsList(true);
    const showHidden = $("persons-hidden").checked;
    const shown = all.filter((p) => showHidden || !p.hidden);
    const hidden = all.filter((p) => p.hidden).length;
    $("persons-summary").textContent = tn("persons.count", shown.length) + (hidden ? ` \u00b7 ${tn("persons.hidden", hidden)}` : "");
    list.replaceChildren(...shown.map((p) => personCard(p, all)));
    if (!all.length) {
      list.append(el("p", { className: "summary" }, t("persons.none")));
    }
  } catch (e) {
    showError(e);
  }
  box.dataset.ready = "1";
}

function personCard(p, all) {
  const label = personLabel(p);
  const face = el("a", {
    className: "person-face",
    href: `?person=${p.person_id}`,
    title: `${label}: ${tn("count.photos", p.photo_count)}`,
    dataset: { testid: "person-open" },
  }, el("img", { src: p.thumbnail, alt: label, loading: "lazy", decoding: "async" }));
  face.addEventListener("click", (e) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    openPerson(p);
  });
  const name = el("span", { className: "person-name", dataset: { testid: "person-name" } }, label);
  const rename = el("button", { type: "button", dataset: { testid: "person-rename" } }, t("persons.rename"));
  rename.addEventListener("click", () => renamePerson(p, name));
  const hide = el("button", { type: "button", dataset: { testid: "person-hide" } }, t(p.hidden ? "persons.show" : "persons.hide"));
  hide.addEventListener("click", () => editPerson("/api/persons/hide", { person_id: p.person_id, hidden: !p.hidden },
    (r) => t(r.hidden ? "persons.toast.hidden" : "persons.toast.shown", { name: label })));
  const merge = el("select", { title: t("persons.merge_title"), dataset: { testid: "person-merge" } },
    el("option", { value: "" }, t("persons.merge")),
    ...all.filter((o) => o.person_id !== p.person_id).map((o) => el("option", { value: String(o.person_id) }, personLabel(o))));
  merge.addEventListener("change", () => {
    const into = Number(merge.value);
    if (!merge.value) return;
    const target = all.find((o) => o.person_id === into);
    if (!confirm(t("persons.merge_confirm", { name: label, into: target ? personLabel(target) : into }))) {
      merge.value = "";
      return;
    }
    editPerson("/api/persons/merge", { into, from: p.person_id }, (r) => t("persons.toast.merged", { name: label, into: personLabel(r) }));
  });
  return el("div", {
    className: "person" + (p.hidden ? " is-hidden" : ""),
    role: "listitem",
    dataset: { testid: "person", id: String(p.person_id), photos: String(p.photo_count), hidden: String(p.hidden) },
  },
  face,
  name,
  el("span", { className: "n" }, `${tn("count.photos", p.photo_count)} \u00b7 ${tn("persons.faces", p.face_count)}`),
  el("div", { className: "person-actions" }, rename, hide, merge));
}

function openPerson(p) {
  setParam("person", p.person_id);
  syncControls();
  setView("");
  reload();
}

async function editPerson(route, body, say) {
  try {
    const r = await api(route, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    toast(say(r));
  } catch (e) {
    toast(t("toast.not_saved", { message: e.message }));
  }
  await loadPersons();
}

function renamePerson(p, nameEl) {
  const input = el("input", { type: "text", value: p.name || "", maxLength: 200, placeholder: t("person.n", { id: p.person_id }),
    dataset: { testid: "person-name-input" } });
  nameEl.replaceWith(input);
  input.focus();
  let done = false;
  const finish = (save) => {
    if (done) return;
    done = true;
    if (!save || input.value.trim() === (p.name || "")) {
      input.replaceWith(nameEl);
      return;
    }
    editPerson("/api/persons/rename", { person_id: p.person_id, name: input.value.trim() },
      (r) => (r.name ? t("persons.toast.named", { name: r.name }) : t("persons.toast.unnamed")));
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") finish(true);
    else if (e.key === "Escape") finish(false);
    else return;
    e.preventDefault();
    e.stopPropagation();
  });
  input.addEventListener("blur", () => finish(true));
}

// ---------- Semantic search ----------

async function loadSearch() {
  const box = $("search-view");
  box.dataset.ready = "0";
  const q = params().get("q") || "";
  $("search").value = q;
  const results = $("search-results");
  try {
    if (!q) {
      $("search-summary").textContent = t("search.type");
      results.replaceChildren();
    } else {
      const r = await api(`/api/search?${filterQuery({ q, limit: "120" })}`);
      if (params().get("q") !== q) return;
      $("search-summary").textContent = tn("search.closest", r.photos.length, { q });
      results.replaceChildren(...r.photos.map((p) => {
        const tile = thumb(p, ` \u00b7 ${t("similar.similarity", { value: p.similarity.toFixed(2) })}`);
        tile.dataset.testid = "search-result";
        tile.dataset.similarity = String(p.similarity);
        return tile;
      }));
    }
  } catch (e) {
    $("search-summary").textContent = e.message;
    results.replaceChildren();
  }
  box.dataset.ready = "1";
}

// ---------- Comparison mode ----------

const cmp = { pair: null, busy: false, category: "" };

function bindCompare() {
  $("cmp-category").addEventListener("change", () => {
    cmp.category = $("cmp-category").value;
    // The keys choose again, not the category.
    $("cmp-category").blur();
    setParam("compare", cmp.category);
    loadCompare();
  });
  $("cmp-left").addEventListener("click", () => choose("a"));
  $("cmp-right").addEventListener("click", () => choose("b"));
  $("cmp-tie").addEventListener("click", () => choose("tie"));
  $("cmp-skip").addEventListener("click", () => nextPair(true));
  for (const side of ["a", "b"]) $(`cmp-${side}`).addEventListener("click", () => choose(side));
  document.addEventListener("keydown", (e) => {
    if (currentView() !== "compare" || !$("viewer").hidden) return;
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "ArrowLeft" || e.key === "1") choose("a");
    else if (e.key === "ArrowRight" || e.key === "2") choose("b");
    else if (e.key === "t" || e.key === "T" || e.key === "=") choose("tie");
    else if (e.key === "s" || e.key === "S") nextPair(true);
    else return;
    e.preventDefault();
  });
}

async function loadCompare() {
  const box = $("compare");
  box.dataset.ready = "0";
  const cats = state.config.comparison?.categories || [];
  const sel = $("cmp-category");
  if (sel.options.length !== cats.length) sel.replaceChildren(...cats.map((c) => el("option", { value: c }, categoryName(c))));
  // The category asked for, else the filter's, else the one with most photos.
  let cat = params().get("compare") || params().get("category") || cmp.category;
  if (!cats.includes(cat)) {
    try {
      const counts = await api("/api/type_counts");
      cat = counts.categories.map((c) => c.value).find((c) => cats.includes(c)) || cats[0] || "";
    } catch (_) {
      cat = cats[0] || "";
    }
  }
  cmp.category = cat;
  sel.value = cat;
  await Promise.all([nextPair(), loadSuggestion()]);
  box.dataset.ready = "1";
}

function showSide(side, photo) {
  const fig = $(`cmp-${side}`);
  const img = fig.querySelector("img");
  fig.dataset.path = photo ? photo.path : "";
  fig.hidden = !photo;
  if (!photo) return;
  img.src = `/thumbnail?path=${enc(photo.path)}`;
  img.alt = photo.filename;
  const full = new Image();
  full.onload = () => {
    if (fig.dataset.path === photo.path) img.src = full.src;
  };
  full.src = `/image?path=${enc(photo.path)}`;
  const score = photo.aggregate !== undefined && photo.aggregate !== null ? ` \u00b7 ${photo.aggregate.toFixed(1)}` : "";
  fig.querySelector("figcaption").textContent = `${photo.filename}${score}`;
}

function progress(done, min) {
  const pct = min > 0 ? Math.min(100, (100 * done) / min) : 100;
  $("cmp-bar").style.width = `${pct}%`;
  $("cmp-bar").dataset.done = String(done);
  $("cmp-count").textContent = tn("compare.count", min, { done });
}

async function nextPair(skip = false) {
  const box = $("compare");
  box.dataset.pair = "0";
  try {
    const strategy = skip ? "&strategy=random" : "";
    const r = await api(`/api/comparison/pair?category=${enc(cmp.category)}${strategy}`);
    cmp.pair = r;
    showSide("a", r.a);
    showSide("b", r.b);
    progress(r.comparisons, r.min_comparisons_for_optimization);
    $("cmp-status").textContent = t("compare.which");
  } catch (e) {
    cmp.pair = null;
    showSide("a", null);
    showSide("b", null);
    $("cmp-status").textContent = e.message;
  }
  box.dataset.pair = cmp.pair ? "1" : "none";
}

const pct = (x) => (x === undefined || x === null ? "\u2014" : `${(x <= 1 ? x * 100 : x).toFixed(0)}%`);

async function loadSuggestion() {
  try {
    const s = await api(`/api/comparison/suggestion?category=${enc(cmp.category)}`);
    progress(s.comparisons, s.min_comparisons_for_optimization);
    const keys = [...new Set([...Object.keys(s.current || {}), ...Object.keys(s.suggested || {})])].sort();
    const body = $("cmp-weights").tBodies[0];
    body.replaceChildren(...keys.map((k) =>
      el("tr", { dataset: { testid: "weight-row", metric: k } },
        el("td", { title: k }, metricName(k)),
        el("td", {}, s.current?.[k] !== undefined ? `${fmt(s.current[k], 1)}%` : "\u2014"),
        el("td", {}, s.suggested?.[k] !== undefined ? `${fmt(s.suggested[k], 1)}%` : "\u2014"))));
    $("cmp-fit").textContent = s.suggested
      ? t("compare.fit", { suggested: pct(s.agreement_suggested), current: pct(s.agreement_current), category: s.category })
      : tn("compare.more", Math.max(0, s.min_comparisons_for_optimization - s.comparisons));
  } catch (e) {
    $("cmp-fit").textContent = e.message;
  }
}

async function choose(which) {
  const p = cmp.pair;
  if (!p || cmp.busy) return;
  cmp.busy = true;
  const [w, l] = which === "b" ? [p.b, p.a] : [p.a, p.b];
  try {
    const r = await api("/api/comparison", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ winner: w.path, loser: l.path, tie: which === "tie", strategy: p.strategy }),
    });
    toast(which === "tie" ? t("compare.toast.tie") : t("compare.toast.preferred", { name: w.filename }));
    $("compare").dataset.recorded = String(r.comparisons);
    await Promise.all([nextPair(), loadSuggestion()]);
  } catch (e) {
    toast(t("compare.toast.not_recorded", { message: e.message }));
  }
  cmp.busy = false;
}

// ---------- Start ----------

async function main() {
  // The installable app's service worker (the shell and thumbnails cached).
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
  await loadLanguage(chooseLanguage());
  translatePage();
  const share = params().get("share");
  if (share) {
    await showShared(share);
    document.body.dataset.ready = "1";
    return;
  }
  try {
    await loadMe();
    state.config = await api("/api/config");
    bindLanguage();
    bindToolbar();
    bindViewer();
    bindViews();
    bindMemories();
    syncControls();
    new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) loadMore();
    }, { rootMargin: "800px" }).observe($("sentinel"));
    state.gridStale = !!currentView();
    await Promise.all([loadToolbar(), loadFailures(), state.gridStale ? Promise.resolve() : reload()]);
    showView();
    showCapsuleFromUrl();
    const open = params().get("photo");
    if (open) {
      const index = state.photos.findIndex((p) => p.path === open);
      await showPhoto(open, index);
    }
  } catch (e) {
    showError(e);
  }
  document.body.dataset.ready = "1";
}

// ---------- Albums, share links ----------

async function loadAlbums() {
  const box = $("albums");
  box.dataset.ready = "0";
  try {
    const r = await api("/api/albums");
    state.albums = r.albums;
    fillAlbumSelect();
    $("album-list").replaceChildren(
      ...r.albums.map((a) => {
        const open = el("button", { type: "button", dataset: { testid: "album-open-button" } }, a.name);
        open.addEventListener("click", () => openAlbum(a.id));
        const share = el("button", { type: "button", className: "toggle", dataset: { testid: "album-share" } }, t(a.shared ? "albums.link" : "albums.share"));
        share.addEventListener("click", () => shareAlbum(a.id));
        const li = el(
          "li",
          { dataset: { testid: "album", id: a.id } },
          open,
          el("span", { className: "summary" }, ` ${[tn("count.photos", a.count), ...(a.kind === "smart" ? [t("albums.smart_mark")] : []), ...(a.shared ? [t("albums.shared_mark")] : [])].join(" \u00b7 ")} `),
          share,
        );
        if (a.shared) {
          const stop = el("button", { type: "button", className: "toggle", dataset: { testid: "album-unshare" } }, t("albums.stop"));
          stop.addEventListener("click", () => albumPost("/api/album/unshare", { id: a.id }).then(loadAlbums));
          li.append(stop);
        }
        const del = el("button", { type: "button", className: "toggle", dataset: { testid: "album-delete" } }, t("albums.delete"));
        del.addEventListener("click", async () => {
          if (confirm(t("albums.delete_confirm", { name: a.name }))) {
            await albumPost("/api/album/delete", { id: a.id });
            $("album-open").hidden = true;
            loadAlbums();
          }
        });
        li.append(del);
        return li;
      }),
    );
    if (!r.albums.length) $("album-list").append(el("li", { className: "summary" }, t("albums.none")));
  } catch (e) {
    showError(e);
  }
  box.dataset.ready = "1";
}

const albumPost = (route, body) =>
  api(route, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

async function openAlbum(id) {
  const r = await api(`/api/album?id=${enc(id)}&per_page=500`);
  $("album-open").hidden = false;
  $("album-open").dataset.id = id;
  $("album-title").textContent = `${r.album.name} (${r.total})`;
  showAlbumLink(id, r.share_url);
  $("album-photos").replaceChildren(...r.photos.map((p) => thumb(p)));
}

// The album's share link with Copy, apart from the actions that end it
// (a new link, or no sharing at all: the link already sent stops working).
function showAlbumLink(id, shareUrl) {
  const box = $("album-link");
  if (!shareUrl) {
    box.replaceChildren(t("albums.not_shared"));
    return;
  }
  const url = new URL(shareUrl, location.href).href;
  const copy = el("button", { type: "button", className: "toggle", dataset: { testid: "album-copy" } }, t("albums.copy"));
  copy.addEventListener("click", () => copyLink(url));
  const fresh = el("button", { type: "button", className: "toggle danger", dataset: { testid: "album-new-link" } }, t("albums.new_link"));
  fresh.addEventListener("click", () => {
    if (confirm(t("albums.new_link_confirm"))) shareAlbum(id, true);
  });
  const stop = el("button", { type: "button", className: "toggle danger", dataset: { testid: "album-stop" } }, `${t("albums.stop")}\u2026`);
  stop.addEventListener("click", async () => {
    if (!confirm(t("albums.stop_confirm"))) return;
    await albumPost("/api/album/unshare", { id });
    await loadAlbums();
    await openAlbum(id);
  });
  box.replaceChildren(
    `${t("albums.anyone")} `,
    el("a", { href: url, dataset: { testid: "album-url" } }, url),
    " ",
    copy,
    el("span", { className: "link-danger" }, " ", fresh, " ", stop),
  );
}

async function copyLink(url) {
  try {
    await navigator.clipboard.writeText(url);
    toast(t("albums.copied"));
  } catch (_) {
    // No clipboard (an insecure origin, a refusal): select it to copy by hand.
    const a = document.querySelector("[data-testid=album-url]");
    if (a) getSelection().selectAllChildren(a);
    toast(t("albums.copy_by_hand"));
  }
}

async function shareAlbum(id, fresh = false) {
  const r = await albumPost("/api/album/share", { id, new: fresh });
  await loadAlbums();
  await openAlbum(id);
  await copyLink(new URL(r.url, location.href).href);
}

function fillAlbumSelect() {
  const manual = (state.albums || []).filter((a) => a.kind === "manual");
  $("v-album").replaceChildren(...manual.map((a) => el("option", { value: a.id }, a.name)));
  $("v-album-box").hidden = !manual.length || !feature("show_albums") || state.me?.can_edit === false;
}

function bindAlbums() {
  if (!feature("show_albums")) return;
  $("album-new").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { name: $("album-name").value };
    if ($("album-smart").checked) body.query = filterQuery().toString();
    try {
      const a = await albumPost("/api/albums", body);
      $("album-name").value = "";
      toast(t("albums.toast.created", { name: a.name, photos: tn("count.photos", a.count) }));
      await loadAlbums();
    } catch (e) {
      toast(t("albums.toast.not_created", { message: e.message }));
    }
  });
  $("v-album-add").addEventListener("click", async () => {
    const id = $("v-album").value;
    if (!id || !state.detail) return;
    try {
      const a = await albumPost("/api/album/photos", { id, add: [state.detail.path] });
      toast(t("albums.toast.added", { name: a.name, n: a.count }));
    } catch (e) {
      toast(t("albums.toast.not_added", { message: e.message }));
    }
  });
  api("/api/albums")
    .then((r) => {
      state.albums = r.albums;
      fillAlbumSelect();
    })
    .catch(() => {});
}

/** A share link's page: the album's photos, nothing else. */
async function showShared(token) {
  document.body.dataset.view = "shared";
  for (const id of ["toolbar", "grid", "sentinel"]) $(id).hidden = true;
  $("shared").hidden = false;
  try {
    const r = await (await fetch(`/api/shared?share=${enc(token)}&per_page=500`)).json();
    if (!r.album) throw new Error(r.error || t("albums.dead_link"));
    $("shared-title").textContent = `${r.album.name} (${r.total})`;
    $("shared-photos").replaceChildren(
      ...r.photos.map((p) =>
        el(
          "a",
          { className: "thumb", href: `/image?path=${enc(p.path)}&share=${enc(token)}`, target: "_blank", dataset: { testid: "shared-thumb" } },
          el("img", { src: `/thumbnail?path=${enc(p.path)}&share=${enc(token)}`, alt: p.filename, loading: "lazy" }),
        ),
      ),
    );
  } catch (e) {
    $("shared-title").textContent = e.message;
  }
  $("shared").dataset.ready = "1";
}

// ---------- Scans (superadmins, viewer.features.show_scan_button) ----------

function bindScan() {
  const on = feature("show_scan_button") && !!state.me?.can_scan;
  $("scan").hidden = !on;
  if (!on) return;
  $("scan").addEventListener("click", async () => {
    let body = {};
    if (!state.me.multi_user) {
      const dirs = prompt(t("scan.prompt"));
      if (!dirs) return;
      body = { directories: dirs.split(",").map((d) => d.trim()).filter(Boolean) };
    }
    try {
      await albumPost("/api/scan", body);
      pollScan();
    } catch (e) {
      toast(t("scan.failed_to_start", { message: e.message }));
    }
  });
  pollScan();
}

async function pollScan() {
  let s;
  try {
    s = await api("/api/scan");
  } catch (_) {
    return;
  }
  const box = $("scan-status");
  box.hidden = !s.started_at;
  if (s.running) {
    box.textContent = s.scanning ? t("scan.scanning", { found: s.found }) : t("scan.analysing", { done: s.done, queued: s.queued });
    setTimeout(pollScan, 1000);
  } else if (s.finished_at) {
    box.textContent = s.exit_code === 0 ? t("scan.done", { done: s.done }) : t("scan.failed", { code: s.exit_code });
    state.gridStale = true;
  }
}

main();

// ---------- Capsules: curated slideshows (viewer.features.show_capsules) ----------

// How long each slide stays (the Ken Burns zoom lasts as long).
const SLIDE_MS = 4500;
// The slide transitions /api/capsules names, and how long each swap takes
// (the reference: crossfade 300 ms, slide 500 ms, zoom 400 ms; Ken Burns
// fades in over 300 ms and zooms over the whole slide).
const TRANSITIONS = { crossfade: 300, slide: 500, zoom: 400, kenburns: 300 };
const show = { capsule: null, index: -1, paused: false, timer: 0, started: 0, left: SLIDE_MS, touch: null, loading: null };

const capsuleType = (type) => tOr(`capsules.type.${type}`, idWords(type));

async function loadCapsules() {
  const box = $("capsules");
  box.dataset.ready = "0";
  $("capsules-summary").textContent = t("capsules.loading");
  try {
    const r = await api("/api/capsules");
    $("capsules-summary").textContent = r.total ? tn("capsules.count", r.total) : t("capsules.none");
    $("capsule-list").replaceChildren(...r.capsules.map(capsuleCard));
  } catch (e) {
    $("capsules-summary").textContent = "";
    showError(e);
  }
  box.dataset.ready = "1";
}

function capsuleCard(c) {
  const img = withFallback(el("img", { src: `/thumbnail?path=${enc(c.cover.path)}`, alt: "", loading: "lazy", decoding: "async" }), c.cover.path);
  const a = el(
    "a",
    {
      className: "capsule-card",
      href: `?${new URLSearchParams({ ...Object.fromEntries(params()), capsule: c.id })}`,
      role: "listitem",
      dataset: { testid: "capsule", id: c.id, type: c.type, transition: c.transition, count: String(c.count) },
    },
    el("span", { className: "capsule-cover" }, img, el("span", { className: "capsule-type" }, capsuleType(c.type))),
    el("strong", { className: "capsule-title", dataset: { testid: "capsule-title" } }, c.title),
  );
  if (c.subtitle) a.append(el("span", { className: "summary capsule-subtitle", dataset: { testid: "capsule-subtitle" } }, c.subtitle));
  a.append(el("span", { className: "summary", dataset: { testid: "capsule-count" } }, tn("count.photos", c.count)));
  a.addEventListener("click", (e) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    openCapsule(c.id);
  });
  return a;
}

// The capsule the URL names (`?view=capsules&capsule=ID`), shown or closed.
function showCapsuleFromUrl() {
  const id = currentView() === "capsules" ? params().get("capsule") : null;
  if (!id) {
    if (!$("show").hidden) closeShow(true);
    return;
  }
  if (show.capsule?.id !== id && show.loading !== id) openCapsule(id, true);
}

// Opens a capsule's slideshow. Opening is a step in the history (Back
// closes it), made once its photos came: a failed request shows the error,
// leaves the URL without the capsule and asks nothing again.
async function openCapsule(id, fromUrl = false) {
  show.loading = id;
  const box = $("show");
  box.dataset.ready = "0";
  let c;
  try {
    c = await api(`/api/capsule?id=${enc(id)}`);
  } catch (e) {
    show.loading = null;
    if (!box.hidden) closeShow(true);
    if (params().get("capsule") === id) setParam("capsule", null);
    showError(e);
    return;
  }
  if (show.loading !== id) return;
  show.loading = null;
  $("error").hidden = true;
  if (!fromUrl) {
    const p = params();
    p.set("view", "capsules");
    p.set("capsule", id);
    history.pushState({ capsule: true }, "", `?${p}`);
  }
  show.capsule = c;
  show.paused = false;
  box.hidden = false;
  box.dataset.id = c.id;
  box.dataset.type = c.type;
  box.dataset.transition = c.transition in TRANSITIONS ? c.transition : "crossfade";
  box.style.setProperty("--slide-ms", `${SLIDE_MS}ms`);
  document.body.classList.add("viewing");
  $("show-title").textContent = c.title;
  $("show-subtitle").textContent = c.subtitle || capsuleType(c.type);
  $("show-stage").replaceChildren();
  syncPause();
  if (!c.photos.length) {
    $("show-caption").textContent = t("capsules.empty");
    box.dataset.ready = "1";
    return;
  }
  showSlide(0, 1);
  box.dataset.ready = "1";
  box.focus({ preventScroll: true });
}

// Closes the slideshow: Back when opening it made a history step.
function closeShow(fromHistory = false) {
  if (!fromHistory && history.state?.capsule && params().has("capsule")) {
    history.back();
    return;
  }
  clearTimeout(show.timer);
  show.capsule = null;
  show.index = -1;
  const box = $("show");
  box.hidden = true;
  box.dataset.index = "-1";
  box.dataset.id = "";
  $("show-stage").replaceChildren();
  document.body.classList.remove("viewing");
  if (!fromHistory && params().has("capsule")) setParam("capsule", null);
}

function slideCaption(p) {
  const parts = [];
  if (p.date_taken) parts.push(fmtDate(p.date_taken, { dateStyle: "long" }));
  const camera = cameraName(p.camera_make, p.camera_model);
  if (camera) parts.push(camera);
  if (p.aggregate !== null && p.aggregate !== undefined) parts.push(t("capsules.score", { score: p.aggregate.toFixed(1) }));
  return parts.length ? parts.join(" \u00b7 ") : p.filename;
}

// Shows slide `i` (wrapping around); `dir` 1 forwards, -1 backwards.
function showSlide(i, dir = 1) {
  const c = show.capsule;
  if (!c || !c.photos.length) return;
  const n = c.photos.length;
  i = ((i % n) + n) % n;
  show.index = i;
  const box = $("show");
  const transition = box.dataset.transition;
  const p = c.photos[i];
  const img = el("img", { src: `/thumbnail?path=${enc(p.path)}`, alt: p.filename, decoding: "async", draggable: false });
  withFallback(img, p.path);
  const full = new Image();
  full.onload = () => {
    if (img.isConnected) img.src = full.src;
  };
  full.src = `/image?path=${enc(p.path)}`;
  const slide = el("figure", { className: `slide t-${transition}${dir < 0 ? " back" : ""}`, dataset: { testid: "slide", index: String(i), path: p.path } }, img);
  const stage = $("show-stage");
  for (const old of stage.querySelectorAll(".slide")) {
    if (!old.classList.contains("active")) {
      old.remove();
      continue;
    }
    old.classList.remove("active");
    old.classList.add("leaving");
    old.classList.toggle("back", dir < 0);
    setTimeout(() => old.remove(), TRANSITIONS[transition] + 50);
  }
  stage.append(slide);
  // The entering state is drawn once, then the transition runs to `active`.
  void slide.offsetWidth;
  slide.classList.add("active");
  if (show.paused) slide.classList.add("paused");
  box.dataset.index = String(i);
  $("show-caption").textContent = slideCaption(p);
  $("show-counter").textContent = t("capsules.position", { n: i + 1, total: n });
  // The next photo, ahead of time.
  const next = c.photos[(i + 1) % n];
  if (next) new Image().src = `/thumbnail?path=${enc(next.path)}`;
  restartTimer();
}

function restartTimer() {
  clearTimeout(show.timer);
  show.left = SLIDE_MS;
  const bar = $("show-bar");
  bar.style.transition = "none";
  bar.style.width = "0%";
  if (!show.paused) runTimer();
}

function runTimer() {
  show.started = performance.now();
  const bar = $("show-bar");
  void bar.offsetWidth;
  bar.style.transition = `width ${show.left}ms linear`;
  bar.style.width = "100%";
  show.timer = setTimeout(() => showSlide(show.index + 1, 1), show.left);
}

function syncPause() {
  const b = $("show-pause");
  b.textContent = t(show.paused ? "capsules.play" : "capsules.pause");
  b.setAttribute("aria-pressed", String(show.paused));
  $("show").dataset.paused = show.paused ? "1" : "0";
}

function togglePause() {
  if (!show.capsule) return;
  show.paused = !show.paused;
  const bar = $("show-bar");
  if (show.paused) {
    clearTimeout(show.timer);
    show.left = Math.max(0, show.left - (performance.now() - show.started));
    const w = getComputedStyle(bar).width;
    bar.style.transition = "none";
    bar.style.width = w;
  } else {
    runTimer();
  }
  for (const s of $("show-stage").querySelectorAll(".slide")) s.classList.toggle("paused", show.paused);
  syncPause();
}

function bindCapsules() {
  $("show-close").addEventListener("click", () => closeShow());
  $("show-prev").addEventListener("click", () => showSlide(show.index - 1, -1));
  $("show-next").addEventListener("click", () => showSlide(show.index + 1, 1));
  $("show-pause").addEventListener("click", togglePause);
  document.addEventListener("keydown", (e) => {
    if ($("show").hidden || !show.capsule) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "ArrowRight") showSlide(show.index + 1, 1);
    else if (e.key === "ArrowLeft") showSlide(show.index - 1, -1);
    else if (e.key === " " || e.key === "Spacebar") {
      // A focused button would also take the Space as a click.
      if (document.activeElement instanceof HTMLButtonElement) document.activeElement.blur();
      togglePause();
    }
    else if (e.key === "Escape") closeShow();
    else return;
    e.preventDefault();
    e.stopPropagation();
  });
  // Swipes: left for the next photo, right for the previous one.
  const stage = $("show-stage");
  stage.addEventListener("touchstart", (e) => {
    const p = e.changedTouches[0];
    show.touch = p ? { x: p.clientX, y: p.clientY } : null;
  }, { passive: true });
  stage.addEventListener("touchend", (e) => {
    const p = e.changedTouches[0];
    const from = show.touch;
    show.touch = null;
    if (!p || !from) return;
    const dx = p.clientX - from.x;
    const dy = p.clientY - from.y;
    if (Math.abs(dx) < 40 || Math.abs(dx) < Math.abs(dy)) return;
    if (dx < 0) showSlide(show.index + 1, 1);
    else showSlide(show.index - 1, -1);
  });
}
