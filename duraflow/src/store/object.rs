//! `ObjectStore`: records as objects in a bucket (S3 and S3-compatible services, GCS, Azure,
//! local files: anything the `object_store` crate speaks), for a cache shared between
//! machines and CI jobs.
//!
//! One object per record, named `{prefix}/{name}` with the key's name of
//! [`file_name::OBJECTS`](super::file_name::OBJECTS) (injective, reversible, long keys hashed,
//! the record holding the full key). Writes go through the group-commit queue of the other
//! durable stores ([`super::write_behind`]); a batch is sent as parallel requests, at most
//! [`CONCURRENCY`] at a time, on a runtime of the store's own.
//!
//! A put replaces an object atomically (readers see the old record or the new one), and it is
//! conditional where the service offers it: a key this store saw absent is created only if it
//! still is, a key it read is replaced only if it is still the version it read. A write that
//! loses such a race keeps the other writer's record (the same key: the same task's output),
//! so two writers never replace each other's records back and forth.

use super::file_name::OBJECTS;
use super::write_behind::{Backend, Op, WriteBehind};
use super::{CachedStore, FailedWrite, Found, Listed, Storage};
use crate::DuraflowError;
use futures::{stream, StreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, Error as StoreError, ObjectStoreExt, PutMode, PutPayload,
    PutResult, RetryConfig, UpdateVersion, WriteMultipart,
};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Requests a store has in flight at most.
const CONCURRENCY: usize = 32;

/// Records at least this long are uploaded in parts: one PUT is limited (5 GiB on S3) and
/// needs a copy of the whole record, while parts go in parallel, each copied only while it
/// is sent. Such an upload is not conditional (`object_store` offers no conditional
/// multipart upload); it still appears at once, whole, when it completes.
const MULTIPART_FROM: usize = 64 << 20;

/// The size of each part of a multipart upload (S3 takes up to 10,000 parts: records up to
/// 160 GiB), and how many are in flight at once.
const PART: usize = 16 << 20;
const PARTS_IN_FLIGHT: usize = 4;

/// A request fails when the server sends nothing for this long. There is no limit on a
/// whole request, so that a large record goes through a slow link.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Records in a bucket of an object store: a cache that machines and CI jobs share.
///
/// [`ObjectStore::s3`] opens an S3 bucket (AWS or any S3-compatible server) by URL;
/// [`ObjectStore::new`] takes any store of the `object_store` crate (re-exported as
/// [`duraflow::object_store`](crate::object_store)): GCS, Azure, local files, S3 configured
/// by hand. Transient errors are retried with backoff by `object_store` (with
/// [`ObjectStore::s3`]: up to 5 times, for at most a minute, and a request fails after 30 s
/// without a byte from the server); an error that remains names the key, the bucket and the
/// endpoint, never the credentials. Records of 64 MiB and more are uploaded in parts. Every read is a request: put
/// a local store in front with [`ObjectStore::cached`] so that a second run on the same
/// machine reads nothing from the network.
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
    queue: WriteBehind<Bucket>,
    /// The bucket's prefix and location, as [`Bucket`] has them.
    prefix: Path,
    location: String,
}

