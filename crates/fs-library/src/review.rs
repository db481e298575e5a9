//! Decisions a person makes about identities (`face-sets review`), and how every later
//! step keeps them.
//!
//! A decision changes an entry's [`Review`]: the faces taken out by hand, the faces put
//! in by hand, its label, whether it is locked, whether it was merged into another.
//! Membership is then always "what the automatic step proposes, plus the faces put in,
//! minus the faces taken out" ([`Review::members`]), so a rejected face never rejoins,
//! a face moved elsewhere stays there, merged identities stay merged, and a locked
//! entry is left alone by automatic refreshes.
//!
//! Every decision is appended to `decisions.jsonl` beside the manifest, one JSON line,
//! written and synced before the call returns, with the entries' review state from
//! before it: that is what [`Decision::Undo`] restores. A line cut short by a crash is
//! ignored when the log is read; a damaged line elsewhere is an error naming the file
//! and the line.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use fs_export::faces::FaceRow;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The log of decisions, beside the library's `manifest.json`.
pub const DECISIONS_FILE: &str = "decisions.jsonl";

/// What a person decided about one entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// The name a person gave it; its marker file and bundles are named after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Automatic steps never change its members; only decisions do.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub locked: bool,
    /// Faces taken out by hand (rejected, moved or split away), by key, with why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub excluded: BTreeMap<String, String>,
    /// Faces put in by hand (moved here, merged in), whatever clustering says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included: Vec<FaceRow>,
    /// The entry it was merged into: no identity of its own since. Its folder is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
}

impl Review {
    /// Whether nothing was decided.
    pub fn is_empty(&self) -> bool {
        *self == Review::default()
    }

    /// The faces the outlier gate must leave alone: those a person put in by hand (a
    /// person's choice is not second-guessed by a centroid it moved).
    pub fn exempt_from_outlier_gate(&self) -> BTreeSet<String> {
        self.included.iter().map(|f| f.key.clone()).collect()
    }

    /// The members of an entry whose automatic step proposes `proposed`: those plus the
    /// faces put in by hand, less the faces taken out, each face once, in that order.
    pub fn members(&self, proposed: &[FaceRow]) -> Vec<FaceRow> {
        let mut seen = BTreeSet::new();
        proposed
            .iter()
            .chain(&self.included)
            .filter(|f| !self.excluded.contains_key(&f.key) && seen.insert(f.key.clone()))
            .cloned()
            .collect()
    }
}

/// Why a face was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectReason {
    /// The detector's box holds no face.
    NotAFace,
    /// A face, but of someone else.
    NotThisPerson,
}

impl RejectReason {
    /// As written in an entry's review.
    pub fn describe(self) -> &'static str {
        match self {
            RejectReason::NotAFace => "rejected: not a face",
            RejectReason::NotThisPerson => "rejected: not this person",
        }
    }
}

/// One decision about the library's identities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Decision {
    /// Give `entry` a label.
    Rename {
        /// The entry's name (`faceset_NNN`).
        entry: String,
        /// Its new label.
        label: String,
    },
    /// Take `face` out of `entry` for good.
    Reject {
        /// The entry.
        entry: String,
        /// The face's key (`hash:index`).
        face: String,
        /// Why.
        reason: RejectReason,
    },
    /// Move `face` from one entry to another.
    Move {
        /// The face's key.
        face: String,
        /// The entry it leaves.
        from: String,
        /// The entry it joins.
        to: String,
    },
    /// Take `faces` out of `entry` into a new identity labelled `label`.
    Split {
        /// The entry.
        entry: String,
        /// The faces' keys.
        faces: Vec<String>,
        /// The new identity's label.
        label: String,
    },
    /// Merge `from` into `into`: its faces join `into`, and it is no identity of its own.
    Merge {
        /// The entry merged away.
        from: String,
        /// The entry that stays.
        into: String,
    },
    /// Accept `face` into `entry`: a candidate (a singleton offered in `_candidates/`),
    /// or any face of the cache that no identity holds.
    Accept {
        /// The face's key.
        face: String,
        /// The entry it joins (usually the one it resembles).
        entry: String,
    },
    /// Lock or unlock `entry`.
    Lock {
        /// The entry.
        entry: String,
        /// Locked or not.
        locked: bool,
    },
    /// Undo the latest decision not undone yet.
    Undo,
}

impl Decision {
    /// One line for the user.
    pub fn describe(&self) -> String {
        match self {
            Decision::Rename { entry, label } => format!("{entry} renamed {label:?}"),
            Decision::Reject {
                entry,
                face,
                reason,
            } => format!("{face} {} from {entry}", reason.describe()),
            Decision::Move { face, from, to } => format!("{face} moved from {from} to {to}"),
            Decision::Split {
                entry,
                faces,
                label,
            } => format!("{} faces of {entry} split into {label:?}", faces.len()),
            Decision::Merge { from, into } => format!("{from} merged into {into}"),
            Decision::Accept { face, entry } => format!("{face} accepted into {entry}"),
            Decision::Lock { entry, locked } => {
                format!("{entry} {}", if *locked { "locked" } else { "unlocked" })
            }
            Decision::Undo => "undo".into(),
        }
    }
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// 1, 2, 3, …: also the library's revision once it is written.
    pub seq: u64,
    /// When (seconds since the Unix epoch).
    pub at: u64,
    /// The decision.
    pub decision: Decision,
    /// For an undo: the `seq` it undid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undoes: Option<u64>,
    /// The review of every entry it changed, as it was before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub before: BTreeMap<String, Review>,
    /// The faces of every entry it changed, as they were before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rows_before: BTreeMap<String, Vec<FaceRow>>,
    /// The entry it created (a split's new identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The candidate it accepted, as it was offered (an undo offers it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<fs_export::swap::Candidate>,
}

