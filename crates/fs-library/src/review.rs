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
use std::fs;
use std::path::Path;

use fs_identities::faces::FaceRow;
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

/// How the reason of every rejection begins.
pub const REJECTED: &str = "rejected:";

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
    /// Say that `face`, which no identity holds (a singleton), is no face at all: no
    /// identity takes it, or its copies, from then on.
    NotAFace {
        /// The face's key.
        face: String,
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
    /// Make again the decision the latest undo took back, when nothing was decided
    /// since.
    Redo,
}

impl Decision {
    /// One line for the user.
    pub fn describe(&self) -> String {
        self.describe_with(&|name| short(name), &|key| short(key))
    }

    /// One line for the user, naming identities with `identity` and faces with `face`
    /// (the library names them by label and rank; [`Decision::describe`] by name and key).
    pub(crate) fn describe_with(
        &self,
        identity: &dyn Fn(&str) -> String,
        face: &dyn Fn(&str) -> String,
    ) -> String {
        match self {
            Decision::Rename { entry, label } => {
                format!("{} renamed {:?}", identity(entry), short(label))
            }
            Decision::Reject {
                entry,
                face: key,
                reason,
            } => format!(
                "{} {} from {}",
                face(key),
                reason.describe(),
                identity(entry)
            ),
            Decision::Move {
                face: key,
                from,
                to,
            } => format!(
                "{} moved from {} to {}",
                face(key),
                identity(from),
                identity(to)
            ),
            Decision::Split {
                entry,
                faces,
                label,
            } => format!(
                "{} {} of {} split into {:?}",
                faces.len(),
                if faces.len() == 1 { "face" } else { "faces" },
                identity(entry),
                short(label)
            ),
            Decision::Merge { from, into } => {
                format!("{} merged into {}", identity(from), identity(into))
            }
            Decision::Accept { face: key, entry } => {
                format!("{} accepted into {}", face(key), identity(entry))
            }
            Decision::NotAFace { face: key } => format!("{} said to be no face", face(key)),
            Decision::Lock { entry, locked } => format!(
                "{} {}",
                identity(entry),
                if *locked { "locked" } else { "unlocked" }
            ),
            Decision::Undo => "undo".into(),
            Decision::Redo => "redo".into(),
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
    /// For a redo: the `seq` of the undo it took back (`decision` is what it made again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redoes: Option<u64>,
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

/// The decisions of a library, oldest first (the `decisions` table of its database;
/// `decisions.jsonl` is a view of it, one record a line).
#[derive(Clone, Debug, Default)]
pub struct DecisionLog {
    records: Vec<Record>,
}

impl DecisionLog {
    /// The log of these records.
    pub(crate) fn of(records: Vec<Record>) -> Self {
        Self { records }
    }

    /// Reads `DIR/decisions.jsonl` (none yet is an empty log), as a library from
    /// before the database kept it. A last line cut short by a crash is dropped; any
    /// other line that does not parse is an error.
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
        Ok(Self { records })
    }

    /// Every record, oldest first.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The `seq` of the latest record (0 for none): the revision of a library from
    /// before the database, whose revision counted decisions.
    pub fn revision(&self) -> u64 {
        self.records.last().map_or(0, |r| r.seq)
    }

    /// The latest record that is neither an undo nor undone.
    pub fn undoable(&self) -> Option<&Record> {
        undoable(&self.records)
    }

    /// The undo a [`Decision::Redo`] takes back: the latest undo not redone yet, when
    /// only undos and redos came after it.
    pub fn redoable(&self) -> Option<&Record> {
        redoable(&self.records)
    }
}

/// See [`DecisionLog::undoable`].
pub(crate) fn undoable(records: &[Record]) -> Option<&Record> {
    let undone: BTreeSet<u64> = records.iter().filter_map(|r| r.undoes).collect();
    records
        .iter()
        .rev()
        .find(|r| r.undoes.is_none() && !undone.contains(&r.seq))
}

/// See [`DecisionLog::redoable`].
pub(crate) fn redoable(records: &[Record]) -> Option<&Record> {
    let mut redone = BTreeSet::new();
    for record in records.iter().rev() {
        if let Some(undo) = record.redoes {
            redone.insert(undo);
        } else if record.undoes.is_some() {
            if !redone.contains(&record.seq) {
                return Some(record);
            }
        } else {
            return None;
        }
    }
    None
}

/// `text` shortened for a message: user input is never echoed at length.
pub(crate) fn short(text: &str) -> String {
    const MOST: usize = 40;
    if text.chars().count() <= MOST {
        text.to_string()
    } else {
        let head: String = text.chars().take(MOST).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

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
            redoes: None,
            before: BTreeMap::new(),
            rows_before: BTreeMap::new(),
            created: None,
            accepted: None,
        }
    }

    fn lock(n: &str) -> Decision {
        Decision::Lock {
            entry: n.into(),
            locked: true,
        }
    }

    #[test]
    fn an_old_log_with_a_torn_last_line_reads_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = serde_json::to_string(&record(1, lock("faceset_001"), None)).unwrap();
        text.push('\n');
        // A crash halfway through the next line.
        text.push_str(r#"{"seq":2,"at":0,"decision":{"op":"ren"#);
        fs::write(dir.path().join(DECISIONS_FILE), text).unwrap();
        let log = DecisionLog::open(dir.path()).unwrap();
        assert_eq!(log.records().len(), 1);
        assert_eq!(log.records()[0].decision, lock("faceset_001"));
        assert_eq!(log.revision(), 1);
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
    fn undo_takes_the_latest_decision_not_undone_and_redo_the_latest_undo() {
        let mut records = vec![record(1, lock("a"), None), record(2, lock("b"), None)];
        let log = DecisionLog::of(records.clone());
        assert_eq!(log.undoable().unwrap().seq, 2);
        assert!(log.redoable().is_none(), "nothing was undone");
        records.push(record(3, Decision::Undo, Some(2)));
        records.push(record(4, Decision::Undo, Some(1)));
        let log = DecisionLog::of(records.clone());
        assert!(log.undoable().is_none());
        assert_eq!(log.redoable().unwrap().seq, 4, "the latest undo first");
        // Redoing the undo of 1 makes `a` locked again; the next redo takes back 3.
        let mut redo = record(5, lock("a"), None);
        redo.redoes = Some(4);
        records.push(redo);
        let log = DecisionLog::of(records.clone());
        assert_eq!(log.redoable().unwrap().seq, 3);
        assert_eq!(log.undoable().unwrap().seq, 5, "a redo can be undone");
        // A new decision ends what can be redone.
        records.push(record(6, lock("c"), None));
        assert!(DecisionLog::of(records).redoable().is_none());
    }
}
