//! The example on the fixture photos: three people, each photo under its person.

use std::path::Path;
use std::process::Command;

#[test]
fn lists_the_fixture_people_and_a_second_run_reads_nothing_new() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("photos.fsc");
    let photos = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images");
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_people"))
            .arg(&photos)
            .arg(&cache)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let first = run();
    let labels = std::fs::read_to_string(photos.join("../labels.csv")).unwrap();
    // Every person line is followed by its photos; the photos of one labelled person
    // are never split over two people.
    let label_of = |photo: &str| {
        labels
            .lines()
            .find(|l| photo.ends_with(l.split(',').next().unwrap_or("-")))
            .and_then(|l| l.split(',').nth(1))
            .unwrap_or("")
            .to_string()
    };
    let mut people: Vec<Vec<String>> = Vec::new();
    for line in first.lines() {
        if let Some(photo) = line.strip_prefix("  ") {
            people.last_mut().unwrap().push(label_of(photo));
        } else if line.starts_with("person_") {
            people.push(Vec::new());
        }
    }
    for person in ["Barack_Obama", "Joe_Biden", "Eileen_Collins"] {
        let holding: Vec<usize> = (0..people.len())
            .filter(|&p| people[p].iter().any(|l| l == person))
            .collect();
        assert_eq!(holding.len(), 1, "{person} in {holding:?}:\n{first}");
    }
    assert!(
        first.contains(&format!("{} people;", people.len())),
        "{first}"
    );
    // The cache holds every photo now: the same list comes back.
    assert_eq!(run(), first);
}
