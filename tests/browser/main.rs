//! The dashboard in a real browser: headless Chromium, driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`), against the real daemon (`switchboard serve`) dialling the
//! Bland simulator, which runs in the test process.
//!
//! - the page asks for the API's token (a wrong one is refused), takes it from the URL's
//!   fragment too and wipes it from the address bar;
//! - every figure it shows equals the API's answer, formatted (`GET /api/v1/campaigns/{id}` for
//!   a campaign's summary, `GET /api/v1/dashboard` for the rest);
//! - a campaign name made of markup is shown as text and runs nothing;
//! - Pause and Resume on the page change the campaign, as the API then says;
//! - it fits a phone's width; screenshots of both widths go to `target/browser/`.
//!
//! Built only with `--features browser-test` (`.ci/run` runs it, installing the two packages
//! when they are missing), so a plain `cargo test` needs no browser. Chromium is kept off the
//! network: no DNS, no background services; it only reaches the daemon on 127.0.0.1.

#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::process::Running;
use common::{TestEnv, eventually, eventually_showing};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use switchboard::secret::Secret;
use switchboard::sim::{SimConfig, SimHandle, Simulator};

const API_KEY: &str = "sk-browser-test-7c1d";
const TOKEN: &str = "tok-browser-test-94be02";
const WEBHOOK_SECRET: &str = "whsec-browser-test-5e21";
/// A campaign name that would run script if the page ever put it in as markup.
const HOSTILE_NAME: &str = r#"Renewals <img src=x onerror="document.title='owned'"> & "friends""#;

/// A campaign open every day 08:00-21:00 in each recipient's zone column, one call each.
fn spec(id: &str, name: &str, limits: &str) -> String {
    format!(
        r#"id = "{id}"
name = {name}
[call]
task = "Hello {{{{first_name}}}}, this is a test call."
[schedule]
timezone = "America/New_York"
zone_policy = "column"
hours = {{ "mon-sun" = "08:00-21:00" }}
[retry]
max_attempts = 1
[limits]
{limits}
"#,
        // A JSON string is a TOML basic string.
        name = serde_json::to_string(name).unwrap()
    )
}

/// `n` recipients in `zone`, numbered from `first` (unique valid US numbers).
fn recipients(n: usize, first: usize, zone: &str) -> String {
    let mut csv = String::from("first_name,phone,timezone\n");
    for i in first..first + n {
        csv.push_str(&format!("R{i},{}-555-{:04},{zone}\n", ["212", "312", "415"][i % 3], 3000 + i));
    }
    csv
}

// -------------------------------------------------------------------------------------------
// The daemon and its API

struct Daemon {
    process: Running,
    base: String,
    http: reqwest::Client,
    sim: SimHandle,
    _env: TestEnv,
}

