//! `switchboard store copy`: moves a SQLite database to PostgreSQL, whole, with the daemon
//! stopped. Every table is copied row for row in one PostgreSQL transaction (ids kept), except
//! the report's counters that PostgreSQL's triggers rebuild from the copied rows; then every
//! table's rows, and every counter's total, are compared with the source's, and only then is
//! the transaction committed. A target that already holds a campaign is refused.

use sqlx::{Column, QueryBuilder, Row, TypeInfo};

use super::{Db, Store, StoreError};

/// Tables copied as they are, parents before children.
const COPIED: &[&str] = &[
    "campaigns",
    "imports",
    "jobs",
    "attempts",
    "call_analyses",
    "analysis_spend",
    "campaign_changes",
    "blackouts",
    "dnc",
    "webhook_bodies",
    "webhook_deliveries",
    // Kept by the import and by triggers on changes of jobs, not on their insert
    // (migrations/0006_job_counters.sql, 0009_report_counters.sql).
    "job_counters",
    "recipient_counters",
    "pacing",
    "account_slowdown",
];

/// Counters PostgreSQL's triggers rebuild as the rows above go in: compared, not copied.
const REBUILT: &[&str] = &["dial_counters", "dial_quarters", "failure_counters", "answer_counters"];

/// What was copied: each table with its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    pub tables: Vec<(String, u64)>,
}

/// A value as it travels from SQLite to PostgreSQL, typed by the target's column.
enum Value {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
}

impl Store {
    /// Copies this SQLite store into `to`, an empty PostgreSQL store; `progress` is told each
    /// table's name and rows as it is copied.
    pub async fn copy_to(&self, to: &Store, mut progress: impl FnMut(&str, u64)) -> Result<Copied, StoreError> {
        let (Db::Sqlite(from), Db::Pg(pg)) = (&self.db, &to.db) else {
            return Err(StoreError::Conflict("store copy moves a SQLite database to PostgreSQL".into()));
        };
        let campaigns: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM campaigns").fetch_one(pg).await?;
        if campaigns > 0 {
            return Err(StoreError::Conflict(format!(
                "{} already holds {campaigns} campaign(s): store copy fills an empty database only",
                to.url()
            )));
        }
        let mut tx = pg.begin().await?;
        // The rows are copied as they are; the tables' own checks and keys still hold.
        let mut copied = Copied::default();
        for table in COPIED {
            // The counters' `delta` is PostgreSQL's alone (a row not folded yet: its default).
            let columns: Vec<(String, String)> = sqlx::query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1 AND column_name != 'delta'
                 ORDER BY ordinal_position",
            )
            .bind(table)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
            let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
            let list = names.join(", ");
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {list} FROM {table}"))).fetch_all(from).await?;
            let mut n = 0u64;
            for chunk in rows.chunks(500) {
                let mut q: QueryBuilder<sqlx::Postgres> = QueryBuilder::new(format!("INSERT INTO {table} ({list}) "));
                let mut values = Vec::with_capacity(chunk.len());
                for row in chunk {
                    let mut vals = Vec::with_capacity(columns.len());
                    for (i, (name, kind)) in columns.iter().enumerate() {
                        let v = match kind.as_str() {
                            "bigint" | "integer" | "smallint" => Value::Int(row.try_get(i)?),
                            "double precision" | "real" | "numeric" => Value::Real(row.try_get(i)?),
                            _ => Value::Text(row.try_get(i).map_err(|e| {
                                StoreError::Corrupt(format!(
                                    "{table}.{name} ({}): {e}",
                                    row.column(i).type_info().name()
                                ))
                            })?),
                        };
                        vals.push(v);
                    }
                    values.push(vals);
                }
                q.push_values(values, |mut b, vals| {
                    for v in vals {
                        match v {
                            Value::Int(x) => b.push_bind(x),
                            Value::Real(x) => b.push_bind(x),
                            Value::Text(x) => b.push_bind(x),
                        };
                    }
                });
                n += q.build().execute(&mut *tx).await?.rows_affected();
            }
            // Ids are kept: the identity sequences start after the largest.
            if names.contains(&"id") {
                let identity: Option<String> = sqlx::query_scalar("SELECT pg_get_serial_sequence($1, 'id')")
                    .bind(table)
                    .fetch_one(&mut *tx)
                    .await?;
                if let Some(seq) = identity {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT setval('{seq}', COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                    )))
                    .execute(&mut *tx)
                    .await?;
                }
            }
            let source: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(from)
                .await?;
            let target: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&mut *tx)
                .await?;
            if source != target || n != source as u64 {
                return Err(StoreError::Conflict(format!(
                    "{table}: {source} rows in the SQLite database, {target} copied; nothing was committed"
                )));
            }
            progress(table, n);
            copied.tables.push((table.to_string(), n));
        }
        // Each key's rows in one, as the source keeps them (migrations_pg/0003_counter_deltas.sql).
        sqlx::query("SELECT fold_counters()").execute(&mut *tx).await?;
        for table in REBUILT {
            let sql = format!("SELECT COUNT(*) FILTER (WHERE n > 0), CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM {table}");
            let (rows, total): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).fetch_one(from).await?;
            let (rows_pg, total_pg): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(&mut *tx).await?;
            if (rows, total) != (rows_pg, total_pg) {
                return Err(StoreError::Conflict(format!(
                    "{table}: the counters rebuilt from the copied rows ({rows_pg} groups, {total_pg} in all) differ \
                     from the SQLite database's ({rows} groups, {total} in all); nothing was committed"
                )));
            }
        }
        tx.commit().await?;
        Ok(copied)
    }
}
