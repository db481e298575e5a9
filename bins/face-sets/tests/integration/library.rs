//! The library as a database: whatever happens to the programs writing it (kill -9 in
//! the middle of a burst of decisions or of `run`, a `run` while the page is open, two
//! review pages at once, refused decisions), every decision answered 200 is in force
//! and the folders, `manifest.json` and the database say the same.
#![allow(
    clippy::case_sensitive_file_extension_comparisons,
    reason = "the library writes these names itself, in lower case"
)]

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::util::{
    BIDEN, Fixture, OBAMA, Stop, decide, entry_with, face_keys, face_sets, fixture_library, get,
    run, run_pipeline, serve, stderr,
};
use fs_cache::Cache;
use fs_export::swap::{FacesetExport, SwapOptions};
use fs_library::{Decision, Error, Library, RejectReason};

/// Opens the library as a restarted program would (putting right what a killed one
/// left), and checks that its views show its database: `manifest.json`,
/// `decisions.jsonl`, and in every identity's folder its manifest, exactly its crops,
/// and its two bundles holding them (none, and a `MERGED.txt`, once merged away); no
/// folder of an identity the database does not have.
fn assert_consistent(dir: &Path) -> Library {
    let library = Library::open(dir).unwrap();
    let view = fs_library::read_manifest(&dir.join("manifest.json")).unwrap();
    assert_eq!(
        &view,
        library.manifest(),
        "manifest.json shows the database"
    );
    let records = library.decisions().unwrap().records().to_vec();
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "no seq twice: {seqs:?}"
    );
    let log = fs::read_to_string(dir.join("decisions.jsonl")).unwrap_or_default();
    assert_eq!(
        log.lines().count(),
        records.len(),
        "decisions.jsonl shows them"
    );
    let mut folders = BTreeSet::new();
    for entry in library.entries() {
        let folder = dir.join(entry.dir());
        folders.insert(entry.dir().to_string());
        let own: FacesetExport =
            serde_json::from_slice(&fs::read(folder.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(own, entry.export, "{}: its manifest", entry.dir());
        let files: BTreeSet<String> = fs::read_dir(&folder)
            .unwrap()
            .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let crops: BTreeSet<String> = files
            .iter()
            .filter(|f| f.ends_with(".png"))
            .cloned()
            .collect();
        let listed: BTreeSet<String> = entry.export.faces.iter().map(|f| f.png.clone()).collect();
        assert_eq!(crops, listed, "{}: exactly its crops", entry.dir());
        let bundles: BTreeSet<&String> = files.iter().filter(|f| f.ends_with(".fsz")).collect();
        assert!(!files.iter().any(|f| f.ends_with(".tmp")), "{files:?}");
        if entry.review.merged_into.is_some() {
            assert!(
                bundles.is_empty(),
                "{}: merged, no bundles: {files:?}",
                entry.dir()
            );
            assert!(files.contains(fs_library::MERGED_MARKER));
            continue;
        }
        assert!(!files.contains(fs_library::MERGED_MARKER), "{files:?}");
        let top = &entry.export.top_bundle;
        let all = &entry.export.all_bundle;
        assert_eq!(
            bundles,
            BTreeSet::from([top, all]),
            "{}: its bundles",
            entry.dir()
        );
        let top_n = entry.exported_with.as_ref().map_or(30, |s| s.options.top_n);
        for (bundle, n) in [(all, listed.len()), (top, listed.len().min(top_n))] {
            let zip = zip::ZipArchive::new(fs::File::open(folder.join(bundle)).unwrap()).unwrap();
            assert_eq!(zip.len(), n, "{}: {bundle} holds its crops", entry.dir());
        }
        if let Some(label) = &entry.review.label {
            let marker = format!("{}.txt", fs_library::safe_label(label));
            assert!(
                files.contains(&marker),
                "{}: {marker} in {files:?}",
                entry.dir()
            );
        }
    }
    for folder in fs::read_dir(dir).unwrap().flatten() {
        let name = folder.file_name().to_string_lossy().into_owned();
        if name.starts_with("faceset_") && folder.path().is_dir() {
            assert!(
                folders.contains(&name),
                "{name} is no identity of the database, yet its folder is left"
            );
        }
    }
    library
}

/// Every file of the library but its database, by path, with its bytes.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = walkdir(dir)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("library."))
        .collect();
    files.sort();
    files
}

