//! The control API through the real binary: `switchboard serve --listen 127.0.0.1:0` with the
//! Bland simulator running in the test process, asked over HTTP with reqwest.
//!
//! - every route's happy path and its main errors, each error as `{"error": {"code", "message"}}`;
//! - auth: a missing or wrong token is 401, the right one (from the environment or the file)
//!   gets in, a non-loopback `listen` without a token refuses to start, and the token is never
//!   in the log;
//! - `/openapi.json` in step with the routes served and the README's table;
//! - an update of a running campaign's `calls_per_minute` takes effect within a second and is
//!   recorded with the token's fingerprint;
//! - an upload imports exactly what `switchboard import` imports, rejects report included, and
//!   the export streams exactly what `switchboard export` writes.
//!
//! Every wait polls a condition under a deadline.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::process::{Running, run_bounded};
use common::{TestEnv, eventually, eventually_showing};
use reqwest::Method;
use serde_json::{Value, json};
use switchboard::secret::Secret;
use switchboard::sim::{SimConfig, SimHandle, Simulator};

const API_KEY: &str = "sk-api-test-51c0e9";
const TOKEN: &str = "tok-api-test-d6a2f4c81b";
const WEBHOOK_SECRET: &str = "whsec-api-test-0b7e";

/// A campaign open every day 08:00-21:00 in each recipient's own zone column.
fn spec(id: &str, extra: &str) -> String {
    format!(
        r#"id = "{id}"
name = "API test {id}"
[call]
task = "Hello {{{{first_name}}}}, this is a test call."
[schedule]
timezone = "America/New_York"
zone_policy = "column"
hours = {{ "mon-sun" = "08:00-21:00" }}
[retry]
max_attempts = 1
{extra}
"#
    )
}

fn sim_config() -> SimConfig {
    SimConfig {
        api_key: Some(Secret::new(API_KEY)),
        requests_per_minute: 0,
        max_concurrent: 0,
        speed: 600.0,
        latency: Duration::from_millis(1),
        ..SimConfig::default()
    }
}

async fn simulator() -> SimHandle {
    Simulator::start(sim_config()).await.unwrap()
}

/// The daemon config: the simulator as Bland, the account's caps out of the way, `extra` after.
fn write_config(env: &TestEnv, sim: &SimHandle, extra: &str) {
    let text = format!(
        "[store]\npath = {db:?}\n[bland]\nbase_url = \"{url}\"\nrequests_per_minute = 1000000\n\
         [account]\ncalls_per_minute = 1000000\ncalls_per_hour = 10000000\ncalls_per_day = 100000000\n\
         max_concurrent = 1000000\n{extra}\n",
        db = env.db.display().to_string(),
        url = sim.base_url(),
    );
    std::fs::write(&env.config, text).unwrap();
}

/// A running daemon and a client for its API.
struct Api {
    daemon: Running,
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

/// An answer: the status and the body (JSON when it is JSON, else a string).
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    www_authenticate: Option<String>,
}

impl Answer {
    /// The error code of an error answer, insisting on the `{"error": {"code", "message"}}` shape.
    fn error(&self) -> &str {
        let e = &self.body["error"];
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "no error message: {self:?}");
        assert_eq!(self.body.as_object().map(|o| o.len()), Some(1), "only `error`: {self:?}");
        e["code"].as_str().unwrap_or_else(|| panic!("no error code: {self:?}"))
    }

    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    fn ok(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{self:?}");
        self.body
    }
}

impl Api {
    /// `serve --listen 127.0.0.1:0` with the API key and `envs` (a token among them, or not).
    fn start(env: &TestEnv, token: Option<&str>, envs: &[(&str, &str)], log: &str) -> Api {
        let mut all = vec![("BLAND_API_KEY", API_KEY)];
        if let Some(t) = token {
            all.push(("SWITCHBOARD_API_TOKEN", t));
        }
        all.extend_from_slice(envs);
        let daemon = Running::start(env, &["serve", "--listen", "127.0.0.1:0"], &all, log);
        let base = format!("http://{}", daemon.addr);
        Api { daemon, base, http: reqwest::Client::new(), token: token.map(str::to_string) }
    }

    /// `serve --listen 127.0.0.1:PORT` with the API key, the token and `envs`: on a port picked
    /// beforehand, for a config whose `public_url` names it (webhooks from the simulator).
    fn start_on(env: &TestEnv, port: u16, envs: &[(&str, &str)], log: &str) -> Api {
        let mut all = vec![("BLAND_API_KEY", API_KEY), ("SWITCHBOARD_API_TOKEN", TOKEN)];
        all.extend_from_slice(envs);
        let daemon = Running::start(env, &["serve", "--listen", &format!("127.0.0.1:{port}")], &all, log);
        let base = format!("http://{}", daemon.addr);
        Api { daemon, base, http: reqwest::Client::new(), token: Some(TOKEN.into()) }
    }

