//! Assets and owners in SQLite (embedded, the default) or PostgreSQL, through sqlx's Any
//! driver so one set of queries serves both. Placeholders are `$N`, which both accept.

use std::time::Duration;

use reel_core::breaker::{BreakerOpen, BreakerState, CircuitBreaker};
use reel_jsonapi::query::SortField;
use reel_jsonapi::{ErrorDocument, ErrorObject};
use sqlx::any::{AnyPoolOptions, AnyRow};
// Every dynamic statement here is built from constants, whitelisted column names
// (`sort_column`) and `$N` placeholders; values always travel as bind parameters.
use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::model::{Asset, AssetChanges, Contact, Owner};

/// An sqlx error as people read it: the database's message and SQLSTATE, without the
/// `at line NNN` sqlx appends for PostgreSQL (a line of PostgreSQL's own C source).
pub(crate) fn describe(error: &sqlx::Error) -> String {
    match error.as_database_error() {
        Some(database) => match database.code() {
            Some(code) => format!("{} (SQLSTATE {code})", database.message()),
            None => database.message().to_owned(),
        },
        None => error.to_string(),
    }
}

/// Whether `error` means the database cannot be reached now (rather than a bad statement):
/// no connection in time, a broken or refused connection, or a server shutting down or
/// starting up (SQLSTATE classes 08 and 57P).
pub(crate) fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// How long a request waits for a database connection before it is told the database is
/// unavailable (a 503): short, so that an outage costs clients little.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(500);

/// Consecutive failures to reach the database (no connection in time, refused, broken) that
/// open the circuit breaker in front of it.
const BREAKER_FAILURES: u32 = 3;
/// How long the breaker stays open the first time; it doubles while the probes fail…
const BREAKER_COOL_DOWN: Duration = Duration::from_millis(500);
/// …up to this, which bounds how long the API takes to notice the database is back.
const BREAKER_MAX_COOL_DOWN: Duration = Duration::from_secs(2);

/// Why a database call failed: the database's own error, or the circuit breaker refusing
/// the call without asking the pool, because the database could not be reached just before.
#[derive(Debug)]
pub(crate) enum DbError {
    Sql(sqlx::Error),
    CircuitOpen(BreakerOpen),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Sql(error) => f.write_str(&describe(error)),
            DbError::CircuitOpen(open) => write!(f, "database {open}"),
        }
    }
}

/// A database error as the client sees it: a 503 when the database cannot be reached (down,
/// restarting, no connection free in time, or the breaker open after such failures), so that
/// clients retry; a 500 otherwise.
pub(crate) fn db_error(error: DbError) -> ErrorDocument {
    match error {
        DbError::CircuitOpen(open) => {
            tracing::debug!(retry_in = ?open.retry_in, "database call refused by the open breaker");
            ErrorObject::new(503, "Database unavailable")
                .with_detail("the database cannot be reached; try again shortly")
                .into()
        }
        DbError::Sql(error) if is_unavailable(&error) => {
            tracing::warn!(error = %describe(&error), "database unavailable");
            ErrorObject::new(503, "Database unavailable")
                .with_detail("the database cannot be reached; try again shortly")
                .into()
        }
        DbError::Sql(error) => {
            tracing::error!(error = %describe(&error), "request failed");
            ErrorObject::new(500, "Internal Server Error")
                .with_detail("the database could not answer; try again")
                .into()
        }
    }
}

/// The circuit breaker in front of the database: after [`BREAKER_FAILURES`] consecutive calls
/// that could not reach it, calls fail at once (a 503) instead of each waiting out the pool's
/// [`ACQUIRE_TIMEOUT`]; one probe at a time, after a cool-down, closes it again. Its state is
/// the gauge `reel_edge_db_breaker_state` and `/healthz`'s `backends.database.breaker`.
fn breaker() -> CircuitBreaker {
    crate::telemetry::db_breaker_state(BreakerState::Closed);
    CircuitBreaker::builder()
        .failure_threshold(BREAKER_FAILURES)
        .cool_down(BREAKER_COOL_DOWN)
        .max_cool_down(BREAKER_MAX_COOL_DOWN)
        .on_transition(|transition| {
            crate::telemetry::db_breaker_state(transition.to);
            match transition.to {
                BreakerState::Open => tracing::warn!(
                    cool_down = ?transition.cool_down,
                    "database circuit breaker opened: requests that need it get a 503 at once until a probe succeeds"
                ),
                to => tracing::info!(from = %transition.from, %to, "database circuit breaker changed state"),
            }
        })
        .build()
}

