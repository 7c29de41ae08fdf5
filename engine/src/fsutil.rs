//! Small file-system helpers: atomic writes, project-relative paths.

use std::io::Write as _;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsynced, then
/// renamed over the target. Readers see the old content or the new, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tributary-").suffix(".tmp");
    // A temporary file is private (0600); the file it replaces keeps its permissions, and
    // a new file gets the usual ones (0666 less the umask), like any editor's save.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).map_or(0o666, |m| m.permissions().mode() & 0o7777);
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    // Errors name the file being written, not the temporary one: "catalog.json: No space
    // left on device (os error 28)".
    let failed = |e: std::io::Error| {
        let text = e.to_string();
        let cause = text
            .split(" at path ")
            .next()
            .unwrap_or_default()
            .to_owned();
        Error::io(path, std::io::Error::new(e.kind(), cause))
    };
    let mut tmp = builder.tempfile_in(dir).map_err(failed)?;
    tmp.write_all(bytes).map_err(failed)?;
    tmp.as_file().sync_all().map_err(failed)?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Resolves a path written in a project against the project file's folder.
/// Absolute paths and URLs (`s3://…`) are returned unchanged.
pub fn resolve_path(base_dir: &Path, path: &str) -> std::path::PathBuf {
    let p = Path::new(path);
    if p.is_absolute() || path.contains("://") {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_saved_file_is_not_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.json");
        super::write_atomic(&new, b"{}").unwrap();
        let mode = std::fs::metadata(&new).unwrap().permissions().mode() & 0o777;
        assert_ne!(
            mode & 0o044,
            0,
            "a new file is readable by others: {mode:o}"
        );
        let kept = dir.path().join("kept.json");
        std::fs::write(&kept, b"old").unwrap();
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o640)).unwrap();
        super::write_atomic(&kept, b"new").unwrap();
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(std::fs::read(&kept).unwrap(), b"new");
    }
}
