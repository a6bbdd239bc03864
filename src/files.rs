//! Files switchboard creates that may hold personal data (the database, its lock, rejects
//! reports, exports, the simulator's send log): created readable and writable by their owner
//! only (0600), whatever the umask, so a list of names and numbers never lands world-readable.
//!
//! A report written to a path the operator names (the rejects report, an export) is written to
//! a hidden temporary file beside it ([`temp_path_for`], created by [`create_exclusive`]) and
//! renamed into place only once complete, so a half-written file never sits under the final
//! name, and a rename replaces whatever entry was there (a symlink itself, never its target).
//! [`would_replace`] refuses a path that is the database or an input, however spelled or linked.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// `OpenOptions` that create a file with mode 0600 (on Unix; elsewhere the platform default).
/// The caller adds how it opens it (`write`, `append`, `create_new`, …).
pub fn private() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Where a file is written before it is renamed to `path`: same directory (so the rename
/// cannot cross file systems), hidden, and named by process so two runs do not collide.
pub fn temp_path_for(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Creates `path` new, 0600, never through whatever is there: an entry left at the path (a
/// crashed run's file, or a symlink planted to redirect the write) is removed (the link itself,
/// not its target) and the file created afresh.
pub fn create_exclusive(path: &Path) -> std::io::Result<File> {
    let open = || private().write(true).create_new(true).open(path);
    match open() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(path)?;
            open()
        }
        other => other,
    }
}

/// What writing `target` would replace among `inputs` (each with what to call it) and the
/// SQLite database `db` (if the store is one) with its WAL, shared-memory, journal and lock files, compared as resolved
/// paths (symlinks and `..` followed); `None` when it replaces none of them. A target that does
/// not exist yet is resolved through its directory.
pub fn would_replace(target: &Path, db: Option<&Path>, inputs: &[(&Path, &'static str)]) -> Option<&'static str> {
    let resolved = |p: &Path| -> Option<PathBuf> {
        std::fs::canonicalize(p).ok().or_else(|| {
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            Some(std::fs::canonicalize(dir).ok()?.join(p.file_name()?))
        })
    };
    let target = resolved(target)?;
    if let Some((_, what)) = inputs.iter().find(|(p, _)| resolved(p).is_some_and(|i| i == target)) {
        return Some(what);
    }
    let db = resolved(db?)?;
    let name = db.as_os_str().to_owned();
    let companions = ["", "-wal", "-shm", "-journal", ".lock"].map(|suffix| {
        let mut n = name.clone();
        n.push(suffix);
        PathBuf::from(n)
    });
    companions.contains(&target).then_some("the database (or one of its files)")
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_private_file_is_created_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        super::private().write(true).create_new(true).open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn the_temporary_file_is_hidden_beside_the_final_one() {
        let tmp = temp_path_for(Path::new("/x/list.rejects.csv"));
        assert_eq!(tmp.parent(), Some(Path::new("/x")));
        assert_eq!(tmp.file_name().unwrap().to_string_lossy(), format!(".list.rejects.csv.{}.tmp", std::process::id()));
    }

    #[test]
    fn an_exclusive_file_replaces_a_planted_symlink_not_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let path = dir.path().join("out");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        std::io::Write::write_all(&mut create_exclusive(&path).unwrap(), b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn the_database_its_companions_and_inputs_are_refused_however_spelled_or_linked() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        std::fs::write(&db, "").unwrap();
        let input = dir.path().join("in.csv");
        std::fs::write(&input, "").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&db, &link).unwrap();
        let inputs = [(input.as_path(), "the file being imported")];
        let dotted = dir.path().join("sub/../s.db");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for (target, what) in [
            (db.clone(), "the database (or one of its files)"),
            (dir.path().join("s.db-wal"), "the database (or one of its files)"),
            (dir.path().join("s.db.lock"), "the database (or one of its files)"),
            (link, "the database (or one of its files)"),
            (dotted, "the database (or one of its files)"),
            (input.clone(), "the file being imported"),
        ] {
            assert_eq!(would_replace(&target, Some(&db), &inputs), Some(what), "{}", target.display());
        }
        assert_eq!(would_replace(&dir.path().join("out.csv"), Some(&db), &inputs), None);
    }
}
