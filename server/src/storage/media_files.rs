//! Media content on disk, addressed by its SHA-256: `<root>/ab/cd/abcd…`. Identical uploads share
//! one file, and a name never changes meaning, so files are written once and never rewritten.
//!
//! Durability: a file is written under a temporary name, synced, renamed into place and its
//! directory synced before [`MediaFiles::put`] returns. Callers record the hash in the database
//! only after that, so a row never points at content a crash could lose. A crash in between
//! leaves an unreferenced file, which costs disk space and nothing else.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use super::{Error, ErrorKind};

#[derive(Debug, Clone)]
pub struct MediaFiles {
    root: PathBuf,
}

impl MediaFiles {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Stores `content` and returns its SHA-256 in lower-case hex.
    pub async fn put(&self, content: Bytes) -> Result<String, Error> {
        let root = self.root.clone();
        blocking(move || {
            let hash = hex(&Sha256::digest(&content));
            let path = path_for(&root, &hash);
            if path.exists() {
                return Ok(hash);
            }
            let dir = path.parent().expect("content paths have a parent");
            std::fs::create_dir_all(dir).map_err(io_error)?;
            let mut temp = tempfile_in(dir)?;
            temp.1.write_all(&content).map_err(io_error)?;
            temp.1.sync_all().map_err(io_error)?;
            drop(temp.1);
            std::fs::rename(&temp.0, &path).map_err(io_error)?;
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_error)?;
            Ok(hash)
        })
        .await
    }

    /// The content stored under `sha256`.
    pub async fn get(&self, sha256: &str) -> Result<Bytes, Error> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::new(
                ErrorKind::Internal,
                format!("not a content hash: {sha256:?}"),
            ));
        }
        let path = path_for(&self.root, sha256);
        blocking(move || std::fs::read(&path).map(Bytes::from).map_err(io_error)).await
    }
}

fn path_for(root: &Path, hash: &str) -> PathBuf {
    root.join(&hash[0..2]).join(&hash[2..4]).join(hash)
}

/// A new file with a random name in `dir`, created exclusively so two writers never share one.
fn tempfile_in(dir: &Path) -> Result<(PathBuf, std::fs::File), Error> {
    for _ in 0..8 {
        let path = dir.join(format!(".upload-{:016x}", rand::random::<u64>()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error(e)),
        }
    }
    Err(Error::new(
        ErrorKind::Internal,
        "no free temporary file name for an upload",
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io_error(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Internal, format!("media store: {e}"))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorKind::Internal, format!("media task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn content_round_trips_under_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let files = MediaFiles::new(dir.path());
        let hash = files.put(Bytes::from_static(b"hello")).await.unwrap();
        assert_eq!(
            hash,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(&files.get(&hash).await.unwrap()[..], b"hello");
        assert!(dir.path().join("2c/f2").join(&hash).is_file());
    }

    #[tokio::test]
    async fn identical_content_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let files = MediaFiles::new(dir.path());
        let a = files.put(Bytes::from_static(b"same")).await.unwrap();
        let b = files.put(Bytes::from_static(b"same")).await.unwrap();
        assert_eq!(a, b);
        let entries = std::fs::read_dir(dir.path().join(&a[0..2]).join(&a[2..4]))
            .unwrap()
            .count();
        assert_eq!(entries, 1, "no temporary file left behind");
    }

    #[tokio::test]
    async fn a_hash_that_could_escape_the_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files = MediaFiles::new(dir.path());
        assert!(files.get("../../etc/passwd").await.is_err());
    }
}
