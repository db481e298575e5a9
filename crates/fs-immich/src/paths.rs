//! Turning a path from the server into a safe path under the staging folder.
//!
//! The server's `originalPath` is not trusted: `..`, absolute paths, drive letters,
//! NUL and control bytes, and names too long for any file system are all removed or
//! shortened, so that joining the result to the staging folder can never leave it.

use std::path::PathBuf;

/// Longest component kept, in bytes (file systems allow 255).
const MAX_COMPONENT: usize = 120;
/// Deepest relative path kept (the last components, where the names are).
const MAX_DEPTH: usize = 8;

/// A relative path made only of plain, bounded components, built from `server_path`;
/// `fallback` (sanitised the same way) when nothing usable is left.
pub fn sanitize_relative(server_path: &str, fallback: &str) -> PathBuf {
    let parts: Vec<String> = server_path
        .split(['/', '\\'])
        .filter_map(clean_component)
        .collect();
    let parts = if parts.is_empty() {
        clean_component(fallback).into_iter().collect()
    } else {
        parts
    };
    let start = parts.len().saturating_sub(MAX_DEPTH);
    let mut path = PathBuf::new();
    for part in &parts[start..] {
        path.push(part);
    }
    if path.as_os_str().is_empty() {
        path.push("asset");
    }
    path
}

fn clean_component(raw: &str) -> Option<String> {
    let mut s: String = raw
        .chars()
        .map(|c| match c {
            c if c.is_control() => '_',
            ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c => c,
        })
        .collect();
    s = s.trim_matches(|c: char| c == ' ' || c == '.').to_string();
    if s.is_empty() {
        return None;
    }
    if s.len() > MAX_COMPONENT {
        // Keep the extension; cut the stem on a character boundary.
        let ext = s
            .rsplit_once('.')
            .map(|(_, e)| e.to_string())
            .filter(|e| e.len() <= 10);
        let keep = MAX_COMPONENT - ext.as_ref().map_or(0, |e| e.len() + 1);
        let mut cut = keep;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut short = s[..cut].to_string();
        if let Some(ext) = ext {
            short.push('.');
            short.push_str(&ext);
        }
        s = short;
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Component;

    fn is_plain(p: &std::path::Path) -> bool {
        p.components().all(|c| matches!(c, Component::Normal(_)))
    }

    #[test]
    fn hostile_paths_stay_relative_and_plain() {
        for hostile in [
            "../../etc/passwd",
            "/etc/shadow",
            "C:\\Windows\\system32\\x.jpg",
            "a/../../b.jpg",
            "..",
            "",
            "\0\0",
            "./././",
            "photos/\u{0}evil\u{7}.jpg",
            &format!("deep/{}", "x/".repeat(50)),
            &"n".repeat(4096),
        ] {
            let p = sanitize_relative(hostile, "fallback.jpg");
            assert!(is_plain(&p), "{hostile:?} -> {p:?}");
            assert!(!p.as_os_str().is_empty());
            assert!(p.components().count() <= MAX_DEPTH);
            for c in p.components() {
                let s = c.as_os_str().to_string_lossy();
                assert!(
                    s.len() <= MAX_COMPONENT && !s.contains('\0') && s != "..",
                    "{hostile:?} -> {p:?}"
                );
            }
        }
    }

    #[test]
    fn ordinary_paths_keep_their_shape() {
        assert_eq!(
            sanitize_relative("/usr/src/app/upload/library/admin/2020/IMG_0001.jpg", "x"),
            PathBuf::from("usr/src/app/upload/library/admin/2020/IMG_0001.jpg")
        );
        let long = format!("{}.jpeg", "a".repeat(300));
        let p = sanitize_relative(&long, "x");
        assert!(p.to_string_lossy().ends_with(".jpeg"));
        assert_eq!(
            sanitize_relative("../..", "abc.jpg"),
            PathBuf::from("abc.jpg")
        );
    }
}
