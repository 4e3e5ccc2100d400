//! The `pull_jobs` table: background downloads and how far they got.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sqlx::{FromRow, SqlitePool};

use crate::StoreError;

/// Where a pull job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullStatus {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl PullStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the job has ended, one way or another.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            other => return Err(StoreError::UnknownStatus(other.to_string())),
        })
    }
}

/// One background download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullJob {
    pub id: String,
    /// What the user asked for.
    pub reference: String,
    /// The model name it resolves to.
    pub name: String,
    pub status: PullStatus,
    pub completed_bytes: u64,
    /// `None` until the hub has said how large the files are.
    pub total_bytes: Option<u64>,
    pub error: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    pub updated_at: u64,
}

#[derive(FromRow)]
struct Row {
    id: String,
    reference: String,
    name: String,
    status: String,
    completed_bytes: i64,
    total_bytes: Option<i64>,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for PullJob {
    type Error = StoreError;

    fn try_from(row: Row) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            reference: row.reference,
            name: row.name,
            status: PullStatus::parse(&row.status)?,
            completed_bytes: row.completed_bytes.max(0) as u64,
            total_bytes: row.total_bytes.map(|t| t.max(0) as u64),
            error: row.error,
            created_at: row.created_at.max(0) as u64,
            updated_at: row.updated_at.max(0) as u64,
        })
    }
}

const COLUMNS: &str =
    "id, reference, name, status, completed_bytes, total_bytes, error, created_at, updated_at";

/// Queries on the pull jobs.
#[derive(Debug, Clone, Copy)]
pub struct Pulls<'a> {
    pool: &'a SqlitePool,
}

impl<'a> Pulls<'a> {
    pub(crate) fn new(pool: &'a SqlitePool) -> Self {
        Self { pool }
    }

    /// Records a new queued job.
    pub async fn create(&self, reference: &str, name: &str) -> Result<PullJob, StoreError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let now = now();
        sqlx::query(
            "INSERT INTO pull_jobs (id, reference, name, status, created_at, updated_at)
             VALUES (?, ?, ?, 'queued', ?, ?)",
        )
        .bind(&id)
        .bind(reference)
        .bind(name)
        .bind(now)
        .bind(now)
        .execute(self.pool)
        .await?;
        self.get(&id)
            .await?
            .ok_or_else(|| StoreError::Sql(sqlx::Error::RowNotFound))
    }

    /// One job by id.
    pub async fn get(&self, id: &str) -> Result<Option<PullJob>, StoreError> {
        let row: Option<Row> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM pull_jobs WHERE id = ?"))
                .bind(id)
                .fetch_optional(self.pool)
                .await?;
        row.map(PullJob::try_from).transpose()
    }

    /// Every job, newest first.
    pub async fn list(&self) -> Result<Vec<PullJob>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM pull_jobs ORDER BY created_at DESC, rowid DESC"
        ))
        .fetch_all(self.pool)
        .await?;
        rows.into_iter().map(PullJob::try_from).collect()
    }

    /// Jobs that were queued or running, oldest first: the ones to resume when the
    /// server starts.
    pub async fn unfinished(&self) -> Result<Vec<PullJob>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM pull_jobs WHERE status IN ('queued', 'running')
             ORDER BY created_at, rowid"
        ))
        .fetch_all(self.pool)
        .await?;
        rows.into_iter().map(PullJob::try_from).collect()
    }

    /// The unfinished job pulling `name`, if any, so a second request joins it.
    pub async fn active_for(&self, name: &str) -> Result<Option<PullJob>, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM pull_jobs WHERE name = ? AND status IN ('queued', 'running')
             ORDER BY created_at LIMIT 1"
        ))
        .bind(name)
        .fetch_optional(self.pool)
        .await?;
        row.map(PullJob::try_from).transpose()
    }

    /// Records how many bytes have arrived.
    pub async fn progress(
        &self,
        id: &str,
        completed_bytes: u64,
        total_bytes: Option<u64>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE pull_jobs SET completed_bytes = ?, total_bytes = COALESCE(?, total_bytes),
             updated_at = ? WHERE id = ?",
        )
        .bind(completed_bytes as i64)
        .bind(total_bytes.map(|t| t as i64))
        .bind(now())
        .bind(id)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// Moves a job to `status`; an error message goes with `Failed`. A job that has
    /// finished keeps its final status. Returns whether the job changed.
    pub async fn set_status(
        &self,
        id: &str,
        status: PullStatus,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE pull_jobs SET status = ?, error = ?, updated_at = ?
             WHERE id = ? AND status IN ('queued', 'running')",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(now())
        .bind(id)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
