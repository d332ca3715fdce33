//! Reading Go files without ever blocking or reading without end, and writing `--fix`'s result
//! back without ever leaving a file half written or writing over an edit made meanwhile.
//!
//! Writing: the new text goes to a temporary file beside the target, which is flushed to disk
//! (`fsync`) and given the target's mode and owner; then the target is read again and compared
//! with the text the fixes were computed from (a change or a deletion meanwhile skips the file);
//! then the temporary file is renamed over the target, and the folder synced. A rename is atomic:
//! a reader sees the old text or the new, and a full disk fails while writing the temporary file,
//! before the target is touched.
//!
//! A rename gives the name a new inode, which would cut a hard link (the other names would keep
//! the old text) and cannot keep an owner this process may not give away. For such a file, and
//! when no file can be created in its folder, the file is rewritten in place instead, as before,
//! but only once the full new text is on disk in a temporary file (beside it, or in the system's
//! temporary folder), and only after the room for a longer text has been reserved
//! (`posix_fallocate`), so that a full disk fails before a byte of the file is overwritten. If the
//! in-place write still fails (an I/O error midway), the temporary file is kept and named in the
//! error: the fixed text is never lost. Extended attributes and ACLs are not copied to the new
//! file of a rename.
//!
//! There is still a short window between the comparison and the rename in which an editor's save
//! would be replaced; it is as short as this process can make it (the new file is ready first).

use std::fs::{File, Metadata, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Why a file was not read.
#[derive(Debug)]
pub enum ReadError {
    /// A FIFO, a device, a socket: never read.
    NotRegular(String),
    /// It grew while it was read (something is still writing it).
    Grew,
    Io(std::io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotRegular(why) => f.write_str(why),
            ReadError::Grew => {
                f.write_str("grew while it was read (is something still writing it?)")
            }
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// The bytes of a regular file. It is opened without blocking (a FIFO put in a file's place
/// after the walk would otherwise wait for a writer forever), its type checked on the open file,
/// and at most its size read (a file that keeps growing is refused, not followed).
pub fn read_regular(path: &Path) -> Result<Vec<u8>, ReadError> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path).map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if let Some(why) = crate::discover::not_regular(meta.file_type()) {
        return Err(ReadError::NotRegular(why));
    }
    let len = meta.len();
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(usize::try_from(len).unwrap_or(usize::MAX).saturating_add(1))
        .map_err(|_| ReadError::Io(std::io::Error::from(std::io::ErrorKind::OutOfMemory)))?;
    file.take(len.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > len {
        return Err(ReadError::Grew);
    }
    Ok(bytes)
}

/// The text of a Go file, or why it is not Go source: Go source is UTF-8 without NUL bytes (the
/// go tool refuses both), so a binary file named `.go` is told in one line, not parsed.
pub fn go_text(bytes: Vec<u8>) -> Result<String, String> {
    if bytes.contains(&0) {
        let at = bytes.iter().position(|&b| b == 0).unwrap_or(0);
        return Err(format!(
            "not Go source: a NUL byte at line {} (byte offset {at}); skipped",
            line_of(&bytes, at)
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        format!(
            "not Go source: invalid UTF-8 at line {} (byte offset {at}); skipped",
            line_of(e.as_bytes(), at)
        )
    })
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// What became of a file `--fix` meant to write.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    Replaced,
    /// Its text is no longer what the fixes were computed from: left as it is.
    Changed,
    /// It is gone: not recreated.
    Deleted,
}

/// Writes `new` to `path` if the file still holds `expected` (see the module's documentation).
/// Err is a message for the user; the file then holds its old text, unless the message names
/// the temporary file that holds the new one.
pub fn replace_if_unchanged(path: &Path, expected: &[u8], new: &[u8]) -> Result<Written, String> {
    // Through symbolic links: the file is replaced, the link kept.
    let target = match std::fs::canonicalize(path) {
        Ok(target) => target,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Written::Deleted),
        Err(e) => return Err(format!("resolving its path: {e}")),
    };
    let meta = match std::fs::metadata(&target) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Written::Deleted),
        Err(e) => return Err(e.to_string()),
    };
    let folder = target.parent().unwrap_or(Path::new("."));
    // 1. The new text, whole and on disk, before the file is touched.
    let (mut temp, beside) = match TempFile::create_in(folder) {
        Ok(temp) => (temp, true),
        Err(beside_error) => match TempFile::create_in(&std::env::temp_dir()) {
            Ok(temp) => (temp, false),
            Err(_) => {
                return Err(format!(
                    "cannot create a temporary file beside it: {beside_error}; not written"
                ))
            }
        },
    };
    if let Err(e) = temp.file.write_all(new).and_then(|()| temp.file.sync_all()) {
        return Err(format!(
            "writing the fixed text: {e}; the file is unchanged"
        ));
    }
    let rename = beside && single_link(&meta) && keep_owner_and_mode(&temp.file, &meta).is_ok();
    pause_for_tests(path);
    // 2. Still the text the fixes were computed from?
    match read_regular(&target) {
        Ok(now) if now == expected => {}
        Ok(_) | Err(ReadError::Grew) => return Ok(Written::Changed),
        Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Written::Deleted)
        }
        Err(e) => return Err(format!("reading it again before writing: {e}; not written")),
    }
    // 3. Into place.
    if rename {
        if let Err(e) = std::fs::rename(&temp.path, &target) {
            return Err(format!(
                "renaming the fixed file into place: {e}; the file is unchanged"
            ));
        }
        temp.kept = true;
        // The rename itself on disk; the text is already there, so a failure here loses nothing.
        if let Ok(dir) = File::open(folder) {
            let _ = dir.sync_all();
        }
        return Ok(Written::Replaced);
    }
    match write_in_place(&target, new) {
        Ok(()) => Ok(Written::Replaced),
        Err(InPlaceError::Untouched(e)) => Err(format!("{e}; the file is unchanged")),
        Err(InPlaceError::Partial(e)) => {
            temp.kept = true;
            Err(format!(
                "{e} while rewriting it in place; the fixed text is kept in {}",
                temp.path.display()
            ))
        }
    }
}