fn walkdir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// The state as the database holds it, for comparing.
fn state(dir: &Path) -> String {
    let library = Library::open(dir).unwrap();
    format!(
        "{} {:?} {}",
        library.revision(),
        library.decisions().unwrap().records(),
        serde_json::to_string(library.manifest()).unwrap()
    )
}

#[test]
fn a_refused_decision_changes_nothing_anywhere() {
    let Fixture {
        _tmp,
        photos,
        out,
        dir,
        cache,
        ..
    } = fixture_library();
    let options = SwapOptions::default();
    let mut library = Library::open(&dir).unwrap();
    let obama = entry_with(&library, OBAMA);
    let every_face: Vec<String> = library
        .entry(&obama)
        .unwrap()
        .export
        .faces
        .iter()
        .map(|f| f.face.key.clone())
        .collect();
    let files = snapshot(&dir);
    let database = state(&dir);
    let revision = library.revision();
    let long = "x".repeat(10_000);
    let refused = [
        (
            Decision::Split {
                entry: obama.clone(),
                faces: every_face,
                label: "everyone".into(),
            },
            Some(revision),
        ),
        (
            Decision::Rename {
                entry: obama.clone(),
                label: String::new(),
            },
            Some(revision),
        ),
        (
            Decision::Rename {
                entry: obama.clone(),
                label: long,
            },
            Some(revision),
        ),
        (
            Decision::Rename {
                entry: obama.clone(),
                label: "a/b".into(),
            },
            None,
        ),
        (
            Decision::Reject {
                entry: obama.clone(),
                face: format!("{}:0", "00".repeat(32)),
                reason: RejectReason::NotAFace,
            },
            None,
        ),
        (
            Decision::Lock {
                entry: obama.clone(),
                locked: true,
            },
            Some(revision.saturating_sub(1)),
        ),
        (Decision::Redo, None),
    ];
    for (decision, expected) in refused {
        let what = decision.describe();
        let err = library
            .decide(&cache, decision, expected, &options)
            .unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, Error::Decision { .. } | Error::Conflict { .. }),
            "{what}: {message}"
        );
        assert!(
            message.len() < 300,
            "a message a person can read: {message}"
        );
        assert_eq!(snapshot(&dir), files, "{what}: the files are as they were");
        assert_eq!(state(&dir), database, "{what}: the database is as it was");
        assert_eq!(library.revision(), revision, "{what}: and so is the value");
    }
    // The next decision brings none of them in: no phantom identity, no long label.
    let applied = library
        .decide(
            &cache,
            Decision::Lock {
                entry: obama,
                locked: true,
            },
            Some(revision),
            &options,
        )
        .unwrap();
    assert_eq!(applied.revision, revision + 1);
    let library = assert_consistent(&dir);
    assert!(library.entries().all(|e| !e.export.faces.is_empty()));
    assert!(library.entries().all(|e| e.display_label().len() < 200));
    // And the run after it passes; a run after that, with nothing new, commits
    // nothing and rewrites no file of the library.
    let again = run(face_sets()
        .args(["run", "--min-faces", "2", "--no-crop-check"])
        .arg(&photos)
        .arg(&out));
    assert!(again.status.success(), "{}", stderr(&again));
    let revision = Library::open(&dir).unwrap().revision();
    let files = snapshot(&dir);
    let stamps = modified(&dir);
    let unchanged = run(face_sets()
        .args(["run", "--min-faces", "2", "--no-crop-check"])
        .arg(&photos)
        .arg(&out));
    assert!(unchanged.status.success(), "{}", stderr(&unchanged));
    assert_eq!(
        Library::open(&dir).unwrap().revision(),
        revision,
        "nothing committed"
    );
    assert_eq!(snapshot(&dir), files);
    assert_eq!(modified(&dir), stamps, "no file rewritten");
}