/// The bucket side of the queue.
struct Bucket {
    store: Arc<dyn object_store::ObjectStore>,
    prefix: Path,
    /// `bucket NAME at ENDPOINT, prefix PREFIX`, for messages.
    location: String,
    /// What this store last saw of each key: the version its next put must replace.
    seen: Mutex<HashMap<String, Seen>>,
    /// Runs the requests; `None` only while the store is dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

/// What a store saw of a key in the bucket.
#[derive(Clone)]
enum Seen {
    Absent,
    Version(UpdateVersion),
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
            source: io::Error::new(io::ErrorKind::InvalidInput, redact(&message)),
        };
        let Some(path) = url.strip_prefix("s3://") else {
            return Err(open_error(
                "an S3 URL is s3://BUCKET or s3://BUCKET/PREFIX".into(),
            ));
        };
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        let client = ClientOptions::new()
            .with_timeout_disabled()
            .with_read_timeout(IDLE_TIMEOUT);
        let mut builder = AmazonS3Builder::from_env()
            .with_url(url)
            .with_client_options(client)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 5,
                retry_timeout: Duration::from_secs(60),
            });
        for (key, value) in options {
            let key: AmazonS3ConfigKey = key
                .as_ref()
                .parse()
                .map_err(|e: StoreError| open_error(e.to_string()))?;
            builder = builder.with_config(key, value);
        }
        let config = |key| builder.get_config_value(&key);
        let endpoint = config(AmazonS3ConfigKey::Endpoint).unwrap_or_else(|| {
            let region = config(AmazonS3ConfigKey::Region);
            let region = region.as_deref().unwrap_or("us-east-1");
            format!("https://s3.{region}.amazonaws.com")
        });
        let endpoint = redact(&endpoint);
        let location = format!("bucket {bucket} at {endpoint}");
        let store = builder.build().map_err(|e| open_error(e.to_string()))?;
        Self::new(Arc::new(store), prefix, &location)
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
        let path = std::path::PathBuf::from(&location);
        let open_error = |source: io::Error| DuraflowError::Open {
            path: path.clone(),
            source,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("duraflow-object-store")
            .enable_all()
            .build()
            .map_err(open_error)?;
        let bucket = Bucket {
            store,
            prefix: prefix.clone(),
            location: location.clone(),
            seen: Mutex::default(),
            runtime: Some(runtime),
        };
        let queue = WriteBehind::new(bucket, "duraflow-object-store-writer", None);
        Ok(Self {
            queue: queue.map_err(open_error)?,
            prefix,
            location,
        })
    }

    /// This store behind `local`, which every read looks in first and every write also goes
    /// to (see [`CachedStore`]): a second run on the same machine reads nothing from the
    /// network.
    pub fn cached<L: Storage>(self, local: L) -> CachedStore<L, ObjectStore> {
        CachedStore::new(local, self)
    }

    /// Where the records are: bucket, endpoint and prefix.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The name of the object that holds the record of `key`, as the bucket lists it
    /// (`{prefix}/{name}`): `key` itself when it is made of `a-z`, `0-9` and `-` only,
    /// other bytes escaped as `_xx`, long keys cut and followed by `.` and their SHA-256.
    pub fn object_name(&self, key: &str) -> String {
        object_path(&self.prefix, key).to_string()
    }
}

impl Storage for ObjectStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        self.queue.get(key)
    }

    /// One listing (which gives every object's size), then parallel reads of the keys that
    /// have an object no longer than `limit`.
    fn get_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        self.queue.get_many(keys, limit)
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

    fn list(&self) -> io::Result<Vec<Listed>> {
        self.queue.list()
    }
}

impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStore")
            .field("location", &self.location())
            .finish_non_exhaustive()
    }
}

/// The path of the object of `key` under `prefix`.
fn object_path(prefix: &Path, key: &str) -> Path {
    prefix.clone().join(OBJECTS.name(key))
}

impl Bucket {
    fn path(&self, name: &str) -> Path {
        self.prefix.clone().join(name)
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the store's runtime")
    }