/// Test seam: with `GOCONC_TEST_PAUSE_BEFORE_WRITE` set, `--fix` says on stderr which file it is
/// about to compare and write, then waits for a line on stdin, so that the end-to-end tests can
/// edit or delete the file in exactly the window the comparison guards. It only waits.
fn pause_for_tests(path: &Path) {
    if std::env::var_os("GOCONC_TEST_PAUSE_BEFORE_WRITE").is_some() {
        eprintln!("goconc-test: about to write {}", path.display());
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
}

/// No other name links to the file (a rename would leave them on the old text).
fn single_link(meta: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.nlink() <= 1
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        true
    }
}

/// Gives the new file the old one's owner, group and mode (owner first: `chown` clears the
/// set-id bits). Fails when this process may not give the file that owner.
fn keep_owner_and_mode(file: &File, meta: &Metadata) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let now = file.metadata()?;
        if (now.uid(), now.gid()) != (meta.uid(), meta.gid()) {
            std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()))?;
        }
        file.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))
    }
    #[cfg(not(unix))]
    {
        file.set_permissions(meta.permissions())
    }
}

enum InPlaceError {
    /// Failed before a byte of the file was overwritten.
    Untouched(std::io::Error),
    /// Failed while overwriting: the file may hold a mix of old and new text.
    Partial(std::io::Error),
}

/// Overwrites the file's bytes (same inode: hard links, owner and mode stay), having first
/// reserved the room a longer text needs.
fn write_in_place(target: &Path, new: &[u8]) -> Result<(), InPlaceError> {
    let mut file = OpenOptions::new()
        .write(true)
        .open(target)
        .map_err(InPlaceError::Untouched)?;
    let old_len = file.metadata().map_err(InPlaceError::Untouched)?.len();
    let new_len = new.len() as u64;
    if new_len > old_len {
        if let Err(e) = reserve(&file, old_len, new_len - old_len) {
            // Whatever was allocated past the old end is not part of the text.
            let _ = file.set_len(old_len);
            return Err(InPlaceError::Untouched(e));
        }
    }
    let written = (|| {
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(0))?;
        file.write_all(new)?;
        file.set_len(new_len)?;
        file.sync_all()
    })();
    written.map_err(InPlaceError::Partial)
}

/// Allocates disk blocks for `len` bytes from `offset`, so that writing them cannot run out of
/// space.
fn reserve(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len))
        else {
            return Err(std::io::Error::from(std::io::ErrorKind::FileTooLarge));
        };
        // SAFETY: a valid open descriptor; posix_fallocate returns an error number, not -1.
        let code = unsafe { libc::posix_fallocate(file.as_raw_fd(), offset, len) };
        if code == 0 {
            Ok(())
        } else {
            Err(std::io::Error::from_raw_os_error(code))
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, offset, len);
        Ok(())
    }
}

/// A temporary file, removed when dropped unless `kept`.
struct TempFile {
    path: PathBuf,
    file: File,
    kept: bool,
}

impl TempFile {
    /// A new, hidden, owner-only file in `folder` (never an existing one).
    fn create_in(folder: &Path) -> std::io::Result<TempFile> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = folder.join(format!(".goconc-fix-{}-{n}.tmp", std::process::id()));
            match options.open(&path) {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file,
                        kept: false,
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_text_refuses_nul_and_invalid_utf8_with_the_line() {
        assert_eq!(go_text(b"package p\n".to_vec()).unwrap(), "package p\n");
        let e = go_text(b"package p\n\nvar x\0 int\n".to_vec()).unwrap_err();
        assert!(e.contains("NUL byte at line 3"), "{e}");
        let e = go_text(b"package p\n// \xff\n".to_vec()).unwrap_err();
        assert!(
            e.contains("invalid UTF-8 at line 2 (byte offset 13)"),
            "{e}"
        );
    }
}