/// How often the background prober looks whether the breaker's cool-down has ended.
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// While the breaker is open, sends its probe (`SELECT 1`) once each cool-down ends, so that
/// the API recovers by itself when the database returns and no request pays for a probe.
/// Ends when the service is dropped (`alive` is gone).
async fn probe_while_open(pool: AnyPool, breaker: CircuitBreaker, alive: std::sync::Weak<()>) {
    while alive.strong_count() > 0 {
        tokio::time::sleep(PROBE_EVERY).await;
        if breaker.state() == BreakerState::Closed {
            continue;
        }
        // Refused until the cool-down has ended; then this is the one probe.
        let Ok(permit) = breaker.try_acquire() else {
            continue;
        };
        match sqlx::query("SELECT 1").execute(&pool).await {
            Err(error) if is_unavailable(&error) => {
                tracing::debug!(error = %describe(&error), "database probe failed");
                permit.failure();
            }
            _ => permit.success(),
        }
    }
}

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            DbKind::Sqlite => "sqlite",
            DbKind::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Db {
    pool: AnyPool,
    kind: DbKind,
    breaker: CircuitBreaker,
    /// Requests answered without the pool because the breaker was not closed.
    refused: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Held while the service exists; the background prober stops when it is gone.
    _alive: std::sync::Arc<()>,
}

const ASSET_COLUMNS: &str =
    "a.id, a.title, a.kind, a.file_name, a.size_bytes, o.id, o.name, o.email";

fn asset_from_row(row: &AnyRow) -> Result<Asset, sqlx::Error> {
    let owner_id: i64 = row.try_get(5)?;
    let email: String = row.try_get(7)?;
    Ok(Asset {
        uploader: Contact {
            id: owner_id,
            email: email.clone(),
        },
        id: row.try_get(0)?,
        title: row.try_get(1)?,
        kind: row.try_get(2)?,
        file_name: row.try_get(3)?,
        size_bytes: row.try_get(4)?,
        owner: Owner {
            id: owner_id,
            name: row.try_get(6)?,
            email,
        },
    })
}

/// Maps a JSON:API sort field (attribute name) to its column; the query rules only let
/// attribute names through, and anything else is refused here too.
fn sort_column(field: &str) -> Option<&'static str> {
    Some(match field {
        "title" => "a.title",
        "kind" => "a.kind",
        "fileName" => "a.file_name",
        "sizeBytes" => "a.size_bytes",
        _ => return None,
    })
}

const DEMO_OWNERS: [(&str, &str); 3] = [
    ("Ada Lovelace", "ada@example.com"),
    ("Grace Hopper", "grace@example.com"),
    ("Katherine Johnson", "katherine@example.com"),
];

const DEMO_ASSETS: [(&str, &str, &str, i64, usize); 8] = [
    (
        "Beach sunset timelapse",
        "video",
        "beach-sunset.mp4",
        48_213_004,
        0,
    ),
    ("Harbour at dawn", "image", "harbour-dawn.jpg", 3_481_220, 0),
    (
        "Interview with the director",
        "video",
        "director-interview.mov",
        912_004_771,
        1,
    ),
    ("Opening theme", "audio", "opening-theme.wav", 28_004_112, 1),
    (
        "Storyboard, act one",
        "document",
        "storyboard-act-1.pdf",
        5_221_908,
        2,
    ),
    (
        "Mountain drone flight",
        "video",
        "mountain-drone.mp4",
        301_220_045,
        2,
    ),
    (
        "Studio portrait",
        "image",
        "studio-portrait.png",
        7_100_332,
        0,
    ),
    (
        "Crowd ambience",
        "audio",
        "crowd-ambience.flac",
        61_448_090,
        1,
    ),
];

