//! The README and the docs cite the files their figures are asserted or measured in:
//! every file they name exists.

use std::path::Path;

#[test]
fn every_file_the_docs_name_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let mut named = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        // Paths in backticks that start at a top folder of the repository.
        for cited in text.split('`').skip(1).step_by(2) {
            let cited = cited.split_once(':').map_or(cited, |(path, _)| path);
            let top = [
                "crates/",
                "bins/",
                "examples/",
                "scripts/",
                "fixtures/",
                "docs/",
            ];
            if top.iter().any(|t| cited.starts_with(t))
                && !cited.contains(['*', ' ', '<', '{'])
                && Path::new(cited).extension().is_some()
            {
                assert!(
                    root.join(cited).exists(),
                    "{} names {cited}, which does not exist",
                    page.display()
                );
                named += 1;
            }
        }
    }
    assert!(named >= 20, "only {named} files named: the scan is broken");
}
