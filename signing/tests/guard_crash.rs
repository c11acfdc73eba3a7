//! Crash safety and process exclusion of the guard, with this test binary re-executed as the
//! child process (`child_role`, selected by environment variables; a no-op otherwise).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use prometheus::Registry;
use rand::{Rng, RngCore};
use signing::guard::{digest_of, SignRequest};
use signing::signer::preimage;
use signing::verifier::verify_raw;
use signing::{Domain, GenesisId, Guard, GuardError, GuardMetrics, Identity, Slot};

const CHILD_DIR: &str = "SIGNING_GUARD_TEST_CHILD_DIR";
const CHILD_MODE: &str = "SIGNING_GUARD_TEST_CHILD_MODE";
const CHILD_BASE: &str = "SIGNING_GUARD_TEST_CHILD_BASE";
const GENESIS: GenesisId = GenesisId([0x42; 20]);
const LAYERS: u32 = 40;
const RUNS: usize = 200;
/// Exit status of a `try` child that found the folder locked.
const LOCKED_STATUS: i32 = 3;
/// Printed by a `hold` child once it holds the guard.
const HELD_TOKEN: &str = "GUARD-HELD-BY-CHILD";
const SIGNING_TOKEN: &str = "GUARD-CHILD-SIGNING";

fn identities() -> [Identity; 2] {
    [
        Identity::from_seed(&[5; 32], "a.key"),
        Identity::from_seed(&[6; 32], "b.key"),
    ]
}

fn open(dir: &Path) -> Result<Guard, GuardError> {
    Guard::open(
        dir,
        GENESIS,
        GuardMetrics::register(&Registry::new()).unwrap(),
    )
}

/// Even layers always get the same message, odd layers a fresh random one, so reruns both
/// replay and conflict.
fn message(layer: u32, rng: &mut impl RngCore) -> Vec<u8> {
    if layer.is_multiple_of(2) {
        format!("fixed message for layer {layer}").into_bytes()
    } else {
        let mut m = vec![0u8; 16];
        rng.fill_bytes(&mut m);
        m
    }
}

fn journal_line(out: &mut std::fs::File, who: usize, layer: u32, msg: &[u8], sig: &[u8; 64]) {
    // One write per line so a kill leaves whole lines (or a torn last one, which is skipped).
    let line = format!(
        "ok {who} {layer} {} {}\n",
        hex::encode(msg),
        hex::encode(sig)
    );
    out.write_all(line.as_bytes()).unwrap();
}

#[test]
fn child_role() {
    let (Ok(dir), Ok(mode)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_MODE)) else {
        return;
    };
    let dir = PathBuf::from(dir);
    match mode.as_str() {
        "sign" => {
            let guard = open(&dir).unwrap();
            let ids = identities();
            // The parent starts its kill timer here, so a slow start-up on a loaded machine
            // does not turn every kill into a kill before the loop.
            println!("\n{SIGNING_TOKEN}");
            std::io::stdout().flush().unwrap();
            let mut journal = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("journal.txt"))
                .unwrap();
            let mut rng = rand::thread_rng();
            // Each run starts half-way into the previous run's layers: new slots for every run
            // (so a kill mid-loop leaves new journal lines), and old ones asked again with other
            // messages (which must be refused).
            let base: u32 = std::env::var(CHILD_BASE)
                .ok()
                .and_then(|b| b.parse().ok())
                .unwrap_or(0);
            for layer in base..base + LAYERS {
                let slot = Slot::Ballot { layer };
                if layer.is_multiple_of(3) {
                    let msgs = [message(layer, &mut rng), message(layer, &mut rng)];
                    let reqs: Vec<SignRequest<'_>> = (0..2)
                        .map(|i| SignRequest {
                            identity: &ids[i],
                            slot,
                            domain: Domain::BALLOT,
                            message: &msgs[i],
                        })
                        .collect();
                    for (i, r) in guard.sign_batch(&reqs).unwrap().into_iter().enumerate() {
                        match r {
                            Ok(s) => journal_line(&mut journal, i, layer, &msgs[i], &s.signature.0),
                            Err(GuardError::Conflict { .. }) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                } else {
                    let msg = message(layer, &mut rng);
                    match guard.sign(&ids[0], slot, Domain::BALLOT, &msg) {
                        Ok(s) => journal_line(&mut journal, 0, layer, &msg, &s.signature.0),
                        Err(GuardError::Conflict { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }
        "hold" => {
            let _guard = open(&dir).unwrap();
            // The harness may print its own text on the same line, so the parent looks for
            // this token anywhere.
            println!("\n{HELD_TOKEN}");
            std::io::stdout().flush().unwrap();
            // Hold the guard until the parent closes our stdin, or give up after a while so a
            // failed parent never leaves this process behind.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut sink = String::new();
                while std::io::stdin().read_line(&mut sink).unwrap_or(0) > 0 {}
                let _ = tx.send(());
            });
            let _ = rx.recv_timeout(Duration::from_secs(30));
        }
        "try" => match open(&dir) {
            Err(e @ GuardError::Locked { .. }) => {
                println!("ERROR {e}");
                std::process::exit(LOCKED_STATUS);
            }
            other => panic!("expected Locked, got {other:?}"),
        },
        other => panic!("unknown child mode {other}"),
    }
}

fn child(dir: &Path, mode: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_MODE, mode)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Waits (up to 30 s) until the child prints `token`; the child's stdout keeps draining on a
/// thread so it never blocks on a full pipe.
fn wait_for_token(proc: &mut std::process::Child, token: &'static str) {
    let stdout = proc.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        let mut sent = false;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if !sent && line.contains(token) {
                let _ = tx.send(());
                sent = true;
            }
        }
    });
    // A child that dies first (its error goes to the test's failure) ends the wait too.
    let _ = rx.recv_timeout(Duration::from_secs(30));
}

