//! The review page and its server: decisions made by hand change the manifest and the exported
//! folders at once, are logged, can be undone, and a following `face-sets run` on the
//! same photos keeps them; the server behind the page answers only its own page.

mod util;

use std::fs;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use fs_cache::Cache;
use fs_export::swap::SwapOptions;
use fs_fixtures::review::{
    BIDEN, OBAMA, agent, chromium, decide, entry_with, face_keys, get, headless,
};
use fs_library::{Decision, Error, Library, RejectReason};
use util::{library_of_fixtures, run_pipeline, serve};

fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    count_files(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

fn pngs(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn decisions_change_the_library_at_once_and_later_runs_keep_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (photos, out) = library_of_fixtures(tmp.path());
    let dir: PathBuf = out.join("facesets_swap_ready");
    let cache = Cache::open_read_only(out.join("cache.fsc")).unwrap();
    let options = SwapOptions::default();
    let mut library = Library::open(&dir).unwrap();
    let obama = entry_with(&library, OBAMA);
    let biden = entry_with(&library, BIDEN);
    assert_ne!(obama, biden);
    // The run committed the library; every decision after it moves the revision on.
    let r0 = library.revision();
    assert!(r0 >= 1, "{r0}");

    // Reject one of Obama's faces: its crop goes, the manifest follows.
    let rejected = face_keys(&library, &obama).last().unwrap().clone();
    let applied = library
        .decide(
            &cache,
            Decision::Reject {
                entry: obama.clone(),
                face: rejected.clone(),
                reason: RejectReason::NotThisPerson,
            },
            Some(r0),
            &options,
        )
        .unwrap();
    assert_eq!(applied.revision, r0 + 1);
    assert!(!face_keys(&library, &obama).contains(&rejected));
    let on_disk = Library::open(&dir).unwrap();
    assert!(!face_keys(&on_disk, &obama).contains(&rejected), "saved");

    // Rename Biden: bundles and marker follow the label.
    library
        .decide(
            &cache,
            Decision::Rename {
                entry: biden.clone(),
                label: "Joe Biden".into(),
            },
            Some(r0 + 1),
            &options,
        )
        .unwrap();
    let files = pngs(&dir.join(&biden));
    assert!(
        files.contains(&"Joe_Biden_all.fsz".to_string()),
        "{files:?}"
    );
    assert!(files.contains(&"Joe_Biden.txt".to_string()), "{files:?}");
    assert_eq!(
        library.entry(&biden).unwrap().export.dropped.len(),
        Library::open(&dir)
            .unwrap()
            .entry(&biden)
            .unwrap()
            .export
            .dropped
            .len(),
    );
    assert!(
        !library.entry(&biden).unwrap().export.dropped.is_empty(),
        "the faces its gates dropped stay listed after a rename"
    );
    assert!(!files.contains(&format!("{biden}_all.fsz")), "{files:?}");

    // A page that saw the revision before cannot overwrite the one after.
    let stale = library.decide(
        &cache,
        Decision::Lock {
            entry: obama.clone(),
            locked: true,
        },
        Some(r0 + 1),
        &options,
    );
    assert!(
        matches!(
            stale,
            Err(Error::Conflict { expected, found }) if expected == r0 + 1 && found == r0 + 2
        ),
        "{stale:?}"
    );
    // Neither can a decision about a face the entry does not hold.
    let wrong = library.decide(
        &cache,
        Decision::Reject {
            entry: biden.clone(),
            face: rejected.clone(),
            reason: RejectReason::NotAFace,
        },
        None,
        &options,
    );
    assert!(matches!(wrong, Err(Error::Decision { .. })), "{wrong:?}");

    // The next run on the same photos keeps both decisions.
    run_pipeline(&photos, &out);
    let library = Library::open(&dir).unwrap();
    assert!(
        !face_keys(&library, &obama).contains(&rejected),
        "rejected stays out"
    );
    assert_eq!(
        library.entry(&biden).unwrap().display_label(),
        "Joe Biden",
        "the label stays"
    );
    assert!(pngs(&dir.join(&biden)).contains(&"Joe_Biden_all.fsz".to_string()));
    assert_eq!(library.decisions().unwrap().revision(), 2);

    // Merge Biden into Obama (as a person would for two clusters of one face), then
    // run again: they stay merged. Undo splits them again.
    let mut library = library;
    let biden_faces = face_keys(&library, &biden);
    let revision = library.revision();
    library
        .decide(
            &cache,
            Decision::Merge {
                from: biden.clone(),
                into: obama.clone(),
            },
            Some(revision),
            &options,
        )
        .unwrap();
    run_pipeline(&photos, &out);
    let mut library = Library::open(&dir).unwrap();
    let merged = face_keys(&library, &obama);
    assert!(
        biden_faces.iter().all(|f| merged.contains(f)),
        "merged stays merged"
    );
    assert!(!merged.contains(&rejected), "and the rejection still holds");
    assert!(!library.entry(&biden).unwrap().is_canonical());
    assert!(dir.join(&biden).join(fs_library::MERGED_MARKER).is_file());
    assert!(
        !pngs(&dir.join(&biden))
            .iter()
            .any(|f| Path::new(f).extension() == Some("fsz".as_ref())),
        "a merged-away identity has no bundles, so roop loads the person once: {:?}",
        pngs(&dir.join(&biden))
    );

    let revision = library.revision();
    let undo = library
        .decide(&cache, Decision::Undo, Some(revision), &options)
        .unwrap();
    assert!(undo.description.contains("merged"), "{}", undo.description);
    let unmerged = face_keys(&library, &obama);
    assert!(biden_faces.iter().all(|f| !unmerged.contains(f)), "undone");
    assert!(library.entry(&biden).unwrap().is_canonical());
    assert!(!dir.join(&biden).join(fs_library::MERGED_MARKER).exists());
    assert!(
        pngs(&dir.join(&biden)).contains(&"Joe_Biden_all.fsz".to_string()),
        "undo brings the bundles back"
    );
    assert_eq!(
        library.decisions().unwrap().records().len(),
        4,
        "the undo is logged too"
    );

    // Split one of Biden's faces into a new identity and lock Obama: the next run keeps
    // both. Moving Biden's last face away would empty him, which is refused.
    let biden_faces = face_keys(&library, &biden);
    assert!(biden_faces.len() >= 2, "{biden_faces:?}");
    let split = library
        .decide(
            &cache,
            Decision::Split {
                entry: biden.clone(),
                faces: vec![biden_faces[0].clone()],
                label: "Young Joe".into(),
            },
            None,
            &options,
        )
        .unwrap();
    let young = split.created.unwrap();
    assert_eq!(face_keys(&library, &young), [biden_faces[0].clone()]);
    assert!(dir.join(&young).join("Young_Joe_all.fsz").is_file());
    let emptying = library.decide(
        &cache,
        Decision::Move {
            face: biden_faces[1].clone(),
            from: biden.clone(),
            to: obama.clone(),
        },
        None,
        &options,
    );
    assert!(
        matches!(emptying, Err(Error::Decision { .. })),
        "{emptying:?}"
    );
    assert!(
        face_keys(&library, &biden).contains(&biden_faces[1]),
        "unchanged"
    );
    library
        .decide(
            &cache,
            Decision::Lock {
                entry: obama.clone(),
                locked: true,
            },
            None,
            &options,
        )
        .unwrap();
    let obama_before = face_keys(&library, &obama);
    run_pipeline(&photos, &out);
    let mut library = Library::open(&dir).unwrap();
    assert_eq!(
        face_keys(&library, &young),
        [biden_faces[0].clone()],
        "split stays apart"
    );
    assert!(!face_keys(&library, &biden).contains(&biden_faces[0]));
    assert_eq!(face_keys(&library, &obama), obama_before, "locked");

    // Undo the lock, then the split: the face goes home and the new folder goes.
    library
        .decide(&cache, Decision::Undo, None, &options)
        .unwrap();
    library
        .decide(&cache, Decision::Undo, None, &options)
        .unwrap();
    assert!(library.entry(&young).is_none());
    assert!(!dir.join(&young).exists());
    assert!(face_keys(&library, &biden).contains(&biden_faces[0]));

    // Accept a candidate: the face rejected from Obama first, offered for him again
    // (as `run` offers singletons that resemble an identity). It joins, stops being a
    // candidate, and the next run keeps it there and gives it to no one else.
    let offered = fs_identities::faces::FaceRow::from_cache(&cache, &rejected).unwrap();
    let key = offered.key.clone();
    let row = serde_json::to_value(&offered).unwrap();
    let manifest_path = dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(&manifest_path).unwrap()).unwrap();
    manifest["candidates"] = serde_json::json!([{
        "faceset": obama, "png": "_candidates/x.png", "face": row, "distance": 0.45,
        "quality": {"frontality": 0.9, "det_score": 0.9, "symmetry": 0.9, "size": 0.9,
                    "sharpness": 0.9, "composite": 0.9},
    }]);
    fs::write(&manifest_path, manifest.to_string()).unwrap();
    // A library whose database is gone is imported again from its views.
    for file in ["library.sqlite", "library.sqlite-wal", "library.sqlite-shm"] {
        let _ = fs::remove_file(dir.join(file));
    }
    let mut library = Library::open(&dir).unwrap();
    let accept = |library: &mut Library| {
        let decision = Decision::Accept {
            face: key.clone(),
            entry: obama.clone(),
        };
        library.decide(&cache, decision, None, &options).unwrap();
    };
    accept(&mut library);
    assert!(
        face_keys(&library, &obama).contains(&key),
        "{:?}",
        library.entry(&obama).unwrap().export.dropped
    );
    assert!(library.manifest().candidates.is_empty());
    // Undone, it is offered again (and out of Obama, as it was); accepted once more.
    library
        .decide(&cache, Decision::Undo, None, &options)
        .unwrap();
    assert_eq!(library.manifest().candidates.len(), 1);
    assert_eq!(library.manifest().candidates[0].face.key, key);
    assert!(!face_keys(&library, &obama).contains(&key));
    accept(&mut library);
    assert!(library.manifest().candidates.is_empty());
    run_pipeline(&photos, &out);
    let library = Library::open(&dir).unwrap();
    assert!(face_keys(&library, &obama).contains(&key), "accepted stays");
    assert!(
        !face_keys(&library, &biden).contains(&key),
        "and is Obama's only"
    );
    assert!(
        library
            .manifest()
            .candidates
            .iter()
            .all(|c| c.face.key != key),
        "and is no candidate again"
    );
}

