//! The S3 operations over the served buckets' folders.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use md5::Digest as _;
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, CommonPrefix,
    CompleteMultipartUploadInput, CompleteMultipartUploadOutput, CopyObjectInput, CopyObjectOutput,
    CopyObjectResult, CopySource, CreateBucketInput, CreateBucketOutput,
    CreateMultipartUploadInput, CreateMultipartUploadOutput, DeleteBucketInput, DeleteBucketOutput,
    DeleteObjectInput, DeleteObjectOutput, DeleteObjectsInput, DeleteObjectsOutput, DeletedObject,
    ETag, GetBucketLocationInput, GetBucketLocationOutput, GetObjectInput, GetObjectOutput,
    HeadBucketInput, HeadBucketOutput, HeadObjectInput, HeadObjectOutput, ListBucketsInput,
    ListBucketsOutput, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input,
    ListObjectsV2Output, ListPartsInput, ListPartsOutput, Part, PutObjectInput, PutObjectOutput,
    Range, Timestamp, UploadPartInput, UploadPartOutput,
};
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use tokio::io::AsyncSeekExt as _;

use super::{MIN_PART, STAGING, ServedBucket, hex, internal};

/// The S3 operations over the served buckets.
pub(in crate::aws) struct S3Api {
    pub(in crate::aws) registry: Arc<crate::aws::Registry>,
}

use super::files::{Staged, copy_file, file_stream, object_path, page, stage, url_encode, walk};

impl S3Api {
    fn bucket(&self, name: &str) -> S3Result<Arc<ServedBucket>> {
        let served = self
            .registry
            .buckets
            .served
            .read()
            .map_err(|_| internal("the bucket table is poisoned"))?;
        served.get(name).cloned().ok_or_else(|| {
            let names: Vec<&str> = served.keys().map(String::as_str).collect();
            s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist (Tributary serves the project's local bucket nodes by their bucket_name: {})",
                if names.is_empty() {
                    "none is loaded".to_owned()
                } else {
                    names.join(", ")
                }
            )
        })
    }

    /// The ETag of the file at `path`: its MD5 when it came through the API, else one
    /// made from its size and modification time.
    fn etag(&self, path: &Path, size: u64, modified: SystemTime) -> String {
        if let Ok(e) = self.registry.buckets.etags.lock()
            && let Some((s, m, tag)) = e.get(path)
            && *s == size
            && *m == modified
        {
            return tag.clone();
        }
        let ms = modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        format!("{size:x}-{ms:x}")
    }

    fn remember(&self, path: &Path, etag: &str) {
        if let Ok(meta) = std::fs::metadata(path)
            && let Ok(mut e) = self.registry.buckets.etags.lock()
        {
            e.insert(
                path.to_path_buf(),
                (
                    meta.len(),
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    etag.to_owned(),
                ),
            );
        }
    }

    async fn created(&self, name: &'static str, bucket: &str, key: &str, size: u64, etag: &str) {
        self.registry
            .announce(name, bucket, key, Some((size, etag)))
            .await;
    }

    async fn removed(&self, bucket: &str, key: &str) {
        self.registry
            .announce("ObjectRemoved:Delete", bucket, key, None)
            .await;
    }

    /// The folder of a multipart upload, checked to belong to `bucket` and `key`.
    async fn upload_dir(&self, root: &Path, upload_id: &str, key: &str) -> S3Result<PathBuf> {
        let id = uuid::Uuid::parse_str(upload_id).map_err(|_| {
            s3_error!(
                NoSuchUpload,
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
            )
        })?;
        let dir = root.join(STAGING).join(format!("upload-{}", id.simple()));
        match tokio::fs::read_to_string(dir.join("key")).await {
            Ok(k) if k == key => Ok(dir),
            _ => Err(s3_error!(
                NoSuchUpload,
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
            )),
        }
    }