/// When each file of the library but its database was last written.
fn modified(dir: &Path) -> Vec<(String, std::time::SystemTime)> {
    let mut stamps: Vec<_> = walkdir(dir)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("library."))
        .map(|(p, _)| {
            let time = fs::metadata(dir.join(&p)).unwrap().modified().unwrap();
            (p, time)
        })
        .collect();
    stamps.sort();
    stamps
}

/// A small deterministic generator, so a failing round can be replayed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// The library's revision as the page sees it.
fn page_revision(base: &str, token: &str) -> u64 {
    let (status, body) = get(&format!("{base}/api/library?token={token}"));
    assert_eq!(status, 200);
    serde_json::from_slice::<serde_json::Value>(&body).unwrap()["revision"]
        .as_u64()
        .unwrap()
}

/// Sends `decision` on the revision the page sees, again on 409 (another writer
/// committed) or 503 (busy); returns the answer once it is 200 or 422, or `None`
/// when the server went away.
fn decide_until_answered(
    base: &str,
    token: &str,
    decision: &serde_json::Value,
) -> Option<(u16, serde_json::Value)> {
    for _ in 0..200 {
        let revision = std::panic::catch_unwind(|| page_revision(base, token)).ok()?;
        let body = serde_json::json!({"revision": revision, "decision": decision});
        let (status, text) =
            std::panic::catch_unwind(|| decide(base, token, Some(base), &body)).ok()?;
        match status {
            409 | 503 => std::thread::sleep(Duration::from_millis(20)),
            _ => return Some((status, serde_json::from_str(&text).unwrap_or_default())),
        }
    }
    panic!("never answered: {decision}");
}

/// Whether `answered` come in this order among the decisions of `library`.
fn in_force(library: &Library, answered: &[serde_json::Value]) -> bool {
    let logged: Vec<serde_json::Value> = library
        .decisions()
        .unwrap()
        .records()
        .iter()
        .map(|r| serde_json::to_value(&r.decision).unwrap())
        .collect();
    let mut next = logged.iter();
    answered.iter().all(|a| {
        let undo = a["op"] == "undo" || a["op"] == "redo";
        next.any(|l| {
            if undo {
                l["op"] == a["op"] || a["op"] == "redo"
            } else {
                l == a
            }
        })
    })
}