    async fn call(&self, method: Method, path: &str, body: Option<(&str, Vec<u8>)>, token: Option<&str>) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some((content_type, bytes)) = body {
            req = req.header("Content-Type", content_type).body(bytes);
        }
        let res = req.send().await.unwrap_or_else(|e| panic!("{e:?}; the daemon's log:\n{}", self.daemon.log()));
        let status = res.status().as_u16();
        let www_authenticate = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
        let text = res.text().await.unwrap();
        // No request of these tests should fail the daemon: say why it did.
        assert_ne!(status, 500, "{text}\nthe daemon's log:\n{}", self.daemon.log());
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, body, www_authenticate }
    }

    /// A request with the API's token.
    async fn req(&self, method: Method, path: &str, body: Option<(&str, Vec<u8>)>) -> Answer {
        self.call(method, path, body, self.token.clone().as_deref()).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.req(Method::GET, path, None).await
    }

    async fn post(&self, path: &str) -> Answer {
        self.req(Method::POST, path, None).await
    }

    async fn send(&self, method: Method, path: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Answer {
        self.req(method, path, Some((content_type, body.into()))).await
    }

    async fn create(&self, spec: &str) -> Answer {
        self.send(Method::POST, "/api/v1/campaigns", "application/toml", spec).await
    }
}

