//! The library's state in `SQLite` (`library.sqlite`): entries, candidates, calibrated
//! distances, every decision, the revision, and the folders a change is being written
//! to. Everything else in the library folder is a view of it.
//!
//! Schema changes are a list of migrations, each applied once in one transaction and
//! counted by `PRAGMA user_version`; a shipped migration is never edited, only followed
//! by new ones. A database of a newer version is refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::{Error, Result};
use crate::review::Record;
use crate::{Calibrated, Entry, LibraryManifest, VERSION};

/// The database's file name, in the library folder.
pub const DATABASE: &str = "library.sqlite";

/// Every schema step, in order; `user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE entries (
         name TEXT PRIMARY KEY,
         position INTEGER NOT NULL,
         thin INTEGER NOT NULL,
         kind TEXT NOT NULL,
         label TEXT NOT NULL,
         merged_into TEXT,
         faces INTEGER NOT NULL,
         body TEXT NOT NULL
     );
     CREATE TABLE candidates (position INTEGER PRIMARY KEY, face TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE decisions (
         seq INTEGER PRIMARY KEY,
         at INTEGER NOT NULL,
         op TEXT NOT NULL,
         undoes INTEGER,
         record TEXT NOT NULL
     );
     CREATE TABLE pending (dir TEXT PRIMARY KEY, revision INTEGER NOT NULL);
     INSERT INTO meta (key, value) VALUES ('revision', '0');",
];

/// The schema version this build writes.
#[expect(clippy::cast_possible_truncation, reason = "a handful of migrations")]
pub const SCHEMA: u32 = MIGRATIONS.len() as u32;

/// The state as of one revision.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    pub(crate) revision: u64,
    pub(crate) manifest: LibraryManifest,
    pub(crate) records: Vec<Record>,
}

/// An open database.
#[derive(Debug)]
pub(crate) struct Store {
    path: PathBuf,
    conn: Connection,
}

impl Store {
    /// Opens (creating when missing) the database at `path` and brings its schema up to
    /// date. A database written by a newer build is refused and left alone.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let sql = |source| Error::Database {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(&sql)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(&sql)?;
        let version: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(&sql)?;
        if version > SCHEMA {
            return Err(Error::NewerDatabase {
                path: path.to_path_buf(),
                found: version,
                known: SCHEMA,
            });
        }
        // WAL: readers (the review page, `report`) never wait for a writer, and a
        // commit is one synced append. FULL: a decision answered 200 survives power loss.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(&sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(&sql)?;
        let store = Self {
            path: path.to_path_buf(),
            conn,
        };
        if version < SCHEMA {
            store.migrate(version)?;
        }
        Ok(store)
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> Error + use<> {
        sql_error(&self.path)
    }

    /// Applies the migrations after `from`, all in one exclusive transaction.
    fn migrate(&self, from: u32) -> Result<()> {
        let sql = self.sql();
        self.conn.execute_batch("BEGIN EXCLUSIVE").map_err(&sql)?;
        let applied = (|| {
            // Another process may have migrated meanwhile.
            let now: u32 = self
                .conn
                .pragma_query_value(None, "user_version", |r| r.get(0))?;
            for step in MIGRATIONS.iter().skip(now.max(from) as usize) {
                self.conn.execute_batch(step)?;
            }
            self.conn.pragma_update(None, "user_version", SCHEMA)?;
            self.conn.execute_batch("COMMIT")
        })();
        if applied.is_err() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        applied.map_err(&sql)
    }

    /// Whether the database holds a library yet (it has been imported or written).
    pub(crate) fn is_initialised(&self) -> Result<bool> {
        Ok(meta(&self.conn, "created").map_err(self.sql())?.is_some())
    }

    /// The revision committed last.
    pub(crate) fn revision(&self) -> Result<u64> {
        revision_in(&self.conn).map_err(self.sql())
    }