#[test]
fn kill_9_of_the_review_server_in_bursts_of_decisions_loses_nothing_answered() {
    let Fixture { _tmp, out, dir, .. } = fixture_library();
    let library = Library::open(&dir).unwrap();
    let obama = entry_with(&library, OBAMA);
    let biden = entry_with(&library, BIDEN);
    let face = library.entry(&obama).unwrap().export.faces[0]
        .face
        .key
        .clone();
    drop(library);
    let mut random = Lcg(2026);
    let mut answered: Vec<serde_json::Value> = Vec::new();
    let mut killed_mid_burst = 0;
    let mut healed = 0;
    for round in 0..20 {
        // The burst starts from whatever the last kill left: a split or merge not
        // undone yet is undone first, and the face moves from wherever it is.
        let library = Library::open(&dir).unwrap();
        let last = library
            .decisions()
            .unwrap()
            .undoable()
            .map(|r| r.decision.clone());
        let holder = match &last {
            // Undone first: the face goes back where it was.
            Some(Decision::Split { entry, .. }) => Some(entry.clone()),
            Some(Decision::Merge { into, .. }) => Some(into.clone()),
            _ => None,
        };
        let holder = holder.unwrap_or_else(|| {
            library
                .entries()
                .find(|e| {
                    e.review.merged_into.is_none()
                        && e.export.faces.iter().any(|f| f.face.key == face)
                })
                .map(|e| e.export.name.clone())
                .unwrap()
        });
        drop(library);
        let mut burst = Vec::new();
        if matches!(last, Some(Decision::Split { .. } | Decision::Merge { .. })) {
            burst.push(serde_json::json!({"op": "undo"}));
        }
        let (home, away) = if holder == biden {
            (&biden, &obama)
        } else {
            (&obama, &biden)
        };
        burst.extend([
            serde_json::json!({"op": "rename", "entry": obama, "label": format!("Barack {round}")}),
            serde_json::json!({"op": "move", "face": face, "from": home, "to": away}),
            serde_json::json!({"op": "move", "face": face, "from": away, "to": home}),
            serde_json::json!({"op": "split", "entry": home, "faces": [face], "label": format!("split {round}")}),
            serde_json::json!({"op": "undo"}),
            serde_json::json!({"op": "merge", "from": away, "into": home}),
            serde_json::json!({"op": "undo"}),
            serde_json::json!({"op": "rename", "entry": biden, "label": format!("Joe {round}")}),
        ]);
        let size = burst.len();
        let (child, url) = serve(&out);
        let (base, token) = url.split_once("/?token=").unwrap();
        let (base, token) = (base.to_string(), token.to_string());
        let sender = std::thread::spawn(move || {
            let mut done = Vec::new();
            for decision in burst {
                match decide_until_answered(&base, &token, &decision) {
                    Some((200, _)) => done.push(decision),
                    Some((status, answer)) => panic!("{decision}: {status} {answer}"),
                    None => break,
                }
            }
            done
        });
        std::thread::sleep(Duration::from_millis(random.next(600)));
        let mut child = Stop(child);
        child.0.kill().unwrap(); // SIGKILL
        let _ = child.0.wait();
        let done = sender.join().unwrap();
        if done.len() < size {
            killed_mid_burst += 1;
        }
        answered.extend(done);
        // After a restart: every answered decision holds, and the views agree.
        let library = assert_consistent(&dir);
        assert!(
            in_force(&library, &answered),
            "round {round}: an answered decision was lost"
        );
        if library.healed().iter().any(|l| l.contains("put right")) {
            healed += 1;
        }
    }
    assert!(
        healed >= 1,
        "no kill landed while a decision was being written ({killed_mid_burst} mid-burst)"
    );
    assert!(
        killed_mid_burst >= 5,
        "the kills landed mid-burst only {killed_mid_burst} times"
    );
    // Whatever the last kill left: every identity keeps its faces.
    let library = assert_consistent(&dir);
    assert!(library.entries().all(|e| !e.export.faces.is_empty()));
}

