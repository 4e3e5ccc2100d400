//! Pulls against a fake hub: the happy path, and every fault ending either in a
//! verified blob + manifest or in a clear error with no blob or manifest left behind.

// Test helpers (outside `#[test]` functions) may unwrap; axum handlers return
// `Result<_, Response>`, which clippy finds large.
#![allow(clippy::unwrap_used, clippy::result_large_err)]

#[path = "hub/fake_hub.rs"]
mod fake_hub;

use std::error::Error;
use std::path::Path;
use std::time::{Duration, Instant};

use fake_hub::{COMMIT, FakeFile, FakeHub, REPO, random_bytes};
use hearth_hub::{
    ClientConfig, HearthHome, HubError, Manifest, ModelRef, Progress, Puller, manifest,
};

type TestResult = Result<(), Box<dyn Error>>;

const SIZE: usize = 256 * 1024;

fn files() -> Vec<FakeFile> {
    vec![
        FakeFile {
            path: "README.md".into(),
            bytes: b"# model\n".to_vec(),
            lfs: false,
        },
        FakeFile::lfs("model-Q4_K_M.gguf", random_bytes(SIZE, 1)),
        FakeFile::lfs("model-Q8_0.gguf", random_bytes(SIZE, 2)),
        FakeFile::lfs("mmproj-model-F16.gguf", random_bytes(1024, 3)),
        FakeFile::lfs("split/model-F16-00001-of-00002.gguf", random_bytes(SIZE, 4)),
        FakeFile::lfs(
            "split/model-F16-00002-of-00002.gguf",
            random_bytes(SIZE / 2, 5),
        ),
        // Small files may be stored in git itself: no LFS sha256 in the listing.
        FakeFile {
            path: "tiny-Q2_K.gguf".into(),
            bytes: random_bytes(4096, 6),
            lfs: false,
        },
    ]
}

struct Setup {
    hub: FakeHub,
    _dir: tempfile::TempDir,
    home: HearthHome,
}

impl Setup {
    async fn new() -> Result<Setup, Box<dyn Error>> {
        let hub = FakeHub::start(files()).await?;
        let dir = tempfile::tempdir()?;
        let home = HearthHome::new(dir.path());
        Ok(Setup {
            hub,
            _dir: dir,
            home,
        })
    }

    fn puller(&self) -> Result<Puller, HubError> {
        self.puller_with(self.hub.config())
    }

    fn puller_with(&self, config: ClientConfig) -> Result<Puller, HubError> {
        Puller::new(self.home.clone(), config)
    }

    async fn pull(&self, reference: &str) -> Result<Manifest, HubError> {
        self.puller()?
            .pull(&ModelRef::parse(reference)?, |_| {})
            .await
    }

    fn file(&self, path: &str) -> FakeFile {
        files().into_iter().find(|f| f.path == path).unwrap()
    }

    /// The blob of `path` is on disk with exactly the served bytes.
    fn assert_blob(&self, path: &str) {
        let file = self.file(path);
        let blob = self.home.blob_path(&file.sha256());
        assert_eq!(
            std::fs::read(&blob).unwrap(),
            file.bytes,
            "{}",
            blob.display()
        );
    }

    /// Nothing was stored: no blob, no partial, no manifest.
    fn assert_nothing_stored(&self) {
        assert!(manifest::list(&self.home).unwrap().is_empty());
        let blobs = dir_names(&self.home.blobs_dir());
        assert!(blobs.is_empty(), "blobs left: {blobs:?}");
    }
}

fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn pull_stores_a_verified_blob_and_manifest() -> TestResult {
    let s = Setup::new().await?;
    let mut events = Vec::new();
    let model = ModelRef::parse(&format!("hf.co/{REPO}:q4_k_m"))?;
    let m = s.puller()?.pull(&model, |p| events.push(p)).await?;

    let file = s.file("model-Q4_K_M.gguf");
    assert_eq!(m.name, "org/model-gguf:q4_k_m");
    assert_eq!(m.source.repo, REPO);
    assert_eq!(m.source.revision, COMMIT);
    assert_eq!(m.source.endpoint, s.hub.url);
    assert_eq!(m.source.files, ["model-Q4_K_M.gguf"]);
    assert_eq!(m.blobs.len(), 1);
    assert_eq!(m.blobs[0].digest, format!("sha256:{}", file.sha256()));
    assert_eq!(m.blobs[0].size, SIZE as u64);
    s.assert_blob("model-Q4_K_M.gguf");
    assert_eq!(
        Manifest::read(&s.home, "Org/Model-GGUF:Q4_K_M")?,
        Some(m.clone())
    );
    assert_eq!(
        manifest::resolve(&s.home, &m.name)?,
        Some(s.home.blob_path(&file.sha256()))
    );
    assert_eq!(
        dir_names(&s.home.blobs_dir()),
        [format!("sha256-{}", file.sha256())]
    );
    // Downloads go by commit sha, so every part comes from the same commit.
    let requests = s.hub.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.path.contains(&format!("/resolve/{COMMIT}/")))
    );

    assert!(matches!(events.first(), Some(Progress::Resolving { .. })));
    assert_eq!(
        events.last(),
        Some(&Progress::Done {
            name: m.name.clone()
        })
    );
    assert!(events.contains(&Progress::Verifying {
        file: "model-Q4_K_M.gguf".into()
    }));
    let last_download = events.iter().rev().find_map(|e| match e {
        Progress::Downloading {
            completed, total, ..
        } => Some((*completed, *total)),
        _ => None,
    });
    assert_eq!(last_download, Some((SIZE as u64, SIZE as u64)));
    Ok(())
}