#[test]
fn the_review_server_answers_only_its_own_page_and_never_loses_an_update() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, out) = library_of_fixtures(tmp.path());
    let (_server, url) = serve(&out);
    let (base, token) = url.split_once("/?token=").unwrap();
    let (base, token) = (base.to_string(), token.to_string());

    // The token, on every route.
    for path in [
        "/",
        "/api/library",
        "/api/singletons",
        "/crop/faceset_001/0",
        "/face/00:0",
    ] {
        assert_eq!(
            get(&format!("{base}{path}")).0,
            403,
            "{path} without the token"
        );
        assert_eq!(
            get(&format!("{base}{path}?token=nope")).0,
            403,
            "{path}, wrong token"
        );
    }
    let (status, page) = get(&url);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("face-sets review"));
    let (status, view) = get(&format!("{base}/api/library?token={token}"));
    assert_eq!(status, 200);
    let view: serde_json::Value = serde_json::from_slice(&view).unwrap();
    let name = view["entries"][0]["name"].as_str().unwrap().to_string();
    let (status, png) = get(&format!("{base}/crop/{name}/0?token={token}"));
    assert_eq!(status, 200);
    assert!(png.starts_with(b"\x89PNG"), "a PNG crop");

    // Thumbnails: made once from the crop, kept on disk, and a page that has one is
    // told it is still good.
    let key = view["entries"][0]["faces"][0]["key"].as_str().unwrap();
    let face_url = format!("{base}/face/{}?token={token}", key.replace(':', "%3A"));
    let mut response = agent().get(&face_url).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let jpeg = response.body_mut().read_to_vec().unwrap();
    let thumbnail = image::load_from_memory(&jpeg).unwrap();
    assert_eq!((thumbnail.width(), thumbnail.height()), (128, 128));
    let kept = count_files(&out.join("thumbnails"));
    assert_eq!(kept, 1, "one thumbnail kept");
    let again = agent()
        .get(&face_url)
        .header("if-none-match", &etag)
        .call()
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);

    // A face the gates dropped has no crop file: its thumbnail is made from its photo.
    let with_dropped = view["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["dropped"].as_u64().unwrap() > 0)
        .expect("the fixtures' gates drop some faces");
    let (status, detail) = get(&format!(
        "{base}/api/entry/{}?token={token}",
        with_dropped["name"].as_str().unwrap()
    ));
    assert_eq!(status, 200);
    let detail: serde_json::Value = serde_json::from_slice(&detail).unwrap();
    assert_eq!(
        detail["faces"].as_array().unwrap().len() as u64,
        with_dropped["count"].as_u64().unwrap()
    );
    let dropped_key = detail["dropped"][0]["key"].as_str().unwrap();
    let (status, jpeg) = get(&format!(
        "{base}/face/{}?token={token}",
        dropped_key.replace(':', "%3A")
    ));
    assert_eq!(status, 200);
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "a JPEG thumbnail");

    // Image routes take keys, names and ranks, never paths.
    for hostile in [
        "/crop/..%2F..%2F..%2Fetc%2Fpasswd/0",
        "/crop/%2Fetc%2Fpasswd/0",
        "/crop/../../../etc/passwd",
        "/crop/faceset_001/..%2Fmanifest.json",
        "/crop/faceset_001/-1",
        "/crop/faceset_001/999",
        "/face/..%2Fmanifest.json",
        "/face/%2Fetc%2Fpasswd",
        "/face/..%2F..%2Fthumbnails",
        "/face/0000000000000000000000000000000000000000000000000000000000000000:0",
        "/api/entry/..%2Fmanifest.json",
        "/manifest.json",
        "/decisions.jsonl",
    ] {
        assert_eq!(
            get(&format!("{base}{hostile}?token={token}")).0,
            404,
            "{hostile}"
        );
    }

    // Changes: the token in the header, and this origin only.
    let r0 = Library::open(out.join("facesets_swap_ready"))
        .unwrap()
        .revision();
    assert_eq!(view["revision"], r0, "the page sees the library's revision");
    let rename = |label: &str, revision: u64| serde_json::json!({"revision": revision, "decision": {"op": "rename", "entry": name, "label": label}});
    assert_eq!(decide(&base, "", None, &rename("x", 0)).0, 403);
    let (status, _) = decide(&base, &token, Some("http://evil.example"), &rename("x", 0));
    assert_eq!(status, 403, "another origin cannot change the library");
    let manifest = out.join("facesets_swap_ready/manifest.json");
    assert!(!fs::read_to_string(&manifest).unwrap().contains("\"x\""));

    // Two tabs that both saw revision 0: one wins, the other is told to reload.
    let racers: Vec<_> = ["Barack", "Joe"]
        .into_iter()
        .map(|label| {
            let (base, token, body) = (base.clone(), token.clone(), rename(label, r0));
            std::thread::spawn(move || decide(&base, &token, Some(&base), &body))
        })
        .collect();
    let mut answers: Vec<(u16, String)> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    answers.sort();
    assert_eq!(answers[0].0, 200, "{answers:?}");
    assert_eq!(answers[1].0, 409, "{answers:?}");
    assert!(answers[1].1.contains("reload"), "{}", answers[1].1);
    let winner: serde_json::Value = serde_json::from_str(&answers[0].1).unwrap();
    assert_eq!(winner["revision"], r0 + 1);

    // Singletons (faces that joined no identity) come a page at a time; one can be
    // added to an identity, and then it is no singleton. The fixtures' run leaves
    // none, so cluster them again as tightly as can be: Eileen Collins, in no identity
    // of the library, is then two singletons.
    fs::remove_dir_all(out.join("raw")).unwrap();
    fs_pipeline::identities::cluster(
        &out.join("cache.fsc"),
        &out.join("raw"),
        &[(fs_packs::thresholds::Family::Cluster, Some(0.05))]
            .into_iter()
            .collect(),
        fs_cluster::graph::GraphChoice::Auto,
        fs_identities::linking::Linking::default(),
        fs_identities::materialize::Mode::Copy,
        &fs_progress::Silent,
    )
    .unwrap();
    let singletons = |offset: usize, limit: usize| -> serde_json::Value {
        let (status, body) = get(&format!(
            "{base}/api/singletons?offset={offset}&limit={limit}&token={token}"
        ));
        assert_eq!(status, 200);
        serde_json::from_slice(&body).unwrap()
    };
    let first = singletons(0, 1);
    let total = first["total"].as_u64().unwrap();
    assert!(total >= 2, "{first}");
    assert_eq!(first["faces"].as_array().unwrap().len(), 1);
    let rest = singletons(1, 1000);
    assert_eq!(
        rest["faces"].as_array().unwrap().len() as u64,
        total - 1,
        "the rest, in one page"
    );
    assert_ne!(rest["faces"][0]["key"], first["faces"][0]["key"]);
    let stranger = first["faces"][0]["key"].as_str().unwrap().to_string();
    let (status, jpeg) = get(&format!(
        "{base}/face/{}?token={token}",
        stranger.replace(':', "%3A")
    ));
    assert_eq!(status, 200);
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "a JPEG thumbnail");
    let accept = serde_json::json!({"revision": r0 + 1, "decision": {"op": "accept", "face": stranger, "entry": name}});
    let (status, body) = decide(&base, &token, Some(&base), &accept);
    assert_eq!(status, 200, "{body}");
    assert_eq!(singletons(0, 1000)["total"].as_u64().unwrap(), total - 1);
    let library = Library::open(out.join("facesets_swap_ready")).unwrap();
    assert!(
        library
            .entry(&name)
            .unwrap()
            .review
            .included
            .iter()
            .any(|f| f.key == stranger)
    );
    // Accepting it again, or into another identity, is refused and changes nothing.
    let again = serde_json::json!({"revision": r0 + 2, "decision": {"op": "accept", "face": stranger, "entry": name}});
    assert_eq!(decide(&base, &token, Some(&base), &again).0, 422);
    // Another singleton said to be no face leaves the list; undo brings it back.
    let left = singletons(0, 1000);
    let noface = left["faces"][0]["key"].as_str().unwrap().to_string();
    let said =
        serde_json::json!({"revision": r0 + 2, "decision": {"op": "not-a-face", "face": noface}});
    let (status, body) = decide(&base, &token, Some(&base), &said);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        singletons(0, 1000)["total"],
        left["total"].as_u64().unwrap() - 1
    );
    let undo = serde_json::json!({"revision": r0 + 3, "decision": {"op": "undo"}});
    assert_eq!(decide(&base, &token, Some(&base), &undo).0, 200);
    assert_eq!(singletons(0, 1000)["total"], left["total"]);

    // Only to loopback names (no DNS rebinding), and every answer forbids framing,
    // referrers and content from elsewhere.
    let raw = |host: &str| -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
        write!(
            stream,
            "GET /api/library?token={token} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer.to_ascii_lowercase()
    };
    let port = base.rsplit(':').next().unwrap();
    for host in ["evil.example", &format!("evil.example:{port}"), "127.0.0.2"] {
        assert!(raw(host).starts_with("http/1.1 403"), "Host: {host}");
    }
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let answer = raw(&host);
        assert!(
            answer.starts_with("http/1.1 200"),
            "Host: {host}: {answer:.200}"
        );
        for header in [
            "content-security-policy: default-src 'self'",
            "x-frame-options: deny",
            "referrer-policy: no-referrer",
        ] {
            assert!(answer.contains(header), "{header} in {answer:.600}");
        }
    }

    // The race's winner named the identity after one of the racing tabs; name it
    // after its person (for the screenshot), then load the page again in a real
    // browser: it shows the decision.
    let raced = fs::read_to_string(&manifest).unwrap();
    assert!(raced.contains("\"Barack\"") ^ raced.contains("\"Joe\""));
    let library = Library::open(out.join("facesets_swap_ready")).unwrap();
    let label = if entry_with(&library, OBAMA) == name {
        "Barack Obama"
    } else {
        "Joe Biden"
    };
    let (status, body) = decide(&base, &token, Some(&base), &rename(label, r0 + 4));
    assert_eq!(status, 200, "{body}");
    let profile = tempfile::tempdir().unwrap();
    let dom = Command::new(chromium())
        .args(headless(profile.path()))
        .args(["--virtual-time-budget=10000", "--dump-dom"])
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains(&format!("<h2>{label}</h2>")), "{dom}");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("review");
    fs::create_dir_all(&shots).unwrap();
    let shot = Command::new(chromium())
        .args(headless(profile.path()))
        .args(["--virtual-time-budget=10000", "--window-size=1100,700"])
        .arg(format!(
            "--screenshot={}",
            shots.join("review.png").display()
        ))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    assert!(shots.join("review.png").is_file());
}

