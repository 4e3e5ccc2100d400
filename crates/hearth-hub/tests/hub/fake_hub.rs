//! A fake Hugging Face hub on 127.0.0.1 with switches to inject faults.
//!
//! It serves the tree and revision APIs, answers `resolve` with a 302 to `/blobs/<i>`
//! like the real hub's CDN redirect, and serves blobs with `Range` support.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream;
use hearth_hub::{ClientConfig, RetryPolicy};
use sha2::{Digest, Sha256};

/// The repository the fake hub holds.
pub const REPO: &str = "Org/Model-GGUF";
/// The commit sha the revision API reports.
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const CHUNK: usize = 16 * 1024;

/// One file of the fake repository.
#[derive(Clone)]
pub struct FakeFile {
    pub path: String,
    pub bytes: Vec<u8>,
    pub lfs: bool,
}

impl FakeFile {
    pub fn lfs(path: &str, bytes: Vec<u8>) -> Self {
        FakeFile {
            path: path.into(),
            bytes,
            lfs: true,
        }
    }

    pub fn sha256(&self) -> String {
        hex(&Sha256::digest(&self.bytes))
    }
}

/// Fault switches; each counts down or applies to the next blob response only.
#[derive(Default)]
pub struct Faults {
    /// The next N blob requests answer 500.
    pub fail_500: u32,
    /// The next blob response sends this many bytes, then aborts the connection.
    pub drop_after: Option<usize>,
    /// The next blob response sends this many bytes, then nothing for `stall_for`.
    pub stall_after: Option<usize>,
    pub stall_for: Duration,
    /// The next N blob responses serve bytes that differ from the LFS sha256.
    pub corrupt: u32,
    /// Answer ranged requests with 200 and the whole file.
    pub ignore_range: bool,
    /// The revision API answers 500.
    pub revision_fails: bool,
    /// Every request needs `Authorization: Bearer <token>`.
    pub require_token: Option<String>,
    /// Pause between body chunks (to make downloads overlap).
    pub chunk_delay: Duration,
    /// List the tree in pages of this many entries, linked by `Link: rel="next"`.
    pub page_size: Option<usize>,
}

/// A request the hub saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub auth: Option<String>,
}

struct Shared {
    files: Vec<FakeFile>,
    faults: Mutex<Faults>,
    seen: Mutex<Vec<Seen>>,
}

pub struct FakeHub {
    pub url: String,
    shared: Arc<Shared>,
}