#[test]
fn a_run_while_the_page_is_open_and_a_second_page_lose_no_decision() {
    let Fixture {
        _tmp,
        photos,
        out,
        dir,
        ..
    } = fixture_library();
    let library = Library::open(&dir).unwrap();
    let names: Vec<String> = library.entries().map(|e| e.export.name.clone()).collect();
    drop(library);
    let (first, first_url) = serve(&out);
    let (second, second_url) = serve(&out);
    let (_first, _second) = (Stop(first), Stop(second));
    // `run` over and over on the same output while two pages decide.
    let runner = {
        std::thread::spawn(move || {
            for _ in 0..3 {
                run_pipeline(&photos, &out);
            }
        })
    };
    let pages: Vec<_> = [first_url, second_url]
        .into_iter()
        .enumerate()
        .map(|(page, url)| {
            let names = names.clone();
            std::thread::spawn(move || {
                let (base, token) = url.split_once("/?token=").unwrap();
                let mut done = Vec::new();
                for i in 0..10 {
                    let entry = &names[(i + page) % names.len()];
                    let decision = if i % 2 == 0 {
                        serde_json::json!({"op": "lock", "entry": entry, "locked": page == 0})
                    } else {
                        serde_json::json!({"op": "rename", "entry": entry, "label": format!("page {page} #{i}")})
                    };
                    let (status, answer) = decide_until_answered(base, token, &decision).unwrap();
                    assert_eq!(status, 200, "{decision}: {answer}");
                    done.push(decision);
                }
                done
            })
        })
        .collect();
    let answered: Vec<Vec<serde_json::Value>> =
        pages.into_iter().map(|p| p.join().unwrap()).collect();
    runner.join().unwrap();
    let library = assert_consistent(&dir);
    for (page, done) in answered.iter().enumerate() {
        assert!(in_force(&library, done), "page {page} lost a decision");
    }
    assert_eq!(
        library.decisions().unwrap().records().len(),
        20,
        "each decision once"
    );
    // What the last decision about each identity said is what it holds.
    let mut last = std::collections::BTreeMap::new();
    for record in library.decisions().unwrap().records() {
        if let Decision::Rename { entry, label } = &record.decision {
            last.insert(entry.clone(), label.clone());
        }
    }
    for (entry, label) in last {
        assert_eq!(
            library.entry(&entry).unwrap().review.label.as_deref(),
            Some(label.as_str())
        );
    }
}

#[test]
fn kill_9_of_run_mid_export_leaves_the_library_consistent_and_the_next_run_heals_it() {
    let Fixture {
        _tmp,
        photos,
        out,
        dir,
        cache,
        ..
    } = fixture_library();
    // A decision to keep, then new settings so the next run makes every crop again.
    let mut library = Library::open(&dir).unwrap();
    let obama = entry_with(&library, OBAMA);
    library
        .decide(
            &cache,
            Decision::Rename {
                entry: obama.clone(),
                label: "Barack".into(),
            },
            None,
            &SwapOptions::default(),
        )
        .unwrap();
    drop(library);
    let mut random = Lcg(7);
    let mut killed = 0;
    // Six rounds at least, more (up to twelve) until three were killed mid-way.
    for round in 0..12 {
        if round >= 6 && killed >= 3 {
            break;
        }
        let mut child = face_sets()
            .args(["run", "--min-faces", "2", "--no-crop-check", "--pad-ratio"])
            .arg(if round % 2 == 0 { "0.4" } else { "0.5" })
            .arg(&photos)
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Killed while it writes the library: its lock file names it then.
        let lock = dir.join(fs_library::LOCK_FILE);
        let start = std::time::Instant::now();
        while fs::read_to_string(&lock).unwrap_or_default().is_empty()
            && child.try_wait().unwrap().is_none()
            && start.elapsed() < Duration::from_mins(1)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(random.next(15)));
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        child.kill().unwrap();
        let _ = child.wait();
        let library = assert_consistent(&dir);
        assert_eq!(
            library.entry(&obama).unwrap().review.label.as_deref(),
            Some("Barack"),
            "round {round}: the decision holds"
        );
    }
    assert!(
        killed >= 3,
        "only {killed} runs were killed before they finished"
    );
    let healed = run(face_sets()
        .args(["run", "--min-faces", "2", "--no-crop-check"])
        .arg(&photos)
        .arg(&out));
    assert!(healed.status.success(), "{}", stderr(&healed));
    assert_consistent(&dir);
}

