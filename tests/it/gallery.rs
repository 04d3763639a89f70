//! The gallery end to end: `facet run` on shared photos, `facet serve` on a
//! free port, and headless Chromium (Debian's `chromium`) driven over the
//! DevTools protocol (`--remote-debugging-pipe`: JSON messages on file
//! descriptors 3 and 4, no extra crate): open the gallery, filter by camera,
//! sort by score, open a photo and read its score breakdown, rate it with the
//! keyboard, reload and see the rating kept, browse the timeline. Screenshots go to
//! `<target>/gallery-screenshots/`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

/// `facet serve` on a free port, killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
}

impl Server {
    pub(crate) fn start(store: &Path, config: &Path) -> Server {
        Server::start_with(facet(), store, config, &[])
    }

    /// `cmd serve … EXTRA…` (`--pipeline FILE`, say).
    pub(crate) fn start_with(
        mut cmd: Command,
        store: &Path,
        config: &Path,
        extra: &[&str],
    ) -> Server {
        let mut child = cmd
            .args(["serve", "--bind", "127.0.0.1:0", "--store"])
            .arg(store)
            .arg("--config")
            .arg(config)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("facet serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("facet serve printed no address: {line:?}"))
            .trim_end_matches('/')
            .to_string();
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Chromium binary: `FACET_CHROMIUM`, else `chromium` (Debian), else
/// `chromium-browser` or `google-chrome` on the PATH.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("FACET_CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "chromium not found: the gallery's end-to-end test drives headless Chromium. \
         Install Debian's package (`apt-get install -y chromium`; .ci/run does this) \
         or set FACET_CHROMIUM to a Chromium or Chrome binary."
    );
}

/// A headless Chromium with one page, driven over the DevTools pipe.
struct Browser {
    child: Child,
    to: std::io::PipeWriter,
    from: Receiver<Value>,
    next_id: u64,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch() -> Browser {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let profile = tempfile::tempdir().unwrap();
        // Chromium reads commands on fd 3 and writes replies and events on fd 4.
        let (cmd_r, cmd_w) = std::io::pipe().unwrap();
        let (evt_r, evt_w) = std::io::pipe().unwrap();
        let (r, w) = (cmd_r.as_raw_fd(), evt_w.as_raw_fd());
        let mut command = Command::new(chromium());
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and
        // exec. The pipe ends are first moved above 4 so that placing one
        // cannot close the other.
        unsafe {
            command.pre_exec(move || {
                let r = libc::fcntl(r, libc::F_DUPFD, 10);
                let w = libc::fcntl(w, libc::F_DUPFD, 10);
                if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("chromium starts");
        drop((cmd_r, evt_w));
        let (tx, from) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(evt_r);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if buf.last() == Some(&0) {
                            buf.pop();
                        }
                        if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                            && tx.send(v).is_err()
                        {
                            return;
                        }
                    }
                }
            }
        });
        let mut b = Browser {
            child,
            to: cmd_w,
            from,
            next_id: 0,
            session: String::new(),
            _profile: profile,
        };
        let target = b.send(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attached = b.send(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        b.page("Page.enable", json!({}));
        b.page("Runtime.enable", json!({}));
        b.viewport(1280, 900, false);
        b
    }

    /// Sends a command (to the page's session, or to the browser) and waits
    /// for its reply; events in between are dropped.
    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.try_send(session, method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// [`Self::send`], with chromium's error reply returned instead of a panic.
    fn try_send(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).expect("chromium reads commands");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no reply from chromium to {method}: {e}"));
            if v["id"] == json!(id) {
                if let Some(e) = v.get("error") {
                    return Err(e.clone());
                }
                return Ok(v["result"].clone());
            }
        }
    }

    fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params)
    }

    fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.page(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": if mobile { 2 } else { 1 }, "mobile": mobile}),
        );
    }

    /// The value of a JavaScript expression (promises awaited).
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.page(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy; returns its value. An evaluation
    /// cut short because the page navigated (a reload the click started)
    /// counts as "not yet".
    fn wait(&mut self, expression: &str, what: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let session = self.session.clone();
            let reply = self.try_send(
                Some(&session),
                "Runtime.evaluate",
                json!({
                    "expression": format!(
                        "(() => {{ try {{ return {expression}; }} catch (e) {{ return null; }} }})()"
                    ),
                    "returnByValue": true,
                    "awaitPromise": true,
                }),
            );
            let v = match reply {
                Ok(r) => r["result"]["value"].clone(),
                Err(e)
                    if e.to_string().contains("navigated or closed")
                        || e.to_string().contains("context") =>
                {
                    Value::Null
                }
                Err(e) => panic!("Runtime.evaluate while waiting for {what}: {e}"),
            };
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let html = self.eval("document.body ? document.body.outerHTML.slice(0, 3000) : ''");
                panic!("timed out waiting for {what} ({expression}); page: {html}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn navigate(&mut self, url: &str) {
        self.page("Page.navigate", json!({"url": url}));
    }

    /// A key press as the user makes it (keydown, char, keyup).
    fn key(&mut self, key: &str, code: &str, vk: u32) {
        let text = if key.chars().count() == 1 { key } else { "" };
        self.page(
            "Input.dispatchKeyEvent",
            json!({"type": if text.is_empty() { "rawKeyDown" } else { "keyDown" }, "key": key, "code": code,
                   "text": text, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}),
        );
        self.page(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}),
        );
    }

    /// A mouse click at the centre of the element `selector` finds.
    fn click(&mut self, selector: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); \
             const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()",
            sel = json!(selector)
        );
        let at = self.eval(&js);
        let (x, y) = (
            at[0]
                .as_f64()
                .unwrap_or_else(|| panic!("nothing at {selector}")),
            at[1].as_f64().unwrap(),
        );
        for t in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.page(
                "Input.dispatchMouseEvent",
                json!({"type": t, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    fn screenshot(&mut self, path: &Path) {
        let r = self.page("Page.captureScreenshot", json!({"format": "png"}));
        std::fs::write(path, base64(r["data"].as_str().unwrap())).unwrap();
        eprintln!("screenshot: {}", path.display());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let mut bytes = serde_json::to_vec(&json!({"id": 0, "method": "Browser.close"})).unwrap();
        bytes.push(0);
        let _ = self.to.write_all(&bytes);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=' && c != b'\n').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}

/// `<target>/gallery-screenshots/`: CARGO_TARGET_DIR, else the directory
/// above this test binary's `debug/deps/`.
/// `encodeURIComponent` of `s`.
fn enc_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Picks `value` in the searchable filter `key` (camera, lens, tag,
/// person) as a user does: focus it, type `typed`, tap the value found.
fn pick_in_filter(b: &mut Browser, key: &str, typed: &str, value: &str) {
    b.eval(&format!(
        "(() => {{ const i = document.getElementById('f-{key}'); i.blur(); i.focus(); return true; }})()"
    ));
    b.page("Input.insertText", json!({"text": typed}));
    let option = format!(
        "[data-testid=combo-{key}] [data-testid=combo-option][data-value=\"{}\"]",
        value.replace('"', "\\\"")
    );
    b.wait(
        &format!(
            "document.getElementById('f-{key}').value === {} && !!document.querySelector({})",
            json!(typed),
            json!(option)
        ),
        &format!("{value} found by typing {typed}"),
    );
    b.click(&option);
}

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().unwrap();
            exe.ancestors().nth(3).unwrap().to_path_buf()
        });
    let dir = target.join("gallery-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Real photos: four from one camera (COOLPIX P6000) and three from others.
const PHOTOS: &[&str] = &[
    "cameras/jpg/gps/DSCN0010.jpg",
    "cameras/jpg/gps/DSCN0012.jpg",
    "cameras/jpg/gps/DSCN0021.jpg",
    "cameras/jpg/gps/DSCN0025.jpg",
    "cameras/jpg/Canon_40D.jpg",
    "cameras/jpg/Nikon_D70.jpg",
    "cameras/jpg/Pentax_K10D.jpg",
];
const CAMERA: &str = "COOLPIX P6000";

#[test]
fn gallery_in_headless_chromium_filter_sort_open_rate_reload() {
    let Some(shared) = shared_photos() else {
        return;
    };
    let chromium = chromium();
    eprintln!("chromium: {}", chromium.display());
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&shared, PHOTOS, &photos);
    let store = analysed_store(tmp.path(), &photos);
    let expected: Vec<(String, f64)> = sql_json(
        &store,
        &format!(
            "SELECT path, aggregate FROM photos WHERE camera_model = '{CAMERA}' ORDER BY aggregate DESC"
        ),
    )
    .iter()
    .map(|r| {
        (
            r["path"].as_str().unwrap().to_string(),
            r["aggregate"].as_f64().unwrap(),
        )
    })
    .collect();
    assert_eq!(expected.len(), 4);

    // Pages of 3, so that the gallery pages in (infinite scroll) and the
    // photo view's next/previous crosses pages.
    let config = tmp.path().join("gallery.json");
    std::fs::write(
        &config,
        r#"{"viewer": {"pagination": {"default_per_page": 3}, "features": {"show_map": true},
             "dropdowns": {"max_cameras": 1}}}"#,
    )
    .unwrap();
    let server = Server::start(&store, &config);
    let shots = screenshots_dir();
    let mut b = Browser::launch();

    // The gallery: every photo.
    b.navigate(&format!("{}/", server.url));
    b.wait("document.body.dataset.ready === '1'", "the gallery");
    b.wait(
        "document.getElementById('grid').dataset.ready === '1'",
        "the grid",
    );
    // Pages load while the end of the grid is on screen.
    b.wait(
        &format!(
            "document.querySelectorAll('[data-testid=card]').length === {}",
            PHOTOS.len()
        ),
        "every page",
    );
    b.wait(
        "[...document.querySelectorAll('[data-testid=card] img')].every(i => i.complete && i.naturalWidth > 0)",
        "the thumbnails",
    );

    // A bad filter in the URL: a message with a way out, and no request storm
    // (the grid once looped on `/api/photos` about 330 times a second).
    b.navigate(&format!("{}/?min_score=abc", server.url));
    b.wait(
        "!document.querySelector('[data-testid=error]').hidden",
        "the error message",
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    let asked = b.eval(
        "performance.getEntriesByType('resource').filter(e => e.name.includes('/api/photos')).length",
    );
    assert!(
        asked.as_u64().is_some_and(|n| (1..=2).contains(&n)),
        "/api/photos asked {asked} times in 3 s after a refused request"
    );
    let message = b.eval("document.querySelector('[data-testid=error]').textContent");
    assert!(
        message.as_str().is_some_and(|m| m.contains("min_score")),
        "{message}"
    );
    b.click("[data-testid=error-reset]");
    b.wait(
        &format!(
            "location.search === '' && document.querySelectorAll('[data-testid=card]').length === {}",
            PHOTOS.len()
        ),
        "every photo after the reset",
    );
    b.wait(
        "document.querySelector('[data-testid=error]').hidden",
        "the message gone",
    );
    b.screenshot(&shots.join("01-gallery.png"));
    // No text encoder (no --pipeline): no search box.
    assert_eq!(
        b.eval("document.getElementById('search-form').hidden"),
        json!(true)
    );

    // The camera filter is searchable: focused, it lists the most frequent
    // camera (viewer.dropdowns.max_cameras is 1) and says how many there
    // are; typed, it finds one past that limit, picked with Enter.
    let cameras = sql_json(
        &store,
        "SELECT count(DISTINCT camera_model) AS n FROM photos",
    )[0]["n"]
        .as_i64()
        .unwrap();
    assert!(cameras > 1, "{cameras}");
    b.click("#f-camera");
    b.wait(
        &format!(
            "document.querySelector('[data-testid=combo-camera-note]')?.textContent === '1 of {cameras} \u{2014} type to search'"
        ),
        "the camera list and its note",
    );
    assert_eq!(
        b.eval(
            "[...document.querySelectorAll('[data-testid=combo-camera] [data-testid=combo-option]')].map(o => o.dataset.value)"
        ),
        json!(["", CAMERA])
    );
    assert_eq!(
        b.eval("document.getElementById('f-camera').getAttribute('aria-expanded')"),
        json!("true")
    );
    b.page("Input.insertText", json!({"text": "canon"}));
    b.wait(
        "document.querySelector('[data-testid=combo-camera] [aria-selected=true]')?.dataset.value === 'Canon EOS 40D'",
        "Canon found by typing",
    );
    b.screenshot(&shots.join("01b-camera-search.png"));
    b.key("Enter", "Enter", 13);
    b.wait(
        "location.search.includes('camera=Canon+EOS+40D') && document.getElementById('grid').dataset.ready === '1' \
         && document.getElementById('grid').dataset.total === '1' && !!document.querySelector('[data-testid=chip][data-key=camera]') \
         && document.getElementById('f-camera').getAttribute('aria-expanded') === 'false'",
        "the camera past the dropdown's limit",
    );
    // Then this camera, tapped in the list, then sort by date, then by score.
    pick_in_filter(&mut b, "camera", "p6000", CAMERA);
    let choose = |b: &mut Browser, id: &str, value: &str| {
        b.eval(&format!(
            "(() => {{ const s = document.getElementById({id}); s.focus(); s.value = {value}; \
             s.dispatchEvent(new Event('change', {{bubbles: true}})); return s.value; }})()",
            id = json!(id),
            value = json!(value)
        ));
    };
    b.wait(
        "document.getElementById('grid').dataset.ready === '1' && document.getElementById('grid').dataset.total === '4'",
        "the camera filter",
    );
    choose(&mut b, "sort", "date");
    b.wait(
        "document.getElementById('grid').dataset.ready === '1' && location.search.includes('sort=date')",
        "the date sort",
    );
    choose(&mut b, "sort", "aggregate");
    b.wait(
        "document.getElementById('grid').dataset.ready === '1' && location.search.includes('sort=aggregate') \
         && document.getElementById('grid').dataset.loaded === '4'",
        "the score sort",
    );
    let shown = b.eval(
        "[...document.querySelectorAll('[data-testid=card]')].map(c => [c.dataset.path, c.dataset.camera, Number(c.dataset.aggregate)])",
    );
    let shown = shown.as_array().unwrap();
    assert_eq!(shown.len(), 4, "{shown:?}");
    for (card, (path, aggregate)) in shown.iter().zip(&expected) {
        assert_eq!(card[1], json!(CAMERA), "{shown:?}");
        assert_eq!(card[2].as_f64().unwrap(), *aggregate, "{shown:?}");
        if expected.iter().filter(|(_, a)| a == aggregate).count() == 1 {
            assert_eq!(card[0], json!(path), "{shown:?}");
        }
    }
    b.screenshot(&shots.join("02-camera-by-score.png"));

    // Open the best photo (a click on its card) and read its score breakdown.
    b.click("[data-testid=card]");
    b.wait(
        "document.getElementById('viewer').dataset.ready === '1'",
        "the photo view",
    );
    let path = b.eval("document.getElementById('viewer').dataset.path");
    let path = path.as_str().unwrap().to_string();
    assert_eq!(path, shown[0][0].as_str().unwrap());
    b.wait(
        "document.getElementById('v-image').complete && document.getElementById('v-image').src.includes('/image?')",
        "the large image",
    );
    let rows = b.eval(
        "[...document.querySelectorAll('[data-testid=breakdown-row]')].map(r => [r.dataset.metric, ...[...r.cells].slice(1).map(c => c.textContent), r.cells[0].textContent])",
    );
    let rows = rows.as_array().unwrap();
    let stored = sql_json(
        &store,
        &format!(
            "SELECT score_breakdown, aggregate FROM photos WHERE path = '{}'",
            path.replace('\'', "''")
        ),
    );
    let breakdown: Vec<Value> =
        serde_json::from_str(stored[0]["score_breakdown"].as_str().unwrap()).unwrap();
    let metrics: Vec<&Value> = breakdown.iter().filter(|i| i["kind"] == "metric").collect();
    assert!(!metrics.is_empty());
    assert_eq!(rows.len(), metrics.len(), "{rows:?}");
    for (row, m) in rows.iter().zip(&metrics) {
        assert_eq!(row[0], m["metric"], "{rows:?}");
        // Named in words, not by the stored metric's id.
        let name = row[5].as_str().unwrap();
        assert!(!name.contains('_'), "{rows:?}");
        let weight = format!("{:.0}%", m["weight_percent"].as_f64().unwrap());
        assert_eq!(row[3].as_str().unwrap(), weight, "{rows:?}");
    }
    let score = b.eval("document.getElementById('v-score').textContent");
    assert_eq!(
        score,
        json!(format!("{:.1}", stored[0]["aggregate"].as_f64().unwrap()))
    );
    assert_eq!(
        b.eval("document.getElementById('v-rating').dataset.rating"),
        json!("0")
    );
    let line = b.eval("document.querySelector('[data-testid=viewer-critique]').textContent");
    assert!(
        line.as_str()
            .is_some_and(|l| l.ends_with('.') && l.len() > 10),
        "a one-line critique: {line}"
    );
    // The critique's rule on a known breakdown: strengths by weight, then
    // weaknesses and penalties; unmeasured metrics say nothing.
    let said = b.eval(
        "import('/assets/app.js').then(m => [m.critique([\
            {kind: 'metric', metric: 'tech_sharpness', raw: 900, normalized: 8.2, weight_percent: 30, neutral: false},\
            {kind: 'metric', metric: 'exposure', raw: 8, normalized: 7.5, weight_percent: 20, neutral: false},\
            {kind: 'metric', metric: 'aesthetic', raw: null, normalized: 5, weight_percent: 0, neutral: true},\
            {kind: 'adjustment', name: 'clipping', points: -1, reason: ''}], {width: 75, height: 100}),\
          m.critique([{kind: 'metric', metric: 'aesthetic', raw: null, normalized: 5, weight_percent: 0, neutral: true}]),\
          m.metricName('aesthetic_iaa'), m.categoryName('human_others')])",
    );
    assert_eq!(
        said,
        json!([
            "Sharp and well exposed; held back by low resolution and clipped highlights.",
            "Not enough was measured to judge this photo.",
            "Aesthetics (second model)",
            "People (other)"
        ])
    );
    b.screenshot(&shots.join("03-photo-breakdown.png"));

    // Rate it 4 with the keyboard.
    b.key("4", "Digit4", 52);
    b.wait(
        "document.getElementById('viewer').dataset.saved === '1' && document.getElementById('v-rating').dataset.rating === '4'",
        "the rating to be saved",
    );
    b.screenshot(&shots.join("04-rated.png"));

    // Reload: the same view (filters, sort and open photo are in the URL),
    // the rating kept.
    b.page("Page.reload", json!({"ignoreCache": true}));
    b.wait(
        "document.body.dataset.ready === '1' && document.getElementById('viewer').dataset.ready === '1'",
        "the reloaded photo view",
    );
    assert_eq!(
        b.eval("document.getElementById('viewer').dataset.path"),
        json!(path)
    );
    assert_eq!(
        b.eval("document.getElementById('v-rating').dataset.rating"),
        json!("4")
    );
    assert_eq!(
        b.eval("document.querySelectorAll('#v-rating button.on').length"),
        json!(4)
    );
    assert_eq!(
        b.eval(&format!(
            "document.querySelector('[data-testid=card][data-path=' + CSS.escape({}) + ']').dataset.rating",
            json!(path)
        )),
        json!("4")
    );
    b.screenshot(&shots.join("05-reloaded.png"));
    // The detail's camera: the make once, whether or not the model repeats it.
    let camera = b.eval(
        "[...document.querySelectorAll('#v-exif dt')].find(d => d.textContent === 'Camera')?.nextElementSibling.textContent",
    );
    assert_eq!(
        camera,
        json!(format!("NIKON {CAMERA}")),
        "the stored make and model"
    );
    assert_eq!(
        b.eval(
            "import('/assets/app.js').then(m => [m.cameraName('Canon', 'Canon EOS 40D'), m.cameraName('NIKON CORPORATION', 'NIKON D750'), m.cameraName('SONY', 'ILCE-7M3'), m.cameraName(null, 'X100V')])"
        ),
        json!(["Canon EOS 40D", "NIKON D750", "SONY ILCE-7M3", "X100V"])
    );
    let kept = sql_json(
        &store,
        &format!(
            "SELECT rating FROM photos WHERE path = '{}'",
            path.replace('\'', "''")
        ),
    );
    assert_eq!(kept[0]["rating"], json!(4), "stored in user_state");

    // Next photo with the arrow key, close with Esc.
    b.key("ArrowRight", "ArrowRight", 39);
    b.wait(
        &format!(
            "document.getElementById('viewer').dataset.ready === '1' && document.getElementById('viewer').dataset.path === {}",
            json!(shown[1][0])
        ),
        "the next photo",
    );
    b.key("Escape", "Escape", 27);
    b.wait(
        "document.getElementById('viewer').hidden",
        "the photo view to close",
    );

    // The timeline: years with counts and photos, a year drills down to
    // its months; back to the grid.
    b.click("[data-testid=view-timeline]");
    b.wait(
        "document.getElementById('timeline').dataset.ready === '1' && location.search.includes('view=timeline')",
        "the timeline",
    );
    let years = b.eval(
        "[...document.querySelectorAll('[data-testid=timeline-group]')].map(g => [g.dataset.key, Number(g.dataset.count)])",
    );
    let years = years.as_array().unwrap().clone();
    // This camera's photos matching `condition`, counted by SQL.
    let count = |condition: &str| {
        sql_json(
            &store,
            &format!(
                "SELECT count(*) AS n FROM photos WHERE camera_model = '{CAMERA}' AND {condition}"
            ),
        )[0]["n"]
            .as_i64()
            .unwrap()
    };
    let dated = count("date_taken IS NOT NULL");
    let counted: i64 = years.iter().map(|y| y[1].as_i64().unwrap()).sum();
    assert_eq!(counted, dated, "the camera filter applies: {years:?}");
    b.screenshot(&shots.join("06-timeline.png"));
    if let Some(first) = years.first() {
        let year = first[0].as_str().unwrap().to_string();
        b.click("[data-testid=timeline-group]");
        b.wait(
            &format!(
                "document.getElementById('timeline').dataset.ready === '1' && location.search.includes('year={year}') \
                 && [...document.querySelectorAll('[data-testid=timeline-group]')].every(g => g.dataset.key.startsWith('{year}-'))"
            ),
            "a year's months",
        );
        b.screenshot(&shots.join("07-timeline-year.png"));
    }
    // The map: Leaflet from its CDN, or (offline, as on CI) a plain list of
    // the places with their counts.
    b.click("[data-testid=view-map]");
    b.wait(
        "document.getElementById('map-view').dataset.ready === '1'",
        "the map view",
    );
    let mode = b.eval("document.getElementById('map-view').dataset.mode");
    let geotagged = count("gps_lat IS NOT NULL");
    if mode == json!("list") {
        let places: i64 = b
            .eval("[...document.querySelectorAll('[data-testid=map-place]')].reduce((n, p) => n + Number(p.dataset.count), 0)")
            .as_i64()
            .unwrap();
        assert_eq!(places, geotagged);
        // A place opens all its photos: the grid, filtered to its box.
        let most = b.eval(
            "Math.max(...[...document.querySelectorAll('[data-testid=map-place]')].map(p => Number(p.dataset.count)))",
        );
        b.eval(&format!(
            "[...document.querySelectorAll('[data-testid=map-place]')].find(p => Number(p.dataset.count) === {most}).querySelector('[data-testid=map-place-all]').click()"
        ));
        b.wait(
            &format!(
                "location.search.includes('bbox=') && !location.search.includes('view=map') \
                 && document.getElementById('grid').dataset.ready === '1' && document.getElementById('grid').dataset.total === '{most}' \
                 && !!document.querySelector('[data-testid=chip][data-key=bbox]')"
            ),
            "the place's photos in the grid",
        );
        b.click("[data-testid=chip][data-key=bbox] [data-testid=chip-remove]");
        b.wait(
            "!location.search.includes('bbox=') && document.getElementById('grid').dataset.ready === '1'",
            "the place filter removed",
        );
        b.click("[data-testid=view-map]");
        b.wait(
            "document.getElementById('map-view').dataset.ready === '1'",
            "the map again",
        );
    } else {
        assert_eq!(mode, json!("map"));
    }
    b.screenshot(&shots.join("07b-map.png"));
    b.click("[data-testid=view-grid]");
    b.wait(
        "document.getElementById('grid').dataset.ready === '1' && !document.getElementById('grid').hidden \
         && document.querySelectorAll('[data-testid=card]').length === 4",
        "the grid again",
    );

    // The mosaic (the default layout) and the grid of squares.
    assert_eq!(
        b.eval("document.getElementById('grid').classList.contains('mosaic')"),
        json!(true)
    );
    b.screenshot(&shots.join("07c-mosaic.png"));
    b.click("[data-testid=layout]");
    b.wait(
        "!document.getElementById('grid').classList.contains('mosaic')",
        "the square grid",
    );
    b.screenshot(&shots.join("07d-grid.png"));
    b.click("[data-testid=layout]");
    b.wait(
        "document.getElementById('grid').classList.contains('mosaic')",
        "the mosaic again",
    );

    // People: two persons with face crops, as `facet faces cluster` writes them.
    let people: Vec<String> = expected.iter().map(|(p, _)| p.clone()).collect();
    write_people(&store, &people);
    b.click("[data-testid=view-persons]");
    b.wait(
        "document.getElementById('persons').dataset.ready === '1' && document.querySelectorAll('[data-testid=person]').length === 2",
        "the people",
    );
    b.wait(
        "[...document.querySelectorAll('[data-testid=person] img')].every(i => i.complete && i.naturalWidth > 0)",
        "the face crops",
    );
    let cards = b.eval(
        "[...document.querySelectorAll('[data-testid=person]')].map(c => [c.dataset.id, c.querySelector('[data-testid=person-name]').textContent, Number(c.dataset.photos)])",
    );
    assert_eq!(
        cards,
        json!([["1", "Ann", 2], ["2", "Person 2", 1]]),
        "most photographed first"
    );
    b.screenshot(&shots.join("10-persons.png"));
    // Rename the second in place.
    b.click("[data-testid=person][data-id='2'] [data-testid=person-rename]");
    b.eval(
        "(() => { const i = document.querySelector('[data-testid=person-name-input]'); i.value = 'Bob';          i.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true})); return true; })()",
    );
    b.wait(
        "document.getElementById('persons').dataset.ready === '1' &&          document.querySelector('[data-testid=person][data-id=\"2\"] [data-testid=person-name]')?.textContent === 'Bob'",
        "the new name",
    );
    assert_eq!(
        sql_json(&store, "SELECT name FROM persons WHERE person_id = 2")[0]["name"],
        json!("Bob")
    );
    // A person's photos: the grid filtered by person.
    b.click("[data-testid=person][data-id='1'] [data-testid=person-open]");
    b.wait(
        "document.getElementById('grid').dataset.ready === '1' && !document.getElementById('grid').hidden          && location.search.includes('person=1') && document.getElementById('grid').dataset.total === '2'",
        "Ann's photos",
    );
    let shown_paths = b.eval(
        "[...document.querySelectorAll('[data-testid=card]')].map(c => c.dataset.path).sort()",
    );
    let mut want = people[..2].to_vec();
    want.sort();
    assert_eq!(shown_paths, json!(want));
    assert_eq!(
        b.eval("document.getElementById('person-chip-name').textContent"),
        json!("Ann")
    );
    b.screenshot(&shots.join("11-person-photos.png"));
    b.click("[data-testid=person-clear]");
    b.wait(
        "document.getElementById('grid').dataset.ready === '1' && !location.search.includes('person=')          && document.getElementById('grid').dataset.total === '4'",
        "every person's photos again",
    );

    // Comparison mode: two photos side by side, the left one picked with
    // the arrow key, the progress and the weights beside it.
    let categories = sql_json(
        &store,
        "SELECT category, count(*) AS n FROM photos WHERE category IS NOT NULL GROUP BY category ORDER BY n DESC, category",
    );
    let category = categories[0]["category"].as_str().unwrap().to_string();
    assert!(categories[0]["n"].as_i64().unwrap() >= 2, "{categories:?}");
    b.click("[data-testid=view-compare]");
    b.wait(
        "document.getElementById('compare').dataset.ready === '1'",
        "the comparison view",
    );
    choose(&mut b, "cmp-category", &category);
    b.wait(
        &format!(
            "document.getElementById('compare').dataset.ready === '1' && document.getElementById('compare').dataset.pair === '1'              && document.getElementById('cmp-category').value === {}",
            json!(category)
        ),
        "a pair to compare",
    );
    b.wait(
        "[...document.querySelectorAll('.side img')].every(i => i.complete && i.naturalWidth > 0)",
        "both photos",
    );
    let pair = b.eval(
        "[document.getElementById('cmp-a').dataset.path, document.getElementById('cmp-b').dataset.path]",
    );
    assert_ne!(pair[0], pair[1]);
    assert_eq!(
        b.eval("document.getElementById('cmp-count').textContent"),
        json!("0 / 50 comparisons")
    );
    assert!(
        b.eval("document.querySelectorAll('[data-testid=weight-row]').length")
            .as_i64()
            .unwrap()
            > 0,
        "the current weights"
    );
    b.screenshot(&shots.join("12-compare.png"));
    b.key("ArrowLeft", "ArrowLeft", 37);
    b.wait(
        "document.getElementById('compare').dataset.recorded === '1' && document.getElementById('cmp-count').textContent === '1 / 50 comparisons'",
        "the choice to be recorded",
    );
    let recorded = sql_json(
        &store,
        "SELECT winner, loser, tie, category FROM comparisons",
    );
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["winner"], pair[0]);
    assert_eq!(recorded[0]["loser"], pair[1]);
    assert_eq!(recorded[0]["tie"], json!(false));
    assert_eq!(recorded[0]["category"], json!(category));
    b.screenshot(&shots.join("13-compared.png"));
    b.click("[data-testid=view-grid]");
    b.wait(
        "document.getElementById('grid').dataset.ready === '1' && !document.getElementById('grid').hidden \
         && document.querySelectorAll('[data-testid=card]').length === 4",
        "the grid after comparing",
    );

    // Albums: make one, add a photo from the photo view, share it, and
    // open the link as someone without a session would.
    b.click("[data-testid=view-albums]");
    b.wait(
        "document.getElementById('albums').dataset.ready === '1' && !document.getElementById('albums').hidden",
        "the albums view",
    );
    b.eval("document.getElementById('album-name').value = 'Best of'");
    b.click("[data-testid=album-create]");
    b.wait(
        "document.querySelectorAll('[data-testid=album]').length === 1",
        "the new album",
    );
    b.click("[data-testid=view-grid]");
    b.wait(
        "document.getElementById('grid').dataset.ready === '1' && !document.getElementById('grid').hidden \
         && document.querySelectorAll('[data-testid=card]').length === 4",
        "the grid before adding to the album",
    );
    b.click("[data-testid=card]");
    b.wait(
        "document.getElementById('viewer').dataset.ready === '1' && !document.getElementById('v-album-box').hidden",
        "the photo view with the album picker",
    );
    let in_album = b.eval("document.getElementById('viewer').dataset.path");
    b.click("[data-testid=viewer-album-add]");
    b.wait(
        "fetch('/api/albums').then(r => r.json()).then(r => r.albums[0].count === 1)",
        "the photo in the album",
    );
    b.key("Escape", "Escape", 27);
    b.click("[data-testid=view-albums]");
    b.wait(
        "document.querySelector('[data-testid=album-share]') && document.getElementById('albums').dataset.ready === '1'",
        "the album list",
    );
    b.click("[data-testid=album-share]");
    let link = b.wait(
        "document.querySelector('[data-testid=album-url]')?.href",
        "the share link",
    );
    let link = link.as_str().unwrap().to_string();
    assert!(link.contains("?share="), "{link}");
    // Copied, and shown again when the album is reopened: sharing a shared
    // album keeps its link (only "New link…" or "Stop sharing…" end it).
    let origin = server.url.clone();
    b.send(
        None,
        "Browser.grantPermissions",
        json!({"origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
    );
    b.click("[data-testid=album-copy]");
    b.wait(
        "document.getElementById('toast').textContent === 'Link copied'",
        "the link copied",
    );
    assert_eq!(b.eval("navigator.clipboard.readText()"), json!(link));
    b.click("[data-testid=album-open-button]");
    b.wait(
        &format!(
            "document.querySelector('[data-testid=album-url]')?.href === {}",
            json!(link)
        ),
        "the link shown with the album",
    );
    b.click("[data-testid=album-share]");
    b.wait(
        &format!(
            "document.getElementById('albums').dataset.ready === '1' && document.querySelector('[data-testid=album-url]')?.href === {}",
            json!(link)
        ),
        "the same link after Link",
    );
    b.screenshot(&shots.join("14-albums.png"));
    b.eval("fetch('/api/logout', {method: 'POST'}).then(() => 1)");
    b.navigate(&link);
    b.wait(
        "document.getElementById('shared')?.dataset.ready === '1'",
        "the shared album page",
    );
    assert_eq!(
        b.eval("document.getElementById('shared-title').textContent"),
        json!("Best of (1)")
    );
    b.wait(
        "[...document.querySelectorAll('[data-testid=shared-thumb] img')].every(i => i.complete && i.naturalWidth > 0) \
         && document.querySelectorAll('[data-testid=shared-thumb]').length === 1",
        "the shared photo's thumbnail",
    );
    let href = b.eval("document.querySelector('[data-testid=shared-thumb]').getAttribute('href')");
    assert!(
        href.as_str()
            .unwrap()
            .contains(&enc_component(in_album.as_str().unwrap())),
        "{href} {in_album}"
    );
    b.screenshot(&shots.join("15-shared-album.png"));
    b.navigate(&server.url);
    b.wait(
        "document.body.dataset.ready === '1' && document.querySelectorAll('[data-testid=card]').length > 0",
        "the gallery again",
    );

    // A phone: the grid fits the width, the photo view stacks.
    b.viewport(390, 844, true);
    b.wait(
        "document.documentElement.scrollWidth <= window.innerWidth",
        "no horizontal scrolling on a phone",
    );
    b.screenshot(&shots.join("08-phone-gallery.png"));
    b.click("[data-testid=card]");
    b.wait(
        "document.getElementById('viewer').dataset.ready === '1'",
        "the photo view on a phone",
    );
    b.screenshot(&shots.join("09-phone-photo.png"));
    drop(b);
    drop(server);
}

/// Comparison mode end to end: choices through the gallery's API, then
/// `facet compare apply` writes the fitted weights and re-scores.
#[test]
fn comparison_choices_move_the_weights_that_apply_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for seed in 0..8u32 {
        std::fs::write(
            photos.join(format!("g{seed}.jpg")),
            jpeg(320 + 16 * seed, 240, seed),
        )
        .unwrap();
    }
    let store = analysed_store(tmp.path(), &photos);
    let rows = sql_json(
        &store,
        "SELECT category, count(*) AS n FROM photos GROUP BY category ORDER BY n DESC",
    );
    let category = rows[0]["category"].as_str().unwrap().to_string();
    // The user prefers the sharper photo, every time.
    let ranked: Vec<String> = sql_json(
        &store,
        &format!("SELECT path, sharpness FROM photos WHERE category = '{category}' ORDER BY sharpness DESC, path"),
    )
    .iter()
    .map(|r| r["path"].as_str().unwrap().to_string())
    .collect();
    assert!(ranked.len() >= 3, "{rows:?}");
    let config = tmp.path().join("scoring_config.json");
    std::fs::write(
        &config,
        r#"{"viewer": {"comparison_mode": {"min_comparisons_for_optimization": 3}}}"#,
    )
    .unwrap();
    let server = Server::start(&store, &config);
    let pair: Value = serde_json::from_str(
        &ureq::get(&format!(
            "{}/api/comparison/pair?category={category}",
            server.url
        ))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap(),
    )
    .unwrap();
    assert!(pair["a"]["path"].is_string(), "{pair}");
    let mut n = 0;
    for (i, w) in ranked.iter().enumerate() {
        for l in &ranked[i + 1..] {
            let body = ureq::post(&format!("{}/api/comparison", server.url))
                .header("Content-Type", "application/json")
                .send(json!({"winner": w, "loser": l}).to_string())
                .unwrap()
                .into_body()
                .read_to_string()
                .unwrap();
            let v: Value = serde_json::from_str(&body).unwrap();
            n += 1;
            assert_eq!(v["comparisons"], n);
        }
    }
    drop(server);
    let before = sql_json(&store, "SELECT count(*) AS n FROM comparisons");
    assert_eq!(before[0]["n"], n);

    let r = ran(facet()
        .current_dir(tmp.path())
        .args([
            "--config",
            config.to_str().unwrap(),
            "compare",
            "apply",
            &category,
            "--store",
            store.to_str().unwrap(),
        ])
        .output()
        .unwrap());
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("re-scored"), "{}", r.stdout);
    let report: Value =
        serde_json::from_str(&r.stdout[..r.stdout.rfind('}').unwrap() + 1]).unwrap();
    let cur = report["current"]["tech_sharpness"].as_f64().unwrap();
    let sug = report["suggested"]["tech_sharpness"].as_f64().unwrap();
    assert!(sug > 2.0 * cur, "sharpness decided every choice: {report}");
    assert!(
        report["agreement_suggested"].as_f64().unwrap()
            >= report["agreement_current"].as_f64().unwrap(),
        "{report}"
    );
    // The file now holds the suggested weights for that category.
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let cat = written["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == category.as_str())
        .unwrap();
    assert_eq!(
        cat["weights"]["tech_sharpness_percent"].as_f64().unwrap(),
        sug,
        "{cat}"
    );
    let total: f64 = cat["weights"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert_eq!(total, 100.0);
}

/// `GET url` → status and JSON body (error statuses too).
pub(crate) fn http_json(url: &str) -> (u16, Value) {
    let r = ureq::get(url)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = r.status().as_u16();
    let body = r.into_body().read_to_string().unwrap();
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"));
    (status, v)
}

fn stems(v: &Value) -> Vec<String> {
    v["photos"]
        .as_array()
        .unwrap_or_else(|| panic!("no photos: {v}"))
        .iter()
        .map(|p| {
            Path::new(p["path"].as_str().unwrap())
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Semantic search end to end: `facet run` with the dual encoder of
/// `zero_shot.rs` (real ONNX files, a real tokenizer.json), then `facet
/// serve --pipeline` embeds the query with the pipeline's text tower and
/// ranks the photos by cosine against their stored image embeddings.
#[test]
fn gallery_semantic_search_with_the_pipelines_text_tower() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (pipeline, photos, config) = crate::zero_shot::dual_encoder_library(t);
    let store = t.join("store");
    let r = run_into(
        facet_ort(),
        Some(pipeline.to_str().unwrap()),
        &photos,
        &store,
        &["--config", config.to_str().unwrap()],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);

    let server = Server::start_with(
        facet_ort(),
        &store,
        &config,
        &["--pipeline", pipeline.to_str().unwrap()],
    );
    let (s, c) = http_json(&format!("{}/api/config", server.url));
    assert_eq!(s, 200);
    assert_eq!(c["search"]["available"], true, "{c}");
    assert_eq!(c["search"]["column"], "embedding", "{c}");
    // Each colour word finds its photo first; similarities descend.
    for (q, first) in [
        ("red", "red"),
        ("green", "green"),
        ("blue", "blue"),
        ("crimson", "red"),
    ] {
        let (s, v) = http_json(&format!("{}/api/search?q={q}", server.url));
        assert_eq!(s, 200, "{q}: {v}");
        let found = stems(&v);
        assert_eq!(found.len(), 5, "{q}: {v}");
        assert_eq!(found[0], first, "{q}: {found:?}");
        let sims: Vec<f64> = v["photos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["similarity"].as_f64().unwrap())
            .collect();
        assert!(sims.windows(2).all(|w| w[0] >= w[1]), "{q}: {sims:?}");
        assert!(sims[0] > 0.9, "{q}: {sims:?}");
    }
    // "a photo of red" against the red photo: cos = 1 / √1.09.
    let (_, v) = http_json(&format!("{}/api/search?q=red&limit=2", server.url));
    assert_eq!(stems(&v).len(), 2);
    let sim = v["photos"][0]["similarity"].as_f64().unwrap();
    assert!((sim - 1.0 / 1.09f64.sqrt()).abs() < 1e-3, "{sim}");
    // The filters of /api/photos apply.
    let (_, v) = http_json(&format!("{}/api/search?q=red&category=default", server.url));
    assert!(!stems(&v).contains(&"red".to_string()), "{v}");
    let (s, v) = http_json(&format!("{}/api/search", server.url));
    assert_eq!((s, v["param"].clone()), (400, json!("q")), "{v}");
    let (s, v) = http_json(&format!("{}/api/search?q=red&limit=x", server.url));
    assert_eq!((s, v["param"].clone()), (400, json!("limit")), "{v}");

    // In the browser: the search box, the results most similar first.
    if shared_photos().is_some() {
        chromium();
        let mut b = Browser::launch();
        b.navigate(&format!("{}/", server.url));
        b.wait("document.body.dataset.ready === '1'", "the gallery");
        b.wait(
            "!document.getElementById('search-form').hidden",
            "the search box",
        );
        b.eval(
            "(() => { const i = document.getElementById('search'); i.value = 'blue'; \
             document.getElementById('search-form').requestSubmit(); return true; })()",
        );
        b.wait(
            "document.getElementById('search-view').dataset.ready === '1' && location.search.includes('q=blue') \
             && document.querySelectorAll('[data-testid=search-result]').length === 5",
            "the search results",
        );
        let first = b.eval("document.querySelector('[data-testid=search-result]').dataset.path");
        assert!(first.as_str().unwrap().ends_with("blue.png"), "{first}");
        // No thumbnail stage in this pipeline: the PNGs themselves.
        b.wait(
            "[...document.querySelectorAll('[data-testid=search-result] img')].every(i => i.complete && i.naturalWidth > 0)",
            "the result images",
        );
        b.screenshot(&screenshots_dir().join("14-search.png"));
    }
    drop(server);

    // Without the pipeline: no text encoder, and the route says so.
    let server = Server::start(&store, &config);
    let (_, c) = http_json(&format!("{}/api/config", server.url));
    assert_eq!(c["search"]["available"], false, "{c}");
    let (s, v) = http_json(&format!("{}/api/search?q=red", server.url));
    assert_eq!(s, 404, "{v}");
    assert!(v["error"].as_str().unwrap().contains("--pipeline"), "{v}");
}

/// Two people as `facet faces cluster` would write them: "Ann" in `photos[0]`
/// and `photos[1]`, an unnamed person in `photos[2]`; face crops are JPEGs.
fn write_people(store: &Path, photos: &[String]) {
    use arrow::array::{BinaryArray, BooleanArray, Int32Array, Int64Array, StringArray};
    use std::sync::Arc;
    let faces_t = facet_schemas::faces();
    let crops: Vec<Vec<u8>> = (0..3).map(|i| jpeg(64, 64, 7 + i)).collect();
    let faces = batch(
        &faces_t,
        vec![
            (
                "face_id",
                Arc::new(StringArray::from_iter_values(
                    photos[..3].iter().map(|p| format!("{p}#0")),
                )),
            ),
            (
                "path",
                Arc::new(StringArray::from_iter_values(photos[..3].iter().cloned())),
            ),
            ("face_index", Arc::new(Int32Array::from(vec![0, 0, 0]))),
            (
                "thumbnail",
                Arc::new(BinaryArray::from_iter_values(crops.iter())),
            ),
            ("person_id", Arc::new(Int64Array::from(vec![1, 1, 2]))),
        ],
    );
    let persons_t = facet_schemas::persons();
    let persons = batch(
        &persons_t,
        vec![
            ("person_id", Arc::new(Int64Array::from(vec![1, 2]))),
            ("name", Arc::new(StringArray::from(vec![Some("Ann"), None]))),
            (
                "representative_face",
                Arc::new(StringArray::from(vec![
                    format!("{}#0", photos[0]),
                    format!("{}#0", photos[2]),
                ])),
            ),
            ("face_count", Arc::new(Int64Array::from(vec![2, 1]))),
            ("hidden", Arc::new(BooleanArray::from(vec![false, false]))),
        ],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = facet_store::Store::open(store).unwrap();
    rt.block_on(async {
        store.replace(&faces_t, faces).await.unwrap();
        store.replace(&persons_t, persons).await.unwrap();
    });
}

/// Culling by groups in the page: the HDR pairs of `../shared/photos/` are
/// bursts and a byte copy a duplicate. The toolbar counts what is hidden
/// and shows it with reasons; a burst opened from its "best of 2" badge,
/// the other frame made the best with the keyboard (B), the choice stored
/// and kept after a reload; Back closes the photo. Desktop and phone.
#[test]
fn gallery_culling_by_groups_in_headless_chromium() {
    let Some(shared) = shared_photos() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let cams = shared.join("cameras/jpg");
    copy_photos(&cams, &HDR_PAIRS, &lib);
    copy_photos(&cams, &["gps/DSCN0010.jpg", "Canon_40D.jpg"], &lib);
    std::fs::copy(lib.join("DSCN0010.jpg"), lib.join("copy_DSCN0010.jpg")).unwrap();
    // A file no decoder reads: listed in the gallery's failure notice.
    std::fs::write(lib.join("broken.jpg"), b"\xFF\xD8\xFF\xE0 not a JPEG").unwrap();
    let store = analysed_store(tmp.path(), &lib);
    let canon_burst = sql_json(
        &store,
        "SELECT path, is_lead FROM groups WHERE kind = 'burst' AND path LIKE '%canon_hdr%' ORDER BY path",
    );
    assert_eq!(canon_burst.len(), 2, "{canon_burst:?}");
    let lead = |rows: &[serde_json::Map<String, Value>]| {
        rows.iter()
            .find(|r| r["is_lead"] == json!(true))
            .map(|r| r["path"].as_str().unwrap().to_string())
            .unwrap()
    };
    let auto_lead = lead(&canon_burst);
    let other = canon_burst
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .find(|p| *p != auto_lead)
        .unwrap();
    // What the defaults hide: burst and duplicate non-leads, blinks.
    let hidden = sql_json(
        &store,
        "SELECT count(*) AS n FROM photos WHERE is_burst_lead = false OR is_duplicate_lead = false OR is_blink = true",
    )[0]["n"]
        .as_i64()
        .unwrap();
    assert!(hidden >= 3, "two bursts and a duplicate: {hidden}");
    let all = 7;

    let config = tmp.path().join("gallery.json");
    std::fs::write(
        &config,
        r#"{"viewer": {"features": {"show_memories": true}}}"#,
    )
    .unwrap();
    let server = Server::start(&store, &config);
    let shots = screenshots_dir();
    let mut b = Browser::launch();
    for (device, (w, h, mobile)) in [("desktop", (1440, 900, false)), ("phone", (390, 844, true))] {
        b.viewport(w, h, mobile);
        b.navigate(&format!("{}/", server.url));
        b.wait(
            "document.body.dataset.ready === '1' && document.getElementById('grid').dataset.ready === '1'",
            "the grid",
        );
        let shown = b.wait(
            "Number(document.getElementById('grid').dataset.total)",
            "the count",
        );
        assert_eq!(shown, json!(all - hidden), "{device}");
        // The toolbar says how many are hidden; the toggle shows them, each with why.
        assert_eq!(
            b.eval("document.getElementById('show-hidden').dataset.count"),
            json!(hidden.to_string()),
            "{device}"
        );
        b.click("[data-testid=show-hidden]");
        b.wait(
            &format!(
                "location.search.includes('show_hidden') && document.getElementById('grid').dataset.ready === '1' \
                 && document.getElementById('grid').dataset.total === '{all}'"
            ),
            "every photo",
        );
        let reasons = b.eval(
            "[...document.querySelectorAll('[data-testid=card]')].filter(c => c.querySelector('[data-testid=card-hidden]')).map(c => [c.dataset.path, c.querySelector('[data-testid=card-hidden]').textContent])",
        );
        let reasons = reasons.as_array().unwrap();
        assert_eq!(reasons.len() as i64, hidden, "{reasons:?}");
        let why_other = reasons
            .iter()
            .find(|r| r[0] == json!(other))
            .unwrap_or_else(|| panic!("{other} hidden: {reasons:?}"));
        assert!(
            why_other[1].as_str().unwrap().contains("burst"),
            "{why_other}"
        );
        b.screenshot(&shots.join(format!("20-hidden-shown-{device}.png")));
        b.click("[data-testid=show-hidden]");
        b.wait(
            &format!(
                "!location.search.includes('show_hidden') && document.getElementById('grid').dataset.total === '{}'",
                all - hidden
            ),
            "the hidden photos hidden again",
        );
    }
    b.viewport(1440, 900, false);

    // Installable: Chromium's own checks find nothing missing in the
    // manifest, its icons load, and the service worker controls the page.
    let worker = b.wait(
        "navigator.serviceWorker.ready.then(r => r.active && r.active.scriptURL)",
        "the service worker",
    );
    assert!(worker.as_str().unwrap().ends_with("/sw.js"), "{worker}");
    let manifest = b.page("Page.getAppManifest", json!({}));
    assert_eq!(manifest["errors"], json!([]), "{manifest}");
    assert!(
        manifest["url"]
            .as_str()
            .unwrap()
            .ends_with("/manifest.webmanifest"),
        "{manifest}"
    );
    let installable = b.page("Page.getInstallabilityErrors", json!({}));
    assert_eq!(
        installable["installabilityErrors"],
        json!([]),
        "{installable}"
    );
    let icons = b.eval(
        "Promise.all([192, 512].map(s => new Promise(ok => { const i = new Image(); i.onload = () => ok([i.naturalWidth, i.naturalHeight]); i.onerror = () => ok(null); i.src = `/assets/icon-${s}.png`; })))",
    );
    assert_eq!(icons, json!([[192, 192], [512, 512]]));

    // The files that could not be analysed are said, with their reasons.
    b.wait(
        "document.getElementById('failures').dataset.total === '1' && !document.getElementById('failures').hidden",
        "the failure notice",
    );
    let reason = sql_json(&store, "SELECT reason FROM failures")[0]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    b.click("[data-testid=failures-summary]");
    let listed = b.eval("document.querySelector('[data-testid=failure]').textContent");
    assert_eq!(listed, json!(format!("broken.jpg \u{2014} {reason}")));

    // The burst's lead carries "Best of 2"; open it, then the other frame
    // from the group strip, and make that one the best with B.
    let badge = b.eval(&format!(
        "document.querySelector('[data-testid=card][data-path=' + CSS.escape({}) + '] [data-testid=card-group]')?.textContent",
        json!(auto_lead)
    ));
    assert_eq!(badge, json!("Best of 2"));
    b.click(&format!(
        "[data-testid=card][data-path=\"{}\"]",
        auto_lead.replace('"', "\\\"")
    ));
    b.wait(
        "document.getElementById('viewer').dataset.ready === '1' && document.getElementById('v-groups').dataset.ready === '1'",
        "the photo and its groups",
    );
    assert_eq!(
        b.eval("document.querySelector('[data-testid=group-burst]').dataset.lead"),
        json!(auto_lead)
    );
    let members = b.eval(
        "[...document.querySelectorAll('[data-testid=group-burst] [data-testid=group-member]')].map(m => [m.dataset.path, m.dataset.lead])",
    );
    assert_eq!(
        members,
        json!([[auto_lead, "true"], [other, "false"]]),
        "the lead first"
    );
    b.screenshot(&shots.join("21-burst-group.png"));
    b.click(&format!(
        "[data-testid=group-member][data-path=\"{}\"]",
        other.replace('"', "\\\"")
    ));
    b.wait(
        &format!(
            "document.getElementById('viewer').dataset.path === {} && document.getElementById('viewer').dataset.ready === '1'",
            json!(other)
        ),
        "the other frame",
    );
    b.key("b", "KeyB", 66);
    b.wait(
        &format!(
            "document.getElementById('v-groups').dataset.ready === '1' && document.querySelector('[data-testid=group-burst]')?.dataset.lead === {}",
            json!(other)
        ),
        "the new lead",
    );
    let stored = sql_json(
        &store,
        "SELECT path, is_lead FROM groups WHERE kind = 'burst' AND path LIKE '%canon_hdr%' ORDER BY path",
    );
    assert_eq!(lead(&stored), other, "stored: {stored:?}");
    let decided = sql_json(&store, "SELECT path, decision FROM group_decisions");
    assert_eq!(
        json!(decided),
        json!([{"path": other, "decision": "lead"}]),
        "{decided:?}"
    );
    let summary = b.eval("document.querySelector('[data-testid=group-burst] [data-testid=group-summary]').textContent");
    assert!(
        summary.as_str().unwrap().contains("chosen by you"),
        "{summary}"
    );
    b.screenshot(&shots.join("22-lead-chosen.png"));

    // Kept after a reload.
    b.page("Page.reload", json!({"ignoreCache": true}));
    b.wait(
        "document.body.dataset.ready === '1' && document.getElementById('viewer').dataset.ready === '1' \
         && document.getElementById('v-groups').dataset.ready === '1'",
        "the reloaded photo",
    );
    assert_eq!(
        b.eval("document.querySelector('[data-testid=group-burst]').dataset.lead"),
        json!(other)
    );

    // Back closes the photo (not the gallery), and the grid follows the choice.
    b.eval("history.back()");
    b.wait(
        "document.getElementById('viewer').hidden && !location.search.includes('photo=') && location.pathname === '/'",
        "the photo closed by Back",
    );
    b.wait(
        &format!(
            "document.getElementById('grid').dataset.ready === '1' && !!document.querySelector('[data-testid=card][data-path=' + CSS.escape({}) + ']') \
             && !document.querySelector('[data-testid=card][data-path=' + CSS.escape({}) + ']')",
            json!(other),
            json!(auto_lead)
        ),
        "the new lead in the grid, the old one hidden",
    );

    // Filters as chips: each filter set shows a chip, a chip's × removes its
    // filter, the empty state and "Clear all" remove every one.
    let set = |b: &mut Browser, id: &str, value: &str| {
        b.eval(&format!(
            "(() => {{ const s = document.getElementById({id}); if (s.type === 'checkbox') s.checked = true; \
             else s.value = {value}; s.dispatchEvent(new Event('change', {{bubbles: true}})); }})()",
            id = json!(id),
            value = json!(value)
        ));
    };
    let chips = |b: &mut Browser| {
        b.eval("[...document.querySelectorAll('[data-testid=chip]')].map(c => c.dataset.key)")
    };
    let shown = all - hidden;
    set(&mut b, "f-date-from", "2000-01-01");
    b.wait(
        "document.querySelector('[data-testid=chip][data-key=date_from]') && location.search.includes('date_from=2000-01-01') \
         && document.getElementById('grid').dataset.ready === '1'",
        "the date chip",
    );
    pick_in_filter(&mut b, "camera", "40d", "Canon EOS 40D");
    let canon = sql_json(
        &store,
        "SELECT count(*) AS n FROM photos WHERE camera_model = 'Canon EOS 40D' AND date_taken >= '2000-01-01'",
    )[0]["n"]
        .as_i64()
        .unwrap();
    assert_eq!(canon, 1);
    b.wait(
        "document.getElementById('grid').dataset.ready === '1' && document.getElementById('grid').dataset.total === '1'",
        "the camera's photo",
    );
    assert_eq!(chips(&mut b), json!(["camera", "date_from"]));
    let label = b.eval("document.querySelector('[data-testid=chip][data-key=camera]').textContent");
    assert!(label.as_str().unwrap().contains("Canon EOS 40D"), "{label}");
    b.screenshot(&shots.join("23-filter-chips.png"));
    // Back undoes the camera filter, Forward brings it back.
    b.eval("history.back()");
    b.wait(
        "!location.search.includes('camera=') && location.search.includes('date_from=') \
         && document.getElementById('grid').dataset.ready === '1' && document.getElementById('f-camera').value === '' \
         && !document.querySelector('[data-testid=chip][data-key=camera]')",
        "the camera filter undone by Back",
    );
    b.eval("history.forward()");
    b.wait(
        "location.search.includes('camera=') && document.getElementById('grid').dataset.ready === '1' \
         && document.getElementById('grid').dataset.total === '1' && !!document.querySelector('[data-testid=chip][data-key=camera]')",
        "the camera filter again after Forward",
    );
    b.click("[data-testid=chip][data-key=camera] [data-testid=chip-remove]");
    b.wait(
        "!location.search.includes('camera=') && !document.querySelector('[data-testid=chip][data-key=camera]') \
         && document.getElementById('f-camera').value === ''",
        "the camera filter removed",
    );
    assert_eq!(chips(&mut b), json!(["date_from"]));
    // Nothing rated: an empty grid that says how to get out of it.
    set(&mut b, "f-rating-min", "5");
    b.wait(
        "!document.getElementById('empty').hidden && document.getElementById('grid').dataset.total === '0'",
        "the empty state",
    );
    assert_eq!(chips(&mut b), json!(["rating_min", "date_from"]));
    b.click("[data-testid=empty-clear]");
    b.wait(
        &format!(
            "location.search === '' && document.getElementById('chips').hidden \
             && document.getElementById('grid').dataset.total === '{shown}'"
        ),
        "every filter cleared",
    );
    set(&mut b, "f-favorites", "");
    set(&mut b, "f-top-picks", "");
    b.wait(
        "document.querySelectorAll('[data-testid=chip]').length === 2 && document.querySelector('[data-testid=chips-clear]')",
        "two chips and Clear all",
    );
    b.click("[data-testid=chips-clear]");
    b.wait(
        &format!(
            "location.search === '' && document.getElementById('chips').hidden \
             && !document.getElementById('f-favorites').checked && document.getElementById('grid').dataset.total === '{shown}'"
        ),
        "Clear all",
    );

    // "On this day" for a day picked: the photos of that month and day in
    // earlier years.
    let taken = sql_json(
        &store,
        "SELECT path, date_taken FROM photos WHERE camera_model = 'Canon EOS 40D'",
    );
    let (path, date) = (
        taken[0]["path"].as_str().unwrap().to_string(),
        taken[0]["date_taken"].as_str().unwrap().to_string(),
    );
    let day = format!("2030{}", &date[4..10]);
    b.click("[data-testid=view-memories]");
    b.wait(
        "document.getElementById('memories').dataset.ready === '1'",
        "On this day",
    );
    set(&mut b, "mem-date", &day);
    b.wait(
        &format!(
            "location.search.includes('day={day}') && document.getElementById('memories').dataset.ready === '1' \
             && [...document.querySelectorAll('#mem-photos [data-testid=thumb]')].some(t => t.dataset.path === {})",
            json!(path)
        ),
        "the picked day's photos",
    );
    assert_eq!(
        b.eval("document.getElementById('mem-date').value"),
        json!(day)
    );
    b.screenshot(&shots.join("24-on-this-day.png"));

    // A phone: swipe down on a photo rejects it and moves on to the next.
    b.viewport(390, 844, true);
    b.navigate(&format!("{}/", server.url));
    b.wait(
        "document.body.dataset.ready === '1' && document.getElementById('grid').dataset.ready === '1'",
        "the grid on a phone",
    );
    let first = b.eval("document.querySelector('[data-testid=card]').dataset.path");
    b.click("[data-testid=card]");
    b.wait(
        "document.getElementById('viewer').dataset.ready === '1'",
        "the photo on a phone",
    );
    b.eval(
        "(() => { const s = document.querySelector('.stage'); \
           const t = (y) => new Touch({identifier: 1, target: s, clientX: 200, clientY: y}); \
           s.dispatchEvent(new TouchEvent('touchstart', {touches: [t(200)], changedTouches: [t(200)], bubbles: true})); \
           s.dispatchEvent(new TouchEvent('touchend', {touches: [], changedTouches: [t(420)], bubbles: true})); })()",
    );
    b.wait(
        &format!(
            "fetch('/api/photo?path=' + encodeURIComponent({first})).then(r => r.json()).then(d => d.rejected === true) \
             .then(r => r && document.getElementById('viewer').dataset.path !== {first})",
            first = first
        ),
        "the swiped photo rejected, the next one shown",
    );

    // The French interface: chosen with the picker, kept after a reload.
    b.viewport(1440, 900, false);
    b.navigate(&format!("{}/", server.url));
    b.wait(
        "document.body.dataset.ready === '1' && document.getElementById('grid').dataset.ready === '1' \
         && document.documentElement.lang === 'en'",
        "the English gallery",
    );
    set(&mut b, "lang", "fr");
    let french = "document.documentElement.lang === 'fr' && document.body.dataset.ready === '1' \
                  && document.getElementById('grid').dataset.ready === '1'";
    b.wait(french, "the French gallery");
    let text = |b: &mut Browser, selector: &str| {
        b.eval(&format!(
            "document.querySelector({})?.textContent.trim()",
            json!(selector)
        ))
    };
    assert_eq!(
        text(&mut b, "[data-testid=view-persons]"),
        json!("Personnes")
    );
    assert_eq!(
        text(&mut b, "[data-testid=view-memories]"),
        json!("Ce jour-là")
    );
    assert_eq!(text(&mut b, "label[for=f-camera]"), json!("Appareil"));
    assert_eq!(
        text(&mut b, "#sort option[value=date]"),
        json!("Date de prise de vue")
    );
    assert!(
        text(&mut b, "[data-testid=type-top-picks]")
            .as_str()
            .unwrap()
            .starts_with("Meilleures photos"),
    );
    let hidden_now = b.eval("document.getElementById('show-hidden').dataset.count");
    assert_eq!(
        text(&mut b, "[data-testid=show-hidden]"),
        json!(format!(
            "Afficher les masquées ({})",
            hidden_now.as_str().unwrap()
        ))
    );
    b.click("[data-testid=show-hidden]");
    b.wait(
        "location.search.includes('show_hidden') && document.getElementById('grid').dataset.ready === '1' \
         && !!document.querySelector('[data-testid=card-hidden]')",
        "the hidden photos, in French",
    );
    assert_eq!(
        text(&mut b, "[data-testid=chip][data-key=show_hidden]"),
        json!("Photos masquées affichées\u{00d7}")
    );
    let reasons = b.eval(
        "[...document.querySelectorAll('[data-testid=card-hidden]')].map(r => r.textContent).join(' | ')",
    );
    assert!(
        reasons
            .as_str()
            .unwrap()
            .contains("Pas la meilleure de sa rafale"),
        "{reasons}"
    );
    assert_eq!(
        text(&mut b, "[data-testid=count]"),
        json!(format!("{all} photos"))
    );
    b.screenshot(&shots.join("25-french-gallery.png"));
    // A photo: its group, breakdown and details in French.
    b.click(&format!(
        "[data-testid=card][data-path=\"{}\"]",
        other.replace('"', "\\\"")
    ));
    b.wait(
        "document.getElementById('viewer').dataset.ready === '1' && document.getElementById('v-groups').dataset.ready === '1'",
        "the photo in French",
    );
    let summary = text(
        &mut b,
        "[data-testid=group-burst] [data-testid=group-summary]",
    );
    assert!(
        summary
            .as_str()
            .unwrap()
            .starts_with("Rafale de 2 photos : meilleure choisie par vous"),
        "{summary}"
    );
    assert_eq!(
        text(&mut b, "[data-testid=group-lead]"),
        json!("Choisir comme meilleure")
    );
    assert_eq!(text(&mut b, "#v-breakdown th"), json!("Critère"));
    assert_eq!(
        text(&mut b, "#v-exif dt[data-key=camera]"),
        json!("Appareil")
    );
    let taken = text(&mut b, "#v-exif dt[data-key=taken] + dd");
    assert!(
        [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre"
        ]
        .iter()
        .any(|m| taken.as_str().unwrap_or("").contains(m)),
        "a date in French: {taken}"
    );
    assert_eq!(
        b.eval(
            "import('/assets/app.js').then(m => [m.categoryName('human_others'), m.metricName('tech_sharpness'), m.categoryName('my_own'), \
             m.critique([{kind: 'metric', metric: 'tech_sharpness', raw: 900, normalized: 8.2, weight_percent: 30, neutral: false}, \
                         {kind: 'metric', metric: 'exposure', raw: 8, normalized: 7.5, weight_percent: 20, neutral: false}], {width: 75, height: 100}), \
             m.tn('count.photos', 0), m.tn('count.photos', 2)])"
        ),
        json!([
            "Personnes (autres)",
            "Netteté",
            "My own",
            "Nette et bien exposée ; pénalisée par une faible résolution.",
            "0 photo",
            "2 photos"
        ])
    );
    b.screenshot(&shots.join("26-french-photo.png"));
    // Kept after a reload; `?lang=` overrides it for a visit, an unknown
    // language is ignored.
    b.page("Page.reload", json!({"ignoreCache": true}));
    b.wait(french, "French after a reload");
    assert_eq!(b.eval("document.getElementById('lang').value"), json!("fr"));
    b.navigate(&format!("{}/?lang=en", server.url));
    b.wait(
        "document.documentElement.lang === 'en' && document.body.dataset.ready === '1'",
        "?lang=en",
    );
    assert_eq!(text(&mut b, "[data-testid=view-persons]"), json!("People"));
    b.navigate(&format!("{}/?lang=xx", server.url));
    b.wait(french, "?lang=xx ignored: the French chosen");
    // Back to English with the picker; `?lang=fr` alone gives French.
    set(&mut b, "lang", "en");
    b.wait(
        "document.documentElement.lang === 'en' && document.body.dataset.ready === '1' && !location.search.includes('lang=')",
        "English again",
    );
    b.navigate(&format!("{}/?lang=fr", server.url));
    b.wait(french, "?lang=fr");
    assert_eq!(
        text(&mut b, "[data-testid=filters-toggle]"),
        json!("Filtres")
    );
    assert_eq!(
        text(&mut b, "[data-testid=view-persons]"),
        json!("Personnes")
    );
}

/// `POST /api/login` over HTTP: the status and the session cookie.
fn http_login(server: &Server, user: &str, password: &str) -> (u16, String) {
    let r = ureq::post(&format!("{}/api/login", server.url))
        .config()
        .http_status_as_error(false)
        .build()
        .header("Content-Type", "application/json")
        .send(json!({"username": user, "password": password}).to_string())
        .unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .unwrap_or("")
        .to_string();
    (r.status().as_u16(), cookie)
}

/// The status of `GET /api/photos` with the session `cookie`.
fn photos_status(server: &Server, cookie: &str) -> u16 {
    ureq::get(&format!("{}/api/photos", server.url))
        .config()
        .http_status_as_error(false)
        .build()
        .header("Cookie", cookie)
        .call()
        .unwrap()
        .status()
        .as_u16()
}

/// A member's account in the page (family NAS mode): log in through the
/// dialog, a wrong current password refused with the server's reason, the
/// password changed (the member's session on another device ends, this one
/// stays), then "log out everywhere" ends this one too and the page asks
/// to log in again; the new password is the one that works.
#[test]
fn gallery_account_password_and_logout_everywhere_in_headless_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("scoring_config.json");
    std::fs::write(&config, r#"{"viewer": {}}"#).unwrap();
    let store = tmp.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    let r = crate::users::user_cli(&config, &store, &["add", "alice"], "alice password");
    assert_eq!(r.status, 0, "{}", r.stderr);
    let server = Server::start(&store, &config);
    let (status, other_device) = http_login(&server, "alice", "alice password");
    assert_eq!(status, 200);

    let mut b = Browser::launch();
    b.navigate(&format!("{}/", server.url));
    b.wait(
        "document.getElementById('login').open && !document.getElementById('login-user').hidden",
        "the login dialog asking for a user name",
    );
    b.eval(
        "document.getElementById('login-user').value = 'alice'; \
         document.getElementById('login-password').value = 'alice password'; true",
    );
    b.click("[data-testid=login-submit]");
    b.wait(
        "!document.getElementById('account').hidden",
        "the account button",
    );
    b.click("[data-testid=account]");
    b.wait(
        "document.getElementById('account-dialog').open",
        "the account dialog",
    );
    let fill = |b: &mut Browser, current: &str, new: &str| {
        b.eval(&format!(
            "document.getElementById('account-message').hidden = true; \
             document.getElementById('current-password').value = {}; \
             document.getElementById('new-password').value = {}; true",
            json!(current),
            json!(new)
        ));
        b.click("[data-testid=change-password]");
        b.wait(
            "!document.getElementById('account-message').hidden && document.getElementById('account-message').textContent",
            "the account message",
        )
        .as_str()
        .unwrap()
        .to_string()
    };
    let refused = fill(&mut b, "not my password", "alice's new password");
    assert!(
        refused.contains("not changed") && refused.contains("wrong password"),
        "{refused}"
    );
    let changed = fill(&mut b, "alice password", "alice's new password");
    assert!(changed.contains("Password changed"), "{changed}");
    assert_eq!(
        photos_status(&server, &other_device),
        401,
        "the other device's session ended"
    );
    // This session is still alive: the page still works.
    assert_eq!(
        b.eval("fetch('/api/photos').then(r => r.status)"),
        json!(200)
    );

    b.click("[data-testid=logout-all]");
    b.wait(
        "document.getElementById('login') && document.getElementById('login').open",
        "the login dialog after logging out everywhere",
    );
    assert_eq!(
        b.eval("fetch('/api/photos').then(r => r.status)"),
        json!(401)
    );
    assert_eq!(http_login(&server, "alice", "alice password").0, 401);
    assert_eq!(http_login(&server, "alice", "alice's new password").0, 200);
    b.screenshot(&screenshots_dir().join("account.png"));
}

/// What the active slide's transition looks like: its class, its CSS
/// transition (property and duration) and its photo's animation.
const SLIDE_STYLE: &str = "(() => { const s = document.querySelector('#show-stage .slide.active'); if (!s) return null; \
     const cs = getComputedStyle(s), is = getComputedStyle(s.querySelector('img')); \
     return {cls: s.className, prop: cs.transitionProperty, dur: cs.transitionDuration, \
             anim: is.animationName, anim_dur: is.animationDuration, anim_state: is.animationPlayState}; })()";

/// A swipe with the finger (DevTools touch events) across the slideshow.
fn swipe(b: &mut Browser, from_x: f64, to_x: f64, y: f64) {
    b.page(
        "Input.dispatchTouchEvent",
        json!({"type": "touchStart", "touchPoints": [{"x": from_x, "y": y}]}),
    );
    for k in 1..=4 {
        let x = from_x + (to_x - from_x) * k as f64 / 4.0;
        b.page(
            "Input.dispatchTouchEvent",
            json!({"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}),
        );
    }
    b.page(
        "Input.dispatchTouchEvent",
        json!({"type": "touchEnd", "touchPoints": []}),
    );
}

#[test]
fn gallery_capsules_slideshow_in_headless_chromium() {
    let Some(shared) = shared_photos() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&shared, PHOTOS, &photos);
    let store = analysed_store(tmp.path(), &photos);
    // Seven photos: thresholds low enough for a few capsules, overlapping
    // ones kept, no geocoding.
    let config = tmp.path().join("gallery.json");
    std::fs::write(
        &config,
        r#"{"capsules": {"min_aggregate": 0, "max_photo_overlap": 1.0, "reverse_geocoding": false,
              "golden": {"percentile": 50}, "seasonal": {"min_photos": 2},
              "journey": {"min_photos": 3}, "seeded": {"min_photos": 3}},
            "viewer": {"features": {"show_capsules": true}}}"#,
    )
    .unwrap();
    let server = Server::start(&store, &config);
    let shots = screenshots_dir();
    let mut b = Browser::launch();
    b.viewport(1440, 900, false);
    b.navigate(&format!("{}/", server.url));
    b.wait("document.body.dataset.ready === '1'", "the gallery");

    // What the backend made of these photos: the best ones (Ken Burns) and
    // the geotagged place (slide in from the right), at least.
    let list = b.eval("fetch('/api/capsules').then(r => r.json())");
    let capsules = list["capsules"].as_array().unwrap().clone();
    let find = |kind: &str| {
        capsules
            .iter()
            .find(|c| c["type"] == json!(kind))
            .unwrap_or_else(|| panic!("no {kind} capsule: {list}"))
            .clone()
    };
    let golden = find("golden");
    let place = find("location");
    assert_eq!(golden["transition"], json!("kenburns"), "{golden}");
    assert_eq!(place["transition"], json!("slide"), "{place}");
    let golden_n = golden["count"].as_u64().unwrap();
    assert!(golden_n >= 3, "{golden}");

    // The Capsules tab: one card per capsule, with its cover, title and count.
    b.wait(
        "!document.getElementById('view-capsules').hidden",
        "the Capsules tab",
    );
    b.click("[data-testid=view-capsules]");
    b.wait(
        &format!(
            "location.search.includes('view=capsules') && document.getElementById('capsules').dataset.ready === '1' \
             && document.querySelectorAll('[data-testid=capsule]').length === {}",
            capsules.len()
        ),
        "the capsule cards",
    );
    let card = format!("[data-testid=capsule][data-id={}]", json!(golden["id"]));
    let text = b.eval(&format!(
        "document.querySelector({}).textContent",
        json!(card)
    ));
    let text = text.as_str().unwrap();
    assert!(
        text.contains(golden["title"].as_str().unwrap())
            && text.contains(&format!("{golden_n} photos")),
        "{text}"
    );
    b.wait(
        "[...document.querySelectorAll('[data-testid=capsule] img')].every(i => i.complete && i.naturalWidth > 0)",
        "the covers",
    );
    b.screenshot(&shots.join("27-capsules.png"));

    // Opening one plays its slideshow, a step in the history.
    b.click(&card);
    let shown = "document.getElementById('show').dataset.ready === '1' && !document.getElementById('show').hidden";
    b.wait(shown, "the slideshow");
    assert!(
        b.eval("location.search")
            .as_str()
            .unwrap()
            .contains(&format!("capsule={}", golden["id"].as_str().unwrap()))
    );
    assert_eq!(
        b.eval("document.getElementById('show').dataset.transition"),
        json!("kenburns")
    );
    let index = "Number(document.getElementById('show').dataset.index)";
    assert_eq!(b.eval(index), json!(0));
    // Ken Burns: a slow zoom on the photo over the whole slide.
    let style = b.eval(SLIDE_STYLE);
    assert!(
        style["cls"].as_str().unwrap().contains("t-kenburns")
            && style["anim"] == json!("kenburns")
            && style["anim_dur"] == json!("4.5s")
            && style["anim_state"] == json!("running"),
        "{style}"
    );
    b.wait(
        "(() => { const i = document.querySelector('#show-stage .slide.active img'); return i && i.complete && i.naturalWidth > 0; })()",
        "the first photo",
    );
    // It plays by itself: slide 2, then 3.
    b.wait(&format!("{index} === 1"), "the second slide");
    b.wait(
        "(() => { const i = document.querySelector('#show-stage .slide.active img'); return i && i.complete && i.naturalWidth > 0; })()",
        "the second photo",
    );
    // Mid-zoom.
    std::thread::sleep(Duration::from_millis(1500));
    b.screenshot(&shots.join("28-capsule-kenburns.png"));
    b.wait(&format!("{index} === 2"), "the third slide");
    let caption = b.eval("document.getElementById('show-counter').textContent");
    assert_eq!(caption, json!(format!("3 of {golden_n}")));

    // Keys: Space pauses (nothing moves on, the zoom stops), → and ← step,
    // Space plays again, Escape closes.
    b.key(" ", "Space", 32);
    b.wait(
        "document.getElementById('show').dataset.paused === '1'",
        "paused",
    );
    assert_eq!(
        b.eval("document.getElementById('show-pause').getAttribute('aria-pressed')"),
        json!("true")
    );
    assert_eq!(b.eval(SLIDE_STYLE)["anim_state"], json!("paused"));
    std::thread::sleep(Duration::from_millis(5500));
    assert_eq!(b.eval(index), json!(2), "paused, yet it moved on");
    b.key("ArrowRight", "ArrowRight", 39);
    b.wait(
        &format!("{index} === {}", 3 % golden_n),
        "the next slide (→)",
    );
    b.key("ArrowLeft", "ArrowLeft", 37);
    b.wait(&format!("{index} === 2"), "the previous slide (←)");
    assert_eq!(
        b.eval("document.getElementById('show').dataset.paused"),
        json!("1")
    );
    b.key(" ", "Space", 32);
    b.wait(
        "document.getElementById('show').dataset.paused === '0'",
        "playing again",
    );
    b.wait(
        &format!("{index} === {}", 3 % golden_n),
        "the slideshow moving on once played again",
    );
    b.key("Escape", "Escape", 27);
    b.wait(
        "document.getElementById('show').hidden && !location.search.includes('capsule=') \
         && location.search.includes('view=capsules')",
        "the slideshow closed (Esc)",
    );

    // Another capsule, another transition: the place slides in from the
    // right in 500 ms. Back closes it.
    b.click(&format!(
        "[data-testid=capsule][data-id={}]",
        json!(place["id"])
    ));
    b.wait(shown, "the place's slideshow");
    assert_eq!(
        b.eval("document.getElementById('show').dataset.transition"),
        json!("slide")
    );
    let style = b.eval(SLIDE_STYLE);
    assert!(
        style["cls"].as_str().unwrap().contains("t-slide")
            && style["prop"] == json!("transform")
            && style["dur"] == json!("0.5s")
            && style["anim"] == json!("none"),
        "{style}"
    );
    b.wait(
        "(() => { const i = document.querySelector('#show-stage .slide.active img'); return i && i.complete && i.naturalWidth > 0; })()",
        "the place's first photo",
    );
    b.click("[data-testid=slideshow-next]");
    // The previous slide leaves while the next one slides in.
    b.wait(
        &format!("{index} === 1 && !!document.querySelector('#show-stage .slide.t-slide.leaving')"),
        "the next slide (button) sliding in",
    );
    b.screenshot(&shots.join("29-capsule-slide.png"));
    // A crossfade capsule, when the draw made one.
    if let Some(fade) = capsules
        .iter()
        .find(|c| c["transition"] == json!("crossfade"))
    {
        b.eval("history.back()");
        b.wait(
            "document.getElementById('show').hidden && !location.search.includes('capsule=')",
            "the slideshow closed (Back)",
        );
        b.click(&format!(
            "[data-testid=capsule][data-id={}]",
            json!(fade["id"])
        ));
        b.wait(shown, "the crossfade slideshow");
        let style = b.eval(SLIDE_STYLE);
        assert!(
            style["cls"].as_str().unwrap().contains("t-crossfade")
                && style["prop"] == json!("opacity")
                && style["dur"] == json!("0.3s"),
            "{style}"
        );
    }
    b.eval("history.back()");
    b.wait(
        "document.getElementById('show').hidden && !location.search.includes('capsule=')",
        "the slideshow closed (Back)",
    );

    // An unknown capsule in the URL: the error, asked once, no slideshow.
    b.navigate(&format!("{}/?view=capsules&capsule=nope", server.url));
    b.wait(
        "document.body.dataset.ready === '1' && !document.getElementById('error').hidden",
        "the error message",
    );
    std::thread::sleep(Duration::from_secs(2));
    let asked = b.eval(
        "performance.getEntriesByType('resource').filter(e => e.name.includes('/api/capsule?')).length",
    );
    assert_eq!(asked, json!(1), "/api/capsule asked {asked} times");
    let message = b.eval("document.getElementById('error').textContent");
    assert!(
        message.as_str().is_some_and(|m| m.contains("nope")),
        "{message}"
    );
    assert_eq!(
        b.eval("document.getElementById('show').hidden"),
        json!(true)
    );

    // A phone: the cards in two columns, the slideshow full screen, swipes.
    b.viewport(390, 844, true);
    b.navigate(&format!("{}/?view=capsules", server.url));
    b.wait(
        &format!(
            "document.body.dataset.ready === '1' && document.getElementById('capsules').dataset.ready === '1' \
             && document.querySelectorAll('[data-testid=capsule]').length === {}",
            capsules.len()
        ),
        "the capsule cards on a phone",
    );
    b.click(&card);
    b.wait(shown, "the slideshow on a phone");
    let fits = b.eval(
        "['show-close', 'show-prev', 'show-pause', 'show-next'].every(id => { \
           const r = document.getElementById(id).getBoundingClientRect(); \
           return r.width >= 40 && r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth; })",
    );
    assert_eq!(fits, json!(true), "the controls within 390×844");
    b.click("[data-testid=slideshow-pause]");
    b.wait(
        "document.getElementById('show').dataset.paused === '1'",
        "paused (button)",
    );
    b.page(
        "Emulation.setTouchEmulationEnabled",
        json!({"enabled": true, "maxTouchPoints": 1}),
    );
    swipe(&mut b, 330.0, 60.0, 420.0);
    b.wait(&format!("{index} === 1"), "the next slide (swipe left)");
    b.wait(
        "(() => { const i = document.querySelector('#show-stage .slide.active img'); return i && i.complete && i.naturalWidth > 0; })()",
        "the swiped-to photo",
    );
    std::thread::sleep(Duration::from_millis(400));
    b.screenshot(&shots.join("30-phone-capsule.png"));
    swipe(&mut b, 60.0, 330.0, 420.0);
    b.wait(
        &format!("{index} === 0"),
        "the previous slide (swipe right)",
    );
    b.click("[data-testid=slideshow-close]");
    b.wait(
        "document.getElementById('show').hidden && !location.search.includes('capsule=')",
        "the slideshow closed on a phone",
    );
}
