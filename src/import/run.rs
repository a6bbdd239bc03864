//! One import from start to finish: the prescan, the store's write transaction, the parser
//! thread feeding it, and the commit.
//!
//! A file, its campaign and the operator's options come in; an [`ImportSummary`] goes out, or an
//! [`ImportError`] with nothing stored. Until the commit, what the import has made (the write
//! transaction, the temporary rejects report) is held by [`Uncommitted`], and every failure
//! leaves through [`Uncommitted::abort`]: one place decides what a failed import leaves behind.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::parse::parse_file;
use super::prescan::prescan;
use super::rejects::default_rejects_path;
use super::row::RowContext;
use super::{ImportError, ImportOptions, ImportSummary};
use crate::config::CampaignSpec;
use crate::files::temp_path_for;
use crate::store::{ImportTx, NewJob, Store};

/// What an import has made and not yet committed: everything a failure must undo.
#[derive(Default)]
struct Uncommitted {
    /// The write transaction (none in a dry run).
    tx: Option<ImportTx>,
    /// The temporary rejects report, once the parser may have created it.
    tmp_rejects: Option<PathBuf>,
}

impl Uncommitted {
    /// The one abort path: removes the temporary report (if the parser got to create it) and
    /// rolls the transaction back, then hands back the error to return. Should the rollback
    /// itself fail, that is the error returned: the store is then in doubt, which matters more.
    async fn abort(self, error: ImportError) -> ImportError {
        if let Some(tmp) = &self.tmp_rejects {
            let _ = std::fs::remove_file(tmp);
        }
        if let Some(tx) = self.tx
            && let Err(e) = tx.rollback().await
        {
            return e.into();
        }
        error
    }
}

/// Imports `path` into the campaign described by `spec`.
pub async fn import_file(
    store: &Store,
    spec: &CampaignSpec,
    path: &Path,
    opts: &ImportOptions,
    now: DateTime<Utc>,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    // Until the transaction begins nothing exists to undo: errors return as they are.
    let campaign = store.campaign(spec.id.as_str()).await?;
    if matches!(campaign.state, crate::store::CampaignState::Cancelled) {
        return Err(ImportError::CampaignClosed { campaign: campaign.id, state: campaign.state.to_string() });
    }
    // The phone tables are built beside the first pass over the file, not before the first row.
    // Not awaited: the parser's first lookup waits for the tables if they are still being built.
    tokio::task::spawn_blocking(move || {
        crate::phone::warm_up();
        tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "phone tables ready");
    });
    let display = opts.display_name(path);
    let scan = {
        let path = path.to_path_buf();
        let opts = opts.clone();
        tokio::task::spawn_blocking(move || prescan(&path, &opts)).await.expect("prescan thread panicked")?
    };
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "prescan done");
    let previous = store.previous_import(spec.id.as_str(), &scan.sha256).await?;
    let rejects_path = opts.rejects.clone().unwrap_or_else(|| default_rejects_path(path));
    check_rejects_path(&rejects_path, path, store.path())?;
    // A dry run writes the report too: it exists to check a file.
    let write_rejects = true;

    // A dry run reads a snapshot without the write lock; a real import reads it inside the
    // transaction it writes in, so nothing can change between the check and the write.
    let mut pending = Uncommitted::default();
    let snapshot = if opts.dry_run {
        store.import_snapshot(spec.id.as_str()).await?
    } else {
        let file_name = match &opts.name {
            Some(name) => name.clone(),
            None => path.file_name().map_or(display.clone(), |n| n.to_string_lossy().into_owned()),
        };
        let tx = pending.tx.insert(store.begin_import(spec.id.as_str(), &file_name, &scan.sha256, now).await?);
        match tx.snapshot().await {
            Ok(snap) => snap,
            Err(e) => return Err(pending.abort(e.into()).await),
        }
    };

    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "snapshot read");
    pending.tmp_rejects = write_rejects.then(|| temp_path_for(&rejects_path));
    let (sender, mut receiver) = mpsc::channel::<Vec<NewJob>>(4);
    let parse = {
        let ctx = RowContext::new(spec, snapshot);
        let path = path.to_path_buf();
        let opts = opts.clone();
        let tmp_rejects = pending.tmp_rejects.clone();
        let scan = scan.clone();
        tokio::task::spawn_blocking(move || parse_file(&path, &scan, &opts, ctx, tmp_rejects, sender))
    };

    let mut store_error = None;
    while let Some(chunk) = receiver.recv().await {
        if let Some(t) = pending.tx.as_mut()
            && let Err(e) = t.insert(chunk).await
        {
            store_error = Some(e);
            break;
        }
    }
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "rows stored");
    // Closing the receiver makes a still-running parser stop at its next send.
    drop(receiver);
    // Both sides have stopped: the parser's error, if any, explains the store's.
    let parsed = match (parse.await.expect("import parser thread panicked"), store_error) {
        (Ok(p), None) => p,
        (Err(e), _) => return Err(pending.abort(e).await),
        (Ok(_), Some(e)) => return Err(pending.abort(e.into()).await),
    };

    // Past this point nothing is aborted. A failed commit or rollback has nothing left to roll
    // back (the store drops the connection, and SQLite discards the transaction), and the
    // temporary report stays where it is; a report that cannot be renamed into place fails an
    // import that has already landed.
    let Uncommitted { tx, tmp_rejects } = pending;
    let counts = parsed.counts;
    let import_id = match tx {
        Some(t) if counts.accepted + counts.suppressed > 0 => {
            Some(t.commit(counts, &parsed.variable_columns, (&parsed.phone_column, parsed.phone_position)).await?)
        }
        // Nothing new: leave no trace of this run but the report.
        Some(t) => {
            t.rollback().await?;
            None
        }
        None => None,
    };
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "committed");
    let rejects_path = match tmp_rejects {
        Some(tmp) => {
            std::fs::rename(&tmp, &rejects_path)
                .map_err(|source| ImportError::Rejects { path: rejects_path.display().to_string(), source })?;
            Some(rejects_path)
        }
        None => None,
    };
    Ok(ImportSummary {
        counts,
        import_id,
        dry_run: opts.dry_run,
        previous,
        rejects_path,
        warnings: parsed.warnings,
        encoding: scan.encoding.name(),
        delimiter: scan.delimiter,
        phone_column: parsed.phone_column,
        timezone_column: parsed.timezone_column,
        state_column: parsed.state_column,
        elapsed: started.elapsed(),
    })
}

/// The rejects report is renamed over `rejects` at the end: refuse a path that is the input
/// file or the database (or its WAL, journal or lock), however it is spelled or linked.
fn check_rejects_path(rejects: &Path, input: &Path, db: Option<&Path>) -> Result<(), ImportError> {
    match crate::files::would_replace(rejects, db, &[(input, "the file being imported")]) {
        Some(what) => Err(ImportError::RejectsClash { path: rejects.display().to_string(), what }),
        None => Ok(()),
    }
}
