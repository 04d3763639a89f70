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

const FILTER_KEYS = ["category", "camera", "tag", "min_score", "top_picks"];

const state = {
  config: null,
  photos: [],
  total: 0,
  page: 0,
  loading: false,
  done: false,
  generation: 0,
  open: -1,
  detail: null,
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
    if (v) p.set(k, v === "1" && k === "top_picks" ? "true" : v);
  }
  p.set("sort", sortKey());
  p.set("dir", sortDir());
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return p;
}

// ---------- Login (viewer.password / viewer.edition_password) ----------

/** Asks for a password and logs in; resolves once a session is set. */
function askLogin(why) {
  const dlg = $("login");
  $("login-why").textContent = why;
  $("login-error").hidden = true;
  $("login-password").value = "";
  return new Promise((resolve) => {
    $("login-form").onsubmit = async (ev) => {
      ev.preventDefault();
      const r = await fetch("/api/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ password: $("login-password").value }),
      });
      if (r.ok) {
        dlg.close();
        resolve();
      } else {
        const e = $("login-error");
        e.textContent = r.status === 429 ? "Too many attempts: wait a minute." : "Wrong password.";
        e.hidden = false;
      }
    };
    if (!dlg.open) dlg.showModal();
  });
}

async function api(path, options) {
  let r = await fetch(path, options);
  if (r.status === 401 || r.status === 403) {
    await askLogin(r.status === 401 ? "This gallery is protected." : "Changes need the edition password.");
    r = await fetch(path, options);
  }
  if (!r.ok) {
    let msg = `${r.status}`;
    try {
      msg = (await r.json()).error || msg;
    } catch (_) {}
    throw new Error(msg);
  }
  return r.json();
}

const enc = (path) => encodeURIComponent(path);

// ---------- Toast ----------

let toastTimer = 0;
function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), 2000);
}

function showError(e) {
  const box = $("error");
  box.textContent = `Error: ${e.message || e}`;
  box.hidden = false;
}

// ---------- Toolbar ----------

function fillSelect(select, items, current) {
  select.replaceChildren(el("option", { value: "" }, "All"));
  for (const { value, count } of items) {
    select.append(el("option", { value }, `${value} (${count})`));
  }
  if (current && !items.some((i) => i.value === current)) {
    select.append(el("option", { value: current }, current));
  }
  select.value = current || "";
}

async function loadToolbar() {
  const p = params();
  const [options, counts] = await Promise.all([
    api("/api/filter_options"),
    api("/api/type_counts"),
  ]);
  fillSelect($("f-category"), options.categories, p.get("category"));
  fillSelect($("f-camera"), options.cameras, p.get("camera"));
  fillSelect($("f-tag"), options.tags, p.get("tag"));
  renderTypes(counts);
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
    chip("All", counts.all, none, () => {
      setParam("top_picks", null);
      setParam("category", null);
      syncControls();
      reload();
    }, "type-all"),
    chip("Top picks", counts.top_picks, !!p.get("top_picks"), () => {
      setParam("top_picks", true);
      syncControls();
      reload();
    }, "type-top-picks"),
  );
}

function syncControls() {
  const p = params();
  $("f-category").value = p.get("category") || "";
  $("f-camera").value = p.get("camera") || "";
  $("f-tag").value = p.get("tag") || "";
  $("f-min-score").value = p.get("min_score") || "";
  $("f-top-picks").checked = !!p.get("top_picks");
  $("sort").value = sortKey();
  const dir = sortDir().toLowerCase();
  const b = $("dir");
  b.dataset.dir = dir;
  b.textContent = dir === "asc" ? "\u2191 Asc" : "\u2193 Desc";
}

function bindToolbar() {
  const onChange = (id, key, read = (e) => e.value) => {
    $(id).addEventListener("change", () => {
      setParam(key, read($(id)));
      reload();
    });
  };
  onChange("f-category", "category");
  onChange("f-camera", "camera");
  onChange("f-tag", "tag");
  onChange("f-min-score", "min_score");
  onChange("f-top-picks", "top_picks", (e) => e.checked);
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
}

// ---------- Grid ----------

function scoreClass(score) {
  const t = state.config.quality_thresholds;
  if (score >= t.best) return "best";
  if (score >= t.great) return "great";
  return "";
}

function marks(photo) {
  let s = "";
  if (photo.favorite) s += "\u2665 ";
  if (photo.rating > 0) s += "\u2605".repeat(photo.rating);
  return s.trim();
}

