//! Test support shared by the engine's integration tests: a `Remote` that
//! wraps the real S3 remote, counts calls, and injects faults or another
//! client's writes on top of the real server (never instead of it).
// Each test binary uses a different part of this.
#![allow(dead_code)]

pub mod device;

use async_trait::async_trait;
use bucketsync_remote::{
    ErrorKind, ListPage, ObjectMeta, OpenUpload, PartInfo, RangeBody, Remote, RemoteError, WriteIf,
};
use bytes::Bytes;
use futures::TryStreamExt;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub fn offline() -> RemoteError {
    RemoteError::new(ErrorKind::Offline, "injected: connection reset")
}

/// What a hook tells the wrapper to do with one call.
pub enum Hook {
    Pass,
    Fail(RemoteError),
    /// Never answer (the process is about to be killed, or the future dropped).
    Stall,
    /// Answer with the first byte flipped (ranges only).
    Corrupt,
}

type PartHook = Box<dyn Fn(i32, usize) -> Hook + Send + Sync>;
type RangeHook = Box<dyn Fn(u64, usize) -> Hook + Send + Sync>;
type HeadHook = Box<dyn Fn(&str) -> Option<(String, Bytes)> + Send + Sync>;

/// Wraps the real S3 remote: counts calls, and lets a test fail, stall or
/// corrupt chosen part uploads and ranged GETs (the hook gets the part number
/// or range start and how many times that one was tried before).
pub struct Hooked {
    pub inner: Arc<dyn Remote>,
    pub parts: Mutex<Vec<i32>>,
    pub ranges: Mutex<Vec<u64>>,
    /// The prefix of every ListObjectsV2 page asked for, in order.
    pub lists: Mutex<Vec<String>>,
    pub puts: AtomicUsize,
    pub heads: AtomicUsize,
    /// The condition of every PUT and Complete, in order.
    pub conditions: Mutex<Vec<WriteIf>>,
    pub creates: AtomicUsize,
    pub completes: AtomicUsize,
    pub aborts: AtomicUsize,
    pub on_part: PartHook,
    pub on_range: RangeHook,
    /// Completes the first upload on the server but reports a broken connection.
    pub lose_first_complete_answer: std::sync::atomic::AtomicBool,
    /// While set, every AbortMultipartUpload fails as offline (counted, not sent).
    pub fail_aborts: std::sync::atomic::AtomicBool,
    /// Runs before each HEAD (another client writing between our listing
    /// and our next look).
    before_head: HeadHook,
    /// Runs once a listing's last page was read (another client writing
    /// after our listing, before our write).
    after_list: AfterList,
    /// Runs right before each PUT and CompleteMultipartUpload is sent, after
    /// any HEAD the engine made (another client writing in the window a
    /// HEAD leaves open, which only a conditional write closes).
    before_write: HeadHook,
}

type AfterList = Box<dyn Fn() -> Option<(String, Bytes)> + Send + Sync>;

impl Hooked {
    pub fn new(inner: Arc<dyn Remote>) -> Hooked {
        Hooked {
            inner,
            parts: Mutex::default(),
            ranges: Mutex::default(),
            lists: Mutex::default(),
            puts: AtomicUsize::new(0),
            heads: AtomicUsize::new(0),
            conditions: Mutex::default(),
            creates: AtomicUsize::new(0),
            completes: AtomicUsize::new(0),
            aborts: AtomicUsize::new(0),
            on_part: Box::new(|_, _| Hook::Pass),
            on_range: Box::new(|_, _| Hook::Pass),
            lose_first_complete_answer: Default::default(),
            fail_aborts: Default::default(),
            before_head: Box::new(|_| None),
            after_list: Box::new(|| None),
            before_write: Box::new(|_| None),
        }
    }
    /// Right before a PUT or Complete of a key, `f` may name an object to
    /// write first.
    pub fn before_write(
        mut self,
        f: impl Fn(&str) -> Option<(String, Bytes)> + Send + Sync + 'static,
    ) -> Self {
        self.before_write = Box::new(f);
        self
    }
    /// Runs the before-write hook for `key` and notes `condition`.
    async fn writing(&self, key: &str, condition: &WriteIf) -> Result<(), RemoteError> {
        self.conditions.lock().unwrap().push(condition.clone());
        if let Some((other_key, body)) = (self.before_write)(key) {
            self.inner.put_bytes(&other_key, body, &[]).await?;
        }
        Ok(())
    }
    /// After a complete listing, `f` may name an object to write.
    pub fn after_list(mut self, f: impl Fn() -> Option<(String, Bytes)> + Send + Sync + 'static) -> Self {
        self.after_list = Box::new(f);
        self
    }
    /// Before a HEAD of a key, `f` may name an object to write first.
    pub fn before_head(
        mut self,
        f: impl Fn(&str) -> Option<(String, Bytes)> + Send + Sync + 'static,
    ) -> Self {
        self.before_head = Box::new(f);
        self
    }
    pub fn on_part(mut self, f: impl Fn(i32, usize) -> Hook + Send + Sync + 'static) -> Self {
        self.on_part = Box::new(f);
        self
    }
    pub fn on_range(mut self, f: impl Fn(u64, usize) -> Hook + Send + Sync + 'static) -> Self {
        self.on_range = Box::new(f);
        self
    }
    pub fn parts_sent(&self) -> Vec<i32> {
        let mut p = self.parts.lock().unwrap().clone();
        p.sort();
        p
    }
}