    /// The whole state, read in one transaction (so it is one revision's).
    pub(crate) fn load(&mut self) -> Result<Snapshot> {
        let sql = sql_error(&self.path);
        let path = self.path.clone();
        let json = |what: &str, source: serde_json::Error| Error::DatabaseRow {
            path: path.clone(),
            what: what.to_string(),
            source,
        };
        let tx = self.conn.transaction().map_err(&sql)?;
        let revision = revision_in(&tx).map_err(&sql)?;
        let mut manifest = LibraryManifest::default();
        {
            let mut rows = tx
                .prepare("SELECT name, thin, body FROM entries ORDER BY thin, position")
                .map_err(&sql)?;
            let rows = rows
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, bool>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(&sql)?;
            for row in rows {
                let (name, thin, body) = row.map_err(&sql)?;
                let entry: Entry =
                    serde_json::from_str(&body).map_err(|e| json(&format!("entry {name}"), e))?;
                if thin {
                    manifest.thin_eras.push(entry);
                } else {
                    manifest.facesets.push(entry);
                }
            }
        }
        {
            let mut rows = tx
                .prepare("SELECT body FROM candidates ORDER BY position")
                .map_err(&sql)?;
            let rows = rows
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(&sql)?;
            for row in rows {
                let body = row.map_err(&sql)?;
                manifest
                    .candidates
                    .push(serde_json::from_str(&body).map_err(|e| json("a candidate", e))?);
            }
        }
        manifest.calibrated = meta(&tx, "calibrated")
            .map_err(&sql)?
            .map(|text| serde_json::from_str::<Calibrated>(&text))
            .transpose()
            .map_err(|e| json("the calibrated distances", e))?;
        if let Some(text) = meta(&tx, "not_faces").map_err(&sql)? {
            manifest.not_faces =
                serde_json::from_str(&text).map_err(|e| json("the faces said to be none", e))?;
        }
        let mut records = Vec::new();
        {
            let mut rows = tx
                .prepare("SELECT seq, record FROM decisions ORDER BY seq")
                .map_err(&sql)?;
            let rows = rows
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .map_err(&sql)?;
            for row in rows {
                let (seq, body) = row.map_err(&sql)?;
                records.push(
                    serde_json::from_str(&body).map_err(|e| json(&format!("decision {seq}"), e))?,
                );
            }
        }
        tx.commit().map_err(&sql)?;
        manifest.version = VERSION;
        Ok(Snapshot {
            revision,
            manifest,
            records,
        })
    }

