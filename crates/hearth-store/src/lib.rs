//! Hearth's SQLite database (WAL, migrations embedded): pull jobs that survive a restart.
