//! Where exported files are put: a local directory, or (feature `s3`) an S3-compatible bucket.
//!
//! Both are idempotent: a file's name is a function of the segment file it came from, so
//! putting it again (after a crash, a restart or a retried upload) replaces it with the same
//! bytes rather than adding rows.

use std::io::Write;
use std::path::{Path, PathBuf};

/// An export destination.
pub enum Sink {
    Local(PathBuf),
    #[cfg(feature = "s3")]
    S3(s3::S3Sink),
}

impl Sink {
    /// The sink for `[export] path` (not empty).
    pub fn open(cfg: &crate::config::ExportConfig) -> Result<Sink, String> {
        if let Some(rest) = cfg.path.strip_prefix("s3://") {
            #[cfg(feature = "s3")]
            return s3::S3Sink::open(rest, cfg).map(Sink::S3);
            #[cfg(not(feature = "s3"))]
            return Err(format!("s3://{rest}: this build has no S3 support"));
        }
        let dir = PathBuf::from(&cfg.path);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating the export directory: {e}"))?;
        Ok(Sink::Local(dir))
    }

    /// Puts `bytes` at `rel` (a `/`-separated relative path) durably.
    pub fn put(&mut self, rel: &str, bytes: Vec<u8>) -> Result<(), String> {
        match self {
            Sink::Local(root) => put_local(root, rel, &bytes),
            #[cfg(feature = "s3")]
            Sink::S3(s) => s.put(rel, bytes),
        }
    }
}

/// Temp file (a hidden name engines skip), fsync, rename, directory fsync; directories created
/// on the way are fsynced into their parents.
fn put_local(root: &Path, rel: &str, bytes: &[u8]) -> Result<(), String> {
    let path = root.join(rel);
    let dir = path.parent().unwrap_or(root);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let err = |what: &str, e: std::io::Error| format!("{what} {rel}: {e}");
    create_dirs_durably(root, dir).map_err(|e| err("creating the directory of", e))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(|e| err("creating", e))?;
    f.write_all(bytes).map_err(|e| err("writing", e))?;
    f.sync_all().map_err(|e| err("syncing", e))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(|e| err("renaming", e))?;
    sync_dir(dir).map_err(|e| err("syncing the directory of", e))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Creates `dir` (under `root`) and fsyncs the parent of every directory it created.
fn create_dirs_durably(root: &Path, dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| p.starts_with(root) && *p != dir) {
        create_dirs_durably(root, parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

#[cfg(feature = "s3")]
mod s3 {
    //! `object_store`'s S3 client on a current-thread tokio runtime owned by the exporter thread.

    use object_store::aws::{AmazonS3, AmazonS3Builder};
    use object_store::path::Path as ObjectPath;
    use object_store::{ObjectStore, PutPayload, WriteMultipart};

    /// Files above this size are uploaded in parts of this size (S3's smallest part).
    const MULTIPART_BYTES: usize = 5 << 20;

    pub struct S3Sink {
        store: AmazonS3,
        prefix: String,
        rt: tokio::runtime::Runtime,
    }

    impl S3Sink {
        /// `rest` is `bucket[/prefix]`; credentials come from the environment only.
        pub fn open(rest: &str, cfg: &crate::config::ExportConfig) -> Result<S3Sink, String> {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let mut b = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(&cfg.s3_region);
            if let Ok(k) = std::env::var("AWS_ACCESS_KEY_ID") {
                b = b.with_access_key_id(k);
            }
            if let Ok(s) = std::env::var("AWS_SECRET_ACCESS_KEY") {
                b = b.with_secret_access_key(s);
            }
            if let Ok(t) = std::env::var("AWS_SESSION_TOKEN") {
                b = b.with_token(t);
            }
            if !cfg.s3_endpoint.is_empty() {
                b = b
                    .with_endpoint(&cfg.s3_endpoint)
                    .with_allow_http(cfg.s3_endpoint.starts_with("http://"))
                    .with_virtual_hosted_style_request(false);
            }
            let store = b.build().map_err(|e| format!("S3 configuration: {e}"))?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("starting the S3 client's runtime: {e}"))?;
            Ok(S3Sink {
                store,
                prefix: prefix.trim_matches('/').to_string(),
                rt,
            })
        }

        pub fn put(&mut self, rel: &str, bytes: Vec<u8>) -> Result<(), String> {
            let key = if self.prefix.is_empty() {
                rel.to_string()
            } else {
                format!("{}/{rel}", self.prefix)
            };
            // Parse, not from(): the components are percent-encoded already.
            let path = ObjectPath::parse(&key).map_err(|e| format!("object key {key}: {e}"))?;
            let store = &self.store;
            self.rt.block_on(async move {
                if bytes.len() <= MULTIPART_BYTES {
                    store
                        .put(&path, PutPayload::from(bytes))
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("uploading {key}: {e}"))
                } else {
                    let upload = store
                        .put_multipart(&path)
                        .await
                        .map_err(|e| format!("starting the upload of {key}: {e}"))?;
                    let mut w = WriteMultipart::new_with_chunk_size(upload, MULTIPART_BYTES);
                    w.write(&bytes);
                    w.finish()
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("uploading {key}: {e}"))
                }
            })
        }
    }
}
