//! Full-text search over assets through reel-search: a versioned index behind an alias,
//! created or migrated at start-up by `ensure_current` and kept in sync on writes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reel_search::{BulkOp, Document, Outcome, Query, Repo, SearchRequest, VersionedIndex};
use serde_json::{Value, json};

use crate::model::{Asset, AssetDoc};

/// How long a search or a write to the index may take before the API answers without it:
/// the client's own timeout is a minute, far too long for a request.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a search may take before it gets its 503: shorter than [`CALL_TIMEOUT`], because a
/// search on a healthy server takes milliseconds, and a searcher caught by a server that just
/// stopped answering should hear so within a second (the drill's "never a hang" is 2 s).
pub(crate) const SEARCH_TIMEOUT: Duration = Duration::from_secs(1);
/// How long building or catching up the index may take in the background.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the background task retries while the index is behind.
pub(crate) const RETRY_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub(crate) struct AssetSearch {
    index: VersionedIndex<AssetDoc>,
    state: Arc<SearchState>,
}

/// Whether the index can be searched and whether it misses writes.
#[derive(Debug, Default)]
struct SearchState {
    /// The index was built (or found current) and searches may be sent.
    ready: AtomicBool,
    /// A write did not reach the index, or the server was unreachable: the background task
    /// builds the index again (if needed) and writes every asset from the database.
    behind: AtomicBool,
    /// Why the index is not ready or behind, for `/healthz`.
    problem: Mutex<Option<String>>,
}

impl SearchState {
    fn fell_behind(&self, problem: String) {
        self.behind.store(true, Ordering::Release);
        if let Ok(mut slot) = self.problem.lock() {
            *slot = Some(problem);
        }
    }

    fn caught_up(&self) {
        self.ready.store(true, Ordering::Release);
        self.behind.store(false, Ordering::Release);
        if let Ok(mut slot) = self.problem.lock() {
            *slot = None;
        }
    }

    fn problem(&self) -> Option<String> {
        self.problem.lock().ok().and_then(|slot| slot.clone())
    }
}

impl AssetSearch {
    /// Connects, and builds or migrates the index from `assets` when its mapping changed.
    /// When the server cannot be reached and `degraded` is set, starts without it: searches
    /// answer 503 until [`catch_up`](Self::catch_up) has built the index.
    pub(crate) async fn start(
        url: &str,
        alias: &str,
        assets: Vec<Asset>,
        degraded: bool,
    ) -> Result<Self, crate::StartError> {
        let fail = |e: String| crate::StartError::Search(format!("{url}: {e}"));
        // A breaker: while the search server is down, searches get their 503 at once instead
        // of each waiting for a connection error or a timeout (issue 21's drill).
        let repo = Repo::from_url(url)
            .map_err(|e| fail(e.to_string()))?
            .breaker(
                reel_core::breaker::CircuitBreaker::builder()
                    .failure_threshold(3)
                    .cool_down(std::time::Duration::from_secs(1))
                    // A probe at least every second: searches resume within about a second
                    // of the server's return (the drill's SEARCH_RESUME_LIMIT is 2 s).
                    .max_cool_down(std::time::Duration::from_secs(1)),
            );
        let index = VersionedIndex::with_definition(repo, AssetDoc::definition().with_name(alias));
        let search = Self {
            index,
            state: Arc::new(SearchState::default()),
        };
        match search
            .build(assets, CALL_TIMEOUT.max(Duration::from_secs(10)))
            .await
        {
            Ok(()) => Ok(search),
            Err(problem) if degraded => {
                tracing::warn!(
                    %url,
                    problem,
                    "search server unavailable; starting degraded (REEL_START_DEGRADED): searches answer 503 until the index is built"
                );
                search.state.fell_behind(problem);
                Ok(search)
            }
            Err(problem) => Err(fail(format!(
                "{problem}; start the search server, fix REEL_ES_URL, or set REEL_START_DEGRADED=1 to start without it"
            ))),
        }
    }

    /// Builds or migrates the index from `assets`, then writes every one of them (so that a
    /// current index that missed writes catches up).
    async fn build(&self, assets: Vec<Asset>, limit: Duration) -> Result<(), String> {
        let work = async {
            let docs: Vec<_> = assets
                .iter()
                .map(AssetDoc::from)
                .map(Ok::<_, std::io::Error>)
                .collect();
            match self
                .index
                .ensure_current(futures::stream::iter(docs))
                .await?
            {
                Outcome::UpToDate { index } => {
                    tracing::info!(%index, "search index is current");
                    let ops = assets
                        .iter()
                        .map(|asset| BulkOp::index_doc(&AssetDoc::from(asset)))
                        .collect::<Result<Vec<_>, _>>()?;
                    if !ops.is_empty() {
                        for target in self.index.write_targets().await? {
                            let response = self.index.repo().bulk(&target, ops.clone()).await?;
                            if let Some(item) = response.failed().next() {
                                return Err(reel_search::Error::Config(format!(
                                    "writing the assets to {target} failed: {item:?}"
                                )));
                            }
                        }
                    }
                }
                Outcome::Migrated {
                    from, to, report, ..
                } => tracing::info!(?from, %to, ?report, "search index built"),
                other => tracing::info!(?other, "search index ready"),
            }
            self.index.repo().refresh(self.index.alias()).await
        };
        match tokio::time::timeout(limit, work).await {
            Ok(Ok(())) => {
                self.state.caught_up();
                Ok(())
            }
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {} s", limit.as_secs())),
        }
    }

