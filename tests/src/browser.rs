//! A real headless Chromium driven over the DevTools protocol (CDP), for tests of web pages
//! the binaries serve: start it on a URL, evaluate JavaScript in the page, wait for a
//! condition in its DOM, click, take a screenshot. Chromium is killed when the handle drops.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::process::{ChildGuard, TempDir};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// One headless Chromium with one page, and a CDP connection to that page.
pub struct Browser {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    child: ChildGuard,
    /// Its profile (`--user-data-dir`), removed on drop.
    _profile: TempDir,
}

impl Browser {
    /// Start Chromium showing `url` in a `width`×`height` window.
    pub async fn open(url: &str, width: u32, height: u32) -> Browser {
        let profile = TempDir::new("uprelay-chromium");
        let mut cmd = Command::new(CHROMIUM);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
        ])
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url);
        let mut child = ChildGuard::spawn("chromium", cmd);
        // With port 0 Chromium picks one and writes it to DevToolsActivePort in its profile.
        let port_file = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port: u16 = loop {
            if let Some(port) = std::fs::read_to_string(&port_file).ok().and_then(|t| t.lines().next()?.trim().parse().ok()) {
                break port;
            }
            child.assert_running();
            assert!(Instant::now() < deadline, "chromium wrote no DevToolsActivePort within 30 s\n{}", child.output());
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let list_url = format!("http://127.0.0.1:{port}/json/list");
        let page_ws = loop {
            let targets: Value = match reqwest::get(&list_url).await {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            let page =
                targets.as_array().and_then(|t| t.iter().find(|t| t["type"] == "page")).and_then(|t| t["webSocketDebuggerUrl"].as_str());
            if let Some(ws) = page {
                break ws.to_owned();
            }
            assert!(Instant::now() < deadline, "chromium showed no page target within 30 s\n{}", child.output());
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (ws, _) = tokio_tungstenite::connect_async(page_ws.as_str()).await.expect("CDP websocket");
        Browser { ws, next_id: 0, child, _profile: profile }
    }

    /// One CDP command; its `result` (panics on a protocol error). Events are skipped.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let text = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws.send(Message::Text(text.into())).await.expect("CDP send");
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no CDP answer to {method} within 30 s"))
                .unwrap_or_else(|| panic!("CDP connection closed during {method}\n{}", self.child.output()))
                .expect("CDP receive");
            let Message::Text(text) = msg else { continue };
            let v: Value = serde_json::from_str(&text).expect("CDP JSON");
            if v["id"] == id {
                assert!(v.get("error").is_none(), "CDP {method}: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }

    /// Evaluate `expression` in the page (awaiting a promise) and return its value as JSON.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let r = self.call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true, "awaitPromise": true })).await;
        assert!(r.get("exceptionDetails").is_none(), "JavaScript threw in {expression}: {}", r["exceptionDetails"]);
        r["result"]["value"].clone()
    }

    /// Wait at most `limit` until `expression` is true in the page; false if it never was.
    pub async fn wait_for(&mut self, expression: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.eval(expression).await == Value::Bool(true) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Click the middle of the element `selector` names, as a mouse would (press, release).
    pub async fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let at = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({sel}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); \
                 const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
            ))
            .await;
        let (x, y) = (at[0].as_f64().unwrap_or_else(|| panic!("no element {selector}")), at[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.call("Input.dispatchMouseEvent", json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 })).await;
        }
    }

    /// Focus the input `selector` names, clear it, and type `text` into it.
    pub async fn type_into(&mut self, selector: &str, text: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        self.eval(&format!("(() => {{ const e = document.querySelector({sel}); e.focus(); e.select && e.select(); e.value = ''; }})()"))
            .await;
        self.call("Input.insertText", json!({ "text": text })).await;
    }

    /// A PNG of the whole page (as rendered now) written to `path`.
    pub async fn screenshot(&mut self, path: &Path) {
        let r = self.call("Page.captureScreenshot", json!({ "format": "png", "captureBeyondViewport": true })).await;
        let png = STANDARD.decode(r["data"].as_str().expect("screenshot data")).expect("screenshot base64");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}