/// Headless Chromium on a page, driven over the `DevTools` protocol: the test runs the
/// page's own buttons and keys, as a person would.
struct Browser {
    child: Child,
    socket: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
    next: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn open(url: &str) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium())
            .args(headless(profile.path()))
            .args(["--remote-debugging-port=0", "--window-size=1100,800"])
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let endpoint = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("DevTools listening on ").map(str::to_string))
            .expect("Chromium prints its DevTools address");
        // Keep reading, so Chromium never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let port = endpoint
            .trim_start_matches("ws://127.0.0.1:")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let page = (0..100)
            .find_map(|_| {
                let (_, list) = get(&format!("http://127.0.0.1:{port}/json/list"));
                let list: serde_json::Value = serde_json::from_slice(&list).ok()?;
                let found =
                    list.as_array()?.iter().find(|t| t["type"] == "page")?["webSocketDebuggerUrl"]
                        .as_str()
                        .map(str::to_string);
                if found.is_none() {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                found
            })
            .expect("a page target");
        let (socket, _) = tungstenite::connect(page).unwrap();
        Self {
            child,
            socket,
            next: 0,
            _profile: profile,
        }
    }

    /// The value of `expression` in the page (promises awaited).
    fn eval(&mut self, expression: &str) -> serde_json::Value {
        self.next += 1;
        let id = self.next;
        let call = serde_json::json!({
            "id": id,
            "method": "Runtime.evaluate",
            "params": {"expression": expression, "awaitPromise": true, "returnByValue": true},
        });
        self.socket
            .send(tungstenite::Message::Text(call.to_string().into()))
            .unwrap();
        loop {
            let message = self.socket.read().unwrap();
            let tungstenite::Message::Text(text) = message else {
                continue;
            };
            let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
            if answer["id"] == id {
                return answer["result"]["result"]["value"].clone();
            }
        }
    }

    /// Loads the page again and waits until it shows the library.
    fn reload(&mut self) {
        self.eval("window.beforeReload = true; location.reload()");
        self.wait_for(
            "!window.beforeReload && document.readyState === 'complete' && \
             document.querySelectorAll('section.identity').length >= 1",
        );
    }

    /// Waits (up to 30 s) until `condition` is true in the page.
    fn wait_for(&mut self, condition: &str) {
        for _ in 0..300 {
            if self.eval(&format!("Boolean({condition})")) == serde_json::json!(true) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the page never showed: {condition}");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `[name, label, faces]` of every identity the page shows.
fn shown(browser: &mut Browser) -> Vec<(String, String, u64)> {
    let value = browser.eval(
        "[...document.querySelectorAll('section.identity')].map(s => \
         [s.dataset.name, s.querySelector('h2').textContent, s.querySelectorAll('.faces figure').length])",
    );
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v[0].as_str().unwrap().to_string(),
                v[1].as_str().unwrap().to_string(),
                v[2].as_u64().unwrap(),
            )
        })
        .collect()
}