#[tokio::test]
async fn connection_dropped_mid_file_resumes_with_a_range() -> TestResult {
    let s = Setup::new().await?;
    s.hub.faults().drop_after = Some(100 * 1024);
    s.pull(&format!("{REPO}:Q4_K_M")).await?;
    s.assert_blob("model-Q4_K_M.gguf");
    let requests = s.hub.blob_requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].range, None);
    let start = range_start(requests[1].range.as_deref()).expect("second request is ranged");
    assert!(start > 0 && start <= 100 * 1024, "resumed at {start}");
    Ok(())
}

#[tokio::test]
async fn server_errors_are_retried_until_success() -> TestResult {
    let s = Setup::new().await?;
    s.hub.faults().fail_500 = 3;
    s.pull(&format!("{REPO}:Q4_K_M")).await?;
    s.assert_blob("model-Q4_K_M.gguf");
    assert_eq!(s.hub.blob_requests().len(), 4);
    Ok(())
}

#[tokio::test]
async fn persistent_server_errors_fail_without_storing_anything() -> TestResult {
    let s = Setup::new().await?;
    s.hub.faults().fail_500 = 100;
    let err = s.pull(&format!("{REPO}:Q4_K_M")).await.unwrap_err();
    assert!(matches!(err, HubError::Http { status: 500, .. }), "{err:?}");
    assert_eq!(s.hub.blob_requests().len(), 4, "max_attempts is 4");
    assert!(manifest::list(&s.home)?.is_empty());
    assert!(
        !s.home
            .blob_path(&s.file("model-Q4_K_M.gguf").sha256())
            .exists()
    );
    Ok(())
}

#[tokio::test]
async fn a_stall_is_detected_and_the_download_resumed() -> TestResult {
    let s = Setup::new().await?;
    {
        let mut faults = s.hub.faults();
        faults.stall_after = Some(64 * 1024);
        faults.stall_for = Duration::from_secs(20);
    }
    let config = ClientConfig {
        stall_timeout: Duration::from_millis(200),
        ..s.hub.config()
    };
    let started = Instant::now();
    let model = ModelRef::parse(&format!("{REPO}:Q4_K_M"))?;
    s.puller_with(config)?.pull(&model, |_| {}).await?;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    s.assert_blob("model-Q4_K_M.gguf");
    let requests = s.hub.blob_requests();
    assert_eq!(requests.len(), 2);
    assert!(range_start(requests[1].range.as_deref()).is_some_and(|n| n > 0));
    Ok(())
}

#[tokio::test]
async fn a_wrong_checksum_is_retried_once_then_fails_leaving_nothing() -> TestResult {
    let s = Setup::new().await?;
    s.hub.faults().corrupt = u32::MAX;
    let err = s.pull(&format!("{REPO}:Q4_K_M")).await.unwrap_err();
    match &err {
        HubError::Checksum { expected, .. } => {
            assert_eq!(*expected, s.file("model-Q4_K_M.gguf").sha256());
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    assert!(err.hint().is_some());
    // Retried once from scratch, never resuming from corrupt bytes.
    let requests = s.hub.blob_requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.range.is_none()));
    s.assert_nothing_stored();
    Ok(())
}

