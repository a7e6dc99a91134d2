//! Metrics through the `metrics` facade (feature `metrics`) and the bounded operation names
//! shared with the tracing spans.
//!
//! Every instrumentation call goes through the inline helpers here; without the feature they
//! are empty and compile to nothing. With it, the handles are built once (per [`crate::Repo`],
//! indexer run or migration) and each call only bumps a handle: no allocation per request.
//!
//! `reel_search_migration_phase{alias}` numbers the phases of a migration:
//! 0 idle (none running, or finished), 1 creating the new index, 2 backfilling,
//! 3 re-applying deletes made during the backfill, 4 restoring settings and waiting for
//! shards, 5 moving the aliases, 6 deleting the old index.

/// The bounded operation name of a request (`db.operation.name` and the `operation` label).
pub(crate) fn operation_name(method: elasticsearch::http::Method, path: &str) -> &'static str {
    use elasticsearch::http::Method;
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let api = segments.iter().rev().find(|s| s.starts_with('_')).copied();
    let api_position = segments.iter().rposition(|s| s.starts_with('_'));
    match (api, method) {
        (Some("_search"), _) if segments.contains(&"scroll") => "scroll",
        (Some("_search"), _) => "search",
        (Some("_msearch"), _) => "msearch",
        (Some("_count"), _) => "count",
        (Some("_mget"), _) => "mget",
        (Some("_bulk"), _) => "bulk",
        (Some("_create"), _) => "create",
        (Some("_update"), _) => "update",
        (Some("_update_by_query"), _) => "update_by_query",
        (Some("_delete_by_query"), _) => "delete_by_query",
        (Some("_refresh"), _) => "refresh",
        (Some("_aliases"), _) => "update_aliases",
        (Some("_alias"), _) => "get_alias",
        (Some("_mapping"), Method::Put) => "put_mapping",
        (Some("_mapping"), _) => "get_mapping",
        (Some("_settings"), Method::Put) => "put_settings",
        (Some("_settings"), _) => "get_settings",
        (Some("_pit" | "point_in_time"), _) => "point_in_time",
        (Some("_tasks"), _) => "tasks",
        (Some("_cluster"), _) => "cluster_health",
        (Some("_close"), _) => "close_index",
        (Some("_doc"), Method::Get) if api_position.is_some_and(|p| p + 1 < segments.len()) => {
            "get"
        }
        (Some("_doc"), Method::Delete) => "delete",
        (Some("_doc"), _) => "index",
        (None, Method::Put) if segments.len() == 1 => "create_index",
        (None, Method::Delete) if segments.len() == 1 => "delete_index",
        (None, Method::Head) if segments.len() == 1 => "index_exists",
        _ => "other",
    }
}

/// The bounded `error.type` of an error.
pub(crate) fn error_type(error: &crate::Error) -> &'static str {
    match error {
        crate::Error::Transport(e) if e.is_timeout() => "timeout",
        crate::Error::Transport(_) => "transport",
        crate::Error::Api { status, .. } => match status {
            400 => "400",
            401 => "401",
            403 => "403",
            404 => "404",
            409 => "409",
            429 => "429",
            500 => "500",
            502 => "502",
            503 => "503",
            504 => "504",
            400..=499 => "4xx",
            _ => "5xx",
        },
        crate::Error::Decode { .. } => "decode",
        crate::Error::CircuitOpen { .. } => "circuit_open",
        _ => "other",
    }
}

#[cfg(feature = "metrics")]
mod on {
    use ::metrics::{Counter, Gauge, Histogram};

    /// Every operation name [`super::operation_name`] returns.
    pub(crate) const OPERATIONS: &[&str] = &[
        "scroll",
        "search",
        "msearch",
        "count",
        "mget",
        "bulk",
        "create",
        "update",
        "update_by_query",
        "delete_by_query",
        "refresh",
        "update_aliases",
        "get_alias",
        "put_mapping",
        "get_mapping",
        "put_settings",
        "get_settings",
        "point_in_time",
        "tasks",
        "cluster_health",
        "close_index",
        "get",
        "delete",
        "index",
        "create_index",
        "delete_index",
        "index_exists",
        "other",
    ];

    /// The bulk item results.
    pub(crate) const BULK_RESULTS: &[&str] = &[
        "created",
        "updated",
        "deleted",
        "not_found",
        "conflict",
        "error",
    ];

    #[derive(Debug)]
    struct OpHandles {
        ok: Counter,
        error: Counter,
        duration: Histogram,
        retries: Counter,
    }

    /// A [`crate::Repo`]'s handles, built once.
    #[derive(Debug)]
    pub(crate) struct RepoMetrics {
        ops: Vec<OpHandles>,
        bulk: Vec<Counter>,
        breaker: Gauge,
    }

    impl RepoMetrics {
        pub(crate) fn new() -> Self {
            Self {
                ops: OPERATIONS
                    .iter()
                    .map(|&op| OpHandles {
                        ok: ::metrics::counter!("reel_search_requests_total", "operation" => op, "outcome" => "ok"),
                        error: ::metrics::counter!("reel_search_requests_total", "operation" => op, "outcome" => "error"),
                        duration: ::metrics::histogram!("reel_search_request_duration_seconds", "operation" => op),
                        retries: ::metrics::counter!("reel_search_retries_total", "operation" => op),
                    })
                    .collect(),
                bulk: BULK_RESULTS
                    .iter()
                    .map(|&r| ::metrics::counter!("reel_search_bulk_items_total", "result" => r))
                    .collect(),
                breaker: ::metrics::gauge!("reel_search_breaker_state"),
            }
        }