fn section(name: &str) -> String {
    format!("document.querySelector('section[data-name=\"{name}\"]')")
}

#[test]
fn a_person_fixes_identities_on_the_page_and_the_next_run_keeps_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (photos, out) = library_of_fixtures(tmp.path());
    let dir = out.join("facesets_swap_ready");
    let library = Library::open(&dir).unwrap();
    let obama = entry_with(&library, OBAMA);
    let biden = entry_with(&library, BIDEN);
    drop(library);
    let (_server, url) = serve(&out);
    let mut browser = Browser::open(&url);
    browser.wait_for("document.querySelectorAll('section.identity').length >= 2");
    let faces_of = |shown: &[(String, String, u64)], name: &str| {
        shown.iter().find(|s| s.0 == name).map(|s| s.2).unwrap()
    };
    let start = shown(&mut browser);
    let (obama_faces, biden_faces) = (faces_of(&start, &obama), faces_of(&start, &biden));

    // Rename: the button, a name typed into the prompt.
    browser.eval(&format!(
        "window.prompt = () => 'Barack Obama'; {}.querySelector('button.rename').click()",
        section(&obama)
    ));
    browser.wait_for(&format!(
        "{}.querySelector('h2').textContent === 'Barack Obama'",
        section(&obama)
    ));
    // The folder follows at once: bundles and marker named after the label.
    let files = pngs(&dir.join(&obama));
    for expected in ["Barack_Obama_all.fsz", "Barack_Obama.txt"] {
        assert!(files.contains(&expected.to_string()), "{files:?}");
    }
    assert!(!files.contains(&format!("{obama}_all.fsz")), "{files:?}");

    // Reject: select Obama's last face, then the button.
    let last = browser.eval(&format!(
        "{}.querySelector('.faces figure:last-child').dataset.key",
        section(&obama)
    ));
    let last = last.as_str().unwrap().to_string();
    browser.eval(&format!(
        "{s}.querySelector('.faces figure:last-child').click(); {s}.querySelector('button.reject').click()",
        s = section(&obama)
    ));
    browser.wait_for(&format!(
        "{}.querySelectorAll('.faces figure').length === {}",
        section(&obama),
        obama_faces - 1
    ));
    let library = Library::open(&dir).unwrap();
    assert!(!face_keys(&library, &obama).contains(&last));
    assert!(
        library
            .entry(&obama)
            .unwrap()
            .review
            .excluded
            .contains_key(&last)
    );
    let crops = |name: &str| crop_files(&dir.join(name)).len() as u64;
    assert_eq!(crops(&obama), obama_faces - 1, "its crop left the folder");

    // Split one of Biden's faces off, then undo it with the keyboard.
    browser.eval(&format!(
        "window.prompt = () => 'Young Joe'; {s}.querySelector('.faces figure').click(); \
         {s}.querySelector('button.split').click()",
        s = section(&biden)
    ));
    browser
        .wait_for("[...document.querySelectorAll('h2')].some(h => h.textContent === 'Young Joe')");
    let young = Library::open(&dir)
        .unwrap()
        .entries()
        .find(|e| e.display_label() == "Young Joe")
        .unwrap()
        .export
        .name
        .clone();
    assert_eq!(crops(&young), 1);
    assert!(dir.join(&young).join("Young_Joe_all.fsz").is_file());
    assert_eq!(crops(&biden), biden_faces - 1);
    browser.eval("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'u'}))");
    browser
        .wait_for("![...document.querySelectorAll('h2')].some(h => h.textContent === 'Young Joe')");
    browser.wait_for(&format!(
        "{}.querySelectorAll('.faces figure').length === {biden_faces}",
        section(&biden)
    ));
    assert!(
        !dir.join(&young).exists(),
        "the undone split's folder is gone"
    );
    assert_eq!(crops(&biden), biden_faces);

    // Merge Biden into Obama with the chooser.
    browser.eval(&format!(
        "const m = {}.querySelector('.head select'); m.dispatchEvent(new Event('focus')); \
         m.value = '{obama}'; m.dispatchEvent(new Event('change'))",
        section(&biden)
    ));
    browser.wait_for(&format!("{} === null", section(&biden)));
    let merged_faces = obama_faces - 1 + biden_faces;
    assert_eq!(crops(&obama), merged_faces);
    assert!(dir.join(&biden).join(fs_library::MERGED_MARKER).is_file());

    // The library on disk says the same, and so does the page loaded again.
    let manifest = || -> serde_json::Value {
        serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap()
    };
    let entry = |m: &serde_json::Value, name: &str| {
        m["facesets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()
            .clone()
    };
    let m = manifest();
    assert_eq!(entry(&m, &obama)["review"]["label"], "Barack Obama");
    assert_eq!(entry(&m, &biden)["review"]["merged_into"], obama.as_str());
    assert_eq!(
        entry(&m, &obama)["faces"].as_array().unwrap().len() as u64,
        merged_faces,
        "{:#}",
        entry(&m, &obama)
    );
    browser.reload();
    let again = shown(&mut browser);
    assert_eq!(
        again.iter().find(|s| s.0 == obama).unwrap(),
        &(obama.clone(), "Barack Obama".to_string(), merged_faces)
    );
    assert!(again.iter().all(|s| s.0 != biden), "{again:?}");

    // The next run on the same photos keeps every decision (the merged identity may
    // grow: clustering's faces for either side now go to it); the open page shows it.
    let keys = |e: &serde_json::Value| -> Vec<String> {
        e["faces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["face"]["key"].as_str().unwrap().to_string())
            .collect()
    };
    let kept = keys(&entry(&m, &obama));
    let rejected: Vec<String> = entry(&m, &obama)["review"]["excluded"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(rejected.len(), 1);
    run_pipeline(&photos, &out);
    let m = manifest();
    let after = keys(&entry(&m, &obama));
    assert_eq!(entry(&m, &obama)["review"]["label"], "Barack Obama");
    assert!(
        kept.iter().all(|k| after.contains(k)),
        "{kept:?} ⊄ {after:?}"
    );
    assert!(!after.contains(&rejected[0]), "the rejected face stays out");
    assert_eq!(entry(&m, &biden)["review"]["merged_into"], obama.as_str());
    browser.reload();
    let shown_after = shown(&mut browser);
    assert_eq!(
        shown_after.iter().find(|s| s.0 == obama).unwrap(),
        &(
            obama.clone(),
            "Barack Obama".to_string(),
            after.len() as u64
        )
    );
    assert!(shown_after.iter().all(|s| s.0 != biden));
}

/// The crops in `folder`, by name.
fn crop_files(folder: &Path) -> Vec<String> {
    pngs(folder)
        .into_iter()
        .filter(|n| {
            Path::new(n)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("png"))
        })
        .collect()
}

fn crop_times(folder: &Path) -> Vec<(String, std::time::SystemTime)> {
    crop_files(folder)
        .into_iter()
        .map(|n| {
            let modified = fs::metadata(folder.join(&n)).unwrap().modified().unwrap();
            (n, modified)
        })
        .collect()
}

#[test]
fn a_decision_reuses_the_crops_keeps_the_recorded_settings_and_tidies_its_markers() {
    let tmp = tempfile::tempdir().unwrap();
    let (photos, out) = library_of_fixtures(tmp.path());
    let dir = out.join("facesets_swap_ready");
    let cache = Cache::open_read_only(out.join("cache.fsc")).unwrap();
    let mut library = Library::open(&dir).unwrap();
    let obama = entry_with(&library, OBAMA);
    let folder = dir.join(&obama);
    let recorded = library
        .entry(&obama)
        .unwrap()
        .exported_with
        .clone()
        .expect("run records the settings it exported with");
    assert!(!recorded.crop_check, "the run was told --no-crop-check");
    let top = recorded.options.top_n;
    // Settings for entries that recorded none; this one did, so they must not apply.
    let fallback = SwapOptions {
        top_n: 7,
        ..SwapOptions::default()
    };
    let faces = face_keys(&library, &obama);
    let crops = crop_times(&folder);

    // The photos are gone for now: a decision reads the crops it made, not the photos.
    let away = tmp.path().join("photos-elsewhere");
    fs::rename(&photos, &away).unwrap();
    let rename = |library: &mut Library, label: &str| {
        library
            .decide(
                &cache,
                Decision::Rename {
                    entry: obama.clone(),
                    label: label.into(),
                },
                None,
                &fallback,
            )
            .unwrap();
    };
    rename(&mut library, "Barack");
    assert_eq!(face_keys(&library, &obama), faces, "every crop kept");
    assert!(library.entry(&obama).unwrap().errors.is_empty());
    assert_eq!(crop_times(&folder), crops, "and none written again");
    let files = pngs(&folder);
    assert!(files.contains(&format!("Barack_top{top}.fsz")), "{files:?}");
    assert!(!files.iter().any(|f| f.contains("_top7")), "{files:?}");
    assert!(files.contains(&"Barack.txt".to_string()), "{files:?}");

    // A second name replaces the first one's marker; undo brings it back, and undoing
    // the first name leaves the bundles as the run named them, and no marker.
    rename(&mut library, "Barack Obama");
    let files = pngs(&folder);
    assert!(files.contains(&"Barack_Obama.txt".to_string()), "{files:?}");
    assert!(!files.contains(&"Barack.txt".to_string()), "{files:?}");
    assert!(
        !files.iter().any(|f| f.starts_with("Barack_top")),
        "{files:?}"
    );
    let undo = |library: &mut Library| {
        library
            .decide(&cache, Decision::Undo, None, &fallback)
            .unwrap();
    };
    undo(&mut library);
    let files = pngs(&folder);
    assert!(files.contains(&"Barack.txt".to_string()), "{files:?}");
    assert!(
        !files.contains(&"Barack_Obama.txt".to_string()),
        "{files:?}"
    );
    undo(&mut library);
    let files = pngs(&folder);
    assert!(!files.iter().any(|f| f.starts_with("Barack")), "{files:?}");
    assert!(
        files.contains(&format!("{obama}_top{top}.fsz")),
        "{files:?}"
    );
    assert!(files.contains(&format!("{obama}_all.fsz")), "{files:?}");
    assert_eq!(crop_times(&folder), crops);
    fs::rename(&away, &photos).unwrap();

    // What a person said is no face joins no identity a workflow adds later, and
    // neither does a face a person moved into an identity: a hand-sorted folder of
    // Biden's photos, with one of Obama's in it by mistake, brings only Biden's face
    // that was not moved.
    let biden = entry_with(&library, BIDEN);
    let biden_rows = library.entry(&biden).unwrap().face_rows();
    assert_eq!(biden_rows.len(), 2, "{biden_rows:?}");
    let (not_a_face, moved) = (faces[faces.len() - 1].clone(), biden_rows[0].key.clone());
    library
        .decide(
            &cache,
            Decision::Reject {
                entry: obama.clone(),
                face: not_a_face.clone(),
                reason: RejectReason::NotAFace,
            },
            None,
            &fallback,
        )
        .unwrap();
    library
        .decide(
            &cache,
            Decision::Move {
                face: moved,
                from: biden,
                to: obama.clone(),
            },
            None,
            &fallback,
        )
        .unwrap();
    let mut folder_faces = biden_rows.clone();
    folder_faces.push(fs_identities::faces::FaceRow::from_cache(&cache, &not_a_face).unwrap());
    let changes = library
        .add(
            &cache,
            &[fs_library::NewFaceset {
                faces: folder_faces,
                kind: fs_library::Kind::HandSorted,
                label: "biden-folder".into(),
                sources: Vec::new(),
                params: serde_json::Value::Null,
                marker: "biden-folder".into(),
                label_bundles: true,
                thin: false,
                suffix: String::new(),
            }],
            &SwapOptions::default(),
        )
        .unwrap();
    assert_eq!(
        face_keys(&library, &changes.added[0]),
        [biden_rows[1].key.clone()]
    );
}

#[test]
fn a_library_of_50000_faces_opens_with_a_first_view_of_each_identitys_best() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let large =
        fs_fixtures::library::write_large(&out.join("facesets_swap_ready"), 300, 50_000).unwrap();
    assert_eq!(large.faces(), 50_000);
    let opened = Library::open(out.join("facesets_swap_ready")).unwrap();
    assert_eq!(opened.entries().count(), 300, "the current format");
    drop(opened);
    drop(Cache::open(out.join("cache.fsc")).unwrap());
    let (_server, url) = serve(&out);
    let (base, token) = url.split_once("/?token=").unwrap();

    // The first view: every identity, its twelve best faces and its count.
    let (status, body) = get(&format!("{base}/api/library?token={token}"));
    assert_eq!(status, 200);
    let view: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let entries = view["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 300);
    for (entry, (name, size)) in entries.iter().zip(&large.identities) {
        assert_eq!(entry["name"], name.as_str());
        assert_eq!(entry["count"].as_u64(), u64::try_from(*size).ok());
        let faces = entry["faces"].as_array().unwrap();
        assert_eq!(faces.len(), (*size).min(12));
        assert_eq!(faces[0]["rank"], 0, "best first");
    }
    assert!(
        body.len() < 1_000_000,
        "the first view is {} bytes",
        body.len()
    );

    // The largest identity whole, on demand; one of its thumbnails.
    let (name, size) = &large.identities[0];
    assert!(*size > 1000, "{size}");
    let (status, body) = get(&format!("{base}/api/entry/{name}?token={token}"));
    assert_eq!(status, 200);
    let whole: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let faces = whole["faces"].as_array().unwrap();
    assert_eq!(faces.len(), *size);
    let key = faces[size - 1]["key"].as_str().unwrap();
    let (status, jpeg) = get(&format!(
        "{base}/face/{}?token={token}",
        key.replace(':', "%3A")
    ));
    assert_eq!(status, 200);
    assert!(jpeg.starts_with(&[0xFF, 0xD8]));

    // The page renders each identity's first row, and offers the rest. (Headless
    // Chromium loads every lazy image of a dumped page; thumbnails are not what is
    // looked at here.)
    let profile = tempfile::tempdir().unwrap();
    let dom = Command::new(chromium())
        .args(headless(profile.path()))
        .args([
            "--virtual-time-budget=30000",
            "--blink-settings=imagesEnabled=false",
            "--dump-dom",
        ])
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(dom.matches("<section class=\"identity").count(), 300);
    let figures = dom.matches("<figure").count();
    let expected: usize = large.identities.iter().map(|(_, n)| (*n).min(12)).sum();
    assert_eq!(figures, expected);
    assert!(
        dom.contains(&format!("Show all {size}")),
        "the largest offers the rest"
    );
}
