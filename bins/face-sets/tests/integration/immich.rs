//! `face-sets immich stage` against a loopback server shaped like Immich.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use fs_immich::mock::{MockAsset, MockImmich};

const KEY: &str = "sk-immich-4b1d-DO-NOT-LEAK";

fn assets(n: usize) -> Vec<MockAsset> {
    let base =
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images/f0012.jpg"))
            .unwrap();
    (0..n)
        .map(|i| {
            let mut bytes = base.clone();
            bytes.extend_from_slice(&u32::try_from(i).unwrap().to_le_bytes());
            MockAsset::image(
                &format!("id-{i:03}"),
                &format!("/library/2024/{i:03}.jpg"),
                bytes,
                (910, 1137),
                vec![[0.0, 0.0, 300.0, 300.0]],
            )
        })
        .collect()
}

fn stage(mock: &MockImmich, staging: &Path, key: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_face-sets"));
    cmd.args([
        "immich",
        "stage",
        "--user",
        "nic",
        "--workers",
        "4",
        "--attempts",
        "2",
        "--backoff-ms",
        "1",
    ])
    .args(extra)
    .arg(staging)
    .env("IMMICH_URL", mock.url())
    .env("IMMICH_API_KEY", key);
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn outage_exits_2_and_the_same_command_resumes() {
    let mock = MockImmich::start(assets(40), KEY);
    let tmp = tempfile::tempdir().unwrap();
    let staging = tmp.path().join("staging");
    let out = std::thread::scope(|scope| {
        scope.spawn(|| {
            while mock.requests() < 30 {
                std::thread::sleep(Duration::from_millis(1));
            }
            mock.set_failing(true);
        });
        stage(&mock, &staging, KEY, &[]).output().unwrap()
    });
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("run the same command again"),
        "{}",
        text(&out)
    );
    let state = staging.join("nic/state.json");
    assert!(state.is_file(), "state saved");

    mock.set_failing(false);
    let out = stage(&mock, &staging, KEY, &[]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("40 IMAGE assets seen"),
        "{}",
        text(&out)
    );
    for (id, n) in mock.originals() {
        assert_eq!(n, 1, "{id} fetched {n} times");
    }
    let queue: Vec<String> =
        serde_json::from_slice(&fs::read(staging.join("nic/queue.json")).unwrap()).unwrap();
    assert_eq!(queue.len(), 40);
}

#[test]
fn wrong_key_is_refused_and_the_key_never_reaches_logs() {
    let mock = MockImmich::start(assets(3), KEY);
    let tmp = tempfile::tempdir().unwrap();
    let staging = tmp.path().join("staging");
    let out = stage(&mock, &staging, "not-the-key", &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("IMMICH_API_KEY"), "{}", text(&out));
    assert!(!staging.exists(), "nothing written");

    // Full tracing: no log line, state file or message carries the key.
    let out = stage(&mock, &staging, KEY, &["-vv"])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(KEY), "key leaked into the output");
    for name in ["state.json", "queue.json"] {
        assert!(
            !fs::read_to_string(staging.join("nic").join(name))
                .unwrap()
                .contains(KEY)
        );
    }
    assert!(!mock.saw_key_in_url());
}

#[test]
fn the_key_is_not_a_flag() {
    // Every other argument is given and valid, so only the key flag can be refused.
    let out = Command::new(env!("CARGO_BIN_EXE_face-sets"))
        .env_remove("IMMICH_URL")
        .env_remove("IMMICH_API_KEY")
        .args([
            "immich",
            "stage",
            "--url",
            "http://127.0.0.1:9",
            "--user",
            "x",
        ])
        .args(["--api-key", KEY, "/tmp/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("unexpected argument '--api-key'"), "{said}");
    assert!(!said.contains(KEY), "the key is never echoed: {said}");
}