impl Daemon {
    async fn start() -> Daemon {
        let env = TestEnv::new();
        // Outcomes by webhook: the simulator posts to the daemon's port, picked beforehand.
        let sim = Simulator::start(SimConfig {
            api_key: Some(Secret::new(API_KEY)),
            webhook_secret: Some(Secret::new(WEBHOOK_SECRET)),
            requests_per_minute: 0,
            max_concurrent: 0,
            speed: 600.0,
            latency: Duration::from_millis(1),
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = format!(
            "[store]\npath = {db:?}\n[bland]\nbase_url = \"{url}\"\nrequests_per_minute = 100000\n\
             [account]\ncalls_per_minute = 600\ncalls_per_hour = 20000\ncalls_per_day = 100000\nmax_concurrent = 50\n\
             max_spend_usd_per_day = 5000\n\
             [http]\npublic_url = \"http://127.0.0.1:{port}\"\n",
            db = common::path_str(&env.db),
            url = sim.base_url(),
        );
        std::fs::write(&env.config, config).unwrap();
        let process = Running::start(
            &env,
            &["serve", "--listen", &format!("127.0.0.1:{port}")],
            &[("BLAND_API_KEY", API_KEY), ("BLAND_WEBHOOK_SECRET", WEBHOOK_SECRET), ("SWITCHBOARD_API_TOKEN", TOKEN)],
            "daemon.log",
        );
        let base = format!("http://{}", process.addr);
        // Bounded: a daemon that stops answering fails the test instead of hanging it.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        Daemon { process, base, http, sim, _env: env }
    }

    /// The API's answer to `METHOD path` (with the token), insisting on a 2xx.
    async fn api(&self, method: reqwest::Method, path: &str, body: Option<(&str, String)>) -> Value {
        let mut req = self.http.request(method.clone(), format!("{}/api/v1{path}", self.base)).bearer_auth(TOKEN);
        if let Some((content_type, body)) = body {
            req = req.header("Content-Type", content_type).body(body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}\nthe daemon's log:\n{}", self.process.log());
        serde_json::from_str(&text).unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        self.api(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Option<(&str, String)>) -> Value {
        self.api(reqwest::Method::POST, path, body).await
    }

    /// Creates, fills and starts a campaign.
    async fn campaign(&self, spec: &str, csv: String) {
        let id = self.post("/campaigns", Some(("application/toml", spec.to_string()))).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        self.post(&format!("/campaigns/{id}/imports"), Some(("text/csv", csv))).await;
        self.post(&format!("/campaigns/{id}/start"), None).await;
    }

    /// Polls the campaign's summary until `done` says yes.
    async fn campaign_until(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        eventually_showing(
            what,
            Duration::from_secs(60),
            async || Some(self.get(&format!("/campaigns/{id}")).await).filter(|s| done(s)),
            async || self.get(&format!("/campaigns/{id}")).await.to_string(),
        )
        .await
    }
}

// -------------------------------------------------------------------------------------------
// The browser

/// `chromedriver` with the Chromium it starts, in a process group of their own: dropping it
/// kills the group, so a failing test leaves no browser behind.
struct Browser {
    driver: Child,
    client: Option<Client>,
    profile: tempfile::TempDir,
}

/// The first of `names` found on `PATH`.
fn find_program(names: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("none of {names:?} is installed: apt-get install chromium chromium-driver (.ci/run does)")
        })
}

impl Browser {
    async fn start() -> Browser {
        use std::os::unix::process::CommandExt;
        let chromium = find_program(&["chromium", "chromium-browser"]);
        let chromedriver = find_program(&["chromedriver"]);
        // A free loopback port for chromedriver (it cannot report one it picked itself).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser { driver, client: None, profile };
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        eventually("chromedriver is ready", Duration::from_secs(30), async || {
            let status: Value = http.get(format!("{url}/status")).send().await.ok()?.json().await.ok()?;
            (status["value"]["ready"] == true).then_some(())
        })
        .await;
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        // Bounded page loads and scripts: a stuck page fails the test instead of hanging it.
        caps.insert("timeouts".into(), json!({"pageLoad": 20_000, "script": 10_000, "implicit": 0}));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox", // as root, in a container
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", browser.profile.path().display()),
                    // Off the network: no name is resolved (the daemon is an IP address), no
                    // background service starts.
                    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                    "--no-proxy-server",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-extensions",
                    "--disable-default-apps",
                    "--no-first-run",
                    "--disable-breakpad",
                    "--disable-crash-reporter",
                    "--no-default-browser-check",
                    "--hide-scrollbars",
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector).capabilities(caps).connect(&url).await.expect("a WebDriver session");
        browser.client = Some(client);
        browser
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a session")
    }

    /// Ends the session (the browser quits), then chromedriver.
    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            client.close().await.unwrap();
        }
    }

    /// Runs `script` in the page and returns what it returns.
    async fn eval(&self, script: &str) -> Value {
        self.client().execute(script, vec![]).await.unwrap()
    }

    /// Every figure on the page by its key: `{"campaigns": {id: {key: text}}, "account": {key: text}}`.
    async fn figures(&self) -> Value {
        self.eval(
            "const figures = (root) => Object.fromEntries([...root.querySelectorAll('[data-k]')].map((e) => [e.dataset.k, e.textContent]));
             const campaigns = {};
             for (const c of document.querySelectorAll('[data-campaign]')) campaigns[c.dataset.campaign] = figures(c);
             return { campaigns, account: figures(document.getElementById('account')) };",
        )
        .await
    }

    async fn displayed(&self, css: &str) -> bool {
        match self.client().find(Locator::Css(css)).await {
            Ok(e) => e.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    async fn until_displayed(&self, what: &str, css: &str) {
        eventually(what, Duration::from_secs(20), async || self.displayed(css).await.then_some(())).await;
    }

    /// A PNG of the whole page at `width` CSS pixels, in `path`.
    async fn screenshot(&self, width: u32, path: &Path) {
        let c = self.client();
        c.set_window_size(width, 900).await.unwrap();
        // The window is taller than the page's viewport by the browser's own frame.
        let sizes =
            self.eval("return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight];").await;
        let height = sizes[0].as_u64().unwrap() + sizes[1].as_u64().unwrap_or(0);
        c.set_window_size(width, u32::try_from(height).unwrap().clamp(600, 8000)).await.unwrap();
        let png = c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and the browser it started, each by its own id (procps'
        // `kill` with a negative id is not to be trusted: 4.0.2 may read it as -1, everyone).
        let group = self.driver.id();
        let members: Vec<String> =
            process_group(group).into_iter().filter(|p| *p != group).map(|p| p.to_string()).collect();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if !members.is_empty() {
            let _ = Command::new("kill").arg("-KILL").args(&members).status();
        }
    }
}

/// The processes whose process group is `group` (from `/proc/PID/stat`: the field after the
/// parenthesised name is the state, then the parent, then the group).
fn process_group(group: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let fields: Vec<&str> =
                stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
            fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(group)
        })
        .collect()
}

