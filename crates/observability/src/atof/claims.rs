//! Generated ATOF file names, made unique within the process.
//!
//! The default file name carries the exporter's start time to the second,
//! so two exporters started in the same second in one directory would share
//! a file: their lines interleave (in overwrite mode, each truncates the
//! other's), and with rotation one deletes the segments the other writes.
//! A generated name that a live exporter of this process already writes
//! gets a numeric suffix instead (`…Z-2.jsonl`); in overwrite mode, so does
//! one of which any segment exists (an exporter of the same second, since
//! shut down, would lose its files). A name the application chose is used
//! as it is: writing one file from two exporters is then its decision.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;

/// First-segment paths of the live exporters with generated names.
static CLAIMED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A generated name held until the exporter shuts down.
pub(crate) struct Claim(PathBuf);

impl Drop for Claim {
    fn drop(&mut self) {
        CLAIMED.lock().retain(|p| *p != self.0);
    }
}

/// `filename` in `dir`, or the first free suffixed form of it, claimed
/// (with `fresh`, a name of which any segment exists is not free).
pub(crate) fn claim(dir: &Path, filename: &str, fresh: bool) -> (Claim, String) {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let mut claimed = CLAIMED.lock();
    let taken = |name: &str| {
        claimed.iter().any(|p| *p == dir.join(name))
            || (fresh && super::segments::any_segment(&dir, name))
    };
    let mut n = 1;
    let mut name = filename.to_owned();
    while taken(&name) {
        n += 1;
        name = match filename.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}-{n}.{ext}"),
            None => format!("{filename}-{n}"),
        };
    }
    let path = dir.join(&name);
    claimed.push(path.clone());
    (Claim(path), name)
}
