//! Atomic file and folder writes: write under a temporary name in the same folder, then
//! rename into place, so a reader (or a resumed sweep) never sees a half-written file.
//!
//! Temporary names carry the process id and a per-process counter, so that several
//! processes (shards of a sweep on a shared file system) never write the same temporary.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A suffix no other temporary of this or another running process has: `<pid>-<n>`.
pub fn unique_suffix() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// A fresh temporary path beside `target`: `.<name>.tmp-<pid>-<n>`, keeping the extension
/// last so that writers which pick a format by extension (the PNG encoder) still work.
pub fn temp_beside(target: &Path) -> PathBuf {
    let n = unique_suffix();
    let name = target
        .file_name()
        .map_or_else(|| "out".into(), |s| s.to_string_lossy().into_owned());
    let tmp = match name.rsplit_once('.') {
        Some((stem, ext)) => format!(".{stem}.tmp-{n}.{ext}"),
        None => format!(".{name}.tmp-{n}"),
    };
    target.with_file_name(tmp)
}

/// Writes `bytes` to `path` atomically (creating the parent folder).
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let tmp = temp_beside(path);
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Runs `f` with a temporary path beside `path` and renames the file it wrote into place.
pub fn write_with(path: &Path, f: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let tmp = temp_beside(path);
    let result = f(&tmp).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