    /// Notes that `dirs` are about to be written for the change after `revision`, so a
    /// crash before its views are written is healed on the next open.
    pub(crate) fn mark_pending(&mut self, dirs: &[String], revision: u64) -> Result<()> {
        let sql = sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql)?;
        put_pending(&tx, dirs, revision).map_err(&sql)?;
        tx.commit().map_err(&sql)
    }

    /// The folders marked by a change whose views were not all written.
    pub(crate) fn load_pending(&self) -> Result<Vec<String>> {
        let mut rows = self
            .conn
            .prepare("SELECT dir FROM pending ORDER BY dir")
            .map_err(self.sql())?;
        rows.query_map([], |r| r.get::<_, String>(0))
            .map_err(self.sql())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.sql())
    }

    /// The revision `manifest.json` and `decisions.jsonl` were last written at.
    pub(crate) fn views_revision(&self) -> Result<u64> {
        let text = meta(&self.conn, "views").map_err(self.sql())?;
        Ok(text.and_then(|t| t.parse().ok()).unwrap_or(u64::MAX))
    }

    /// Notes that the top-level views show `revision`.
    pub(crate) fn set_views_revision(&self, revision: u64) -> Result<()> {
        set_meta(&self.conn, "views", &revision.to_string()).map_err(self.sql())
    }

    /// How many decisions `decisions.jsonl` held, in how many bytes, when last written
    /// (0, 0 when never).
    pub(crate) fn decisions_view(&self) -> Result<(u64, u64)> {
        let text = meta(&self.conn, "decisions_view").map_err(self.sql())?;
        Ok(text
            .and_then(|t| {
                let (count, bytes) = t.split_once(' ')?;
                Some((count.parse().ok()?, bytes.parse().ok()?))
            })
            .unwrap_or((0, 0)))
    }

    /// Notes what `decisions.jsonl` holds now.
    pub(crate) fn set_decisions_view(&self, count: u64, bytes: u64) -> Result<()> {
        set_meta(&self.conn, "decisions_view", &format!("{count} {bytes}")).map_err(self.sql())
    }

    /// Forgets the pending folders: their views are written.
    pub(crate) fn clear_pending(&mut self) -> Result<()> {
        self.conn
            .execute("DELETE FROM pending", [])
            .map(drop)
            .map_err(self.sql())
    }

    /// Commits `new` (the state after one change to `old`, which is revision `base`),
    /// with `record` when the change is a decision, in one transaction; returns the
    /// new revision. Refused with [`Error::Conflict`] when the library moved past
    /// `base` meanwhile. Only entries that changed are written: when the layout stayed,
    /// those of the folders in `changed`, which are also marked pending (their views
    /// are written after the commit).
    pub(crate) fn commit(
        &mut self,
        base: u64,
        old: &LibraryManifest,
        new: &LibraryManifest,
        changed: &[String],
        record: Option<&Record>,
    ) -> Result<u64> {
        let sql = sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql)?;
        let found = revision_in(&tx).map_err(&sql)?;
        if found != base {
            return Err(Error::Conflict {
                expected: base,
                found,
            });
        }
        if old.same_layout(new) {
            let dirs: std::collections::HashSet<&str> =
                changed.iter().map(String::as_str).collect();
            for (thin, list) in [(false, &new.facesets), (true, &new.thin_eras)] {
                for (i, e) in list.iter().enumerate() {
                    if dirs.contains(e.dir()) {
                        put_entry(&tx, thin, i, e).map_err(&sql)?;
                    }
                }
            }
        } else {
            // Entries added or removed: every row is placed again where it differs.
            let before: std::collections::HashMap<&str, (bool, usize, &Entry)> = old
                .facesets
                .iter()
                .enumerate()
                .map(|(i, e)| (false, i, e))
                .chain(old.thin_eras.iter().enumerate().map(|(i, e)| (true, i, e)))
                .map(|(thin, i, e)| (e.export.name.as_str(), (thin, i, e)))
                .collect();
            let mut kept = std::collections::HashSet::new();
            for (thin, list) in [(false, &new.facesets), (true, &new.thin_eras)] {
                for (i, e) in list.iter().enumerate() {
                    kept.insert(e.export.name.as_str());
                    let same = before
                        .get(e.export.name.as_str())
                        .is_some_and(|(t, j, o)| *t == thin && *j == i && *o == e);
                    if !same {
                        put_entry(&tx, thin, i, e).map_err(&sql)?;
                    }
                }
            }
            for name in before.keys().filter(|n| !kept.contains(*n)) {
                tx.execute("DELETE FROM entries WHERE name = ?1", [name])
                    .map_err(&sql)?;
            }
        }
        if old.candidates != new.candidates {
            put_candidates(&tx, new).map_err(&sql)?;
        }
        if old.calibrated != new.calibrated || old.not_faces != new.not_faces {
            put_calibrated(&tx, new).map_err(&sql)?;
        }
        if let Some(record) = record {
            put_record(&tx, record).map_err(&sql)?;
        }
        let revision = base + 1;
        // Marked in the same transaction: a crash before their views are written is
        // healed on the next open.
        put_pending(&tx, changed, revision).map_err(&sql)?;
        if meta(&tx, "created").map_err(&sql)?.is_none() {
            set_meta(&tx, "created", &crate::now().to_string()).map_err(&sql)?;
        }
        set_meta(&tx, "revision", &revision.to_string()).map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        Ok(revision)
    }

    /// Imports a whole library (read from a version 1 to 4 `manifest.json` and its
    /// `decisions.jsonl`) into an empty database, in one transaction; the revision
    /// becomes `revision`.
    pub(crate) fn import(
        &mut self,
        manifest: &LibraryManifest,
        records: &[Record],
        revision: u64,
        from: &str,
    ) -> Result<()> {
        let sql = sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql)?;
        for (thin, list) in [(false, &manifest.facesets), (true, &manifest.thin_eras)] {
            for (i, e) in list.iter().enumerate() {
                put_entry(&tx, thin, i, e).map_err(&sql)?;
            }
        }
        put_candidates(&tx, manifest).map_err(&sql)?;
        put_calibrated(&tx, manifest).map_err(&sql)?;
        for record in records {
            put_record(&tx, record).map_err(&sql)?;
        }
        for (key, value) in [
            ("imported_from", from.to_string()),
            ("created", crate::now().to_string()),
            ("revision", revision.to_string()),
        ] {
            set_meta(&tx, key, &value).map_err(&sql)?;
        }
        tx.commit().map_err(&sql)
    }
}