/// (identity, layer) → (message, signature) from every complete journal line.
fn read_journal(dir: &Path) -> Vec<(usize, u32, Vec<u8>, [u8; 64])> {
    let text = std::fs::read_to_string(dir.join("journal.txt")).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                ["ok", who, layer, msg, sig] => Some((
                    who.parse().ok()?,
                    layer.parse().ok()?,
                    hex::decode(msg).ok()?,
                    hex::decode(sig).ok()?.try_into().ok()?,
                )),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn sigkill_at_random_instants_never_leaves_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let ids = identities();
    let mut rng = rand::thread_rng();
    let mut checked = 0;
    let mut killed_mid_loop = 0;
    let mut accepted: HashMap<(usize, u32), Vec<u8>> = HashMap::new();
    for run in 0..RUNS {
        let mut proc = child(dir.path(), "sign")
            .env(CHILD_BASE, (run as u32 * LAYERS / 2).to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_token(&mut proc, SIGNING_TOKEN);
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..30_000)));
        let finished = proc.try_wait().unwrap().is_some();
        let _ = proc.kill(); // SIGKILL
        proc.wait().unwrap();

        // The OS released the lock with the process; the record is whole.
        let guard = open(dir.path()).unwrap_or_else(|e| panic!("run {run}: {e}"));
        let journal = read_journal(dir.path());
        for (who, layer, msg, sig) in &journal[checked..] {
            // Never two different accepted messages for one slot, across all runs.
            let first = accepted
                .entry((*who, *layer))
                .or_insert_with(|| msg.clone());
            assert_eq!(
                first, msg,
                "run {run}: two messages accepted for {who}/{layer}"
            );
            // The same request after the crash gets exactly the bytes signed before it.
            let again = guard
                .sign(
                    &ids[*who],
                    Slot::Ballot { layer: *layer },
                    Domain::BALLOT,
                    msg,
                )
                .unwrap_or_else(|e| panic!("run {run}: {e}"));
            assert!(again.replayed);
            assert_eq!(&again.signature.0, sig, "run {run}");
        }
        if !finished && journal.len() > checked {
            killed_mid_loop += 1;
        }
        checked = journal.len();
    }
    // The kills must have landed while the child was signing, not only before or after.
    assert!(
        killed_mid_loop >= 10,
        "only {killed_mid_loop} kills landed mid-loop"
    );
    // Every recorded slot is internally consistent and matches what the children reported.
    let guard = open(dir.path()).unwrap();
    let history = guard.history().unwrap();
    assert!(!history.is_empty());
    for rec in &history {
        let msg = rec
            .message
            .as_ref()
            .expect("signed entries keep their message");
        assert_eq!(rec.digest, digest_of(&GENESIS.0, rec.domain, msg));
        let sig = rec.signature.expect("signed entries keep their signature");
        assert!(verify_raw(
            rec.node_id.as_bytes(),
            &preimage(&GENESIS.0, rec.domain, msg),
            &sig.0
        ));
        let who = ids.iter().position(|i| i.node_id() == rec.node_id).unwrap();
        let Slot::Ballot { layer } = rec.slot else {
            panic!("unexpected slot {}", rec.slot)
        };
        if let Some(reported) = accepted.get(&(who, layer)) {
            assert_eq!(reported, msg);
        }
    }
}

#[test]
fn second_process_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().display().to_string();

    // Another process holds the guard: opening here fails and names the folder.
    let mut holder = child(dir.path(), "hold")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.map(|l| l.contains(HELD_TOKEN)).unwrap_or(false)),
        "holder never got ready"
    );
    let err = open(dir.path()).unwrap_err();
    assert!(matches!(err, GuardError::Locked { .. }), "{err}");
    assert!(err.to_string().contains(&folder), "{err}");
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());

    // This process holds it: a child fails the same way.
    let guard = open(dir.path()).unwrap();
    let out = child(dir.path(), "try")
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(LOCKED_STATUS));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("ERROR signing guard in {folder}")),
        "{stdout}"
    );
    drop(guard);
    open(dir.path()).unwrap();
}