/// The decisions log of a library.
#[derive(Clone, Debug)]
pub struct DecisionLog {
    path: PathBuf,
    records: Vec<Record>,
}

impl DecisionLog {
    /// Reads `DIR/decisions.jsonl` (none yet is an empty log). A last line cut short
    /// by a crash is dropped; any other line that does not parse is an error.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(DECISIONS_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(Error::Io {
                    path,
                    action: "read",
                    source,
                });
            }
        };
        let complete = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        let mut records = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Record>(line) {
                Ok(record) => records.push(record),
                Err(_) if i + 1 == lines.len() && !complete => {
                    tracing::warn!(path = %path.display(), "dropping a decision cut short by a crash");
                }
                Err(source) => {
                    return Err(Error::DecisionLog {
                        path,
                        line: i + 1,
                        source,
                    });
                }
            }
        }
        Ok(Self { path, records })
    }

    /// Every record, oldest first.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The revision: the `seq` of the latest record (0 for none).
    pub fn revision(&self) -> u64 {
        self.records.last().map_or(0, |r| r.seq)
    }

    /// The latest record that is neither an undo nor undone.
    pub fn undoable(&self) -> Option<&Record> {
        let undone: BTreeSet<u64> = self.records.iter().filter_map(|r| r.undoes).collect();
        self.records
            .iter()
            .rev()
            .find(|r| r.undoes.is_none() && !undone.contains(&r.seq))
    }

    /// Appends `record` as one line, synced to disk before returning. A torn line left
    /// by an earlier crash is cut off first, so it cannot glue onto this one.
    pub fn append(&mut self, record: Record) -> Result<()> {
        let io = |action, source| Error::Io {
            path: self.path.clone(),
            action,
            source,
        };
        let mut line = serde_json::to_vec(&record).expect("a record always serialises");
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&self.path)
            .map_err(|e| io("open", e))?;
        let bytes = fs::read(&self.path).map_err(|e| io("read", e))?;
        let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if whole != bytes.len() {
            file.set_len(whole as u64)
                .map_err(|e| io("cut a torn line", e))?;
        }
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(whole as u64))
            .map_err(|e| io("seek", e))?;
        file.write_all(&line).map_err(|e| io("append", e))?;
        file.sync_all().map_err(|e| io("sync", e))?;
        self.records.push(record);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str) -> FaceRow {
        FaceRow {
            key: key.into(),
            path: PathBuf::from(format!("{key}.jpg")),
            paths: Vec::new(),
            bbox: [0.0, 0.0, 10.0, 10.0],
            det_score: 0.9,
            sharpness: None,
        }
    }

    #[test]
    fn members_are_proposed_plus_included_less_excluded() {
        let review = Review {
            excluded: BTreeMap::from([("b:0".into(), "rejected".into())]),
            included: vec![row("x:0"), row("a:0")],
            ..Review::default()
        };
        let keys: Vec<String> = review
            .members(&[row("a:0"), row("b:0"), row("c:0")])
            .into_iter()
            .map(|f| f.key)
            .collect();
        assert_eq!(keys, ["a:0", "c:0", "x:0"]);
    }

    #[test]
    fn an_excluded_face_stays_out_even_when_included() {
        let review = Review {
            excluded: BTreeMap::from([("x:0".into(), "moved".into())]),
            included: vec![row("x:0")],
            ..Review::default()
        };
        assert!(review.members(&[]).is_empty());
    }

    fn record(seq: u64, decision: Decision, undoes: Option<u64>) -> Record {
        Record {
            seq,
            at: 0,
            decision,
            undoes,
            before: BTreeMap::new(),
            rows_before: BTreeMap::new(),
            created: None,
            accepted: None,
        }
    }

    #[test]
    fn the_log_survives_a_torn_last_line_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = DecisionLog::open(dir.path()).unwrap();
        assert_eq!(log.revision(), 0);
        let lock = Decision::Lock {
            entry: "faceset_001".into(),
            locked: true,
        };
        log.append(record(1, lock.clone(), None)).unwrap();
        // A crash halfway through the next line.
        let path = dir.path().join(DECISIONS_FILE);
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(br#"{"seq":2,"at":0,"decision":{"op":"ren"#);
        fs::write(&path, &bytes).unwrap();

        let mut log = DecisionLog::open(dir.path()).unwrap();
        assert_eq!(log.records().len(), 1);
        assert_eq!(log.records()[0].decision, lock);
        log.append(record(2, Decision::Undo, Some(1))).unwrap();
        let log = DecisionLog::open(dir.path()).unwrap();
        assert_eq!(log.revision(), 2);
        assert!(log.undoable().is_none(), "the one decision is undone");
    }

    #[test]
    fn a_damaged_line_in_the_middle_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(DECISIONS_FILE), "not json\n{}\n").unwrap();
        let message = DecisionLog::open(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("decisions.jsonl") && message.contains("line 1"),
            "{message}"
        );
    }

    #[test]
    fn undo_takes_the_latest_decision_not_undone() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = DecisionLog::open(dir.path()).unwrap();
        let lock = |n: &str| Decision::Lock {
            entry: n.into(),
            locked: true,
        };
        log.append(record(1, lock("a"), None)).unwrap();
        log.append(record(2, lock("b"), None)).unwrap();
        assert_eq!(log.undoable().unwrap().seq, 2);
        log.append(record(3, Decision::Undo, Some(2))).unwrap();
        assert_eq!(log.undoable().unwrap().seq, 1);
    }
}
