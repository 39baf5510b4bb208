//! `ObjectStore`: records as objects in a bucket (S3 and S3-compatible services, through the
//! `object_store` crate), for a cache shared between machines and CI jobs.
//!
//! One object per record, named `{prefix}/{name}` with the key's name of
//! [`file_name::OBJECTS`] (injective, reversible, long keys hashed, the record holding the
//! full key). Writes go through the same
//! group-commit queue as the other durable stores ([`super::write_behind`]); a batch is sent
//! as parallel requests, at most [`CONCURRENCY`] at a time, on a runtime of the store's own.
//! A put replaces an object atomically (readers see the old record or the new one), and it is
//! conditional: a key this store saw absent is created only if it still is, a key it saw is
//! replaced only if it is still the version it saw. A write that loses such a race keeps the
//! other writer's record (the same key: the same task's output), so two writers never
//! interleave and never replace each other's records back and forth.

use super::file_name::OBJECTS;
use super::write_behind::{Backend, Op, WriteBehind};
use super::{CachedStore, FailedWrite, Storage};
use crate::DuraflowError;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig, UpdateVersion,
};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Requests a store has in flight at most.
pub const CONCURRENCY: usize = 32;

/// Records in a bucket of an object store: a cache that machines and CI jobs share.
///
/// [`ObjectStore::s3`] opens an S3 bucket (AWS or any S3-compatible server) by URL;
/// [`ObjectStore::new`] takes any store of the `object_store` crate (re-exported as
/// [`duraflow::object_store`](crate::object_store)) configured by hand. Transient errors are
/// retried with backoff by `object_store` (up to 5 times, for at most a minute, with
/// [`ObjectStore::s3`]); an error that remains names the key, the bucket and the endpoint,
/// never the credentials. Every read is a request: put a local store in front with
/// [`ObjectStore::cached`] so that a second run on the same machine reads nothing from the
/// network.
///
/// ```no_run
/// # fn main() -> Result<(), duraflow::DuraflowError> {
/// use duraflow::{Context, ObjectStore, RedbStore};
///
/// // Credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, as for the AWS CLI.
/// let bucket = ObjectStore::s3(
///     "s3://team-cache/nightly",
///     [("endpoint", "http://minio.internal:9000"), ("allow_http", "true")],
/// )?;
/// let ctx = Context::new(bucket.cached(RedbStore::open("cache.redb")?));
/// ctx.save("answer", &42u64)?;
/// assert_eq!(ctx.get::<u64>("answer"), Some(42));
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "object-store")))]
pub struct ObjectStore {
    // Dropped first: the queue sends what is left through the bucket.
    queue: WriteBehind<Arc<Bucket>>,
    bucket: Arc<Bucket>,
}

/// What this store last saw of a key in the bucket: the version its next put must replace.
#[derive(Clone)]
enum Seen {
    Absent,
    Version(UpdateVersion),
}

/// The bucket side of the queue.
struct Bucket {
    store: Arc<dyn object_store::ObjectStore>,
    prefix: Path,
    /// `bucket/prefix at endpoint`, for messages.
    location: String,
    seen: Mutex<HashMap<String, Seen>>,
    /// Runs the requests; `None` only while the store is dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl ObjectStore {
    /// Opens the S3 bucket at `url` (`s3://bucket` or `s3://bucket/prefix`) with `options`,
    /// the configuration keys of `object_store`'s `AmazonS3Builder` (`endpoint`,
    /// `allow_http`, `region`, `access_key_id`, `secret_access_key`, ...). Settings not given
    /// come from the `AWS_*` environment variables.
    ///
    /// A malformed URL or option is [`DuraflowError::Open`]; the bucket is first contacted
    /// on the first read or write.
    pub fn s3<K, V>(
        url: &str,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, DuraflowError>
    where
        K: AsRef<str>,
        V: Into<String>,
    {
        let open_error = |message: String| DuraflowError::Open {
            path: redact(url).into(),
            source: io::Error::new(io::ErrorKind::InvalidInput, message),
        };
        let mut builder = AmazonS3Builder::from_env()
            .with_url(url)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 5,
                retry_timeout: Duration::from_secs(60),
            });
        let mut endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .ok();
        for (key, value) in options {
            let value = value.into();
            let config = key
                .as_ref()
                .parse()
                .map_err(|e: object_store::Error| open_error(e.to_string()))?;
            if matches!(config, object_store::aws::AmazonS3ConfigKey::Endpoint) {
                endpoint = Some(value.clone());
            }
            builder = builder.with_config(config, value);
        }
        let store = builder.build().map_err(|e| open_error(e.to_string()))?;
        let path = url.split_once("://").map_or("", |(_, rest)| rest);
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        let endpoint = endpoint.map_or_else(|| "AWS's endpoint".to_owned(), |e| redact(&e));
        Self::new(
            Arc::new(store),
            prefix,
            &format!("bucket {bucket} at {endpoint}"),
        )
    }

    /// A store of records under `prefix` in `store`, an `object_store` store configured by
    /// hand (GCS, Azure, local files, S3 with settings of one's own); `location` describes it
    /// in messages (say, `bucket cache at https://storage.googleapis.com`): it must not hold
    /// credentials.
    pub fn new(
        store: Arc<dyn object_store::ObjectStore>,
        prefix: &str,
        location: &str,
    ) -> Result<Self, DuraflowError> {
        let prefix = Path::from(prefix);
        let location = match prefix.as_ref() {
            "" => location.to_owned(),
            prefix => format!("{location}, prefix {prefix}"),
        };
        let open_error = |source: io::Error| DuraflowError::Open {
            path: location.clone().into(),
            source,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("duraflow-object-store")
            .enable_all()
            .build()
            .map_err(open_error)?;
        let bucket = Arc::new(Bucket {
            store,
            prefix,
            location: location.clone(),
            seen: Mutex::default(),
            runtime: Some(runtime),
        });
        let queue = WriteBehind::new(Arc::clone(&bucket), "duraflow-object-store-writer", None)
            .map_err(open_error)?;
        Ok(Self { queue, bucket })
    }

    /// This store behind `local`, which every read looks in first (see [`CachedStore`]):
    /// a second run on the same machine reads nothing from the network.
    pub fn cached<L: Storage>(self, local: L) -> CachedStore<L, ObjectStore> {
        CachedStore::new(local, self)
    }

    /// Where the records are: bucket, endpoint and prefix.
    pub fn location(&self) -> &str {
        &self.bucket.location
    }
}