impl FakeHub {
    pub async fn start(files: Vec<FakeFile>) -> std::io::Result<FakeHub> {
        let shared = Arc::new(Shared {
            files,
            faults: Mutex::new(Faults::default()),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/api/models/{owner}/{repo}/tree/{rev}", get(tree))
            .route("/api/models/{owner}/{repo}/revision/{rev}", get(revision))
            .route("/{owner}/{repo}/resolve/{rev}/{*file}", get(resolve))
            .route("/blobs/{index}", get(blob))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(FakeHub { url, shared })
    }

    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        self.shared.faults.lock().unwrap()
    }

    /// Requests for blob bytes, in order.
    pub fn blob_requests(&self) -> Vec<Seen> {
        let seen = self.shared.seen.lock().unwrap();
        seen.iter()
            .filter(|s| s.path.starts_with("/blobs/"))
            .cloned()
            .collect()
    }

    /// All requests, in order.
    pub fn requests(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// A client config for this hub with fast retries and a 2 s stall timeout.
    pub fn config(&self) -> ClientConfig {
        ClientConfig {
            endpoint: self.url.clone(),
            token: None,
            retry: RetryPolicy {
                max_attempts: 4,
                initial_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(50),
            },
            stall_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// Records the request; returns its `Authorization` header.
fn record(shared: &Shared, path: String, headers: &HeaderMap) -> Option<String> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let auth = text(header::AUTHORIZATION);
    shared.seen.lock().unwrap().push(Seen {
        path,
        range: text(header::RANGE),
        auth: auth.clone(),
    });
    auth
}

/// Records the request; `Err` with 401 when a required token is missing.
fn admit(shared: &Shared, path: String, headers: &HeaderMap) -> Result<(), Response> {
    let auth = record(shared, path, headers);
    match &shared.faults.lock().unwrap().require_token {
        Some(token) if auth != Some(format!("Bearer {token}")) => {
            Err((StatusCode::UNAUTHORIZED, "Invalid credentials").into_response())
        }
        _ => Ok(()),
    }
}

fn known_repo(owner: &str, repo: &str) -> Result<(), Response> {
    if format!("{owner}/{repo}") == REPO {
        Ok(())
    } else {
        Err((StatusCode::NOT_FOUND, "Repository not found").into_response())
    }
}

async fn tree(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo, rev)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    admit(
        &shared,
        format!("/api/models/{owner}/{repo}/tree"),
        &headers,
    )?;
    known_repo(&owner, &repo)?;
    let entries: Vec<serde_json::Value> = shared
        .files
        .iter()
        .map(|f| {
            let mut entry = serde_json::json!({
                "type": "file",
                "path": f.path,
                "size": f.bytes.len(),
                "oid": hex(&Sha256::digest(f.path.as_bytes()))[..40].to_string(),
            });
            if f.lfs {
                entry["lfs"] = serde_json::json!({"oid": f.sha256(), "size": f.bytes.len()});
            }
            entry
        })
        .chain([serde_json::json!({"type": "directory", "path": "split", "oid": "00"})])
        .collect();
    let Some(page) = shared.faults.lock().unwrap().page_size else {
        return Ok(Json(entries).into_response());
    };
    let start: usize = query.get("cursor").map_or(0, |c| c.parse().unwrap());
    let end = (start + page).min(entries.len());
    let mut response = Json(entries[start..end].to_vec()).into_response();
    if end < entries.len() {
        let next = format!(
            "</api/models/{owner}/{repo}/tree/{rev}?recursive=true&cursor={end}>; rel=\"next\""
        );
        response
            .headers_mut()
            .insert(header::LINK, next.parse().unwrap());
    }
    Ok(response)
}

async fn revision(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo, _rev)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    admit(
        &shared,
        format!("/api/models/{owner}/{repo}/revision"),
        &headers,
    )?;
    known_repo(&owner, &repo)?;
    if shared.faults.lock().unwrap().revision_fails {
        return Err(StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    Ok(Json(serde_json::json!({"id": REPO, "sha": COMMIT})).into_response())
}

async fn resolve(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo, rev, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    admit(
        &shared,
        format!("/{owner}/{repo}/resolve/{rev}/{file}"),
        &headers,
    )?;
    known_repo(&owner, &repo)?;
    let index = shared
        .files
        .iter()
        .position(|f| f.path == file)
        .ok_or_else(|| (StatusCode::NOT_FOUND, "Entry not found").into_response())?;
    Ok((
        StatusCode::FOUND,
        [(header::LOCATION, format!("/blobs/{index}"))],
    )
        .into_response())
}

async fn blob(
    State(shared): State<Arc<Shared>>,
    Path(index): Path<usize>,
    headers: HeaderMap,
) -> Response {
    // The CDN needs no token (the real one takes a signed URL).
    record(&shared, format!("/blobs/{index}"), &headers);
    let Some(file) = shared.files.get(index) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut faults = shared.faults.lock().unwrap();
    if faults.fail_500 > 0 {
        faults.fail_500 -= 1;
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let mut data = file.bytes.clone();
    if faults.corrupt > 0 {
        faults.corrupt -= 1;
        let mid = data.len() / 2;
        data[mid] ^= 0xff;
    }
    let len = data.len();
    let start = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.strip_suffix('-'))
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|_| !faults.ignore_range);
    let (status, start) = match start {
        Some(s) if s >= len => return StatusCode::RANGE_NOT_SATISFIABLE.into_response(),
        Some(s) => (StatusCode::PARTIAL_CONTENT, s),
        None => (StatusCode::OK, 0),
    };
    let plan = Plan {
        data,
        pos: start,
        cut: faults
            .drop_after
            .take()
            .map(|n| (start + n, Cut::Drop))
            .or_else(|| {
                faults
                    .stall_after
                    .take()
                    .map(|n| (start + n, Cut::Stall(faults.stall_for)))
            }),
        delay: faults.chunk_delay,
    };
    drop(faults);
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, len - start)
        .header(header::ACCEPT_RANGES, "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        response = response.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{len}", len - 1),
        );
    }
    response
        .body(Body::from_stream(stream::unfold(plan, next_chunk)))
        .unwrap()
}

#[derive(Clone, Copy)]
enum Cut {
    Drop,
    Stall(Duration),
}

struct Plan {
    data: Vec<u8>,
    pos: usize,
    /// At this offset: abort, or pause.
    cut: Option<(usize, Cut)>,
    delay: Duration,
}

async fn next_chunk(mut plan: Plan) -> Option<(Result<Bytes, std::io::Error>, Plan)> {
    if plan.pos >= plan.data.len() {
        return None;
    }
    let mut end = (plan.pos + CHUNK).min(plan.data.len());
    if let Some((at, cut)) = plan.cut {
        if plan.pos >= at {
            plan.cut = None;
            match cut {
                Cut::Drop => {
                    // Let hyper flush what was sent, as a real mid-file reset would.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    plan.pos = plan.data.len();
                    return Some((Err(std::io::Error::other("connection dropped")), plan));
                }
                Cut::Stall(pause) => tokio::time::sleep(pause).await,
            }
        } else {
            end = end.min(at);
        }
    }
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    let chunk = Bytes::copy_from_slice(&plan.data[plan.pos..end]);
    plan.pos = end;
    Some((Ok(chunk), plan))
}

/// Deterministic pseudo-random bytes (xorshift64), so tests need no `rand`.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