/// POSTs to the API by hand: the head with the token and `framing` (a `Content-Length` or
/// `Transfer-Encoding: chunked`), then each of `chunks` as it is, then the start of the answer.
/// An upload over the limit is answered before the whole body is sent: the test sends no more
/// than it takes to cross it, so the answer is never lost to a reset.
async fn raw_post(addr: &str, path: &str, framing: &str, chunks: &[Vec<u8>]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: text/csv\r\n{framing}\r\n\
         Connection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks {
        s.write_all(chunk).await.unwrap();
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The property names of `schema` in the OpenAPI document (following a `$ref`).
fn schema_properties(doc: &Value, schema: &str) -> BTreeSet<String> {
    let s = &doc["components"]["schemas"][schema];
    let props = s["properties"].as_object().unwrap_or_else(|| panic!("no schema {schema} in the document"));
    props.keys().cloned().collect()
}

/// Insists that a JSON object answered has exactly the documented properties (those always
/// present; optional ones may be absent).
fn assert_documented(doc: &Value, schema: &str, value: &Value) {
    let documented = schema_properties(doc, schema);
    let required: BTreeSet<String> = doc["components"]["schemas"][schema]["required"]
        .as_array()
        .map(|r| r.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    let answered: BTreeSet<String> = value.as_object().unwrap().keys().cloned().collect();
    assert!(answered.is_subset(&documented), "{schema}: undocumented {:?}", answered.difference(&documented));
    assert!(required.is_subset(&answered), "{schema}: missing {:?}", required.difference(&answered));
}

// -------------------------------------------------------------------------------------------
// Campaigns

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaigns_are_created_from_toml_or_json_shown_listed_and_controlled_with_the_cli_s_rules() {
    let env = TestEnv::new();
    let sim = simulator().await;
    write_config(&env, &sim, "");
    let api = Api::start(&env, Some(TOKEN), &[], "campaigns.log");
    let doc = api.get("/openapi.json").await.ok(200);

    // Create from TOML: 201; the same again while draft: 200, updated.
    let created = api.create(&spec("alpha", "")).await.ok(201);
    assert_eq!(created, json!({"id": "alpha", "name": "API test alpha", "created": true}));
    assert_documented(&doc, "SavedCampaign", &created);
    let again = api.create(&spec("alpha", "[limits]\ncalls_per_minute = 5")).await.ok(200);
    assert_eq!(again["created"], false);
    // From JSON: the same spec as an object, stored and validated by the same code.
    let as_json = json!({
        "id": "beta", "name": "Beta",
        "call": {"task": "Hi {{first_name}}"},
        "schedule": {"timezone": "America/Chicago", "hours": {"mon-fri": "09:00-17:00"}, "blackout_dates": ["2026-12-25"]},
        "limits": {"calls_per_minute": 12}
    });
    let beta = api.send(Method::POST, "/api/v1/campaigns", "application/json", as_json.to_string()).await.ok(201);
    assert_eq!(beta["id"], "beta");
    let shown = env.ok(["campaign", "show", "beta", "--json"]).last_json();
    assert_eq!(shown["state"], "draft", "the CLI sees what the API created");

    // A bad spec: 400, naming the request body's line and the key.
    let bad = api.create(&spec("gamma", "[limits]\ncalls_per_minute = -3")).await;
    assert_eq!((bad.status, bad.error()), (400, "invalid_spec"));
    assert!(bad.message().contains("request body:") && bad.message().contains("limits.calls_per_minute"), "{bad:?}");
    let bad = api.send(Method::POST, "/api/v1/campaigns", "application/json", r#"{"name": "X", "call": null}"#).await;
    assert_eq!((bad.status, bad.error()), (400, "invalid_spec"));
    let bad = api.send(Method::POST, "/api/v1/campaigns", "application/x-www-form-urlencoded", "name=x").await;
    assert_eq!((bad.status, bad.error()), (415, "unsupported_media_type"));
    let huge = raw_post(&api.daemon.addr, "/api/v1/campaigns", "Content-Length: 1048577", &[]).await;
    assert!(huge.starts_with("HTTP/1.1 413") && huge.contains("payload_too_large"), "{huge}");

    // List and show.
    let list = api.get("/api/v1/campaigns").await.ok(200);
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["alpha", "beta"]);
    assert_documented(&doc, "CampaignListing", &list[0]);
    let summary = api.get("/api/v1/campaigns/alpha").await.ok(200);
    assert_eq!((summary["state"].as_str(), summary["total_jobs"].as_i64()), (Some("draft"), Some(0)));
    assert_documented(&doc, "CampaignSummary", &summary);
    let cli = env.ok(["campaign", "show", "alpha", "--json"]).last_json();
    assert_eq!(summary["counts"], cli["counts"]);
    assert_eq!(summary["name"], cli["name"]);
    let missing = api.get("/api/v1/campaigns/nope").await;
    assert_eq!((missing.status, missing.error()), (404, "not_found"));

    // Actions, with the state machine's refusals as 409.
    let started = api.post("/api/v1/campaigns/alpha/start").await.ok(200);
    assert_eq!(started, json!({"id": "alpha", "state": "running", "action": "started"}));
    assert_documented(&doc, "ActionDone", &started);
    let again = api.post("/api/v1/campaigns/alpha/start").await;
    assert_eq!((again.status, again.error()), (409, "not_allowed"));
    assert!(again.message().contains("running"), "{again:?}");
    assert_eq!(api.post("/api/v1/campaigns/alpha/pause").await.ok(200)["state"], "paused");
    assert_eq!(api.post("/api/v1/campaigns/alpha/resume").await.ok(200)["state"], "running");
    let cancelled = api.post("/api/v1/campaigns/alpha/cancel?stop_active=true").await.ok(200);
    assert_eq!((cancelled["state"].as_str(), cancelled["stopped"]["asked"].as_u64()), (Some("cancelled"), Some(0)));
    let resumed = api.post("/api/v1/campaigns/alpha/resume").await;
    assert_eq!((resumed.status, resumed.error()), (409, "not_allowed"));
    let bad = api.post("/api/v1/campaigns/beta/cancel?stop=yes").await;
    assert_eq!((bad.status, bad.error()), (400, "bad_request"));
    assert!(bad.message().contains("stop"), "names the parameter: {bad:?}");
    let missing = api.post("/api/v1/campaigns/nope/pause").await;
    assert_eq!((missing.status, missing.error()), (404, "not_found"));
    assert_eq!(env.ok(["campaign", "show", "alpha", "--json"]).last_json()["state"], "cancelled");

    // Unknown routes and methods answer in the same shape.
    let none = api.get("/api/v1/nothing").await;
    assert_eq!((none.status, none.error()), (404, "not_found"));
    let wrong = api.req(Method::DELETE, "/api/v1/campaigns/beta", None).await;
    assert_eq!((wrong.status, wrong.error()), (405, "method_not_allowed"));
    api.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_campaign_changes_only_limits_hours_and_retries_and_every_change_is_recorded() {
    let env = TestEnv::new();
    let sim = simulator().await;
    write_config(&env, &sim, "");
    let api = Api::start(&env, Some(TOKEN), &[], "update.log");
    let doc = api.get("/openapi.json").await.ok(200);
    let base = spec("upd", "[limits]\ncalls_per_minute = 30");
    api.create(&base).await.ok(201);
    let put = |text: String| {
        let api = &api;
        async move { api.send(Method::PUT, "/api/v1/campaigns/upd", "application/toml", text).await }
    };

    // A draft changes in anything, recorded all the same.
    let draft = put(base.replace("this is a test call", "this is a draft call")).await.ok(200);
    assert_eq!(draft["state"], "draft");
    assert_eq!(draft["changes"][0]["key"], "call.task");
    api.post("/api/v1/campaigns/upd/start").await.ok(200);
    let base = base.replace("this is a test call", "this is a draft call");

    // Running: limits, retry, hours, blackouts and end may change.
    let next = base
        .replace("calls_per_minute = 30", "calls_per_minute = 10\ncalls_per_day = 900")
        .replace("max_attempts = 1", "max_attempts = 2\ndelays = [\"1h\"]")
        .replace(
            r#"hours = { "mon-sun" = "08:00-21:00" }"#,
            "hours = { \"mon-sat\" = \"09:00-20:00\" }\nblackout_dates = [\"2026-12-25\"]\nend = \"2030-01-01T00:00:00Z\"",
        );
    let updated = put(next.clone()).await.ok(200);
    assert_documented(&doc, "Updated", &updated);
    let keys: Vec<&str> = updated["changes"].as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "limits.calls_per_day",
            "limits.calls_per_minute",
            "retry.delays",
            "retry.max_attempts",
            "schedule.blackout_dates",
            "schedule.end",
            "schedule.hours"
        ]
    );
    let cpm = &updated["changes"][1];
    assert_eq!((cpm["old"].as_i64(), cpm["new"].as_i64()), (Some(30), Some(10)));
    // The same spec again changes nothing and records nothing.
    assert_eq!(put(next.clone()).await.ok(200)["changes"], json!([]));

    // Anything else is refused (409), naming every key, and nothing is stored.
    let frozen = put(next.replace("draft call", "new pitch").replace("column", "area_code")).await;
    assert_eq!((frozen.status, frozen.error()), (409, "frozen_keys"));
    assert!(frozen.message().contains("call.task") && frozen.message().contains("schedule.zone_policy"), "{frozen:?}");
    // A default written out is no change of meaning; a spec of another campaign is refused.
    let explicit = next.replace("[retry]", "[retry]\non = [\"voicemail\", \"no_answer\"]");
    assert_eq!(put(explicit.clone()).await.status, 200);
    let next = explicit;
    let other = put(next.replace("id = \"upd\"", "id = \"other\"")).await;
    assert_eq!((other.status, other.error()), (400, "wrong_campaign"));
    let invalid = put(next.replace("calls_per_minute = 10", "calls_per_minute = 0")).await;
    assert_eq!((invalid.status, invalid.error()), (400, "invalid_spec"));
    assert!(invalid.message().contains("limits.calls_per_minute"), "{invalid:?}");
    let missing = api.send(Method::PUT, "/api/v1/campaigns/nope", "application/toml", next.clone()).await;
    assert_eq!((missing.status, missing.error()), (404, "not_found"));

    // The CLI applies the same rules: exit 2 naming the key; a change recorded as $USER@host.
    let file = env.write("upd.toml", next.replace("draft call", "new pitch"));
    let r = env.run(["campaign", "update", "upd", common::path_str(&file)]);
    assert_eq!(r.code, 2, "{r:?}", r = (&r.stdout, &r.stderr));
    assert!(r.stderr.contains("call.task"), "{}", r.stderr);
    let file = env.write("upd.toml", next.replace("calls_per_day = 900", "calls_per_day = 800"));
    let mut cmd = env.command();
    cmd.args(["campaign", "update", "upd", common::path_str(&file)]).env("USER", "alice");
    let (code, stdout, stderr) = run_bounded(cmd, Duration::from_secs(20)).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("limits.calls_per_day: 900 -> 800"), "{stdout}");

    // The record: who, when, what, in order.
    let changes = api.get("/api/v1/campaigns/upd/changes").await.ok(200);
    let changes = changes.as_array().unwrap();
    assert_documented(&doc, "Change", &changes[0]);
    let actors: Vec<&str> = changes.iter().map(|c| c["actor"].as_str().unwrap()).collect();
    assert_eq!(actors.len(), 4, "draft, running, explicit default, CLI: {changes:?}");
    assert!(actors[..3].iter().all(|a| a.starts_with("api (token ") && !a.contains(TOKEN)), "{actors:?}");
    assert!(actors[3].starts_with("alice@"), "{actors:?}");
    let states: Vec<&str> = changes.iter().map(|c| c["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["draft", "running", "running", "running"]);
    assert_eq!(changes[1]["changes"].as_array().unwrap().len(), 7);
    assert_eq!(changes[3]["changes"], json!([{"key": "limits.calls_per_day", "old": 900, "new": 800}]));

    // A finished campaign changes no more.
    api.post("/api/v1/campaigns/upd/cancel").await.ok(200);
    let done = put(next).await;
    assert_eq!((done.status, done.error()), (409, "not_allowed"));
    let log = api.daemon.stop().await;
    assert!(!log.contains(TOKEN), "the token is never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_calls_per_minute_put_while_the_daemon_dials_holds_within_a_second() {
    let env = TestEnv::new();
    let sim = simulator().await;
    write_config(&env, &sim, "");
    let api = Api::start(&env, Some(TOKEN), &[], "live.log");
    // 1200 a minute: a call every 50 ms, paced.
    let text = spec("live", "[limits]\ncalls_per_minute = 1200");
    api.create(&text).await.ok(201);
    api.send(Method::POST, "/api/v1/campaigns/live/imports", "text/csv", common::open_recipients(600)).await.ok(201);
    api.post("/api/v1/campaigns/live/start").await.ok(200);
    eventually("the daemon has placed 20 calls", Duration::from_secs(30), async || {
        (sim.sends().len() >= 20).then_some(())
    })
    .await;

    // Down to 2 a minute: the last minute's calls already use that up, so nothing more goes out.
    let changed = api
        .send(
            Method::PUT,
            "/api/v1/campaigns/live",
            "application/toml",
            text.replace("calls_per_minute = 1200", "calls_per_minute = 2"),
        )
        .await
        .ok(200);
    let at = Instant::now();
    assert_eq!(changed["changes"][0], json!({"key": "limits.calls_per_minute", "old": 1200, "new": 2}));
    // The daemon says when it noticed: within a second.
    eventually_showing(
        "the daemon logs the campaign's update",
        Duration::from_secs(1),
        async || api.daemon.log().contains("campaign updated").then_some(()),
        async || api.daemon.log(),
    )
    .await;
    // From a second after the change on, no call is placed: watched for two more seconds (the
    // property is about wall-clock time, so this is a measurement window, not a wait for an event).
    let settled = at + Duration::from_secs(1);
    eventually("a second has passed since the change", Duration::from_secs(2), async || {
        (Instant::now() >= settled).then_some(())
    })
    .await;
    let placed = sim.sends().len();
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        assert_eq!(sim.sends().len(), placed, "a call was placed more than a second after calls_per_minute = 2");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(placed < 600, "the campaign was still dialling when it was slowed down");

    // Recorded, with the token's fingerprint.
    let changes = api.get("/api/v1/campaigns/live/changes").await.ok(200);
    assert_eq!(changes.as_array().unwrap().len(), 1);
    assert_eq!(changes[0]["state"], "running");
    assert!(changes[0]["actor"].as_str().unwrap().starts_with("api (token "));
    api.daemon.stop().await;
}

// -------------------------------------------------------------------------------------------
// Imports, report, DNC

/// A file with good rows, an invalid number, a duplicate, a bad zone and a number on the DNC list.
const MIXED_CSV: &str = "first_name,phone,timezone\n\
    Ann,212-555-0101,America/New_York\n\
    Bob,312-555-0102,America/Chicago\n\
    Cid,not a number,America/New_York\n\
    Dee,212-555-0101,America/New_York\n\
    Eve,415-555-0103,Mars/Base\n\
    Fay,415-555-0104,America/Los_Angeles\n\
    Gus,646-555-0105,America/New_York\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_imports_exactly_what_the_cli_imports_with_the_same_rejects_report() {
    let env = TestEnv::new();
    let sim = simulator().await;
    write_config(&env, &sim, "[http]\nmax_upload_mb = 1");
    // The daemon's temporary directory, to see its upload spools come and go.
    let spool = env.path("tmp");
    std::fs::create_dir(&spool).unwrap();
    let api = Api::start(&env, Some(TOKEN), &[("TMPDIR", common::path_str(&spool))], "imports.log");
    let doc = api.get("/openapi.json").await.ok(200);
    for id in ["by-cli", "by-api"] {
        api.create(&spec(id, "")).await.ok(201);
    }
    let dnc = api
        .send(Method::POST, "/api/v1/dnc", "application/json", r#"{"numbers": ["+16465550105"], "reason": "asked"}"#)
        .await
        .ok(200);
    assert_eq!(dnc, json!({"added": 1, "already": 0, "jobs_suppressed": 0}));

    let file = env.write("mixed.csv", MIXED_CSV);
    let cli = env.ok(["import", "by-cli", common::path_str(&file), "--json"]).last_json();
    let up = api
        .send(Method::POST, "/api/v1/campaigns/by-api/imports?file_name=mixed.csv", "text/csv", MIXED_CSV)
        .await
        .ok(201);
    assert_documented(&doc, "ImportResult", &up);
    for key in ["accepted", "rejected", "duplicates", "suppressed"] {
        assert_eq!(up[key], cli[key], "{key}: API {up} vs CLI {cli}");
    }
    assert_eq!((up["accepted"].as_u64(), up["rejected"].as_u64()), (Some(3), Some(2)), "{up}");
    let cli_rejects = std::fs::read_to_string(env.path("mixed.rejects.csv")).unwrap();
    assert_eq!(up["rejects"]["csv"].as_str().unwrap(), cli_rejects, "byte for byte");
    assert_eq!((up["rejects"]["rows"].as_u64(), up["rejects"]["truncated"].as_bool()), (Some(2), Some(false)));
    assert!(cli_rejects.contains("Mars/Base"), "{cli_rejects}");

    // The same jobs: numbers, lines, states, zones and variables.
    let store = env.store().await;
    let jobs = async |id: &str| -> Vec<String> {
        let details = store.job_details(Some(id)).await.unwrap();
        details
            .iter()
            .map(|j| {
                let r = &j.record;
                format!("{} {:?} {} {:?} {:?}", r.phone, r.source_line, r.state, j.timezones, j.variables)
            })
            .collect()
    };
    assert_eq!(jobs("by-api").await, jobs("by-cli").await);
    let imports = store.import_records(Some("by-api")).await.unwrap();
    assert_eq!(imports[0].file_name, "mixed.csv", "named as uploaded");

    // The same file again: nothing new (200), the earlier import named.
    let again = api.send(Method::POST, "/api/v1/campaigns/by-api/imports", "text/csv", MIXED_CSV).await.ok(200);
    assert_eq!((again["import_id"].clone(), again["previous_import_id"].as_i64()), (Value::Null, Some(imports[0].id)));
    // A dry run stores nothing.
    let dry = api
        .send(Method::POST, "/api/v1/campaigns/by-cli/imports?dry_run=true", "text/csv", common::open_recipients(5))
        .await
        .ok(200);
    assert_eq!((dry["dry_run"].as_bool(), dry["accepted"].as_u64()), (Some(true), Some(5)));
    assert_eq!(store.job_counts("by-cli").await.unwrap().total(), 4);

    // Errors: a file that is no CSV names its line, bad parameters name themselves, over the
    // limit is 413 (announced or not), an unknown or cancelled campaign 404 / 409.
    let bad = api
        .send(Method::POST, "/api/v1/campaigns/by-api/imports", "text/csv", "first_name,phone\nAnn,\"212-555-0199\n")
        .await;
    assert_eq!((bad.status, bad.error()), (400, "invalid_csv"));
    assert!(bad.message().starts_with("upload.csv:"), "named as uploaded, with the line: {bad:?}");
    let bad = api.send(Method::POST, "/api/v1/campaigns/by-api/imports?encoding=klingon", "text/csv", MIXED_CSV).await;
    assert_eq!(bad.status, 400);
    assert!(bad.message().contains("encoding") && bad.message().contains("klingon"), "{bad:?}");
    let bad =
        api.send(Method::POST, "/api/v1/campaigns/by-api/imports?file_name=../x.csv", "text/csv", MIXED_CSV).await;
    assert_eq!((bad.status, bad.error()), (400, "bad_request"));
    let big = common::open_recipients(40_000);
    assert!(big.len() > (1 << 20) + (128 << 10));
    // Announced: refused before a byte of the body is read.
    let path = "/api/v1/campaigns/by-api/imports";
    let announced = raw_post(&api.daemon.addr, path, &format!("Content-Length: {}", big.len()), &[]).await;
    assert!(announced.starts_with("HTTP/1.1 413"), "{announced}");
    assert!(announced.contains("payload_too_large") && announced.contains("max_upload_mb"), "{announced}");
    // Not announced (chunked): counted as it streams, refused once past the limit.
    let chunks: Vec<Vec<u8>> = big.as_bytes()[..(1 << 20) + (128 << 10)]
        .chunks(64 << 10)
        .map(|c| [format!("{:x}\r\n", c.len()).into_bytes(), c.to_vec(), b"\r\n".to_vec()].concat())
        .collect();
    let streamed = raw_post(&api.daemon.addr, path, "Transfer-Encoding: chunked", &chunks).await;
    assert!(streamed.starts_with("HTTP/1.1 413"), "{streamed}\nthe daemon's log:\n{}", api.daemon.log());
    let left: Vec<_> = std::fs::read_dir(&spool).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "every upload's spool is removed, imported or refused: {left:?}");
    let missing = api.send(Method::POST, "/api/v1/campaigns/nope/imports", "text/csv", MIXED_CSV).await;
    assert_eq!((missing.status, missing.error()), (404, "not_found"));
    api.post("/api/v1/campaigns/by-cli/cancel").await.ok(200);
    let closed =
        api.send(Method::POST, "/api/v1/campaigns/by-cli/imports", "text/csv", common::open_recipients(3)).await;
    assert_eq!((closed.status, closed.error()), (409, "not_allowed"));

    // The DNC list, as the CLI lists it; a number that is none refuses the whole request.
    let list = api.get("/api/v1/dnc").await.ok(200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!((list[0]["phone"].as_str(), list[0]["reason"].as_str()), (Some("+16465550105"), Some("asked")));
    assert_documented(&doc, "DncNumber", &list[0]);
    let bad = api.send(Method::POST, "/api/v1/dnc", "application/json", r#"{"numbers": ["+14155552671", "12"]}"#).await;
    assert_eq!((bad.status, bad.error()), (400, "bad_number"));
    assert!(bad.message().contains("`12`"), "{bad:?}");
    let bad = api.send(Method::POST, "/api/v1/dnc", "application/json", r#"{"number": "+14155552671"}"#).await;
    assert_eq!((bad.status, bad.error()), (400, "bad_request"));
    assert!(bad.message().contains("number"), "{bad:?}");
    assert_eq!(env.ok(["dnc", "list"]).stdout.lines().count(), 1, "nothing of the refused list was added");
    api.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_is_the_cli_s_report_for_the_same_period_and_a_bad_period_is_400() {
    let env = TestEnv::new();
    let sim = simulator().await;
    write_config(&env, &sim, "");
    let api = Api::start(&env, Some(TOKEN), &[], "report.log");
    api.create(&spec("rep", "")).await.ok(201);
    api.send(Method::POST, "/api/v1/campaigns/rep/imports", "text/csv", MIXED_CSV).await.ok(201);

    let report = api.get("/api/v1/campaigns/rep/report?since=2026-01-01&until=2099-01-01").await.ok(200);
    let cli = env.ok(["report", "rep", "--json", "--since", "2026-01-01", "--until", "2099-01-01"]).last_json();
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("generated_at");
        v
    };
    assert_eq!(strip(report), strip(cli));
    for (query, names) in [
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("since=2026-02-01&until=2026-01-01", "since"),
        ("from=2026-01-01", "from"),
    ] {
        let bad = api.get(&format!("/api/v1/campaigns/rep/report?{query}")).await;
        assert_eq!((bad.status, bad.error()), (400, "bad_request"), "{query}");
        assert!(bad.message().contains(names), "{query}: {bad:?}");
    }
    let missing = api.get("/api/v1/campaigns/nope/report").await;
    assert_eq!((missing.status, missing.error()), (404, "not_found"));
    api.daemon.stop().await;
}

// -------------------------------------------------------------------------------------------
// The dashboard (its page in a browser: tests/browser/)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_answers_each_campaign_s_summary_with_its_caps_and_its_page_holds_no_data() {
    // Outcomes by webhook: the simulator posts to the daemon's own port.
    let env = TestEnv::new();
    let sim = Simulator::start(SimConfig { webhook_secret: Some(Secret::new(WEBHOOK_SECRET)), ..sim_config() })
        .await
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    write_config(&env, &sim, &format!("[http]\npublic_url = \"http://127.0.0.1:{port}\""));
    let api = Api::start_on(&env, port, &[("BLAND_WEBHOOK_SECRET", WEBHOOK_SECRET)], "dashboard.log");
    let doc = api.get("/openapi.json").await.ok(200);
    api.create(&spec("dash", "[limits]\ncalls_per_minute = 30\nmax_concurrent = 5")).await.ok(201);
    api.send(Method::POST, "/api/v1/campaigns/dash/imports", "text/csv", common::open_recipients(3)).await.ok(201);
    api.post("/api/v1/campaigns/dash/start").await.ok(200);
    eventually("the campaign completes", Duration::from_secs(30), async || {
        (api.get("/api/v1/campaigns/dash").await.body["state"] == "completed").then_some(())
    })
    .await;

    let board = api.get("/api/v1/dashboard").await.ok(200);
    assert_documented(&doc, "Dashboard", &board);
    assert_documented(&doc, "CampaignBoard", &board["campaigns"][0]);
    assert_documented(&doc, "Live", &board["campaigns"][0]["live"]);
    // The summary is the campaign's, from the same function.
    assert_eq!(board["campaigns"][0]["summary"], api.get("/api/v1/campaigns/dash").await.ok(200));
    let caps = &board["campaigns"][0]["live"]["caps"];
    let listed: Vec<(&str, Option<u64>)> =
        caps.as_array().unwrap().iter().map(|c| (c["cap"].as_str().unwrap(), c["limit"].as_u64())).collect();
    assert_eq!(
        listed,
        [
            ("calls_per_minute", Some(30)),
            ("calls_per_hour", None),
            ("calls_per_day", None),
            ("max_concurrent", Some(5))
        ]
    );
    assert_eq!(
        (caps[2]["used"].as_u64(), caps[3]["used"].as_u64()),
        (Some(3), Some(0)),
        "3 dials today, none in flight"
    );
    assert_eq!(board["account"][0], json!({"cap": "calls_per_minute", "used": caps[0]["used"], "limit": 1000000}));
    let live = &board["campaigns"][0]["live"];
    assert_eq!(
        (live["errors"]["rate_limited"].as_i64(), live["errors"]["latest"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );
    assert!(live["spend"]["calls_usd"].as_f64().is_some_and(|usd| usd >= 0.0), "{live}");

    // The page and its assets: the same bytes for anyone, no token, no data, scripts and styles
    // from the daemon only.
    for (path, media) in
        [("/", "text/html"), ("/assets/dashboard.js", "text/javascript"), ("/assets/dashboard.css", "text/css")]
    {
        let res = api.http.get(format!("{}{path}", api.base)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let header = |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        assert!(header("content-type").starts_with(media), "{path}: {}", header("content-type"));
        assert_eq!(header("content-security-policy"), switchboard::api::CONTENT_SECURITY_POLICY, "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        let body = res.text().await.unwrap();
        assert!(!body.contains("API test dash"), "{path} holds no campaign");
        if path == "/" {
            assert_eq!(body.matches("<script").count(), 1, "one script, no inline one");
            assert!(
                body.contains(r#"<script src="/assets/dashboard.js""#) && body.contains("name=\"viewport\""),
                "{body}"
            );
        }
    }
    let policy = switchboard::api::CONTENT_SECURITY_POLICY;
    assert!(policy.contains("script-src 'self'") && policy.contains("style-src 'self'") && !policy.contains("unsafe"));
    let log = api.daemon.stop().await;
    assert!(!log.contains(TOKEN), "the token is never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_streams_the_csv_the_cli_writes_with_its_flags_as_query_parameters() {
    // Outcomes by webhook: the simulator posts to the daemon's own port.
    let env = TestEnv::new();
    let sim = Simulator::start(SimConfig {
        webhook_secret: Some(Secret::new(WEBHOOK_SECRET)),
        mix: switchboard::sim::OutcomeMix { human: 0.5, voicemail: 0.3, no_answer: 0.2, busy: 0.0, failed: 0.0 },
        ..sim_config()
    })
    .await
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    write_config(&env, &sim, &format!("[http]\npublic_url = \"http://127.0.0.1:{port}\""));
    let api = Api::start_on(&env, port, &[("BLAND_WEBHOOK_SECRET", WEBHOOK_SECRET)], "export.log");
    api.create(&spec("exp", "")).await.ok(201);
    api.send(Method::POST, "/api/v1/campaigns/exp/imports", "text/csv", common::open_recipients(20)).await.ok(201);
    api.post("/api/v1/campaigns/exp/start").await.ok(200);
    eventually_showing(
        "every recipient has had their call",
        Duration::from_secs(30),
        async || {
            let s = api.get("/api/v1/campaigns/exp").await.ok(200);
            (s["counts"]["done"].as_i64() == Some(20)).then_some(())
        },
        async || api.daemon.log(),
    )
    .await;

    for (query, flags) in [
        ("", &[][..]),
        ("?attempts=true&bom=true", &["--attempts", "--bom"][..]),
        ("?outcome=human&raw=true", &["--outcome", "human", "--raw"][..]),
        ("?columns=original&since=2026-01-01", &["--columns", "original", "--since", "2026-01-01"][..]),
        ("?state=california&attempts=true", &["--state", "CA", "--attempts"][..]),
    ] {
        let res = api
            .http
            .get(format!("{}/api/v1/campaigns/exp/export{query}", api.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "{query}; the daemon's log:\n{}", api.daemon.log());
        assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
        let disposition = res.headers()["content-disposition"].to_str().unwrap().to_string();
        assert!(disposition.starts_with("attachment; filename=\"exp"), "{disposition}");
        let streamed = res.bytes().await.unwrap();
        let out = env.path("cli.csv");
        let mut args = vec!["export", "exp", "--out", common::path_str(&out)];
        args.extend_from_slice(flags);
        env.ok(&args);
        let written = std::fs::read(&out).unwrap();
        assert_eq!(String::from_utf8_lossy(&streamed), String::from_utf8_lossy(&written), "{query} vs {flags:?}");
        assert!(written.len() > 100, "{query}: rows, not only a header");
    }

    for (query, code, names) in [
        ("?outcome=answered", 400, "outcome"),
        ("?since=yesterday", 400, "since"),
        ("?columns=some", 400, "columns"),
        ("?attempts=true&columns=original", 400, "--columns original"),
        ("?state=Atlantis", 400, "state"),
        ("?format=xlsx", 400, "format"),
    ] {
        let a = api.get(&format!("/api/v1/campaigns/exp/export{query}")).await;
        assert_eq!((a.status, a.error()), (code, "bad_request"), "{query}");
        assert!(a.message().contains(names), "{query}: {a:?}");
    }
    let missing = api.get("/api/v1/campaigns/nope/export").await;
    assert_eq!((missing.status, missing.error()), (404, "not_found"));
    api.daemon.stop().await;
}

// -------------------------------------------------------------------------------------------
// Auth

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_wants_the_token_and_a_non_loopback_daemon_without_one_does_not_start() {
    let env = TestEnv::new();
    let sim = simulator().await;
    write_config(&env, &sim, "");
    let api = Api::start(&env, Some(TOKEN), &[], "auth.log");
    let doc = api.get("/openapi.json").await.ok(200);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let path = path.replace("{id}", "x");
            for token in [None, Some("wrong"), Some(&TOKEN[..TOKEN.len() - 1])] {
                let a = api.call(method.clone(), &path, None, token).await;
                assert_eq!((a.status, a.error()), (401, "unauthorized"), "{method} {path} with {token:?}");
                assert_eq!(a.www_authenticate.as_deref(), Some("Bearer"));
            }
        }
    }
    assert_eq!(api.call(Method::GET, "/api/v1/campaigns", None, Some(TOKEN)).await.status, 200);
    // Outside the API: health and metrics need no token (nor does the webhook receiver, which
    // checks Bland's signature instead).
    for path in ["/healthz", "/metrics"] {
        assert_eq!(api.call(Method::GET, path, None, None).await.status, 200, "{path}");
    }
    let log = api.daemon.stop().await;
    assert!(!log.contains(TOKEN) && !log.contains("wrong"), "no token is logged:\n{log}");

    // The token from [http] api_token_file.
    let token_file = env.write("api_token", format!("{TOKEN}-file\n"));
    write_config(&env, &sim, &format!("[http]\napi_token_file = {:?}", common::path_str(&token_file)));
    let api = Api::start(&env, None, &[], "file.log");
    assert_eq!(api.call(Method::GET, "/api/v1/dnc", None, Some(&format!("{TOKEN}-file"))).await.status, 200);
    assert_eq!(api.call(Method::GET, "/api/v1/dnc", None, Some(TOKEN)).await.status, 401);
    api.daemon.stop().await;

    // Not loopback and no token: refused before listening, naming the key.
    write_config(&env, &sim, "");
    for args in [&["serve", "--listen", "0.0.0.0:0"][..], &["serve"][..]] {
        let mut cmd = env.command();
        cmd.args(args).env("BLAND_API_KEY", API_KEY).env("SWITCHBOARD_HTTP__LISTEN", "0.0.0.0:0");
        let (code, stdout, stderr) = run_bounded(cmd, Duration::from_secs(20)).await;
        assert_eq!(code, 2, "{args:?}: stdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(stderr.contains("http.api_token_file") && stderr.contains("SWITCHBOARD_API_TOKEN"), "{stderr}");
        assert!(!stdout.contains("listening"), "{stdout}");
    }
    // With a token it starts there, and still wants it.
    let daemon = Running::start(
        &env,
        &["serve", "--listen", "0.0.0.0:0"],
        &[("BLAND_API_KEY", API_KEY), ("SWITCHBOARD_API_TOKEN", TOKEN)],
        "public.log",
    );
    let port = daemon.addr.rsplit(':').next().unwrap().to_string();
    let api = Api { base: format!("http://127.0.0.1:{port}"), daemon, http: reqwest::Client::new(), token: None };
    assert_eq!(api.call(Method::GET, "/api/v1/campaigns", None, None).await.status, 401);
    assert_eq!(api.call(Method::GET, "/api/v1/campaigns", None, Some(TOKEN)).await.status, 200);
    api.daemon.stop().await;

    // Loopback without a token: open, and said so.
    let api = Api::start(&env, None, &[], "open.log");
    let open = api.call(Method::GET, "/api/v1/campaigns", None, None).await;
    assert_eq!(open.status, 200);
    let log = api.daemon.stop().await;
    assert!(log.contains("control API has no token"), "{log}");
}

// -------------------------------------------------------------------------------------------
// The OpenAPI document

/// `METHOD /path` of every route in the README's API table.
fn readme_routes() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("## The control API").nth(1).expect("the README has an API section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|r| r.contains(' '))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_exactly_the_routes_served_and_the_readme_lists_the_same() {
    let env = TestEnv::new();
    let sim = simulator().await;
    write_config(&env, &sim, "");
    let api = Api::start(&env, Some(TOKEN), &[], "openapi.log");
    let doc = api.get("/openapi.json").await.ok(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'), "{}", doc["openapi"]);
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}: no responses");
        }
    }
    assert_eq!(documented, readme_routes(), "the README's API table and /openapi.json");
    assert!(documented.len() >= 14, "{documented:?}");

    // Every documented operation is served: the router answers it (whatever the handler then
    // says), never with its "no route" 404 or its 405.
    for route in &documented {
        let (method, path) = route.split_once(' ').unwrap();
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let a = api.req(method, &path.replace("{id}", "no-such-campaign"), None).await;
        assert_ne!(a.status, 405, "{route}: {a:?}");
        assert!(!a.message().starts_with("no route"), "{route} is documented but not served: {a:?}");
    }
    // And nothing is served that is not documented: every other method on each path, and paths
    // beside them, are the router's own 405 / 404.
    let all = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
    for path in doc["paths"].as_object().unwrap().keys() {
        for method in &all {
            if documented.contains(&format!("{method} {path}")) {
                continue;
            }
            let a = api.req(method.clone(), &path.replace("{id}", "x"), None).await;
            assert_eq!((a.status, a.error()), (405, "method_not_allowed"), "{method} {path}");
        }
    }
    for path in
        ["/api/v1", "/api/v1/campaigns/x/stop", "/api/v1/campaigns/x/exports", "/api/v2/campaigns", "/openapi.yaml"]
    {
        let a = api.get(path).await;
        assert_eq!((a.status, a.error()), (404, "not_found"), "{path}");
        assert!(a.message().starts_with("no route"), "{a:?}");
    }
    api.daemon.stop().await;
}