#[test]
fn a_rejected_face_keeps_its_copies_out_and_redo_makes_an_undone_decision_again() {
    let Fixture {
        _tmp,
        photos,
        out,
        dir,
        cache,
        ..
    } = fixture_library();
    let options = SwapOptions::default();
    let mut library = Library::open(&dir).unwrap();
    let obama = entry_with(&library, OBAMA);
    let rejected = library.entry(&obama).unwrap().export.faces[0].face.clone();
    let reject = Decision::Reject {
        entry: obama.clone(),
        face: rejected.key.clone(),
        reason: RejectReason::NotThisPerson,
    };
    let applied = library.decide(&cache, reject, None, &options).unwrap();
    assert!(
        applied.description.starts_with("face #0 of "),
        "faces are named by identity and rank, not by key: {}",
        applied.description
    );
    // Undone, then made again.
    library
        .decide(&cache, Decision::Undo, None, &options)
        .unwrap();
    let members = |library: &Library| face_keys(library, &obama);
    assert!(members(&library).contains(&rejected.key));
    let redo = library
        .decide(&cache, Decision::Redo, None, &options)
        .unwrap();
    assert!(
        redo.description.starts_with("redo: "),
        "{}",
        redo.description
    );
    assert!(!members(&library).contains(&rejected.key), "out again");
    assert!(
        library
            .decide(&cache, Decision::Redo, None, &options)
            .is_err(),
        "nothing left to redo"
    );
    drop(library);

    // A smaller re-encode of the rejected photo arrives: it is another file, with a
    // face of its own key, and stays out with the face it copies.
    let copy = photos.join("copy_of_rejected.jpg");
    let original = image::open(&rejected.path).unwrap();
    original
        .resize(
            original.width() * 9 / 10,
            original.height() * 9 / 10,
            image::imageops::FilterType::Triangle,
        )
        .to_rgb8()
        .save(&copy)
        .unwrap();
    run_pipeline(&photos, &out);
    let library = assert_consistent(&dir);
    let cache = Cache::open_read_only(out.join("cache.fsc")).unwrap();
    let copies: Vec<String> = cache
        .images()
        .filter(|i| i.path.ends_with("copy_of_rejected.jpg"))
        .flat_map(|i| (0..i.faces().len()).map(move |n| format!("{}:{n}", i.hash)))
        .collect();
    assert!(!copies.is_empty(), "the copy has a face in the cache");
    assert!(
        !copies.contains(&rejected.key),
        "another key than the original"
    );
    for key in &copies {
        assert!(
            !members(&library).contains(key),
            "{key} came back as a copy"
        );
    }
}

#[test]
fn a_second_writer_says_who_holds_the_library_and_stops_with_exit_2_after_its_timeout() {
    let Fixture {
        _tmp,
        photos,
        out,
        dir,
        ..
    } = fixture_library();
    let files = snapshot(&dir);
    let database = state(&dir);
    // Another program writing: the operating system's lock on library.lock, with its
    // name in the file.
    let lock_path = dir.join(fs_library::LOCK_FILE);
    let held = fs::OpenOptions::new().write(true).open(&lock_path).unwrap();
    held.try_lock().unwrap();
    fs::write(&lock_path, "face-sets review, pid 4242").unwrap();
    let busy = run(face_sets()
        .args([
            "run",
            "--min-faces",
            "2",
            "--no-crop-check",
            "--lock-timeout",
            "1",
        ])
        .arg(&photos)
        .arg(&out));
    assert_eq!(busy.status.code(), Some(2), "{}", stderr(&busy));
    let said = stderr(&busy);
    assert!(
        said.contains("library busy: face-sets review, pid 4242; waiting"),
        "{said}"
    );
    assert!(
        said.contains("gave up after 1 s (nothing was changed)"),
        "{said}"
    );
    drop(held);
    fs::write(&lock_path, "").unwrap();
    assert_eq!(state(&dir), database, "nothing committed");
    assert_eq!(snapshot(&dir), files, "nothing written");
    // Free again: the same command goes on.
    let free = run(face_sets()
        .args([
            "run",
            "--min-faces",
            "2",
            "--no-crop-check",
            "--lock-timeout",
            "1",
        ])
        .arg(&photos)
        .arg(&out));
    assert!(free.status.success(), "{}", stderr(&free));
}
