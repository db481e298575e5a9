#![expect(
    clippy::cast_possible_truncation,
    reason = "test values: exact copies compared, small counts cast"
)]
//! Staging against a real HTTP server on 127.0.0.1 shaped like Immich.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fs_cache::ContentHash;
use fs_immich::Error;
use fs_immich::client::Client;
use fs_immich::mock::{MockAsset, MockImmich};
use fs_immich::stage::{Outcome, StageOptions, State, stage};
use fs_progress::Silent;

const KEY: &str = "sk-immich-7f3a9c-SECRET";

fn fixture(name: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/images")
            .join(name),
    )
    .unwrap()
}

/// A face box of `side` pixels in a `size` image.
fn face(side: f64) -> Vec<[f64; 4]> {
    vec![[10.0, 10.0, 10.0 + side, 10.0 + side]]
}

fn options(dir: &Path) -> StageOptions {
    let mut o = StageOptions::new("alice", dir);
    o.workers = 4;
    o.backoff = Duration::from_millis(1);
    o.attempts = 2;
    o
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn state(dir: &Path) -> State {
    serde_json::from_slice(&fs::read(dir.join("alice/state.json")).unwrap()).unwrap()
}

/// Many distinct assets (a trailing index byte makes each original unique).
fn many(n: usize) -> Vec<MockAsset> {
    let base = fixture("f0012.jpg");
    (0..n)
        .map(|i| {
            let mut bytes = base.clone();
            bytes.extend_from_slice(&(i as u32).to_le_bytes());
            MockAsset::image(
                &format!("asset-{i:03}"),
                &format!("/upload/library/alice/2024/{i:03}.jpg"),
                bytes,
                (910, 1137),
                face(300.0),
            )
        })
        .collect()
}

#[test]
fn stages_big_faces_dedups_and_writes_queue_and_state() {
    let mut video = MockAsset::image(
        "v1",
        "/upload/clip.mp4",
        b"not an image".to_vec(),
        (1920, 1080),
        face(400.0),
    );
    video.asset_type = "VIDEO".into();
    video.rendering = Some(fixture("f0001.jpg"));
    let mut preview_scaled = MockAsset::image(
        "scaled",
        "/upload/lib/scaled.jpg",
        fixture("f0003.png"),
        (512, 512),
        vec![[0.0, 0.0, 50.0, 50.0]],
    );
    // The box is 50 px in a 128 px preview of a 512 px original: 200 px, big enough.
    preview_scaled.preview = (128.0, 128.0);
    let assets = vec![
        MockAsset::image(
            "a1",
            "/upload/library/alice/2012/obama.jpg",
            fixture("f0012.jpg"),
            (910, 1137),
            face(300.0),
        ),
        MockAsset::image(
            "a2",
            "/upload/library/alice/copy/obama.jpg",
            fixture("f0009.jpg"),
            (910, 1137),
            face(300.0),
        ),
        MockAsset::image(
            "a3",
            "/upload/library/alice/biden.jpg",
            fixture("f0007.jpg"),
            (1200, 1200),
            face(300.0),
        ),
        MockAsset::image(
            "cat",
            "/upload/library/alice/cat.png",
            fixture("f0004.png"),
            (451, 300),
            vec![],
        ),
        MockAsset::image(
            "tiny",
            "/upload/library/alice/tiny.jpg",
            fixture("f0015.jpg"),
            (320, 240),
            face(40.0),
        ),
        video,
        preview_scaled,
    ];
    let mock = MockImmich::start(assets, KEY);
    let tmp = tempfile::tempdir().unwrap();
    let mut o = options(tmp.path());
    o.dedup_against
        .insert(ContentHash::of_bytes(&fixture("f0007.jpg")));
    let summary = stage(&Client::new(mock.url(), KEY), &o, &Silent).unwrap();
    assert_eq!(summary.seen, 7, "the video is listed too");
    assert_eq!(
        (
            summary.staged,
            summary.deduped_internal,
            summary.deduped_against_cache
        ),
        (3, 1, 1),
        "the video is staged as its still"
    );
    assert_eq!(summary.renderings, 1);
    assert_eq!((summary.no_face, summary.small_face), (1, 1));
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let user = tmp.path().join("alice");
    // One of the two byte-identical assets is staged, whichever finished first.
    let (first, copy) = (
        user.join("upload/library/alice/2012/obama.jpg"),
        user.join("upload/library/alice/copy/obama.jpg"),
    );
    assert!(first.is_file() != copy.is_file());
    assert_eq!(
        fs::read(user.join("upload/lib/scaled.jpg")).unwrap(),
        fixture("f0003.png")
    );
    let queue: Vec<String> =
        serde_json::from_slice(&fs::read(user.join("queue.json")).unwrap()).unwrap();
    assert_eq!(queue.len(), 3);
    assert!(
        queue.iter().any(|p| p.ends_with("clip.mp4.immich.jpg")),
        "{queue:?}"
    );
    assert!(queue.iter().all(|p| Path::new(p).is_file()));
    let st = state(tmp.path());
    assert_eq!(st.done.len(), 7);
    assert!(
        matches!(st.done["a1"], Outcome::Duplicate { .. })
            != matches!(st.done["a2"], Outcome::Duplicate { .. })
    );
    // Downloads only for what passed the face filter.
    let originals = mock.originals();
    assert!(!originals.contains_key("cat") && !originals.contains_key("tiny"));
    assert!(
        !originals.contains_key("v1"),
        "a video's original is never downloaded"
    );

    // A second run finds everything done and fetches nothing.
    let before = mock.originals();
    let again = stage(&Client::new(mock.url(), KEY), &o, &Silent).unwrap();
    assert_eq!((again.already_done, again.staged), (7, 0));
    assert_eq!(mock.originals(), before);
}

#[test]
fn cursor_paging_lists_everything() {
    let mock = MockImmich::start_with(many(7), KEY, 3, true);
    let tmp = tempfile::tempdir().unwrap();
    let summary = stage(
        &Client::new(mock.url(), KEY).with_page_size(3),
        &options(tmp.path()),
        &Silent,
    )
    .unwrap();
    assert_eq!((summary.seen, summary.staged), (7, 7));
}

#[test]
fn outage_trips_the_breaker_then_resume_fetches_nothing_twice() {
    let assets = many(40);
    // Uninterrupted reference run.
    let reference = {
        let mock = MockImmich::start(assets.clone(), KEY);
        let tmp = tempfile::tempdir().unwrap();
        stage(&Client::new(mock.url(), KEY), &options(tmp.path()), &Silent).unwrap();
        let st = state(tmp.path());
        st.done.into_iter().collect::<BTreeMap<_, _>>()
    };

    let mock = MockImmich::start(assets, KEY);
    let tmp = tempfile::tempdir().unwrap();
    let client = Client::new(mock.url(), KEY);
    let outage = std::thread::scope(|scope| {
        scope.spawn(|| {
            // Let some assets through, then take the server down.
            while mock.requests() < 30 {
                std::thread::sleep(Duration::from_millis(1));
            }
            mock.set_failing(true);
        });
        stage(&client, &options(tmp.path()), &Silent)
    });
    let err = outage.unwrap_err();
    assert!(matches!(err, Error::BreakerOpen { .. }), "{err}");
    assert!(
        err.to_string().contains("run the same command again"),
        "{err}"
    );
    let saved = state(tmp.path());
    assert!(
        !saved.done.is_empty() && saved.done.len() < 40,
        "{} done at the outage",
        saved.done.len()
    );

    mock.set_failing(false);
    let resumed = stage(&client, &options(tmp.path()), &Silent).unwrap();
    assert_eq!(resumed.already_done, saved.done.len());
    for (id, count) in mock.originals() {
        assert_eq!(count, 1, "{id} fetched {count} times");
    }
    assert_eq!(
        state(tmp.path())
            .done
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        reference
    );
}

#[test]
fn hostile_answers_never_escape_the_staging_root() {
    let img = fixture("f0012.jpg");
    let variant = |i: u8| {
        let mut b = img.clone();
        b.push(i);
        b
    };
    let mut malformed = MockAsset::image(
        "malformed",
        "/x/m.jpg",
        variant(1),
        (910, 1137),
        face(300.0),
    );
    malformed.faces_override = Some("{\"boundingBoxX1\": [".into());
    let mut storm = MockAsset::image("storm", "/x/s.jpg", variant(2), (910, 1137), face(300.0));
    storm.always_fail = true;
    let assets = vec![
        MockAsset::image(
            "up",
            "../../../../escape.jpg",
            variant(3),
            (910, 1137),
            face(300.0),
        ),
        MockAsset::image("abs", "/etc/passwd", variant(4), (910, 1137), face(300.0)),
        MockAsset::image("nul", "a\0b/c\0d.jpg", variant(5), (910, 1137), face(300.0)),
        MockAsset::image(
            "long",
            &format!("/{}.jpg", "n".repeat(4096)),
            variant(6),
            (910, 1137),
            face(300.0),
        ),
        MockAsset::image(
            "dup1",
            "/same/name.jpg",
            variant(7),
            (910, 1137),
            face(300.0),
        ),
        MockAsset::image(
            "dup2",
            "/same/name.jpg",
            variant(8),
            (910, 1137),
            face(300.0),
        ),
        MockAsset::image(
            "outside",
            "/x/outside.jpg",
            variant(9),
            (910, 1137),
            vec![[-5000.0, -5000.0, 5000.0, 5000.0]],
        ),
        MockAsset::image(
            "../../evil-id",
            "/x/evil.jpg",
            variant(10),
            (910, 1137),
            face(300.0),
        ),
        malformed,
        storm,
    ];
    let mock = MockImmich::start(assets, KEY);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("staging");
    let summary = stage(&Client::new(mock.url(), KEY), &options(&root), &Silent).unwrap();
    for file in files_under(tmp.path()) {
        assert!(
            file.starts_with(&root),
            "{} written outside the staging root",
            file.display()
        );
    }
    assert_eq!(summary.staged, 8, "{summary:?}");
    let failed: Vec<&str> = summary.errors.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(failed.len(), 2, "{:?}", summary.errors);
    assert!(failed.contains(&"malformed") && failed.contains(&"storm"));
    // Both same-named assets were kept, under different names.
    let names: Vec<String> = files_under(&root.join("alice/same"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn wrong_key_is_refused_clearly_and_writes_nothing() {
    let mock = MockImmich::start(many(3), KEY);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("staging");
    let err = stage(
        &Client::new(mock.url(), "wrong-key"),
        &options(&root),
        &Silent,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { status: 401 }), "{err}");
    assert!(err.to_string().contains("IMMICH_API_KEY"));
    assert!(!root.exists(), "nothing written");
}

#[test]
fn unreachable_server_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmp = tempfile::tempdir().unwrap();
    let err = stage(
        &Client::new(&format!("http://127.0.0.1:{port}"), KEY),
        &options(tmp.path()),
        &Silent,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert!(files_under(tmp.path()).is_empty());
}

#[test]
fn the_key_never_appears_in_state_queue_errors_or_urls() {
    let mut assets = many(5);
    assets[1].always_fail = true;
    let mock = MockImmich::start(assets, KEY);
    let tmp = tempfile::tempdir().unwrap();
    let summary = stage(&Client::new(mock.url(), KEY), &options(tmp.path()), &Silent).unwrap();
    assert!(!summary.errors.is_empty());
    for (_, message) in &summary.errors {
        assert!(!message.contains(KEY));
    }
    for file in files_under(tmp.path()) {
        let bytes = fs::read(&file).unwrap();
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "{}",
            file.display()
        );
    }
    assert!(!mock.saw_key_in_url());
    assert!(!format!("{:?}", Client::new(mock.url(), KEY)).contains(KEY));
}

#[test]
fn an_original_that_cannot_be_read_is_staged_as_immichs_rendering_and_says_so() {
    // A "HEIC" this machine cannot read (here: not an image at all) with a rendering,
    // and one on a server without full-size renderings (the preview is taken).
    let mut unreadable = MockAsset::image(
        "heic-1",
        "/upload/library/alice/2024/IMG_0001.HEIC",
        b"ftypheic but not really".to_vec(),
        (910, 1137),
        face(300.0),
    );
    unreadable.rendering = Some(fixture("f0009.jpg"));
    let mut old_server = unreadable.clone();
    old_server.id = "heic-2".into();
    old_server.original_path = "/upload/library/alice/2024/IMG_0002.HEIC".into();
    old_server.rendering = Some(fixture("f0001.jpg"));
    old_server.no_fullsize = true;
    let mut no_rendering = unreadable.clone();
    no_rendering.id = "heic-3".into();
    no_rendering.original_path = "/upload/library/alice/2024/IMG_0003.HEIC".into();
    no_rendering.rendering = None;
    let readable = MockAsset::image(
        "jpeg-1",
        "/upload/library/alice/2024/IMG_0004.JPG",
        fixture("f0002.jpg"),
        (910, 1137),
        face(300.0),
    );
    let server = MockImmich::start(vec![unreadable, old_server, no_rendering, readable], KEY);
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(tmp.path());
    opts.readable = Some(fs_immich::stage::ReadCheck(std::sync::Arc::new(
        |path, _| {
            let bytes = fs::read(path).map_err(|e| e.to_string())?;
            image::load_from_memory(&bytes)
                .map(drop)
                .map_err(|e| format!("cannot decode: {e}"))
        },
    )));
    let summary = stage(&Client::new(server.url(), KEY), &opts, &Silent).unwrap();
    assert_eq!((summary.staged, summary.renderings), (3, 2), "{summary:?}");
    assert_eq!(summary.errors.len(), 1, "no rendering to fall back on");
    assert_eq!(summary.errors[0].0, "heic-3");

    let done = state(tmp.path()).done;
    let staged = |id: &str| match &done[id] {
        Outcome::Staged {
            path,
            rendering_because,
            ..
        } => (path.clone(), rendering_because.clone()),
        other => panic!("{id}: {other:?}"),
    };
    let (path, why) = staged("heic-1");
    assert_eq!(
        path,
        PathBuf::from("upload/library/alice/2024/IMG_0001.HEIC.immich.jpg")
    );
    assert!(why.unwrap().contains("cannot decode"));
    assert_eq!(
        fs::read(tmp.path().join("alice").join(&path)).unwrap(),
        fixture("f0009.jpg")
    );
    let (path, _) = staged("heic-2");
    assert_eq!(
        fs::read(tmp.path().join("alice").join(&path)).unwrap(),
        fixture("f0001.jpg"),
        "the preview, where the server has no full-size rendering"
    );
    assert_eq!(
        staged("jpeg-1"),
        (
            PathBuf::from("upload/library/alice/2024/IMG_0004.JPG"),
            None
        )
    );
    // The queue lists the renderings for embedding.
    let queue = fs::read_to_string(tmp.path().join("alice/queue.json")).unwrap();
    assert!(queue.contains("IMG_0001.HEIC.immich.jpg"), "{queue}");
}

#[test]
fn a_video_is_staged_as_immichs_still_and_its_original_never_downloaded() {
    let mut video = MockAsset::image(
        "video-1",
        "/upload/library/alice/2024/VID_0001.MOV",
        b"\0\0\0\x18ftypqt  not a photo".to_vec(),
        (910, 1137),
        face(300.0),
    );
    video.asset_type = "VIDEO".into();
    video.rendering = Some(fixture("f0009.jpg"));
    let mut other = video.clone();
    other.id = "audio-1".into();
    other.asset_type = "AUDIO".into();
    let server = MockImmich::start(vec![video, other], KEY);
    let tmp = tempfile::tempdir().unwrap();
    let summary = stage(
        &Client::new(server.url(), KEY),
        &options(tmp.path()),
        &Silent,
    )
    .unwrap();
    assert_eq!(
        summary.seen, 1,
        "the audio asset is passed over: {summary:?}"
    );
    assert_eq!((summary.staged, summary.renderings), (1, 1), "{summary:?}");
    assert!(server.originals().is_empty(), "{:?}", server.originals());
    match &state(tmp.path()).done["video-1"] {
        Outcome::Staged {
            path,
            rendering_because,
            ..
        } => {
            assert_eq!(
                path,
                &PathBuf::from("upload/library/alice/2024/VID_0001.MOV.immich.jpg")
            );
            assert!(rendering_because.as_deref().unwrap().contains("video"));
            assert_eq!(
                fs::read(tmp.path().join("alice").join(path)).unwrap(),
                fixture("f0009.jpg")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_second_stager_on_one_folder_is_refused_naming_the_first_and_writes_nothing() {
    let mock = MockImmich::start_with(many(3), KEY, 3, true);
    let tmp = tempfile::tempdir().unwrap();
    let options = options(tmp.path());
    let user = options.user_dir();
    fs::create_dir_all(&user).unwrap();
    // Another process's lock, as `stage` takes it.
    let held = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(user.join(fs_immich::stage::LOCK_FILE))
        .unwrap();
    held.try_lock().unwrap();
    fs::write(
        user.join(fs_immich::stage::LOCK_FILE),
        "face-sets immich stage, pid 4242",
    )
    .unwrap();
    let err = stage(&Client::new(mock.url(), KEY), &options, &Silent).unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err}");
    assert!(err.to_string().contains("pid 4242"), "{err}");
    assert_eq!(
        files_under(&user).len(),
        1,
        "only the lock file: {:?}",
        files_under(&user)
    );
    drop(held);
    let summary = stage(&Client::new(mock.url(), KEY), &options, &Silent).unwrap();
    assert_eq!(summary.staged, 3, "once it is free");
}
