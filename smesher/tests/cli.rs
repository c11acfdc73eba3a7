//! The `smesher` binary end to end: config errors, go-spacemesh's `smeshing` form, the status
//! command, SIGHUP reload, a second process on the same data folder, and SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use simnet::{ChainConfig, Network};

const BIN: &str = env!("CARGO_BIN_EXE_smesher");

fn write(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

fn config(network: &Network, urls: &[String], data: &Path) -> Value {
    let chain = network.config();
    json!({
        "main": {
            "data-folder": data,
            "node-service-address": urls,
            "layer-duration": simnet::clock::proto_duration(chain.layer_duration),
            "layers-per-epoch": chain.layers_per_epoch,
        },
        "genesis": {
            "genesis-time": simnet::clock::rfc3339(chain.genesis),
            "genesis-extra-data": chain.genesis_extra_data,
        },
        "gateway": { "health-interval": "100ms", "probe-timeout": "100ms" },
        "metrics": { "metrics-listener": "127.0.0.1:0" },
        // Never the default ports: tests run side by side.
        "api": {
            "grpc-public-listener": "127.0.0.1:0",
            "grpc-private-listener": "127.0.0.1:0",
            "grpc-post-listener": "127.0.0.1:0",
        },
        "logging": { "level": "info" }
    })
}

/// A running `smesher` whose stderr lines are collected on a thread.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(BIN)
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("smesher starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits up to 10 s for a stderr line containing `needle`; returns it.
    fn wait_line(&mut self, needle: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?}; stderr so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "smesher did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_table(metrics: &str) -> String {
    let out = Command::new(BIN)
        .args(["status", "--metrics-address", metrics])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_config_with_several_mistakes_reports_all_of_them_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    write(
        &file,
        &json!({
            "main": { "node-service-address": ["http://127.0.0.1:1", "ftp://nope"], "layers-per-epoch": "many" },
            "gateway": { "rise": 2, "health-interval": "soon", "no-such-key": 1 },
            "no-such-section": {}
        }),
    );
    let out = Command::new(BIN)
        .args(["smeshing", "--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "exit status 2 on a bad config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for path in [
        "main.node-service-address[1]",
        "main.layers-per-epoch",
        "gateway.health-interval",
        "gateway.no-such-key",
        "no-such-section",
    ] {
        assert!(
            stderr.contains(path),
            "the error list names {path}:\n{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smeshing_form_serves_status_reloads_on_sighup_guards_the_folder_and_stops_on_sigterm() {
    let network =
        Network::new(ChainConfig::new(Duration::from_secs(1), 10).starting_at_layer(50)).unwrap();
    let nodes = network.spawn_nodes(3).await;
    let urls: Vec<String> = nodes.iter().map(|n| n.url()).collect();
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("smesher.json");
    write(&file, &config(&network, &urls[..2], data.path()));

    let mut first = Running::start(&["smeshing", "--config", file.to_str().unwrap()]);
    let line = first.wait_line("metrics at http://");
    let metrics = line
        .split("metrics at ")
        .nth(1)
        .and_then(|rest| rest.split("/metrics").next())
        .unwrap()
        .to_owned();
    first.wait_line("no identity found: created a new one");

    // `smesher status` prints the two configured nodes.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut table = status_table(&metrics);
    while !table.contains("healthy") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        table = status_table(&metrics);
    }
    assert!(
        table.contains(urls[0].as_str()) && table.contains(urls[1].as_str()),
        "{table}"
    );
    assert!(!table.contains(urls[2].as_str()), "{table}");

    // SIGHUP with a changed list: node 2 replaces node 0.
    write(
        &file,
        &config(&network, &[urls[2].clone(), urls[1].clone()], data.path()),
    );
    first.signal("-HUP");
    first.wait_line("configuration reloaded");
    let table = status_table(&metrics);
    assert!(
        table.contains(urls[2].as_str()) && !table.contains(urls[0].as_str()),
        "{table}"
    );

    // A broken file on SIGHUP keeps the running config.
    std::fs::write(&file, b"{ not json").unwrap();
    first.signal("-HUP");
    first.wait_line("configuration not reloaded");
    assert!(status_table(&metrics).contains(urls[2].as_str()));

    // A second process on the same data folder refuses to start.
    write(&file, &config(&network, &urls, data.path()));
    let second = Command::new(BIN)
        .args(["--config", file.to_str().unwrap()])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(!second.status.success(), "the second process must not run");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(data.path().to_str().unwrap())
            && stderr.contains("held by another process"),
        "the error names the folder and the holder:\n{stderr}"
    );

    first.signal("-TERM");
    let status = first.wait_exit();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

fn run_tool(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn keys_new_and_list_and_bad_key_files_are_named() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let (ok, out, err) = run_tool(&["keys", "new", "--name", "alpha", "--data-folder", d]);
    assert!(ok, "{err}");
    assert!(out.contains("alpha.key"), "{out}");
    let hex_line = out.lines().find(|l| l.contains("(hex)")).unwrap();
    let node_hex = hex_line.split_whitespace().last().unwrap().to_owned();
    assert_eq!(node_hex.len(), 64);

    let (ok, _, err) = run_tool(&["keys", "new", "--name", "alpha", "--data-folder", d]);
    assert!(!ok, "never overwrites a key");
    assert!(err.contains("alpha.key"), "{err}");

    let (ok, out, err) = run_tool(&["keys", "list", "--data-folder", d]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&node_hex) && out.contains("1 identities"),
        "{out}"
    );

    // A key file with a trailing newline (as an editor would save it) is named with the problem.
    let text = std::fs::read_to_string(data.path().join("identities/alpha.key")).unwrap();
    std::fs::write(data.path().join("identities/beta.key"), format!("{text}\n")).unwrap();
    std::fs::write(data.path().join("identities/gamma.key"), "zz").unwrap();
    let (ok, _, err) = run_tool(&["keys", "list", "--data-folder", d]);
    assert!(!ok);
    assert!(
        err.contains("beta.key") && err.contains("gamma.key"),
        "every bad file is named: {err}"
    );
}

#[test]
fn guard_export_and_import_move_history_and_refuse_conflicts() {
    use signing::{Domain, Identity, Slot};
    use smesher::config::{self, ConfigArgs};

    let cfg = |dir: &Path| {
        let args = ConfigArgs {
            data_folder: Some(dir.to_str().unwrap().to_owned()),
            ..ConfigArgs::default()
        };
        config::load(&args).unwrap().config
    };
    let alice = Identity::from_seed(&[5; 32], "alice.key");
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    {
        let guard = smesher::commands::open_guard(&cfg(a.path())).unwrap();
        guard
            .sign(
                &alice,
                Slot::Atx { publish_epoch: 7 },
                Domain::ATX,
                b"atx for 7",
            )
            .unwrap();
        let guard_c = smesher::commands::open_guard(&cfg(c.path())).unwrap();
        guard_c
            .sign(
                &alice,
                Slot::Atx { publish_epoch: 7 },
                Domain::ATX,
                b"another atx for 7",
            )
            .unwrap();
    }
    let export_a = a.path().join("history.json");
    let (ok, _, err) = run_tool(&[
        "guard",
        "export",
        "--signatures",
        "--file",
        export_a.to_str().unwrap(),
        "--data-folder",
        a.path().to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let doc = std::fs::read_to_string(&export_a).unwrap();
    assert!(
        doc.contains("smesher-signing-guard") && doc.contains(&alice.hex()),
        "{doc}"
    );

    let (ok, out, err) = run_tool(&[
        "guard",
        "import",
        export_a.to_str().unwrap(),
        "--data-folder",
        b.path().to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("1 slots added"), "{out}");
    // The imported slot now refuses a different message in folder b.
    let guard_b = smesher::commands::open_guard(&cfg(b.path())).unwrap();
    assert!(guard_b
        .sign(
            &alice,
            Slot::Atx { publish_epoch: 7 },
            Domain::ATX,
            b"different"
        )
        .is_err());
    drop(guard_b);

    // Importing c's conflicting history into b is refused and names the slot.
    let export_c = c.path().join("history.json");
    let (ok, _, err) = run_tool(&[
        "guard",
        "export",
        "--file",
        export_c.to_str().unwrap(),
        "--data-folder",
        c.path().to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = run_tool(&[
        "guard",
        "import",
        export_c.to_str().unwrap(),
        "--data-folder",
        b.path().to_str().unwrap(),
    ]);
    assert!(!ok, "a conflicting import must fail");
    assert!(err.contains("atx"), "{err}");
}

#[test]
fn migrate_names_a_folder_without_local_sql() {
    let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ok, _, err) = run_tool(&[
        "migrate",
        "--from",
        from.path().to_str().unwrap(),
        "--data-folder",
        to.path().to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains(from.path().join("local.sql").to_str().unwrap())
            && err.contains("no go-spacemesh local.sql"),
        "{err}"
    );
}