#[tokio::test]
async fn one_corrupt_download_is_replaced_by_a_clean_one() -> TestResult {
    let s = Setup::new().await?;
    s.hub.faults().corrupt = 1;
    s.pull(&format!("{REPO}:Q4_K_M")).await?;
    s.assert_blob("model-Q4_K_M.gguf");
    assert_eq!(s.hub.blob_requests().len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_dropped_pull_resumes_from_its_partial_file() -> TestResult {
    let s = Setup::new().await?;
    {
        let mut faults = s.hub.faults();
        faults.stall_after = Some(SIZE / 2);
        faults.stall_for = Duration::from_secs(60);
    }
    let file = s.file("model-Q4_K_M.gguf");
    let partial = s.home.partial_path(&format!("sha256-{}", file.sha256()));
    let puller = s.puller()?;
    let model = ModelRef::parse(&format!("{REPO}:Q4_K_M"))?;
    let half = SIZE as u64 / 2;
    let wait_for_half = async {
        while std::fs::metadata(&partial).map_or(0, |m| m.len()) < half {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        result = puller.pull(&model, |_| {}) => panic!("the pull should stall, got {result:?}"),
        () = wait_for_half => {}
    }
    // The pull future is dropped here: the partial file stays.
    let kept = std::fs::metadata(&partial)?.len();
    assert_eq!(kept, half);
    assert!(manifest::list(&s.home)?.is_empty());

    puller.pull(&model, |_| {}).await?;
    s.assert_blob("model-Q4_K_M.gguf");
    assert!(!partial.exists());
    let requests = s.hub.blob_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1].range.as_deref(),
        Some(format!("bytes={kept}-").as_str())
    );
    Ok(())
}

#[tokio::test]
async fn a_server_ignoring_the_range_restarts_from_zero() -> TestResult {
    let s = Setup::new().await?;
    let file = s.file("model-Q4_K_M.gguf");
    // A partial file that is *not* a prefix of the content: if the client appended
    // the full body to it, the checksum would fail.
    std::fs::create_dir_all(s.home.blobs_dir())?;
    let partial = s.home.partial_path(&format!("sha256-{}", file.sha256()));
    std::fs::write(&partial, vec![0u8; 1000])?;
    s.hub.faults().ignore_range = true;
    s.pull(&format!("{REPO}:Q4_K_M")).await?;
    s.assert_blob("model-Q4_K_M.gguf");
    let requests = s.hub.blob_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].range.as_deref(), Some("bytes=1000-"));
    Ok(())
}