/// The value of `key` in `meta`, if set.
fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

/// Sets `key` in `meta`.
fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        [key, value],
    )
    .map(drop)
}

/// The revision `meta` holds (0 before the first commit).
fn revision_in(conn: &Connection) -> rusqlite::Result<u64> {
    Ok(meta(conn, "revision")?
        .and_then(|t| t.parse().ok())
        .unwrap_or(0))
}

/// Marks `dirs` as written by the change that makes `revision`.
fn put_pending(conn: &Connection, dirs: &[String], revision: u64) -> rusqlite::Result<()> {
    let mut insert =
        conn.prepare("INSERT OR IGNORE INTO pending (dir, revision) VALUES (?1, ?2)")?;
    for dir in dirs {
        insert.execute(params![dir, revision.to_string()])?;
    }
    Ok(())
}

/// The error of a failed statement on the database at `path`.
fn sql_error(path: &Path) -> impl Fn(rusqlite::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::Database {
        path: path.clone(),
        source,
    }
}

fn put_entry(conn: &Connection, thin: bool, position: usize, e: &Entry) -> rusqlite::Result<()> {
    let kind = serde_json::to_value(e.provenance.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    conn.execute(
        "INSERT INTO entries (name, position, thin, kind, label, merged_into, faces, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (name) DO UPDATE SET position = ?2, thin = ?3, kind = ?4,
             label = ?5, merged_into = ?6, faces = ?7, body = ?8",
        params![
            e.export.name,
            i64::try_from(position).unwrap_or(i64::MAX),
            thin,
            kind,
            e.display_label(),
            e.review.merged_into,
            i64::try_from(e.export.faces.len()).unwrap_or(i64::MAX),
            serde_json::to_string(e).expect("an entry always serialises"),
        ],
    )
    .map(drop)
}

fn put_candidates(conn: &Connection, m: &LibraryManifest) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM candidates", [])?;
    let mut insert =
        conn.prepare("INSERT INTO candidates (position, face, body) VALUES (?1, ?2, ?3)")?;
    for (i, c) in m.candidates.iter().enumerate() {
        insert.execute(params![
            i64::try_from(i).unwrap_or(i64::MAX),
            c.face.key,
            serde_json::to_string(c).expect("a candidate always serialises"),
        ])?;
    }
    Ok(())
}

/// The library-wide values kept in `meta`: calibrated distances, faces said to be no
/// face outside any identity.
fn put_calibrated(conn: &Connection, m: &LibraryManifest) -> rusqlite::Result<()> {
    let calibrated = m
        .calibrated
        .as_ref()
        .map(|c| serde_json::to_string(c).expect("distances always serialise"));
    let not_faces = (!m.not_faces.is_empty())
        .then(|| serde_json::to_string(&m.not_faces).expect("keys always serialise"));
    for (key, value) in [("calibrated", calibrated), ("not_faces", not_faces)] {
        match value {
            Some(value) => set_meta(conn, key, &value)?,
            None => drop(conn.execute("DELETE FROM meta WHERE key = ?1", [key])?),
        }
    }
    Ok(())
}

fn put_record(conn: &Connection, record: &Record) -> rusqlite::Result<()> {
    let op = serde_json::to_value(&record.decision)
        .ok()
        .and_then(|v| v.get("op").and_then(|o| o.as_str().map(str::to_string)))
        .unwrap_or_default();
    conn.execute(
        "INSERT INTO decisions (seq, at, op, undoes, record) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            i64::try_from(record.seq).unwrap_or(i64::MAX),
            i64::try_from(record.at).unwrap_or(i64::MAX),
            op,
            record.undoes.and_then(|u| i64::try_from(u).ok()),
            serde_json::to_string(record).expect("a record always serialises"),
        ],
    )
    .map(drop)
}