    /// Whether searches can be sent (the index was built).
    pub(crate) fn is_ready(&self) -> bool {
        self.state.ready.load(Ordering::Acquire)
    }

    /// Whether the index misses writes (or was never built).
    pub(crate) fn is_behind(&self) -> bool {
        self.state.behind.load(Ordering::Acquire)
    }

    /// Records that the server failed (the index may have lost writes, or the server its
    /// index): the background task catches up.
    pub(crate) fn fell_behind(&self, problem: String) {
        self.state.fell_behind(problem);
    }

    /// One catch-up attempt while the index is behind: builds it if needed and writes every
    /// asset of `assets`.
    pub(crate) async fn catch_up(&self, assets: Vec<Asset>) -> Result<(), String> {
        let result = self.build(assets, CATCH_UP_TIMEOUT).await;
        match &result {
            Ok(()) => tracing::info!("search index caught up with the database"),
            Err(problem) => self.state.fell_behind(problem.clone()),
        }
        result
    }

    /// Writes `asset` to every index behind the write alias and refreshes, so the API reads
    /// its own writes (a demo's choice; a busy service would let the refresh interval do it).
    /// Gives up after [`CALL_TIMEOUT`]; a failure marks the index behind, so the
    /// background task writes the asset later.
    pub(crate) async fn sync(&self, asset: &Asset) -> Result<(), String> {
        let work = async {
            self.index.index(&AssetDoc::from(asset)).await?;
            self.index.repo().refresh(self.index.alias()).await
        };
        let problem = match tokio::time::timeout(CALL_TIMEOUT, work).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
        };
        self.state
            .fell_behind(format!("a write did not reach the index: {problem}"));
        Err(problem)
    }

    /// The ids of the best `size` matches for `text`, and the total number of matches.
    pub(crate) async fn search(
        &self,
        text: &str,
        size: u64,
    ) -> Result<(Vec<i64>, u64), reel_search::Error> {
        let fields = AssetDoc::fields();
        let request = SearchRequest::new()
            .query(
                Query::bool()
                    .should(fields.title().matches(text))
                    .should(fields.owner_name().matches(text))
                    // Kinds are stored in lower case (`KINDS`): `Video` finds videos too.
                    .should(fields.kind().term(text.to_lowercase()))
                    .minimum_should_match(1),
            )
            .size(size)
            .track_total_hits(true);
        let response = self
            .index
            .repo()
            .search::<Value>(self.index.alias(), &request)
            .await?;
        let total = response.hits.total.map(|t| t.value).unwrap_or(0);
        let ids = response
            .hits
            .hits
            .iter()
            .filter_map(|hit| hit.id.parse().ok())
            .collect();
        Ok((ids, total))
    }

    /// Whether the index is there and complete, with its alias and target, or why not.
    pub(crate) async fn health(&self) -> (bool, Value) {
        let alias = self.index.alias();
        let behind = self.is_behind();
        match tokio::time::timeout(CALL_TIMEOUT, self.index.current_index()).await {
            Ok(Ok(target)) => {
                let ok = target.is_some() && !behind;
                let mut report =
                    json!({"ok": ok, "alias": alias, "target": target, "catchingUp": behind});
                if let Some(problem) = self.state.problem().filter(|_| behind) {
                    report["error"] = problem.into();
                }
                (ok, report)
            }
            Ok(Err(error)) => (
                false,
                json!({"ok": false, "alias": alias, "catchingUp": behind, "error": error.to_string()}),
            ),
            Err(_) => (
                false,
                json!({"ok": false, "alias": alias, "catchingUp": behind, "error": format!("no answer within {} s", CALL_TIMEOUT.as_secs())}),
            ),
        }
    }
}

/// Whether `error` says the index (or its alias) does not exist.
pub(crate) fn index_missing(error: &reel_search::Error) -> bool {
    match error {
        reel_search::Error::NotFound { .. } => true,
        reel_search::Error::Api { status, kind, .. } => {
            *status == 404 && kind.contains("index_not_found")
        }
        _ => false,
    }
}