function card(photo, index) {
  const img = el("img", {
    src: `/thumbnail?path=${enc(photo.path)}`,
    alt: photo.filename,
    loading: "lazy",
    decoding: "async",
  });
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
  if (photo.aggregate !== null && photo.aggregate !== undefined) {
    a.append(el("span", { className: `badge ${scoreClass(photo.aggregate)}` }, photo.aggregate.toFixed(1)));
  }
  if (photo.is_top_pick) a.append(el("span", { className: "pick", title: "Top pick" }, "\u2605"));
  a.append(el("span", { className: "marks", dataset: { testid: "card-marks" } }, marks(photo)));
  a.addEventListener("click", (e) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    openPhoto(index);
  });
  return a;
}

function updateCard(index) {
  const old = document.querySelector(`.card[data-index="${index}"]`);
  if (old) old.replaceWith(card(state.photos[index], index));
}

async function loadMore() {
  if (state.loading || state.done) return;
  state.loading = true;
  const generation = state.generation;
  try {
    const data = await api(`/api/photos?${query({ page: state.page + 1 })}`);
    if (generation !== state.generation) return;
    state.page = data.page;
    state.total = data.total;
    state.done = !data.has_more;
    const grid = $("grid");
    const frag = document.createDocumentFragment();
    for (const photo of data.photos) {
      state.photos.push(photo);
      frag.append(card(photo, state.photos.length - 1));
    }
    grid.append(frag);
    $("count").textContent = `${state.total} photo${state.total === 1 ? "" : "s"}`;
    $("empty").hidden = state.total > 0;
    grid.dataset.loaded = String(state.photos.length);
    grid.dataset.total = String(state.total);
  } catch (e) {
    showError(e);
  } finally {
    if (generation === state.generation) state.loading = false;
  }
  // Keep filling while the end of the grid is on screen.
  if (generation === state.generation && !state.done && sentinelVisible()) await loadMore();
}

function sentinelVisible() {
  const r = $("sentinel").getBoundingClientRect();
  return r.top < window.innerHeight + 800;
}

async function reload() {
  state.generation += 1;
  state.photos = [];
  state.page = 0;
  state.done = false;
  state.loading = false;
  $("grid").replaceChildren();
  $("grid").dataset.ready = "0";
  $("error").hidden = true;
  await loadMore();
  $("grid").dataset.ready = "1";
  api(`/api/type_counts`).then(renderTypes).catch(() => {});
}

// ---------- Photo view ----------

const fmt = (v, digits = 2) =>
  v === null || v === undefined ? "\u2014" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(digits)) : String(v);

function renderBreakdown(items) {
  const metrics = $("v-breakdown").tBodies[0];
  const adjustments = $("v-adjustments").tBodies[0];
  metrics.replaceChildren();
  adjustments.replaceChildren();
  for (const item of items || []) {
    const signed = (p) => el("td", { className: p > 0 ? "plus" : p < 0 ? "minus" : "" }, (p > 0 ? "+" : "") + fmt(p));
    if (item.kind === "metric") {
      const raw = el("td", { className: item.neutral ? "neutral" : "" }, item.neutral ? "neutral" : fmt(item.raw));
      metrics.append(
        el("tr", { dataset: { testid: "breakdown-row", metric: item.metric } },
          el("td", {}, item.metric),
          raw,
          el("td", {}, fmt(item.normalized)),
          el("td", {}, `${fmt(item.weight_percent, 0)}%`),
          signed(item.points)),
      );
    } else {
      adjustments.append(
        el("tr", { dataset: { testid: "adjustment-row", name: item.name } },
          el("td", {}, item.name),
          signed(item.points),
          el("td", { className: "reason" }, item.reason || "")),
      );
    }
  }
  if (!adjustments.children.length) {
    adjustments.append(el("tr", {}, el("td", { colSpan: 3, className: "reason" }, "None")));
  }
}