impl Db {
    /// Connects (SQLite in memory when `url` is `None`), runs the migrations and seeds demo
    /// data into an empty database.
    pub(crate) async fn connect(url: Option<&str>) -> Result<Self, crate::StartError> {
        sqlx::any::install_default_drivers();
        let (url, kind) = match url {
            None => ("sqlite::memory:", DbKind::Sqlite),
            Some(url) if url.starts_with("sqlite:") => (url, DbKind::Sqlite),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                (url, DbKind::Postgres)
            }
            Some(url) => {
                return Err(crate::StartError::Database(format!(
                    "REEL_DATABASE_URL must start with postgres://, postgresql:// or sqlite: (got `{}`)",
                    url.split(':').next().unwrap_or_default()
                )));
            }
        };
        let options = AnyPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        // An in-memory SQLite database lives as long as its one connection: keep it forever.
        let options = if url.contains(":memory:") {
            options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            // More than the requests a busy instance has in flight at once (the drill: 8
            // readers, a writer, /healthz and the search catch-up), so that a slow database
            // makes requests slower rather than 503s for want of a free connection.
            options.max_connections(16)
        };
        let pool = options.connect(url).await.map_err(|e| {
            let hint = match e.as_database_error().and_then(|d| d.code()) {
                // invalid_catalog_name: the database does not exist.
                Some(code) if code == "3D000" => {
                    "; create it first (`createdb NAME`), or let `cargo xtask dev` do it"
                }
                _ => "",
            };
            crate::StartError::Database(format!("cannot connect: {}{hint}", describe(&e)))
        })?;
        let migrated = match kind {
            DbKind::Sqlite => sqlx::migrate!("migrations/sqlite").run(&pool).await,
            DbKind::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await,
        };
        migrated.map_err(|e| {
            let reason = match &e {
                sqlx::migrate::MigrateError::Execute(error) => describe(error),
                sqlx::migrate::MigrateError::ExecuteMigration(error, version) => {
                    format!("migration {version}: {}", describe(error))
                }
                other => other.to_string(),
            };
            crate::StartError::Database(format!("migrations failed: {reason}"))
        })?;
        let alive = std::sync::Arc::new(());
        let breaker = breaker();
        tokio::spawn(probe_while_open(
            pool.clone(),
            breaker.clone(),
            std::sync::Arc::downgrade(&alive),
        ));
        let db = Self {
            pool,
            kind,
            breaker,
            refused: std::sync::Arc::default(),
            _alive: alive,
        };
        db.seed().await.map_err(|e| {
            crate::StartError::Database(format!("cannot seed demo data: {}", describe(&e)))
        })?;
        Ok(db)
    }

    pub(crate) fn kind(&self) -> DbKind {
        self.kind
    }

    /// Runs `call` on the pool if the breaker lets it, and tells the breaker whether the
    /// database could be reached (an answer, even an error, is a success). `call` must ask
    /// the database: an answer made up without it would count as the database answering.
    ///
    /// A request never becomes the breaker's probe: while it is not closed, requests get
    /// their 503 at once and [`probe_while_open`] probes in the background, so no client
    /// waits out the pool's acquire timeout to learn that the database is still away.
    async fn guarded<T>(
        &self,
        call: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, DbError> {
        let state = self.breaker.state();
        if state != BreakerState::Closed {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(DbError::CircuitOpen(BreakerOpen {
                state,
                retry_in: Duration::ZERO,
            }));
        }
        let permit = self.breaker.try_acquire().map_err(DbError::CircuitOpen)?;
        let result = call.await;
        match &result {
            Err(error) if is_unavailable(error) => permit.failure(),
            _ => permit.success(),
        }
        result.map_err(DbError::Sql)
    }

    /// The breaker's state and counters for `/healthz`.
    pub(crate) fn breaker_report(&self) -> serde_json::Value {
        let stats = self.breaker.stats();
        serde_json::json!({
            "state": stats.state.name(),
            "opened": stats.opened,
            "probes": stats.probes,
            "rejected": stats.rejected + self.refused.load(std::sync::atomic::Ordering::Relaxed),
        })
    }

    async fn seed(&self) -> Result<(), sqlx::Error> {
        let owners: i64 = sqlx::query("SELECT COUNT(*) FROM owners")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        if owners > 0 {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let mut owner_ids = Vec::with_capacity(DEMO_OWNERS.len());
        for (name, email) in DEMO_OWNERS {
            let id: i64 =
                sqlx::query("INSERT INTO owners (name, email) VALUES ($1, $2) RETURNING id")
                    .bind(name)
                    .bind(email)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
            owner_ids.push(id);
        }
        for (title, kind, file_name, size, owner) in DEMO_ASSETS {
            sqlx::query(
                "INSERT INTO assets (title, kind, file_name, size_bytes, owner_id) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(title)
            .bind(kind)
            .bind(file_name)
            .bind(size)
            .bind(owner_ids[owner % owner_ids.len()])
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        tracing::info!(
            owners = DEMO_OWNERS.len(),
            assets = DEMO_ASSETS.len(),
            "seeded demo data"
        );
        Ok(())
    }

    pub(crate) async fn ping(&self) -> Result<(), DbError> {
        self.guarded(async { sqlx::query("SELECT 1").execute(&self.pool).await.map(drop) })
            .await
    }

    pub(crate) async fn count_assets(&self) -> Result<i64, DbError> {
        self.guarded(async {
            sqlx::query("SELECT COUNT(*) FROM assets")
                .fetch_one(&self.pool)
                .await?
                .try_get(0)
        })
        .await
    }

    pub(crate) async fn list_assets(
        &self,
        sort: &[SortField],
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Asset>, DbError> {
        self.guarded(async {
        let mut order: Vec<String> = sort
            .iter()
            .filter_map(|field| {
                let column = sort_column(&field.field)?;
                Some(format!(
                    "{column} {}",
                    if field.descending { "DESC" } else { "ASC" }
                ))
            })
            .collect();
        order.push("a.id ASC".to_owned());
        let sql = format!(
            "SELECT {ASSET_COLUMNS} FROM assets a JOIN owners o ON o.id = a.owner_id ORDER BY {} LIMIT $1 OFFSET $2",
            order.join(", ")
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(asset_from_row).collect()
        })
        .await
    }

    pub(crate) async fn all_assets(&self) -> Result<Vec<Asset>, DbError> {
        self.guarded(async {
        let sql = format!(
            "SELECT {ASSET_COLUMNS} FROM assets a JOIN owners o ON o.id = a.owner_id ORDER BY a.id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(asset_from_row).collect()
        })
        .await
    }

    pub(crate) async fn asset(&self, id: i64) -> Result<Option<Asset>, DbError> {
        self.guarded(async {
        let sql = format!(
            "SELECT {ASSET_COLUMNS} FROM assets a JOIN owners o ON o.id = a.owner_id WHERE a.id = $1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(asset_from_row).transpose()
        })
        .await
    }

    /// The assets with these ids, in the order given (missing ids are skipped).
    pub(crate) async fn assets_by_ids(&self, ids: &[i64]) -> Result<Vec<Asset>, DbError> {
        // No id, no query: answered here, not through the breaker, which would count it as
        // the database answering (a search with no hits kept it closed through an outage).
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.guarded(async {
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {ASSET_COLUMNS} FROM assets a JOIN owners o ON o.id = a.owner_id WHERE a.id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let found: Vec<Asset> = rows.iter().map(asset_from_row).collect::<Result<_, _>>()?;
        Ok(ids
            .iter()
            .filter_map(|id| found.iter().find(|asset| asset.id == *id).cloned())
            .collect())
        })
        .await
    }

    pub(crate) async fn owner(&self, id: i64) -> Result<Option<Owner>, DbError> {
        self.guarded(async {
            let row = sqlx::query("SELECT id, name, email FROM owners WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|row| {
                Ok(Owner {
                    id: row.try_get(0)?,
                    name: row.try_get(1)?,
                    email: row.try_get(2)?,
                })
            })
            .transpose()
        })
        .await
    }

    pub(crate) async fn owner_exists(&self, id: i64) -> Result<bool, DbError> {
        self.guarded(async {
            Ok(sqlx::query("SELECT id FROM owners WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .is_some())
        })
        .await
    }

    /// Inserts a validated new asset (every field set) and returns its id.
    pub(crate) async fn insert_asset(&self, new: &AssetChanges) -> Result<i64, DbError> {
        self.guarded(async {
        sqlx::query(
            "INSERT INTO assets (title, kind, file_name, size_bytes, owner_id) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(new.title.clone().unwrap_or_default())
        .bind(new.kind.clone().unwrap_or_default())
        .bind(new.file_name.clone().unwrap_or_default())
        .bind(new.size_bytes.unwrap_or_default())
        .bind(new.owner_id.unwrap_or_default())
        .fetch_one(&self.pool)
        .await?
        .try_get(0)
        })
        .await
    }

    /// Applies the changes that are set; `false` when there is no such asset.
    pub(crate) async fn update_asset(
        &self,
        id: i64,
        changes: &AssetChanges,
    ) -> Result<bool, DbError> {
        self.guarded(async {
            let result = sqlx::query(
                "UPDATE assets SET title = COALESCE($1, title), kind = COALESCE($2, kind), \
             file_name = COALESCE($3, file_name), size_bytes = COALESCE($4, size_bytes), \
             owner_id = COALESCE($5, owner_id) WHERE id = $6",
            )
            .bind(changes.title.clone())
            .bind(changes.kind.clone())
            .bind(changes.file_name.clone())
            .bind(changes.size_bytes)
            .bind(changes.owner_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(result.rows_affected() > 0)
        })
        .await
    }
}
