//! Files switchboard creates that may hold personal data (the database, its lock, rejects
//! reports, the simulator's send log): created readable and writable by their owner only
//! (0600), whatever the umask, so a list of names and numbers never lands world-readable.

use std::fs::OpenOptions;

/// `OpenOptions` that create a file with mode 0600 (on Unix; elsewhere the platform default).
/// The caller adds how it opens it (`write`, `append`, `create_new`, …).
pub fn private() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_private_file_is_created_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        super::private().write(true).create_new(true).open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
