//! Pull jobs in a real SQLite file.

#![allow(clippy::unwrap_used)]

use hearth_store::{PullStatus, Store};

#[tokio::test]
async fn a_job_moves_through_its_states_and_keeps_its_final_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("hearth.db")).await.unwrap();
    let pulls = store.pulls();
    let job = pulls
        .create("Owner/Repo:Q4_K_M", "owner/repo:q4_k_m")
        .await
        .unwrap();
    assert_eq!(job.status, PullStatus::Queued);
    assert_eq!((job.completed_bytes, job.total_bytes), (0, None));

    assert!(
        pulls
            .set_status(&job.id, PullStatus::Running, None)
            .await
            .unwrap()
    );
    pulls.progress(&job.id, 100, Some(1000)).await.unwrap();
    pulls.progress(&job.id, 400, None).await.unwrap();
    let now = pulls.get(&job.id).await.unwrap().unwrap();
    assert_eq!((now.completed_bytes, now.total_bytes), (400, Some(1000)));
    assert_eq!(
        pulls
            .active_for("owner/repo:q4_k_m")
            .await
            .unwrap()
            .unwrap()
            .id,
        job.id
    );

    assert!(
        pulls
            .set_status(&job.id, PullStatus::Failed, Some("checksum mismatch"))
            .await
            .unwrap()
    );
    // A finished job is never reopened or overwritten.
    assert!(
        !pulls
            .set_status(&job.id, PullStatus::Done, None)
            .await
            .unwrap()
    );
    let failed = pulls.get(&job.id).await.unwrap().unwrap();
    assert_eq!(failed.status, PullStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("checksum mismatch"));
    assert!(
        pulls
            .active_for("owner/repo:q4_k_m")
            .await
            .unwrap()
            .is_none()
    );
    assert!(pulls.get("no-such-id").await.unwrap().is_none());
}

#[tokio::test]
async fn unfinished_jobs_survive_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("hearth.db");
    let ids = {
        let store = Store::open(&path).await.unwrap();
        let pulls = store.pulls();
        let a = pulls.create("a/a", "a/a:q4_k_m").await.unwrap();
        let b = pulls.create("b/b", "b/b:q4_k_m").await.unwrap();
        let c = pulls.create("c/c", "c/c:q4_k_m").await.unwrap();
        pulls
            .set_status(&b.id, PullStatus::Running, None)
            .await
            .unwrap();
        pulls.progress(&b.id, 42, Some(84)).await.unwrap();
        pulls
            .set_status(&c.id, PullStatus::Done, None)
            .await
            .unwrap();
        store.close().await;
        (a.id, b.id, c.id)
    };
    let store = Store::open(&path).await.unwrap();
    let unfinished: Vec<String> = store
        .pulls()
        .unfinished()
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(unfinished, [ids.0.clone(), ids.1.clone()]);
    let b = store.pulls().get(&ids.1).await.unwrap().unwrap();
    assert_eq!(b.completed_bytes, 42);
    assert_eq!(store.pulls().list().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearth.db");
    std::fs::write(&path, vec![7u8; 8192]).unwrap();
    let err = Store::open(&path).await.unwrap_err();
    assert!(err.to_string().contains("hearth.db"), "{err}");
}