#[tokio::test]
async fn an_existing_blob_is_not_downloaded_again() -> TestResult {
    let s = Setup::new().await?;
    s.pull(&format!("{REPO}:Q4_K_M")).await?;
    s.pull(&format!("{REPO}:Q4_K_M")).await?;
    assert_eq!(s.hub.blob_requests().len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_of_one_blob_download_it_once() -> TestResult {
    let s = Setup::new().await?;
    s.hub.faults().chunk_delay = Duration::from_millis(5);
    // Two pullers, as a CLI pull and a server pull would be.
    let (a, b) = (s.puller()?, s.puller()?);
    let model = ModelRef::parse(&format!("{REPO}:Q4_K_M"))?;
    let (ra, rb) = tokio::join!(a.pull(&model, |_| {}), b.pull(&model, |_| {}));
    assert_eq!(ra?.blobs, rb?.blobs);
    s.assert_blob("model-Q4_K_M.gguf");
    assert_eq!(s.hub.blob_requests().len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_gated_repo_without_token_points_at_hf_token() -> TestResult {
    let s = Setup::new().await?;
    s.hub.faults().require_token = Some("secret".into());
    let err = s.pull(&format!("{REPO}:Q4_K_M")).await.unwrap_err();
    assert!(
        matches!(err, HubError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(err.hint().unwrap_or_default().contains("HF_TOKEN"));
    s.assert_nothing_stored();

    let config = ClientConfig {
        token: Some("secret".into()),
        ..s.hub.config()
    };
    let model = ModelRef::parse(&format!("{REPO}:Q4_K_M"))?;
    s.puller_with(config)?.pull(&model, |_| {}).await?;
    s.assert_blob("model-Q4_K_M.gguf");
    let tree = s
        .hub
        .requests()
        .into_iter()
        .rfind(|r| r.path.contains("/tree"));
    assert_eq!(tree.and_then(|r| r.auth).as_deref(), Some("Bearer secret"));
    Ok(())
}

#[tokio::test]
async fn an_unknown_repo_is_not_found() -> TestResult {
    let s = Setup::new().await?;
    let err = s.pull("Org/Missing:Q4_K_M").await.unwrap_err();
    assert!(
        matches!(&err, HubError::NotFound { what, .. } if what.contains("Org/Missing")),
        "{err:?}"
    );
    s.assert_nothing_stored();
    Ok(())
}

#[tokio::test]
async fn a_missing_quant_lists_the_available_ones() -> TestResult {
    let s = Setup::new().await?;
    let err = s.pull(&format!("{REPO}:IQ2_XXS")).await.unwrap_err();
    match &err {
        HubError::QuantNotFound { available, .. } => {
            assert_eq!(available, &["F16", "Q2_K", "Q4_K_M", "Q8_0"]);
        }
        other => panic!("expected QuantNotFound, got {other:?}"),
    }
    assert!(err.to_string().contains("Q4_K_M"), "{err}");
    s.assert_nothing_stored();
    Ok(())
}

#[tokio::test]
async fn a_split_model_pulls_all_parts_and_resolves_to_the_first() -> TestResult {
    let s = Setup::new().await?;
    let m = s.pull(&format!("{REPO}:f16")).await?;
    let parts = [
        "split/model-F16-00001-of-00002.gguf",
        "split/model-F16-00002-of-00002.gguf",
    ];
    assert_eq!(m.source.files, parts);
    assert_eq!(
        m.blobs.iter().map(|b| b.file.as_str()).collect::<Vec<_>>(),
        parts
    );
    for part in parts {
        s.assert_blob(part);
    }
    let first = s.home.blob_path(&s.file(parts[0]).sha256());
    assert_eq!(
        manifest::resolve(&s.home, "org/model-gguf:f16")?,
        Some(first)
    );
    Ok(())
}

#[tokio::test]
async fn a_file_reference_pulls_that_file() -> TestResult {
    let s = Setup::new().await?;
    let m = s.pull(&format!("{REPO}:model-Q8_0.gguf")).await?;
    assert_eq!(m.name, "org/model-gguf:q8_0");
    s.assert_blob("model-Q8_0.gguf");
    Ok(())
}

#[tokio::test]
async fn without_a_commit_sha_the_requested_revision_is_recorded() -> TestResult {
    let s = Setup::new().await?;
    s.hub.faults().revision_fails = true;
    let m = s.pull(&format!("{REPO}@main:Q4_K_M")).await?;
    assert_eq!(m.source.revision, "main");
    Ok(())
}

#[tokio::test]
async fn remove_deletes_the_manifest_and_its_unshared_blob() -> TestResult {
    let s = Setup::new().await?;
    s.pull(&format!("{REPO}:Q4_K_M")).await?;
    s.pull(&format!("{REPO}:Q8_0")).await?;
    manifest::remove(&s.home, &format!("{REPO}:Q4_K_M"))?;
    assert!(
        !s.home
            .blob_path(&s.file("model-Q4_K_M.gguf").sha256())
            .exists()
    );
    s.assert_blob("model-Q8_0.gguf");
    let names: Vec<String> = manifest::list(&s.home)?
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["org/model-gguf:q8_0"]);
    Ok(())
}

#[tokio::test]
async fn remove_keeps_the_blobs_while_another_manifest_cannot_be_read() -> TestResult {
    let s = Setup::new().await?;
    s.pull(&format!("{REPO}:Q4_K_M")).await?;
    s.pull(&format!("{REPO}:Q8_0")).await?;
    // The Q8_0 manifest is damaged: it might name the blob being removed.
    let damaged = s.home.manifest_path("org", "model-gguf", "q8_0");
    std::fs::write(&damaged, "{ not json")?;
    let names: Vec<String> = manifest::list(&s.home)?
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(
        names,
        ["org/model-gguf:q4_k_m"],
        "the readable model is still listed"
    );
    manifest::remove(&s.home, &format!("{REPO}:Q4_K_M"))?;
    s.assert_blob("model-Q4_K_M.gguf");
    assert!(manifest::list(&s.home)?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_paginated_file_list_is_followed_to_the_end() -> TestResult {
    let s = Setup::new().await?;
    s.hub.faults().page_size = Some(2);
    // The split files and the git-stored file sit on the later pages.
    let m = s.pull(&format!("{REPO}:F16")).await?;
    assert_eq!(m.blobs.len(), 2);
    s.pull(&format!("{REPO}:Q2_K")).await?;
    let pages = s
        .hub
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/tree"))
        .count();
    assert_eq!(pages, 2 * 4, "8 entries in pages of 2, listed twice");
    Ok(())
}

#[tokio::test]
async fn a_file_without_lfs_sha_is_stored_under_the_hash_of_what_arrived() -> TestResult {
    let s = Setup::new().await?;
    let m = s.pull(&format!("{REPO}:Q2_K")).await?;
    let file = s.file("tiny-Q2_K.gguf");
    assert_eq!(m.blobs[0].digest, format!("sha256:{}", file.sha256()));
    s.assert_blob("tiny-Q2_K.gguf");
    assert_eq!(
        manifest::resolve(&s.home, &m.name)?,
        Some(s.home.blob_path(&file.sha256()))
    );
    let blobs = dir_names(&s.home.blobs_dir());
    assert_eq!(blobs.len(), 1, "no partial left: {blobs:?}");
    Ok(())
}

fn range_start(range: Option<&str>) -> Option<u64> {
    range?
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}
