//! The files an ATOF stream is written to, with size-based rotation.
//!
//! Without rotation there is one file, `<output_directory>/<filename>`.
//! With `rotation.max_bytes`, the stream is cut into *segments* at line
//! boundaries (a record is never split across files):
//!
//! ```text
//!   events.jsonl      first segment
//!   events.1.jsonl    second
//!   events.2.jsonl    third …
//! ```
//!
//! Segments are only ever created, never renamed, so reading them in index
//! order (which [`Segments::paths`] returns) replays the stream in order, and
//! a crash never leaves a half-renamed set. With `rotation.max_files` the
//! oldest segments are deleted once there are more than that many.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::config::{FileMode, Rotation};

/// How segment files are named: `<stem>.<ext>`, `<stem>.1.<ext>` …
struct Naming {
    dir: PathBuf,
    stem: String,
    ext: Option<String>,
}

impl Naming {
    fn new(dir: &Path, filename: &str) -> Self {
        let (stem, ext) = match filename.rsplit_once('.') {
            Some((s, e)) if !s.is_empty() => (s.to_owned(), Some(e.to_owned())),
            _ => (filename.to_owned(), None),
        };
        Naming {
            dir: dir.to_owned(),
            stem,
            ext,
        }
    }

    fn path_of(&self, index: u64) -> PathBuf {
        let name = match (&self.ext, index) {
            (Some(e), 0) => format!("{}.{e}", self.stem),
            (Some(e), n) => format!("{}.{n}.{e}", self.stem),
            (None, 0) => self.stem.clone(),
            (None, n) => format!("{}.{n}", self.stem),
        };
        self.dir.join(name)
    }

    fn index_of(&self, path: &Path) -> Option<u64> {
        if path == self.path_of(0) {
            return Some(0);
        }
        let name = path.file_name()?.to_str()?;
        let rest = name.strip_prefix(&self.stem)?.strip_prefix('.')?;
        let num = match &self.ext {
            Some(e) => rest.strip_suffix(e.as_str())?.strip_suffix('.')?,
            None => rest,
        };
        num.parse().ok()
    }

    /// Existing segments of this stream as `(index, path)`, oldest first.
    fn existing(&self) -> Vec<(u64, PathBuf)> {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found: Vec<(u64, PathBuf)> = dir
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter_map(|p| self.index_of(&p).map(|i| (i, p)))
            .collect();
        found.sort();
        found
    }
}

/// Whether any segment of `filename` (the file or a rotated `name.N.ext`)
/// exists in `dir`.
pub(crate) fn any_segment(dir: &Path, filename: &str) -> bool {
    !Naming::new(dir, filename).existing().is_empty()
}

/// The open segment plus the paths of the segments written so far.
pub(crate) struct Segments {
    naming: Naming,
    rotation: Option<Rotation>,
    index: u64,
    file: BufWriter<File>,
    size: u64,
    /// Live segments, oldest first.
    paths: Vec<PathBuf>,
}

/// An I/O error that names the file or directory it happened to (the OS
/// error alone, "Not a directory", does not say where).
fn located(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl Segments {
    /// Open the first segment (creating the directory if needed). In append
    /// mode, writing resumes in the newest existing segment; in overwrite
    /// mode, the stream starts anew and earlier rotated segments are removed.
    pub(crate) fn open(
        dir: &Path,
        filename: &str,
        mode: FileMode,
        rotation: Option<Rotation>,
    ) -> io::Result<Self> {
        fs::create_dir_all(dir).map_err(located(dir))?;
        let naming = Naming::new(dir, filename);
        let (index, mut paths) = match mode {
            FileMode::Append => {
                let found = naming.existing();
                let index = found.last().map_or(0, |(i, _)| *i);
                (index, found.into_iter().map(|(_, p)| p).collect())
            }
            FileMode::Overwrite => {
                // The stream is replaced, rotated segments of an earlier run
                // included: left behind, they would read as this stream's
                // continuation (and an append-mode run would resume in them).
                for (i, old) in naming.existing() {
                    if i > 0 {
                        fs::remove_file(&old)
                            .or_else(|e| match e.kind() {
                                io::ErrorKind::NotFound => Ok(()),
                                _ => Err(e),
                            })
                            .map_err(located(&old))?;
                    }
                }
                (0, Vec::new())
            }
        };
        let path = naming.path_of(index);
        let file = match mode {
            FileMode::Append => OpenOptions::new().create(true).append(true).open(&path),
            FileMode::Overwrite => File::create(&path),
        }
        .map_err(located(&path))?;
        let size = file.metadata().map_err(located(&path))?.len();
        if paths.last() != Some(&path) {
            paths.push(path);
        }
        Ok(Segments {
            naming,
            rotation,
            index,
            file: BufWriter::with_capacity(64 * 1024, file),
            size,
            paths,
        })
    }

    /// Paths of the live segments, oldest first.
    pub(crate) fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Append whole JSON Lines records (`buf` ends with `\n`), rotating
    /// between records when a segment would exceed `max_bytes`.
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<()> {
        let Some(max) = self.rotation.map(|r| r.max_bytes) else {
            self.put(buf)?;
            self.size += buf.len() as u64;
            return Ok(());
        };
        if self.size.saturating_add(buf.len() as u64) <= max {
            // Everything fits in this segment (the usual case): no need to
            // find where each record ends.
            self.put(buf)?;
            self.size += buf.len() as u64;
            return Ok(());
        }
        let mut rest = buf;
        while !rest.is_empty() {
            let room = max.saturating_sub(self.size) as usize;
            let mut take = 0;
            while take < rest.len() {
                let end = line_end(rest, take);
                if end > room {
                    break;
                }
                take = end;
            }
            if take == 0 {
                if self.size > 0 {
                    self.rotate()?;
                    continue;
                }
                // One record larger than a whole segment: it gets a segment
                // of its own rather than being split or lost.
                take = line_end(rest, 0);
            }
            self.put(&rest[..take])?;
            self.size += take as u64;
            rest = &rest[take..];
        }
        Ok(())
    }

    /// Hand buffered bytes to the OS; with `sync`, also to the disk.
    pub(crate) fn flush(&mut self, sync: bool) -> io::Result<()> {
        let flushed = self.file.flush().and_then(|()| match sync {
            true => self.file.get_ref().sync_data(),
            false => Ok(()),
        });
        flushed.map_err(|e| self.at_current(e))
    }

    /// `e` naming the segment being written.
    fn at_current(&self, e: io::Error) -> io::Error {
        match self.paths.last() {
            Some(path) => located(path)(e),
            None => e,
        }
    }

    /// Write `bytes` to the current segment.
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes).map_err(|e| self.at_current(e))
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush().map_err(|e| self.at_current(e))?;
        self.index += 1;
        let path = self.naming.path_of(self.index);
        let file = File::create(&path).map_err(located(&path))?;
        self.file = BufWriter::with_capacity(64 * 1024, file);
        self.size = 0;
        self.paths.push(path);
        if let Some(keep) = self.rotation.and_then(|r| r.max_files) {
            while self.paths.len() > keep {
                let old = self.paths.remove(0);
                // Already gone (someone cleaned up) is fine.
                let _ = fs::remove_file(old);
            }
        }
        Ok(())
    }
}

/// Index just past the `\n` ending the record that starts at `from`.
fn line_end(buf: &[u8], from: usize) -> usize {
    buf[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(buf.len(), |p| from + p + 1)
}
