"""Every table of the workspace's SQLite database, as an ordered list of migrations.

The database records how many of them it has had in ``PRAGMA user_version``. Opening a workspace
applies the ones it lacks, in order, inside one transaction, so two processes opening the same
workspace at once cannot both upgrade it, and a failed upgrade leaves the old schema. A
workspace written before versions existed (user_version 0) already has some of these tables:
every statement is written to be harmless on them (IF NOT EXISTS), so it simply catches up.
Add a migration at the end; never change one that has shipped.
"""
from __future__ import annotations

import sqlite3

from workbench.core.errors import WorkbenchError

TRACKERS = [
    """CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS imports (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        imported_at TEXT NOT NULL,
        calls_source TEXT NOT NULL,
        utterances_source TEXT NOT NULL,
        generation INTEGER NOT NULL,
        n_calls INTEGER NOT NULL,
        n_utterances INTEGER NOT NULL,
        n_sentences INTEGER NOT NULL,
        skipped_calls INTEGER NOT NULL,
        replaced_calls INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS trackers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        kind TEXT NOT NULL CHECK (kind IN ('smart', 'keyword')),
        description TEXT NOT NULL DEFAULT '',
        mentioned_by TEXT NOT NULL,
        filters TEXT NOT NULL,           -- JSON
        call_part TEXT NOT NULL,         -- JSON
        channels TEXT NOT NULL,          -- JSON list
        settings TEXT NOT NULL,          -- JSON: keyword phrases, classifier settings, seed
        status TEXT NOT NULL DEFAULT 'draft',
        published_version INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS examples (
        tracker_id INTEGER NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        text TEXT NOT NULL,
        added_at TEXT NOT NULL,
        PRIMARY KEY (tracker_id, position)
    )""",
    """CREATE TABLE IF NOT EXISTS rounds (
        tracker_id INTEGER NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        candidates TEXT NOT NULL,        -- JSON list of {sentence_id, strategy, inclusion_prob}
        trained_version INTEGER,         -- model version trained when the round was finished
        PRIMARY KEY (tracker_id, number)
    )""",
    """CREATE TABLE IF NOT EXISTS tags (
        tracker_id INTEGER NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
        sentence_id INTEGER NOT NULL,
        answer TEXT NOT NULL CHECK (answer IN ('yes', 'no', 'not_sure')),
        round_number INTEGER,
        strategy TEXT,
        inclusion_prob REAL,
        text TEXT NOT NULL,
        tagged_at TEXT NOT NULL,
        PRIMARY KEY (tracker_id, sentence_id)
    )""",
    """CREATE TABLE IF NOT EXISTS versions (
        tracker_id INTEGER NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        run_id TEXT,
        round_number INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        metrics TEXT NOT NULL,           -- JSON
        PRIMARY KEY (tracker_id, version)
    )""",
    # The version used to be a row here; PRAGMA user_version is now the only record of it.
    "DELETE FROM meta WHERE key = 'schema_version'",
]

ACTIVATIONS = [
    """CREATE TABLE IF NOT EXISTS activations (
        tracker_id INTEGER PRIMARY KEY REFERENCES trackers(id) ON DELETE CASCADE,
        active INTEGER NOT NULL,           -- 1: new calls are scored on import
        version INTEGER NOT NULL,          -- the published version whose detections are stored
        definition TEXT NOT NULL,          -- JSON: the scope the stored detections were made with
        backfill_months INTEGER NOT NULL,
        window_start TEXT NOT NULL,        -- ISO: calls from here on were backfilled
        run_dir TEXT NOT NULL,             -- folder under data/detections/tracker-<id>/
        activated_at TEXT NOT NULL,
        deactivated_at TEXT,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS activation_pending (
        tracker_id INTEGER NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
        call_id TEXT NOT NULL,             -- imported while its sentences had no embedding
        PRIMARY KEY (tracker_id, call_id)
    )""",
]

STREAMS = [
    """CREATE TABLE IF NOT EXISTS streams (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        search TEXT NOT NULL,              -- JSON: the keyword arguments of results.search
        command TEXT,                      -- JSON list: argv run when calls enter
        webhook TEXT,                      -- URL sent a POST when calls enter
        created_at TEXT NOT NULL,
        last_read_at TEXT,
        last_notified_at TEXT,
        last_error TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS stream_calls (
        stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
        call_id TEXT NOT NULL,
        entered_at TEXT NOT NULL,
        notified_at TEXT,
        read_at TEXT,
        PRIMARY KEY (stream_id, call_id)
    )""",
]

# Stream notifications leave the import through an outbox: the import only adds rows here, and a
# sender (workbench.results.outbox) delivers them later, with a total deadline, retries and backoff.
OUTBOX = [
    # 1: the user allowed webhooks to internal, loopback or link-local addresses for this stream.
    # Streams made before this migration were never checked, so they start refused (0).
    "ALTER TABLE streams ADD COLUMN allow_private INTEGER NOT NULL DEFAULT 0",
    """CREATE TABLE IF NOT EXISTS stream_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
        target TEXT NOT NULL CHECK (target IN ('webhook', 'command')),
        payload TEXT NOT NULL,             -- JSON: the body POSTed, or given to the command's stdin
        n_calls INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        next_attempt_at TEXT NOT NULL,     -- ISO UTC: not tried again before this
        leased_until TEXT,                 -- ISO UTC: a sender is trying it until then
        last_error TEXT,
        sent_at TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS stream_deliveries_due ON stream_deliveries(status, next_attempt_at)",
]

# A paused stream lists its new calls but tells no webhook or command about them.
STREAM_PAUSE = ["ALTER TABLE streams ADD COLUMN paused INTEGER NOT NULL DEFAULT 0"]

ARTEFACTS = [
    # What each version's model files hashed to when the workbench trained or imported it; kept
    # here, not in MLflow, whose server lets any local client rewrite artifacts and tags.
    """CREATE TABLE IF NOT EXISTS artefact_hashes (
        model_name TEXT NOT NULL,          -- MLflow registered model of the tracker
        version INTEGER NOT NULL,
        model_id TEXT NOT NULL,            -- MLflow logged model behind the version
        files TEXT NOT NULL,               -- JSON {path in the model folder: sha256}
        recorded_how TEXT NOT NULL,        -- trained, imported, first load
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (model_name, version)
    )""",
    # When recording began (ms since 1970, MLflow's clock): a version registered later without a
    # record did not come from the workbench, one registered before is recorded on first load.
    """INSERT OR IGNORE INTO meta (key, value)
       VALUES ('artefact_hashes_since', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))""",
]

# Migration n (1-based) brings a database from user_version n-1 to n.
MIGRATIONS: list[list[str]] = [TRACKERS, ACTIVATIONS, STREAMS, OUTBOX, STREAM_PAUSE, ARTEFACTS]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(con: sqlite3.Connection, path: object) -> None:
    """Apply the migrations the database lacks (``path`` names it in errors).

    ``con`` is in autocommit mode (isolation_level=None): the BEGIN IMMEDIATE here takes the
    write lock first, so the version read inside it is the one the migrations apply to.
    """
    if con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return  # the common case: no write lock taken just to open a workspace
    con.execute("BEGIN IMMEDIATE")
    try:
        current = con.execute("PRAGMA user_version").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise WorkbenchError(
                f"{path} has schema version {current}, newer than this workbench knows ({SCHEMA_VERSION}). "
                "Upgrade the workbench to open it.")
        for statements in MIGRATIONS[current:]:
            for statement in statements:
                con.execute(statement)
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