// -------------------------------------------------------------------------------------------
// What the page should show: the API's answers, formatted as the page formats them

/// A figure as the page should show it.
#[derive(Debug, Clone, PartialEq)]
enum Shown {
    Text(String),
    /// A number shown with `decimals` decimals (and `$` or `%` around it).
    Rounded {
        value: f64,
        decimals: i32,
    },
}

impl Shown {
    fn matches(&self, text: &str) -> bool {
        match self {
            Shown::Text(t) => t == text,
            Shown::Rounded { value, decimals } => {
                let digits = text.trim_start_matches('$').trim_end_matches('%').replace(',', "");
                digits.split_once('.').is_some_and(|(_, d)| d.len() == *decimals as usize)
                    && digits.parse::<f64>().is_ok_and(|v| (v - value).abs() <= 0.5 * 10f64.powi(-decimals) + 1e-9)
            }
        }
    }
}

/// `1234567` as `1,234,567`.
fn int(v: &Value) -> Shown {
    let n = v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"));
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    Shown::Text(if n < 0 { format!("-{out}") } else { out })
}

/// An instant as `2026-12-01 14:05 UTC`.
fn time(v: &Value) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().to_utc();
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn text(s: impl Into<String>) -> Shown {
    Shown::Text(s.into())
}

/// The figures of one campaign's card: its summary (`GET /api/v1/campaigns/{id}`) and its live
/// figures (from `GET /api/v1/dashboard`).
fn campaign_card(summary: &Value, live: &Value) -> BTreeMap<String, Shown> {
    let mut m = BTreeMap::new();
    m.insert("name".into(), text(summary["name"].as_str().unwrap()));
    m.insert("state".into(), text(summary["state"].as_str().unwrap()));
    m.insert("total_jobs".into(), int(&summary["total_jobs"]));
    for map in ["counts", "outcomes", "calls"] {
        for (k, v) in summary[map].as_object().unwrap() {
            m.insert(format!("{map}.{k}"), int(v));
        }
    }
    for rate in ["answer_rate", "voicemail_rate"] {
        m.insert(rate.into(), Shown::Rounded { value: 100.0 * summary[rate].as_f64().unwrap(), decimals: 1 });
    }
    for cap in live["caps"].as_array().unwrap() {
        let name = cap["cap"].as_str().unwrap();
        m.insert(format!("cap.{name}.used"), int(&cap["used"]));
        let limit = if cap["limit"].is_null() { text("no cap") } else { int(&cap["limit"]) };
        m.insert(format!("cap.{name}.limit"), limit);
    }
    let q = &summary["queue"];
    if !q.is_null() {
        for k in ["dialable_now", "waiting_for_retry", "waiting_for_start"] {
            m.insert(format!("queue.{k}"), int(&q[k]));
        }
        m.insert("queue.held_by_cap".into(), text(q["held_by_cap"].as_str().unwrap_or("none")));
        let finish =
            if q["forecast_finish"].is_null() { "not within 60 days".into() } else { time(&q["forecast_finish"]) };
        m.insert("queue.forecast_finish".into(), text(finish));
        for z in q["open_zones"].as_array().unwrap() {
            m.insert(format!("zone.open.{}", z["zones"].as_str().unwrap()), int(&z["jobs"]));
        }
        for z in q["waiting_for_window"].as_array().unwrap() {
            let key = format!("{}/{}", z["zones"].as_str().unwrap(), z["regions"].as_str().unwrap());
            m.insert(format!("zone.wait.{key}"), int(&z["jobs"]));
            m.insert(format!("zone.next.{key}"), text(z["next_opening_local"].as_str().unwrap_or("never")));
        }
    }
    m.insert("errors.failed_sends".into(), int(&summary["recent"]["failed_sends"]));
    m.insert("errors.rate_limited".into(), int(&live["errors"]["rate_limited"]));
    for (i, e) in live["errors"]["latest"].as_array().unwrap().iter().enumerate() {
        m.insert(format!("errors.latest.{i}"), text(format!("{} {}", time(&e["at"]), e["error"].as_str().unwrap())));
    }
    for k in ["calls_usd", "analysis_usd"] {
        m.insert(format!("spend.{k}"), Shown::Rounded { value: live["spend"][k].as_f64().unwrap(), decimals: 2 });
    }
    m.insert(
        "spend.spent_usd".into(),
        Shown::Rounded { value: summary["spend"]["spent_usd"].as_f64().unwrap(), decimals: 2 },
    );
    if let Some(spent) = summary["spend"]["account_spent_usd_24h"].as_f64() {
        m.insert("spend.account_spent_usd_24h".into(), Shown::Rounded { value: spent, decimals: 2 });
    }
    m
}