    /// Runs `requests` on the store's runtime and waits for them, from any thread (also a
    /// worker of another runtime, where `Runtime::block_on` would panic).
    fn call<T: Send + 'static>(&self, requests: impl Future<Output = T> + Send + 'static) -> T {
        match futures::executor::block_on(self.runtime().spawn(requests)) {
            Ok(done) => done,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }

    /// An `io::Error` saying what was done (to which key), and where the bucket is.
    fn error(&self, doing: &str, error: StoreError) -> io::Error {
        let kind = match error {
            StoreError::NotFound { .. } => io::ErrorKind::NotFound,
            StoreError::InvalidPath { .. } => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(
            kind,
            redact(&format!("{doing} in {}: {error}", self.location)),
        )
    }

    /// Every object directly under the prefix: its name and size.
    fn objects(&self) -> io::Result<Vec<(String, u64)>> {
        let (store, prefix) = (Arc::clone(&self.store), self.prefix.clone());
        let listed = self.call(async move { store.list_with_delimiter(Some(&prefix)).await });
        let listed = listed.map_err(|e| self.error("listing the records", e))?;
        let objects = listed.objects.into_iter().filter_map(|meta| {
            let name = meta.location.filename()?.to_owned();
            Some((name, meta.size))
        });
        Ok(objects.collect())
    }

    /// Reads the objects of `names` in parallel, at most [`CONCURRENCY`] at a time: each
    /// one's record and version, in the order of `names`. A failed read is named by
    /// `describe` (given the object's index), so that its error can name the key.
    fn fetch_all(
        &self,
        names: Vec<String>,
        describe: impl Fn(usize) -> String,
    ) -> io::Result<Vec<(Option<Vec<u8>>, Seen)>> {
        let store = Arc::clone(&self.store);
        let paths: Vec<Path> = names.iter().map(|name| self.path(name)).collect();
        let fetched = self.call(async move {
            let fetches = paths
                .into_iter()
                .map(|path| fetch(Arc::clone(&store), path));
            stream::iter(fetches)
                .buffered(CONCURRENCY)
                .collect::<Vec<_>>()
                .await
        });
        let described = fetched.into_iter().enumerate();
        described
            .map(|(i, result)| result.map_err(|e| self.error(&describe(i), e)))
            .collect()
    }

    /// Sends one op of a batch: the key's version now, or `None` when another writer stored
    /// the key first (its record stays).
    async fn send(&self, op: &Op<'_>, mode: PutMode) -> object_store::Result<Option<Seen>> {
        let path = object_path(&self.prefix, op.key);
        let Some(record) = op.record else {
            return match self.store.delete(&path).await {
                Ok(()) | Err(StoreError::NotFound { .. }) => Ok(Some(Seen::Absent)),
                Err(error) => Err(error),
            };
        };
        if record.len() >= MULTIPART_FROM {
            let done = upload_in_parts(&*self.store, &path, record, PART).await?;
            return Ok(Some(Seen::Version(done.into())));
        }
        let payload = || PutPayload::from(record.to_vec());
        let updating = matches!(mode, PutMode::Update(_));
        let put = match self.store.put_opts(&path, payload(), mode.into()).await {
            // A store without conditional puts (say, `LocalFileSystem` for updates).
            Err(StoreError::NotImplemented { .. }) => self.store.put(&path, payload()).await,
            // The version read is gone: if another writer replaced it, the create fails and
            // its record stays; if the object was removed, the record is stored anew.
            Err(StoreError::NotFound { .. } | StoreError::Precondition { .. }) if updating => {
                let create = PutMode::Create.into();
                self.store.put_opts(&path, payload(), create).await
            }
            put => put,
        };
        match put {
            Ok(done) => Ok(Some(Seen::Version(done.into()))),
            Err(StoreError::AlreadyExists { .. } | StoreError::Precondition { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

impl Backend for Bucket {
    fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        let store = Arc::clone(&self.store);
        let fetched = self.call(fetch(store, object_path(&self.prefix, key)));
        let (record, seen) =
            fetched.map_err(|e| self.error(&format!("reading the record of {key:?}"), e))?;
        self.seen.lock().insert(key.to_owned(), seen);
        Ok(record)
    }

    fn read_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        let sizes: HashMap<String, u64> = self.objects()?.into_iter().collect();
        let mut found = vec![Found::Absent; keys.len()];
        let mut wanted = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let name = OBJECTS.name(key);
            match sizes.get(&name) {
                None => {
                    self.seen.lock().insert((*key).to_owned(), Seen::Absent);
                }
                Some(&size) if size > limit => found[i] = Found::Unread,
                Some(_) => wanted.push((i, name)),
            }
        }
        let (at, names): (Vec<usize>, Vec<String>) = wanted.into_iter().unzip();
        let fetched = self.fetch_all(names, |n| {
            format!("reading the record of {:?}", keys[at[n]])
        })?;
        let mut seen = self.seen.lock();
        for (i, (record, version)) in at.into_iter().zip(fetched) {
            found[i] = Found::from_record(record);
            seen.insert(keys[i].to_owned(), version);
        }
        Ok(found)
    }

    /// Sends the batch's puts and removals in parallel; names the first key that failed.
    /// Runs on the queue's writer thread, so it may block on the store's runtime, and the
    /// requests borrow the records (each copied only while its request is in flight).
    fn commit(&self, batch: &[Op<'_>]) -> Result<(), FailedWrite> {
        let modes: Vec<PutMode> = {
            let seen = self.seen.lock();
            let mode = |key: &str| match seen.get(key) {
                Some(Seen::Absent) => PutMode::Create,
                Some(Seen::Version(v)) if v.e_tag.is_some() || v.version.is_some() => {
                    PutMode::Update(v.clone())
                }
                _ => PutMode::Overwrite,
            };
            batch.iter().map(|op| mode(op.key)).collect()
        };
        let requests = batch
            .iter()
            .zip(modes)
            .map(|(op, mode)| async move { (op.key, self.send(op, mode).await) });
        let sent: Vec<_> = self.runtime().block_on(
            stream::iter(requests)
                .buffer_unordered(CONCURRENCY)
                .collect(),
        );
        let mut failure = None;
        let mut seen = self.seen.lock();
        for (key, result) in sent {
            match result {
                Ok(Some(now)) => {
                    seen.insert(key.to_owned(), now);
                }
                // Another writer stored the key first: its version is not known here.
                Ok(None) => {
                    seen.remove(key);
                }
                Err(error) => {
                    failure.get_or_insert_with(|| FailedWrite {
                        key: key.to_owned(),
                        source: self.error(&format!("writing the record of {key:?}"), error),
                    });
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Direct names decode to their keys; a hashed name's key is read from its record.
    fn list(&self) -> io::Result<Vec<Listed>> {
        let (hashed, direct): (Vec<_>, Vec<_>) = self
            .objects()?
            .into_iter()
            .partition(|(name, _)| OBJECTS.is_hashed(name));
        let mut listed: Vec<Listed> = direct
            .into_iter()
            .filter_map(|(name, size)| {
                Some(Listed {
                    key: OBJECTS.key_of(&name)?,
                    size,
                })
            })
            .collect();
        let names: Vec<String> = hashed.iter().map(|(name, _)| name.clone()).collect();
        let fetched = self.fetch_all(names, |n| format!("reading the object {}", hashed[n].0))?;
        for ((name, size), (record, _)) in hashed.into_iter().zip(fetched) {
            let key = record.as_deref().and_then(|bytes| {
                let record = crate::codec::parse(bytes).ok()?;
                (OBJECTS.name(record.key) == name).then(|| record.key.to_owned())
            });
            listed.extend(key.map(|key| Listed { key, size }));
        }
        Ok(listed)
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

/// Reads the object at `path`: its record and version, or `None` and [`Seen::Absent`].
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
            Ok((Some(Vec::from(bytes)), Seen::Version(version)))
        }
        Err(StoreError::NotFound { .. }) => Ok((None, Seen::Absent)),
        Err(error) => Err(error),
    }
}

/// Uploads `record` to `path` in parts of `part` bytes, a few in flight at once, each copied
/// only while it is sent. The object appears when the upload completes; a failed upload is
/// aborted, so that its parts do not linger.
async fn upload_in_parts(
    store: &dyn object_store::ObjectStore,
    path: &Path,
    record: &[u8],
    part: usize,
) -> object_store::Result<PutResult> {
    let mut upload = WriteMultipart::new_with_chunk_size(store.put_multipart(path).await?, part);
    for chunk in record.chunks(part) {
        if let Err(error) = upload.wait_for_capacity(PARTS_IN_FLIGHT).await {
            let _ = upload.abort().await;
            return Err(error);
        }
        upload.write(chunk);
    }
    upload.finish().await
}

/// `text` with the user and password removed from every URL in it: an endpoint may carry
/// them, and `object_store`'s messages repeat the URLs they requested.
fn redact(text: &str) -> String {
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, url) = rest.split_at(at + 3);
        redacted.push_str(before);
        let end = url
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(url.len());
        let authority = &url[..end];
        redacted.push_str(
            authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host),
        );
        rest = &url[end..];
    }
    redacted.push_str(rest);
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[test]
    fn a_record_uploaded_in_parts_reads_back_whole() {
        let store = InMemory::new();
        let path = Path::from("cache/large");
        let record: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            upload_in_parts(&store, &path, &record, 1_000)
                .await
                .unwrap();
            let read = store.get(&path).await.unwrap().bytes().await.unwrap();
            assert_eq!(read.as_ref(), &record[..]);
        });
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact("http://user:secret@host:9000/x"),
            "http://host:9000/x"
        );
        assert_eq!(redact("http://host:9000"), "http://host:9000");
        assert_eq!(redact("s3://bucket/prefix"), "s3://bucket/prefix");
        assert_eq!(
            redact("at http://a:b@h, PUT https://a:b@h/k?x=@ failed"),
            "at http://h, PUT https://h/k?x=@ failed"
        );
    }

    #[test]
    fn errors_never_show_credentials_given_in_the_endpoint() {
        // Nothing listens on port 1: every request fails after its retries.
        let endpoint = "http://user:hunter2@127.0.0.1:1";
        let options = [
            ("endpoint", endpoint),
            ("allow_http", "true"),
            ("region", "x"),
        ];
        let store = ObjectStore::s3("s3://bucket/prefix", options).unwrap();
        store.put("k", vec![1]).unwrap();
        let failed = store.flush().unwrap_err();
        let message = failed.source.to_string();
        assert!(message.contains("127.0.0.1:1"), "{message}");
        assert!(message.contains("\"k\""), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(!store.location().contains("hunter2"));
    }
}
