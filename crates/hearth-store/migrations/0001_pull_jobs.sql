-- Model downloads the server runs in the background. A job survives a restart:
-- unfinished ones are resumed from their partial files when the server starts again.
CREATE TABLE pull_jobs (
    id              TEXT PRIMARY KEY NOT NULL,
    -- What the user asked for, e.g. `bartowski/SmolLM2-135M-Instruct-GGUF:Q4_K_M`.
    reference       TEXT NOT NULL,
    -- The canonical model name it resolves to (`owner/repo:quant`, lower case).
    name            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    completed_bytes INTEGER NOT NULL DEFAULT 0,
    total_bytes     INTEGER,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE INDEX pull_jobs_by_name ON pull_jobs (name, status);