impl Storage for ObjectStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        self.queue.get(key)
    }

    fn get_many(&self, keys: &[&str]) -> io::Result<Vec<Option<Vec<u8>>>> {
        self.queue.get_many(keys)
    }

    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        self.queue.push(key, Some(record));
        Ok(())
    }

    fn remove(&self, key: &str) -> io::Result<()> {
        self.queue.push(key, None);
        Ok(())
    }

    fn flush(&self) -> Result<(), FailedWrite> {
        self.queue.flush()
    }

    fn keys(&self) -> io::Result<Vec<String>> {
        self.queue.keys()
    }
}

impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStore")
            .field("location", &self.bucket.location)
            .finish_non_exhaustive()
    }
}

/// The object name of `key`.
fn object_name(key: &str) -> String {
    OBJECTS.name(key)
}

impl Bucket {
    fn path(&self, name: &str) -> Path {
        self.prefix.clone().join(name)
    }

    /// Runs `request` on the store's runtime and waits for it: from any thread, also one of
    /// another runtime's.
    fn call<T: Send + 'static>(&self, request: impl Future<Output = T> + Send + 'static) -> T {
        let runtime = self.runtime.as_ref().expect("the store's runtime");
        let (send, receive) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = send.send(request.await);
        });
        receive
            .recv()
            .expect("the store's runtime runs every request to its end")
    }

    /// An `io::Error` naming the key and where the bucket is.
    fn error(&self, key: &str, what: &str, error: object_store::Error) -> io::Error {
        let kind = match error {
            object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
            object_store::Error::InvalidPath { .. } => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        let message = format!("{what} {key:?} in {}: {error}", self.location);
        io::Error::new(kind, message)
    }

    /// Reads the object of `name`, keeping its version for the next put.
    async fn fetch(
        store: Arc<dyn object_store::ObjectStore>,
        path: Path,
    ) -> object_store::Result<(Option<Vec<u8>>, Seen)> {
        match store.get(&path).await {
            Ok(found) => {
                let version = UpdateVersion {
                    e_tag: found.meta.e_tag.clone(),
                    version: found.meta.version.clone(),
                };
                let bytes = found.bytes().await?;
                Ok((Some(bytes.to_vec()), Seen::Version(version)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok((None, Seen::Absent)),
            Err(error) => Err(error),
        }
    }

    /// Every object name under the prefix.
    fn names(&self) -> io::Result<Vec<String>> {
        let store = Arc::clone(&self.store);
        let prefix = self.prefix.clone();
        let listed = self.call(async move {
            store
                .list(Some(&prefix))
                .map_ok(|meta| meta.location.filename().unwrap_or_default().to_owned())
                .try_collect::<Vec<String>>()
                .await
        });
        listed.map_err(|e| self.error("", "listing the records before", e))
    }
}

impl Backend for Arc<Bucket> {
    fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        let fetched = self.call(Bucket::fetch(
            Arc::clone(&self.store),
            self.path(&object_name(key)),
        ));
        let (record, seen) = fetched.map_err(|e| self.error(key, "reading the record of", e))?;
        self.seen.lock().insert(key.to_owned(), seen);
        Ok(record)
    }

    /// One listing, then parallel reads of the keys that have an object.
    fn read_many(&self, keys: &[&str]) -> io::Result<Vec<Option<Vec<u8>>>> {
        let listed: HashSet<String> = self.names()?.into_iter().collect();
        let wanted: Vec<(usize, Path)> = keys
            .iter()
            .enumerate()
            .filter_map(|(i, key)| {
                let name = object_name(key);
                listed.contains(&name).then(|| (i, self.path(&name)))
            })
            .collect();
        let store = Arc::clone(&self.store);
        let fetched = self.call(async move {
            futures::stream::iter(wanted)
                .map(|(i, path)| {
                    let store = Arc::clone(&store);
                    async move { (i, Bucket::fetch(store, path).await) }
                })
                .buffer_unordered(CONCURRENCY)
                .collect::<Vec<_>>()
                .await
        });
        let mut records = vec![None; keys.len()];
        let mut seen = self.seen.lock();
        for key in keys {
            seen.insert((*key).to_owned(), Seen::Absent);
        }
        for (i, result) in fetched {
            let (record, version) =
                result.map_err(|e| self.error(keys[i], "reading the record of", e))?;
            records[i] = record;
            seen.insert(keys[i].to_owned(), version);
        }
        Ok(records)
    }

    /// Sends the batch's puts and removals in parallel; names the first key that failed.
    fn commit(&self, batch: &[Op<'_>], _durable: bool) -> Result<(), FailedWrite> {
        let requests: Vec<(String, Path, Option<Vec<u8>>, PutMode)> = {
            let seen = self.seen.lock();
            batch
                .iter()
                .map(|op| {
                    let mode = match seen.get(op.key) {
                        Some(Seen::Absent) => PutMode::Create,
                        Some(Seen::Version(version)) => PutMode::Update(version.clone()),
                        None => PutMode::Overwrite,
                    };
                    let path = self.path(&object_name(op.key));
                    (op.key.to_owned(), path, op.record.map(<[u8]>::to_vec), mode)
                })
                .collect()
        };
        let store = Arc::clone(&self.store);
        let sent = self.call(async move {
            futures::stream::iter(requests)
                .map(|(key, path, record, mode)| {
                    let store = Arc::clone(&store);
                    async move {
                        let result = match record {
                            Some(record) => put(&*store, &path, record, mode).await,
                            None => store.delete(&path).await.map(|()| Some(Seen::Absent)),
                        };
                        (key, result)
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect::<Vec<_>>()
                .await
        });
        let mut failure = None;
        let mut seen = self.seen.lock();
        for (key, result) in sent {
            match result {
                Ok(Some(now)) => {
                    seen.insert(key, now);
                }
                // Another writer stored the key first: its version is not known here.
                Ok(None) => {
                    seen.remove(&key);
                }
                Err(error) if failure.is_none() => {
                    let source = self.error(&key, "writing the record of", error);
                    failure = Some(FailedWrite { key, source });
                }
                Err(_) => {}
            }
        }
        failure.map_or(Ok(()), Err)
    }

    fn keys(&self) -> io::Result<Vec<String>> {
        let mut keys = Vec::new();
        for name in self.names()? {
            if OBJECTS.is_hashed(&name) {
                // The record holds the key that a hashed name stands for.
                let store = Arc::clone(&self.store);
                let fetched = self.call(Bucket::fetch(store, self.path(&name)));
                let (record, _) =
                    fetched.map_err(|e| self.error(&name, "reading the object", e))?;
                let key = record.as_deref().and_then(|bytes| {
                    let record = crate::codec::parse(bytes).ok()?;
                    (object_name(record.key) == name).then(|| record.key.to_owned())
                });
                keys.extend(key);
            } else {
                keys.extend(OBJECTS.key_of(&name));
            }
        }
        Ok(keys)
    }
}

/// A conditional put of `record`: the version now stored, or `None` when another writer
/// stored the key first (its record stays).
async fn put(
    store: &dyn object_store::ObjectStore,
    path: &Path,
    record: Vec<u8>,
    mode: PutMode,
) -> object_store::Result<Option<Seen>> {
    let options = PutOptions::from(mode);
    match store
        .put_opts(path, PutPayload::from(record), options)
        .await
    {
        Ok(result) => Ok(Some(Seen::Version(result.into()))),
        Err(
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. },
        ) => Ok(None),
        Err(error) => Err(error),
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        // Without waiting: a store may be dropped on another runtime's thread.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// `url` without the user and password it may hold.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority = rest.split('/').next().unwrap_or_default();
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{}", &rest[authority.len()..]),
        None => url.to_owned(),
    }
}
