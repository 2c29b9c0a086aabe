//! Samples in SQLite: one table, one transaction per batch, summaries computed from the rows.

use crate::{Kind, Sample, Summary};
use rusqlite::{params, Connection};
use serde::Serialize;
use std::path::Path;

pub struct Store {
    conn: Connection,
}

/// One metric name with its kind and how many samples it has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricInfo {
    pub name: String,
    pub kind: Kind,
    pub samples: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("metric {name:?} is a {existing:?}, cannot add a {new:?} sample")]
    KindMismatch {
        name: String,
        existing: Kind,
        new: Kind,
    },
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS metrics (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    metric_id INTEGER NOT NULL REFERENCES metrics(id),
    value     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_by_metric ON samples(metric_id);
";

impl Store {
    /// Open (or create) the database at `path`; `:memory:` gives a private in-memory one.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store { conn })
    }

    /// Insert samples in one transaction: all of them, or none when one conflicts with the
    /// kind a metric already has.
    pub fn insert(&mut self, samples: &[Sample]) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut find = tx.prepare_cached("SELECT id, kind FROM metrics WHERE name = ?1")?;
            let mut create =
                tx.prepare_cached("INSERT INTO metrics (name, kind) VALUES (?1, ?2)")?;
            let mut add =
                tx.prepare_cached("INSERT INTO samples (metric_id, value) VALUES (?1, ?2)")?;
            for sample in samples {
                let found: Option<(i64, String)> = find
                    .query_row(params![sample.name], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map(Some)
                    .or_else(|e| match e {
                        rusqlite::Error::QueryReturnedNoRows => Ok(None),
                        e => Err(e),
                    })?;
                let id = match found {
                    Some((id, kind)) => {
                        let existing = Kind::from_code(&kind).unwrap_or(Kind::Gauge);
                        if existing != sample.kind {
                            return Err(StoreError::KindMismatch {
                                name: sample.name.clone(),
                                existing,
                                new: sample.kind,
                            });
                        }
                        id
                    }
                    None => {
                        create.execute(params![sample.name, sample.kind.as_str()])?;
                        tx.last_insert_rowid()
                    }
                };
                add.execute(params![id, sample.value])?;
            }
        }
        tx.commit()?;
        Ok(samples.len())
    }

    /// Every metric, by name.
    pub fn metrics(&self) -> Result<Vec<MetricInfo>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT m.name, m.kind, COUNT(s.value) FROM metrics m
             LEFT JOIN samples s ON s.metric_id = m.id GROUP BY m.id ORDER BY m.name",
        )?;
        let rows = stmt.query_map([], |r| {
            let kind: String = r.get(1)?;
            Ok(MetricInfo {
                name: r.get(0)?,
                kind: Kind::from_code(&kind).unwrap_or(Kind::Gauge),
                samples: r.get::<_, i64>(2)? as usize,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Summary of one metric's samples; `None` for an unknown metric.
    pub fn summary(&self, name: &str) -> Result<Option<Summary>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.value FROM samples s JOIN metrics m ON m.id = s.metric_id WHERE m.name = ?1",
        )?;
        let values = stmt
            .query_map(params![name], |r| r.get::<_, f64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Summary::from_values(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_lines;

    fn store_with(text: &str) -> Store {
        let mut store = Store::open(":memory:").unwrap();
        let (samples, rejected) = parse_lines(text);
        assert!(rejected.is_empty());
        store.insert(&samples).unwrap();
        store
    }

    #[test]
    fn summarises_inserted_samples() {
        let store = store_with("lat:10|ms\nlat:30|ms\nlat:20|ms\nhits:1|c\n");
        let s = store.summary("lat").unwrap().unwrap();
        assert_eq!((s.count, s.min, s.max, s.p50), (3, 10.0, 30.0, 20.0));
        assert_eq!(store.summary("missing").unwrap(), None);
        let names: Vec<_> = store
            .metrics()
            .unwrap()
            .into_iter()
            .map(|m| (m.name, m.samples))
            .collect();
        assert_eq!(names, vec![("hits".to_string(), 1), ("lat".to_string(), 3)]);
    }

    #[test]
    fn a_kind_conflict_rolls_back_the_whole_batch() {
        let mut store = store_with("hits:1|c\n");
        let (samples, _) = parse_lines("other:5|g\nhits:2|g\n");
        let err = store.insert(&samples).unwrap_err();
        assert!(matches!(err, StoreError::KindMismatch { .. }), "{err}");
        assert_eq!(
            store.metrics().unwrap().len(),
            1,
            "`other` must have been rolled back"
        );
    }

    #[test]
    fn persists_across_reopen() {
        let dir = std::env::temp_dir().join(format!("pulse-core-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite");
        {
            let mut store = Store::open(&path).unwrap();
            store.insert(&parse_lines("a:1|g\na:3|g\n").0).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.summary("a").unwrap().unwrap().mean, 2.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
