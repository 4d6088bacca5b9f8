//! Every scenario of the bench at a tiny size, against the real PostgreSQL
//! and NATS (as CI has them): the output is a table followed by one JSON
//! document whose figures are all positive. Times nothing.

use std::process::Command;

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

/// Runs the bench with `args` (tiny sizes added); returns its table and
/// its JSON, checked to be well-formed, to hold `scenarios`, and to have
/// only positive figures.
fn run(args: &[&str], scenarios: &[&str]) -> (String, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_eventauth-bench"))
        .args([
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
        ])
        .args(args)
        .output()
        .expect("the bench runs");
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