    async fn delete_key(&self, bucket: &ServedBucket, key: &str) -> S3Result<bool> {
        let path = object_path(&bucket.root, key)?;
        let removed = if key.ends_with('/') {
            tokio::fs::remove_dir(&path).await.is_ok()
        } else {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) if path.is_dir() => {
                    return Err(s3_error!(
                        InvalidArgument,
                        "'{key}' is a folder of other keys, not an object: {e}"
                    ));
                }
                Err(e) => return Err(internal(e)),
            }
        };
        if removed {
            if let Ok(mut e) = self.registry.buckets.etags.lock() {
                e.remove(&path);
            }
            // Folders left empty go too, as keys under them are all there is of them.
            let mut dir = path.parent().map(Path::to_path_buf);
            while let Some(d) = dir {
                if d == bucket.root || std::fs::remove_dir(&d).is_err() {
                    break;
                }
                dir = d.parent().map(Path::to_path_buf);
            }
            self.removed(&bucket.name, key).await;
        }
        Ok(removed)
    }
}

/// S3's answer when a completed upload names a part it does not have.
fn invalid_part() -> s3s::S3Error {
    s3_error!(
        InvalidPart,
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
    )
}

#[async_trait::async_trait]
impl S3 for S3Api {
    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let served: Vec<Arc<ServedBucket>> = self
            .registry
            .buckets
            .served
            .read()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default();
        let buckets = served
            .iter()
            .map(|b| s3s::dto::Bucket {
                name: Some(b.name.clone()),
                creation_date: std::fs::metadata(&b.root)
                    .and_then(|m| m.created().or_else(|_| m.modified()))
                    .ok()
                    .map(Timestamp::from),
                bucket_region: Some(crate::aws::REGION.to_owned()),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(s3s::dto::Owner {
                display_name: Some("tributary".to_owned()),
                id: Some(crate::aws::ACCOUNT.to_owned()),
            }),
            ..Default::default()
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(crate::aws::REGION.to_owned()),
            ..Default::default()
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.bucket(&req.input.bucket)?;
        // us-east-1 is the empty location constraint.
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let name = &req.input.bucket;
        if self.bucket(name).is_ok() {
            return Err(s3_error!(
                BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it."
            ));
        }
        Err(s3_error!(
            AccessDenied,
            "Tributary serves the buckets the project designs: add a bucket node with bucket_name '{name}' to have this bucket"
        ))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let b = self.bucket(&req.input.bucket)?;
        Err(s3_error!(
            AccessDenied,
            "the bucket '{}' is node '{}' of the project: delete the node to remove it",
            b.name,
            b.node
        ))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let b = self.bucket(&input.bucket)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
        let after = match (&input.continuation_token, &input.start_after) {
            (Some(t), _) => Some(t.clone()),
            (None, s) => s.clone(),
        };
        let entries = walk(&b.root, &prefix).await?;
        let p = page(
            entries,
            &prefix,
            input.delimiter.as_deref(),
            after.as_deref(),
            max,
        );
        let encode = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == "url");
        let enc = |k: &str| {
            if encode { url_encode(k) } else { k.to_owned() }
        };
        let count = p.objects.len() + p.prefixes.len();
        let contents: Vec<s3s::dto::Object> = p
            .objects
            .iter()
            .map(|e| s3s::dto::Object {
                key: Some(enc(&e.key)),
                size: Some(e.size as i64),
                last_modified: Some(Timestamp::from(e.modified)),
                e_tag: Some(ETag::Strong(self.etag(
                    &b.root.join(&e.key),
                    e.size,
                    e.modified,
                ))),
                storage_class: Some(s3s::dto::ObjectStorageClass::from_static(
                    s3s::dto::ObjectStorageClass::STANDARD,
                )),
                ..Default::default()
            })
            .collect();
        let prefixes: Vec<CommonPrefix> = p
            .prefixes
            .iter()
            .map(|k| CommonPrefix {
                prefix: Some(enc(k)),
            })
            .collect();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix.map(|p| enc(&p)),
            delimiter: input.delimiter,
            max_keys: Some(max as i32),
            key_count: Some(count as i32),
            is_truncated: Some(p.truncated),
            contents: (!contents.is_empty()).then_some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            continuation_token: input.continuation_token,
            next_continuation_token: if p.truncated { p.last } else { None },
            start_after: input.start_after,
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let marker = req.input.marker.clone();
        let delimiter = req.input.delimiter.clone();
        let v2 = self
            .list_objects_v2(req.map_input(|i| ListObjectsV2Input {
                bucket: i.bucket,
                delimiter: i.delimiter,
                encoding_type: i.encoding_type,
                max_keys: i.max_keys,
                prefix: i.prefix,
                start_after: i.marker,
                ..Default::default()
            }))
            .await?;
        Ok(v2.map_output(|o| {
            // S3 gives NextMarker only with a delimiter; clients use the last key otherwise.
            let next = o.next_continuation_token.filter(|_| delimiter.is_some());
            ListObjectsOutput {
                name: o.name,
                prefix: o.prefix,
                delimiter: o.delimiter,
                max_keys: o.max_keys,
                is_truncated: o.is_truncated,
                contents: o.contents,
                common_prefixes: o.common_prefixes,
                encoding_type: o.encoding_type,
                marker: Some(marker.unwrap_or_default()),
                next_marker: next,
                ..Default::default()
            }
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let b = self.bucket(&req.input.bucket)?;
        let path = object_path(&b.root, &req.input.key)?;
        let meta = tokio::fs::metadata(&path)
            .await
            .ok()
            .filter(|m| m.is_file() || req.input.key.ends_with('/'))
            .ok_or_else(|| s3_error!(NoSuchKey))?;
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let size = if meta.is_file() { meta.len() } else { 0 };
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(size as i64),
            last_modified: Some(Timestamp::from(modified)),
            e_tag: Some(ETag::Strong(self.etag(&path, size, modified))),
            accept_ranges: Some("bytes".to_owned()),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let b = self.bucket(&req.input.bucket)?;
        let path = object_path(&b.root, &req.input.key)?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(_) => return Err(s3_error!(NoSuchKey, "The specified key does not exist.")),
        };
        let meta = file.metadata().await.map_err(internal)?;
        if meta.is_dir() {
            return Err(s3_error!(NoSuchKey, "The specified key does not exist."));
        }
        let size = meta.len();
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let (start, len, content_range) = match &req.input.range {
            None => (0, size, None),
            Some(r) => {
                let range = r.check(size)?;
                let len = range.end - range.start;
                (
                    range.start,
                    len,
                    Some(format!("bytes {}-{}/{size}", range.start, range.end - 1)),
                )
            }
        };
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(internal)?;
        }
        let _: Option<&Range> = req.input.range.as_ref();
        Ok(S3Response::new(GetObjectOutput {
            body: Some(file_stream(file, len)),
            content_length: Some(len as i64),
            content_range,
            last_modified: Some(Timestamp::from(modified)),
            e_tag: Some(ETag::Strong(self.etag(&path, size, modified))),
            accept_ranges: Some("bytes".to_owned()),
            ..Default::default()
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        let b = self.bucket(&input.bucket)?;
        let path = object_path(&b.root, &input.key)?;
        if input.key.ends_with('/') {
            // A "folder": an empty key ending in '/', as consoles create them.
            tokio::fs::create_dir_all(&path).await.map_err(internal)?;
            let etag = hex(&md5::Md5::digest(b""));
            self.created("ObjectCreated:Put", &b.name, &input.key, 0, &etag)
                .await;
            return Ok(S3Response::new(PutObjectOutput {
                e_tag: Some(ETag::Strong(etag)),
                ..Default::default()
            }));
        }
        let body = input
            .body
            .ok_or_else(|| s3_error!(IncompleteBody, "the request has no body"))?;
        let (staged, size, md5) = stage(&b.root, body).await?;
        if let Some(expected) = &input.content_md5 {
            use base64::Engine as _;
            let got = base64::engine::general_purpose::STANDARD.encode(md5);
            if &got != expected {
                return Err(s3_error!(
                    BadDigest,
                    "The Content-MD5 you specified did not match what we received."
                ));
            }
        }
        staged.commit(&path).await?;
        let etag = hex(&md5);
        self.remember(&path, &etag);
        self.created("ObjectCreated:Put", &b.name, &input.key, size, &etag)
            .await;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let CopySource::Bucket {
            bucket: from_bucket,
            key: from_key,
            ..
        } = &input.copy_source
        else {
            return Err(s3_error!(
                NotImplemented,
                "copies from access points are not served"
            ));
        };
        let from = self.bucket(from_bucket)?;
        let from_path = object_path(&from.root, from_key)?;
        let to = self.bucket(&input.bucket)?;
        let to_path = object_path(&to.root, &input.key)?;
        let mut staged = Staged::new(&to.root).await?;
        let (size, md5) = copy_file(&from_path, Some(&mut staged)).await?;
        staged.commit(&to_path).await?;
        let etag = hex(&md5);
        self.remember(&to_path, &etag);
        self.created("ObjectCreated:Copy", &to.name, &input.key, size, &etag)
            .await;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(etag)),
                last_modified: Some(Timestamp::from(SystemTime::now())),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let b = self.bucket(&req.input.bucket)?;
        self.delete_key(&b, &req.input.key).await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        let b = self.bucket(&input.bucket)?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for o in input.delete.objects {
            match self.delete_key(&b, &o.key).await {
                Ok(_) => {
                    if !quiet {
                        deleted.push(DeletedObject {
                            key: Some(o.key),
                            ..Default::default()
                        });
                    }
                }
                Err(e) => errors.push(s3s::dto::Error {
                    key: Some(o.key),
                    code: Some(e.code().as_str().to_owned()),
                    message: e.message().map(str::to_owned),
                    ..Default::default()
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let b = self.bucket(&input.bucket)?;
        object_path(&b.root, &input.key)?;
        let id = uuid::Uuid::new_v4();
        let dir = b.root.join(STAGING).join(format!("upload-{}", id.simple()));
        tokio::fs::create_dir_all(&dir).await.map_err(internal)?;
        tokio::fs::write(dir.join("key"), &input.key)
            .await
            .map_err(internal)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id.to_string()),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let b = self.bucket(&input.bucket)?;
        let dir = self
            .upload_dir(&b.root, &input.upload_id, &input.key)
            .await?;
        let body = input
            .body
            .ok_or_else(|| s3_error!(IncompleteBody, "the request has no body"))?;
        let (staged, _size, md5) = stage(&b.root, body).await?;
        staged
            .commit(&dir.join(format!("{:05}", input.part_number)))
            .await?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(hex(&md5))),
            ..Default::default()
        }))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let b = self.bucket(&input.bucket)?;
        let dir = self
            .upload_dir(&b.root, &input.upload_id, &input.key)
            .await?;
        let mut parts = Vec::new();
        let mut entries = tokio::fs::read_dir(&dir).await.map_err(internal)?;
        while let Some(e) = entries.next_entry().await.map_err(internal)? {
            let Some(n) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let (size, md5) = copy_file(&e.path(), None).await?;
            parts.push(Part {
                part_number: Some(n),
                size: Some(size as i64),
                e_tag: Some(ETag::Strong(hex(&md5))),
                ..Default::default()
            });
        }
        parts.sort_by_key(|p| p.part_number);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            parts: Some(parts),
            is_truncated: Some(false),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let b = self.bucket(&input.bucket)?;
        let path = object_path(&b.root, &input.key)?;
        let dir = self
            .upload_dir(&b.root, &input.upload_id, &input.key)
            .await?;
        let parts = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if parts.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema."
            ));
        }
        let mut staged = Staged::new(&b.root).await?;
        let mut digests = md5::Md5::new();
        let mut size = 0u64;
        let mut previous = 0;
        for (i, part) in parts.iter().enumerate() {
            let n = part.part_number.unwrap_or_default();
            if n <= previous {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order. Parts must be ordered by part number."
                ));
            }
            previous = n;
            let part_path = dir.join(format!("{n:05}"));
            let (part_size, digest) = match copy_file(&part_path, Some(&mut staged)).await {
                Ok(p) => p,
                Err(_) => return Err(invalid_part()),
            };
            if part
                .e_tag
                .as_ref()
                .is_some_and(|t| t.value() != hex(&digest))
            {
                return Err(invalid_part());
            }
            if i + 1 < parts.len() && part_size < MIN_PART {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed object size."
                ));
            }
            digests.update(digest);
            size += part_size;
        }
        staged.commit(&path).await?;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        let etag = format!("{}-{}", hex(&digests.finalize()), parts.len());
        self.remember(&path, &etag);
        self.created(
            "ObjectCreated:CompleteMultipartUpload",
            &b.name,
            &input.key,
            size,
            &etag,
        )
        .await;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let b = self.bucket(&input.bucket)?;
        let dir = self
            .upload_dir(&b.root, &input.upload_id, &input.key)
            .await?;
        tokio::fs::remove_dir_all(&dir).await.map_err(internal)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }
}
