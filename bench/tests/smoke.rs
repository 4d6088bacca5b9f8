//! Every scenario of the bench at a tiny size, against the real PostgreSQL
//! and NATS (as CI has them): the output is a table followed by one JSON
//! document whose figures are all positive. Times nothing (a deadline only
//! ends a run that hangs).

use std::io::{Read, Seek, SeekFrom};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Every number in `value`, with its path.
fn numbers(value: &Value, path: &str, out: &mut Vec<(String, f64)>) {
    match value {
        Value::Number(n) => out.push((path.to_string(), n.as_f64().unwrap_or(-1.0))),
        Value::Object(map) => {
            for (key, inner) in map {
                numbers(inner, &format!("{path}.{key}"), out);
            }
        }
        _ => {}
    }
}

/// How long one tiny run may take (it takes ~35 s on two idle cores): past
/// it the bench is killed and the test fails showing where it was (its
/// progress lines), instead of holding CI until its own limit.
const DEADLINE: Duration = Duration::from_secs(600);

/// Runs the bench with `args`, its output in files (a process it started
/// and left behind cannot keep a pipe, and the test, open), killed at
/// [`DEADLINE`].
fn bench(args: &[&str]) -> Output {
    let stdout = tempfile::tempfile().expect("a file for stdout");
    let stderr = tempfile::tempfile().expect("a file for stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventauth-bench"))
        .args(args)
        .stdout(stdout.try_clone().expect("stdout"))
        .stderr(stderr.try_clone().expect("stderr"))
        .spawn()
        .expect("the bench runs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the bench's status") {
            break Some(status);
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |mut file: std::fs::File| {
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0)).expect("rewind");
        file.read_to_end(&mut bytes).expect("read");
        bytes
    };
    let (stdout, stderr) = (read(stdout), read(stderr));
    let Some(status) = status else {
        panic!(
            "the bench was still running after {DEADLINE:?}; it had printed:\n{}\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Runs the bench with `args` (tiny sizes added); returns its table and
/// its JSON, checked to be well-formed, to hold `scenarios`, and to have
/// only positive figures.
fn run(args: &[&str], scenarios: &[&str]) -> (String, Value) {
    let tiny = [
        "--seconds",
        "1",
        "--commands",
        "20",
        "--rate",
        "50",
        "--relay-events",
        "200",
        "--replay-events",
        "200",
        "--list-users",
        "200",
        "--login-clients",
        "2",
        "--check-clients",
        "4",
        "--command-clients",
        "4",
        "--stream-events",
        "300",
        "--stream-commands",
        "5",
        "--erase-events",
        "40",
        "--rss-users",
        "300",
    ];
    let output = bench(&[&tiny[..], args].concat());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (table, json) = stdout.split_at(stdout.find("\n{").expect("a JSON document") + 1);
    assert!(table.starts_with("eventauth bench"), "{table}");
    let report: Value = serde_json::from_str(json).expect("well-formed JSON");
    for scenario in scenarios {
        assert!(
            report.get(scenario).is_some(),
            "{scenario} missing: {report}"
        );
    }
    let mut figures = Vec::new();
    numbers(&report, "", &mut figures);
    for (path, n) in &figures {
        assert!(*n > 0.0, "{path} = {n}: {report}");
    }
    (table.to_string(), report)
}

#[test]
fn every_scenario_runs_and_reports_positive_figures() {
    let (table, report) = run(
        &[],
        &[
            "argon2_verifications_per_s",
            "login",
            "check",
            "doubtfire",
            "saml",
            "visibility",
            "nats",
            "list",
            "kolibri_list",
            "commands",
            "stream",
            "seal_micros",
            "erase",
            "relay",
            "replay",
            "rss",
        ],
    );
    assert_eq!(report["backend"], "postgres");
    // One table row per figure worth a row.
    assert!(table.lines().count() >= 19, "{table}");
}

#[test]
fn the_first_four_scenarios_run_on_the_embedded_store_too() {
    let (_, report) = run(
        &[
            "--backend",
            "sqlite",
            "--scenarios",
            "argon2,login,check,list,kolibri,commands",
        ],
        &[
            "argon2_verifications_per_s",
            "login",
            "check",
            "list",
            "kolibri_list",
            "commands",
        ],
    );
    assert_eq!(report["backend"], "sqlite");
}