        fn op(&self, operation: &str) -> Option<&OpHandles> {
            OPERATIONS
                .iter()
                .position(|&o| o == operation)
                .and_then(|i| self.ops.get(i))
        }

        pub(crate) fn request(&self, operation: &str, ok: bool, seconds: f64) {
            if let Some(h) = self.op(operation) {
                if ok { &h.ok } else { &h.error }.increment(1);
                h.duration.record(seconds);
            }
        }

        pub(crate) fn retry(&self, operation: &str) {
            if let Some(h) = self.op(operation) {
                h.retries.increment(1);
            }
        }

        pub(crate) fn bulk_item(&self, result: &str, n: u64) {
            if let Some(i) = BULK_RESULTS.iter().position(|&r| r == result) {
                self.bulk[i].increment(n);
            }
        }

        pub(crate) fn breaker_state(&self, state: f64) {
            self.breaker.set(state);
        }
    }

    /// The `reel_search_indexer_rows_total{index}` handle of one indexer run.
    pub(crate) fn indexer_rows(index: &str) -> Counter {
        ::metrics::counter!("reel_search_indexer_rows_total", "index" => index.to_owned())
    }

    /// The `reel_search_migration_phase{alias}` handle of one migration.
    pub(crate) fn migration_phase(alias: &str) -> Gauge {
        ::metrics::gauge!("reel_search_migration_phase", "alias" => alias.to_owned())
    }
}

#[cfg(feature = "metrics")]
pub(crate) use on::{RepoMetrics, indexer_rows, migration_phase};

/// Without the feature: nothing.
#[cfg(not(feature = "metrics"))]
#[derive(Debug)]
pub(crate) struct RepoMetrics;

#[cfg(not(feature = "metrics"))]
impl RepoMetrics {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Self
    }
    #[inline(always)]
    pub(crate) fn request(&self, _operation: &str, _ok: bool, _seconds: f64) {}
    #[inline(always)]
    pub(crate) fn retry(&self, _operation: &str) {}
    #[inline(always)]
    pub(crate) fn bulk_item(&self, _result: &str, _n: u64) {}
    #[inline(always)]
    pub(crate) fn breaker_state(&self, _state: f64) {}
}

/// A migration's phase gauge (nothing without the feature).
#[derive(Debug)]
pub(crate) struct Phase {
    #[cfg(feature = "metrics")]
    gauge: ::metrics::Gauge,
}

impl Phase {
    /// The gauge of `alias`'s migration.
    #[inline(always)]
    pub(crate) fn new(_alias: &str) -> Self {
        Self {
            #[cfg(feature = "metrics")]
            gauge: migration_phase(_alias),
        }
    }
    /// Sets the phase (see the module docs for the numbering).
    #[inline(always)]
    pub(crate) fn set(&self, _phase: u8) {
        #[cfg(feature = "metrics")]
        self.gauge.set(f64::from(_phase));
    }
}

/// An indexer run's row counter (nothing without the feature).
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    #[cfg(feature = "metrics")]
    counter: ::metrics::Counter,
}

impl Rows {
    /// The counter of rows indexed into `index`.
    #[inline(always)]
    pub(crate) fn new(_index: &str) -> Self {
        Self {
            #[cfg(feature = "metrics")]
            counter: indexer_rows(_index),
        }
    }
    /// Counts `n` rows.
    #[inline(always)]
    pub(crate) fn add(&self, _n: u64) {
        #[cfg(feature = "metrics")]
        self.counter.increment(_n);
    }
}

/// Describes every metric of reel-search (units and help text) to the installed recorder, so
/// an exporter shows `HELP` lines. Call it once after installing the recorder.
#[cfg(feature = "metrics")]
pub fn describe_metrics() {
    use ::metrics::Unit;
    ::metrics::describe_counter!(
        "reel_search_requests_total",
        Unit::Count,
        "Requests sent to the search cluster (each retry counts), by operation and outcome (ok|error)."
    );
    ::metrics::describe_histogram!(
        "reel_search_request_duration_seconds",
        Unit::Seconds,
        "Time of one request to the search cluster, by operation."
    );
    ::metrics::describe_counter!(
        "reel_search_bulk_items_total",
        Unit::Count,
        "Bulk items by result (created|updated|deleted|not_found|conflict|error)."
    );
    ::metrics::describe_counter!(
        "reel_search_retries_total",
        Unit::Count,
        "Requests or bulk items resent after 429/5xx or a connection error, by operation."
    );
    ::metrics::describe_gauge!(
        "reel_search_migration_phase",
        Unit::Count,
        "Phase of the running migration of an alias: 0 idle, 1 creating, 2 backfilling, 3 re-applying deletes, 4 restoring settings and waiting for shards, 5 moving the aliases, 6 deleting the old index."
    );
    ::metrics::describe_counter!(
        "reel_search_indexer_rows_total",
        Unit::Count,
        "Documents the indexer sent successfully, by target index."
    );
    ::metrics::describe_gauge!(
        "reel_search_breaker_state",
        Unit::Count,
        "The Repo's circuit breaker: 0 closed, 1 open, 2 half-open."
    );
}