#[async_trait]
impl Remote for Hooked {
    async fn list_page(&self, prefix: &str, continuation: Option<String>) -> Result<ListPage, RemoteError> {
        self.lists.lock().unwrap().push(prefix.to_string());
        let page = self.inner.list_page(prefix, continuation).await?;
        if page.continuation.is_none() {
            if let Some((key, body)) = (self.after_list)() {
                self.inner.put_bytes(&key, body, &[]).await?;
            }
        }
        Ok(page)
    }
    async fn head(&self, key: &str) -> Result<ObjectMeta, RemoteError> {
        self.heads.fetch_add(1, Ordering::SeqCst);
        if let Some((other_key, body)) = (self.before_head)(key) {
            self.inner.put_bytes(&other_key, body, &[]).await?;
        }
        self.inner.head(key).await
    }
    async fn head_with_metadata(
        &self,
        key: &str,
    ) -> Result<(ObjectMeta, Vec<(String, String)>), RemoteError> {
        self.inner.head_with_metadata(key).await
    }
    async fn put_bytes_if(
        &self,
        key: &str,
        body: Bytes,
        metadata: &[(String, String)],
        condition: &WriteIf,
    ) -> Result<ObjectMeta, RemoteError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.writing(key, condition).await?;
        self.inner.put_bytes_if(key, body, metadata, condition).await
    }
    async fn put_file_if(
        &self,
        key: &str,
        path: &Path,
        length: u64,
        metadata: &[(String, String)],
        condition: &WriteIf,
    ) -> Result<ObjectMeta, RemoteError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.writing(key, condition).await?;
        self.inner.put_file_if(key, path, length, metadata, condition).await
    }
    async fn get_range_stream(&self, key: &str, range: Range<u64>) -> Result<RangeBody, RemoteError> {
        let tries = {
            let mut r = self.ranges.lock().unwrap();
            let tries = r.iter().filter(|s| **s == range.start).count();
            r.push(range.start);
            tries
        };
        match (self.on_range)(range.start, tries) {
            Hook::Pass => self.inner.get_range_stream(key, range).await,
            Hook::Fail(e) => Err(e),
            Hook::Stall => futures::future::pending().await,
            Hook::Corrupt => {
                let body = self.inner.get_range_stream(key, range).await?;
                let mut first = true;
                Ok(Box::pin(body.map_ok(move |piece| {
                    if !std::mem::take(&mut first) || piece.is_empty() {
                        return piece;
                    }
                    let mut v = piece.to_vec();
                    v[0] ^= 0xff;
                    Bytes::from(v)
                })))
            }
        }
    }
    async fn create_multipart(
        &self,
        key: &str,
        metadata: &[(String, String)],
    ) -> Result<String, RemoteError> {
        self.creates.fetch_add(1, Ordering::SeqCst);
        self.inner.create_multipart(key, metadata).await
    }
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        path: &Path,
        offset: u64,
        length: u64,
    ) -> Result<PartInfo, RemoteError> {
        let tries = {
            let mut p = self.parts.lock().unwrap();
            let tries = p.iter().filter(|n| **n == number).count();
            p.push(number);
            tries
        };
        match (self.on_part)(number, tries) {
            Hook::Pass | Hook::Corrupt => {
                self.inner.upload_part(key, upload_id, number, path, offset, length).await
            }
            Hook::Fail(e) => Err(e),
            Hook::Stall => futures::future::pending().await,
        }
    }
    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<PartInfo>, RemoteError> {
        self.inner.list_parts(key, upload_id).await
    }
    async fn complete_multipart_if(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
        condition: &WriteIf,
    ) -> Result<ObjectMeta, RemoteError> {
        self.completes.fetch_add(1, Ordering::SeqCst);
        self.writing(key, condition).await?;
        let done = self.inner.complete_multipart_if(key, upload_id, parts, condition).await?;
        if self.lose_first_complete_answer.swap(false, Ordering::SeqCst) {
            return Err(offline());
        }
        Ok(done)
    }
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), RemoteError> {
        self.aborts.fetch_add(1, Ordering::SeqCst);
        if self.fail_aborts.load(Ordering::SeqCst) {
            return Err(offline());
        }
        self.inner.abort_multipart(key, upload_id).await
    }
    async fn list_open_uploads(&self, prefix: &str) -> Result<Vec<OpenUpload>, RemoteError> {
        self.inner.list_open_uploads(prefix).await
    }
    async fn delete_batch(&self, keys: &[String]) -> Result<Vec<(String, RemoteError)>, RemoteError> {
        self.inner.delete_batch(keys).await
    }
}
