//! `/healthz`: each backend's state, 503 `degraded` while one is down.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::{AppState, LimitStore};

pub(crate) async fn health(State(state): State<AppState>) -> Response {
    let mut healthy = true;
    let mut database = match state.db().ping().await {
        Ok(()) => json!({"ok": true, "kind": state.db().kind().name()}),
        Err(error) => {
            healthy = false;
            json!({"ok": false, "kind": state.db().kind().name(), "error": error.to_string()})
        }
    };
    database["breaker"] = state.db().breaker_report();
    let rate_limit = match &state.0.limit_store {
        LimitStore::Memory => json!({"ok": true, "store": "memory"}),
        LimitStore::Memcache => json!({"ok": true, "store": "memcache"}),
        LimitStore::Redis(connection) => {
            let mut connection = connection.clone();
            match redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
            {
                // Fail-open: the limiter admits requests while redis is down, so the service
                // is degraded rather than down.
                Ok(_) => json!({"ok": true, "store": "redis"}),
                Err(error) => {
                    healthy = false;
                    json!({"ok": false, "store": "redis", "error": error.to_string()})
                }
            }
        }
    };
    let cache = match &state.0.cache {
        Some(cache) => {
            let (ok, report) = cache.health().await;
            healthy &= ok;
            report
        }
        None => json!({"ok": true, "backend": "none"}),
    };
    let search = match &state.0.search {
        Some(search) => {
            let (ok, report) = search.health().await;
            healthy &= ok;
            report
        }
        None => json!({"ok": true, "configured": false}),
    };
    let (geo_ok, geo) = state.0.geo.health();
    healthy &= geo_ok;
    let down: Vec<&str> = [
        ("database", &database),
        ("rateLimit", &rate_limit),
        ("cache", &cache),
        ("search", &search),
        ("geoip", &geo),
    ]
    .into_iter()
    .filter(|(_, report)| report["ok"] == Value::Bool(false))
    .map(|(name, _)| name)
    .collect();
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "down": down,
        "backends": {
            "database": database,
            "rateLimit": rate_limit,
            "cache": cache,
            "search": search,
            "geoip": geo,
            "cloudfront": {"ok": true, "keyPairId": state.0.downloads.key_pair_id()},
        },
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}