function renderExif(d) {
  const rows = [
    ["Camera", [d.camera_make, d.camera_model].filter(Boolean).join(" ")],
    ["Lens", d.lens],
    ["Taken", d.date_taken && d.date_taken.replace("T", " ")],
    ["Exposure", [d.shutter_speed_text && `${d.shutter_speed_text} s`, d.f_number && `f/${fmt(d.f_number, 1)}`, d.iso && `ISO ${d.iso}`].filter(Boolean).join(" \u00b7 ")],
    ["Focal length", d.focal_length && `${fmt(d.focal_length, 0)} mm${d.focal_length_35mm ? ` (${fmt(d.focal_length_35mm, 0)} mm eq.)` : ""}`],
    ["Size", d.width && `${d.width} \u00d7 ${d.height}`],
    ["Format", d.format],
    ["GPS", d.gps_lat !== null && d.gps_lat !== undefined ? `${fmt(d.gps_lat, 5)}, ${fmt(d.gps_lon, 5)}` : null],
    ["Aesthetic", d.aesthetic],
    ["Sharpness", d.sharpness],
    ["Exposure score", d.exposure_score],
    ["Colour score", d.color_score],
    ["Top picks score", d.top_picks_score],
    ["Tags", (d.tags || []).join(", ")],
    ["Path", d.path],
  ];
  const dl = $("v-exif");
  dl.replaceChildren();
  for (const [k, v] of rows) {
    if (v === null || v === undefined || v === "") continue;
    dl.append(el("dt", {}, k), el("dd", {}, fmt(v)));
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
  setParam("photo", path);
  const img = $("v-image");
  img.src = `/thumbnail?path=${enc(path)}`;
  $("v-download").href = `/api/download?path=${enc(path)}`;
  try {
    const d = await api(`/api/photo?path=${enc(path)}`);
    if ($("viewer").dataset.path !== path) return;
    state.detail = d;
    $("v-title").textContent = d.filename;
    img.alt = d.filename;
    $("v-score").textContent = d.aggregate === null || d.aggregate === undefined ? "\u2014" : d.aggregate.toFixed(1);
    $("v-category").textContent = d.category || "";
    $("v-top-pick").hidden = !d.is_top_pick;
    renderBreakdown(d.score_breakdown);
    renderExif(d);
    renderState(d);
    const full = new Image();
    full.onload = () => {
      if ($("viewer").dataset.path === path) img.src = full.src;
    };
    full.src = `/image?path=${enc(path)}`;
    viewer.dataset.ready = "1";
  } catch (e) {
    toast(`Cannot open this photo: ${e.message}`);
    closePhoto();
  }
}

function closePhoto() {
  $("viewer").hidden = true;
  $("viewer").dataset.path = "";
  document.body.classList.remove("viewing");
  state.open = -1;
  state.detail = null;
  setParam("photo", null);
}

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
    toast(`Not saved: ${e.message}`);
  }
}

const rate = (n) => change("/api/rating", { rating: n }, (s) => (s.rating ? `Rated ${"\u2605".repeat(s.rating)}` : "Rating cleared"));
const toggleFavorite = () =>
  change("/api/favorite", { favorite: !state.detail?.favorite }, (s) => (s.favorite ? "Favourite" : "Not a favourite"));
const toggleReject = () =>
  change("/api/reject", { rejected: !state.detail?.rejected }, (s) => (s.rejected ? "Rejected" : "Not rejected"));

function bindViewer() {
  $("v-close").addEventListener("click", closePhoto);
  $("v-prev").addEventListener("click", () => openPhoto(state.open - 1));
  $("v-next").addEventListener("click", () => openPhoto(state.open + 1));
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
    if (/^[0-5]$/.test(e.key)) rate(Number(e.key));
    else if (e.key === "f" || e.key === "F") toggleFavorite();
    else if (e.key === "x" || e.key === "X") toggleReject();
    else if (e.key === "ArrowRight") openPhoto(state.open + 1);
    else if (e.key === "ArrowLeft") openPhoto(state.open - 1);
    else if (e.key === "Escape") closePhoto();
    else return;
    e.preventDefault();
  });
  // Swipe between photos on touch screens.
  let x0 = null;
  const stage = document.querySelector(".stage");
  stage.addEventListener("touchstart", (e) => (x0 = e.touches[0].clientX), { passive: true });
  stage.addEventListener("touchend", (e) => {
    if (x0 === null) return;
    const dx = e.changedTouches[0].clientX - x0;
    x0 = null;
    if (Math.abs(dx) > 50) openPhoto(state.open + (dx < 0 ? 1 : -1));
  });
}

// ---------- Start ----------

async function main() {
  try {
    state.config = await api("/api/config");
    bindToolbar();
    bindViewer();
    syncControls();
    new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) loadMore();
    }, { rootMargin: "800px" }).observe($("sentinel"));
    await Promise.all([loadToolbar(), reload()]);
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

main();