fn account_strip(dashboard: &Value) -> BTreeMap<String, Shown> {
    let mut m = BTreeMap::new();
    for cap in dashboard["account"].as_array().unwrap() {
        let name = cap["cap"].as_str().unwrap();
        m.insert(format!("account.cap.{name}.used"), int(&cap["used"]));
        let limit = if cap["limit"].is_null() { text("no cap") } else { int(&cap["limit"]) };
        m.insert(format!("account.cap.{name}.limit"), limit);
    }
    m
}

/// Where the page and the API differ (empty: nowhere): keys shown without an answer, answers
/// not shown, and figures that differ.
fn differences(expected: &BTreeMap<String, Shown>, page: &Value) -> Vec<String> {
    let page = page.as_object().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for (k, want) in expected {
        match page.get(k).and_then(Value::as_str) {
            None => out.push(format!("{k}: not shown (API: {want:?})")),
            Some(shown) if !want.matches(shown) => out.push(format!("{k}: page `{shown}`, API {want:?}")),
            Some(_) => {}
        }
    }
    out.extend(page.keys().filter(|k| !expected.contains_key(*k)).map(|k| format!("{k}: shown, but not in the API")));
    out
}

/// The page's figures against the API's, read after them: the differences, or none.
async fn page_against_api(daemon: &Daemon, browser: &Browser, ids: &[&str]) -> Vec<String> {
    let mut summaries = BTreeMap::new();
    for id in ids {
        summaries.insert(*id, daemon.get(&format!("/campaigns/{id}")).await);
    }
    let dashboard = daemon.get("/dashboard").await;
    let page = browser.figures().await;
    let mut out = differences(&account_strip(&dashboard), &page["account"]);
    for id in ids {
        let live = dashboard["campaigns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["summary"]["id"] == *id)
            .map(|c| c["live"].clone())
            .unwrap_or_else(|| panic!("{id} is not on the dashboard's answer"));
        let expected = campaign_card(&summaries[id], &live);
        out.extend(differences(&expected, &page["campaigns"][id]).into_iter().map(|d| format!("{id}: {d}")));
    }
    out
}

// -------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_api_s_numbers_pauses_from_the_page_and_fits_a_phone() {
    let daemon = Daemon::start().await;
    // `finished`: four calls, then completed. `held`: two calls a day, so after two it is held by
    // that cap, with four recipients dialable in an open zone and three waiting in a closed one;
    // started during a 429 storm, so it has failed sends to show.
    let (open, closed) = (common::open_nanp_zone(), common::closed_nanp_zone());
    daemon.campaign(&spec("finished", HOSTILE_NAME, ""), recipients(4, 0, &open)).await;
    daemon.campaign_until("finished", "`finished` completes", |s| s["state"] == "completed").await;
    let csv = recipients(6, 10, &open) + recipients(3, 20, &closed).split_once('\n').unwrap().1;
    daemon.sim.start_rate_limit_storm(Duration::from_secs(3));
    daemon.campaign(&spec("held", "Held by its day cap", "calls_per_day = 2"), csv).await;
    let held = daemon
        .campaign_until("held", "`held` has made its two calls and waits for its cap", |s| {
            let in_flight = ["dialing", "in_call"].iter().map(|k| s["calls"][k].as_i64().unwrap_or(0)).sum::<i64>();
            in_flight == 0
                && s["queue"]["held_by_cap"].as_str().is_some()
                && s["counts"]["done"].as_i64().unwrap_or(0) + s["counts"]["failed"].as_i64().unwrap_or(0) == 2
        })
        .await;
    assert_eq!(held["queue"]["held_by_cap"], "campaign calls_per_day (2 of 2)");
    // The three in the closed zone may be in different states (area codes): their rows add up.
    let waiting: i64 =
        held["queue"]["waiting_for_window"].as_array().unwrap().iter().map(|w| w["jobs"].as_i64().unwrap()).sum();
    assert_eq!((held["queue"]["dialable_now"].as_i64(), waiting), (Some(4), 3));
    let storm = daemon.get("/dashboard").await["campaigns"][1]["live"]["errors"]["rate_limited"].as_i64().unwrap();
    assert!(storm > 0, "the storm's 429s are on the dashboard's answer");

    let browser = Browser::start().await;
    let c = browser.client();

    // Without a token the page asks for one, and says so when it is refused.
    c.goto(&format!("{}/", daemon.base)).await.unwrap();
    browser.until_displayed("the page asks for the token", "#token-form").await;
    assert!(!browser.displayed("[data-campaign]").await, "no campaign shown without the token");
    c.find(Locator::Id("token")).await.unwrap().send_keys("not-the-token").await.unwrap();
    c.find(Locator::Css("#token-form button")).await.unwrap().click().await.unwrap();
    browser.until_displayed("the page says the token was refused", "#token-why.error").await;
    // The right one opens it.
    c.find(Locator::Id("token")).await.unwrap().send_keys(TOKEN).await.unwrap();
    c.find(Locator::Css("#token-form button")).await.unwrap().click().await.unwrap();
    browser.until_displayed("the campaigns are shown", "[data-campaign=held]").await;
    // Forgotten, the page asks again; handed over in the fragment, it is taken and wiped from
    // the address bar (a fresh load: a fragment alone does not reload a page).
    c.find(Locator::Id("forget")).await.unwrap().click().await.unwrap();
    browser.until_displayed("the page asks for the token again", "#token-form").await;
    c.goto("about:blank").await.unwrap();
    c.goto(&format!("{}/#token={TOKEN}", daemon.base)).await.unwrap();
    browser.until_displayed("the campaigns are shown with the fragment's token", "[data-campaign=held]").await;
    let url = c.current_url().await.unwrap();
    assert!(!url.as_str().contains(TOKEN) && url.fragment().is_none(), "{url}");

    // Every figure shown is the API's.
    let ids = ["finished", "held"];
    eventually_showing(
        "the page shows the API's numbers",
        Duration::from_secs(20),
        async || page_against_api(&daemon, &browser, &ids).await.is_empty().then_some(()),
        async || page_against_api(&daemon, &browser, &ids).await.join("\n"),
    )
    .await;
    let page = browser.figures().await;
    assert_eq!(page["campaigns"]["finished"]["name"], HOSTILE_NAME, "the name is shown as its text");
    assert_eq!(page["campaigns"]["held"]["queue.held_by_cap"], "campaign calls_per_day (2 of 2)");
    assert_eq!(browser.eval("return document.title;").await, "switchboard", "no script of the name ran");
    assert_eq!(browser.eval("return document.querySelectorAll('main img').length;").await, 0);

    // Screenshots: a desktop and a phone (390 CSS pixels, no sideways scrolling).
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    browser.screenshot(1280, &shots.join("dashboard.png")).await;
    browser.screenshot(390, &shots.join("dashboard-phone.png")).await;
    let overflow =
        browser.eval("return document.documentElement.scrollWidth - document.documentElement.clientWidth;").await;
    assert_eq!(overflow, 0, "the page is wider than a phone's screen");
    c.set_window_size(1280, 1000).await.unwrap();

    // Pause from the page: the API says paused, the page offers Resume; Resume undoes it.
    let button = "[data-campaign=held] button.action";
    assert_eq!(c.find(Locator::Css(button)).await.unwrap().text().await.unwrap(), "Pause");
    c.find(Locator::Css(button)).await.unwrap().click().await.unwrap();
    daemon.campaign_until("held", "the API says `held` is paused", |s| s["state"] == "paused").await;
    eventually("the page shows it paused, with Resume", Duration::from_secs(10), async || {
        let page = browser.figures().await;
        let label = c.find(Locator::Css(button)).await.ok()?.text().await.ok()?;
        (page["campaigns"]["held"]["state"] == "paused" && label == "Resume").then_some(())
    })
    .await;
    c.find(Locator::Css(button)).await.unwrap().click().await.unwrap();
    daemon.campaign_until("held", "the API says `held` runs again", |s| s["state"] == "running").await;

    browser.close().await;
    let log = daemon.process.stop().await;
    assert!(!log.contains(TOKEN), "the token is never logged");
}
