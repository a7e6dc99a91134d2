//! `/v2/search?q=`: assets found by the search server, served from the database.

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use reel_jsonapi::axum::Negotiated;
use reel_jsonapi::query::percent_decode;
use reel_jsonapi::{ErrorDocument, ErrorObject, collection};

use crate::db::db_error;
use crate::respond::{Geo, respond, to_value};
use crate::search;
use crate::viewer::Viewer;
use crate::{AppState, DEFAULT_PAGE_SIZE};

pub(crate) async fn search_assets(
    State(state): State<AppState>,
    viewer: Viewer,
    _: Negotiated,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
) -> Result<Response, ErrorDocument> {
    let mut text = None;
    let mut errors = Vec::new();
    for pair in uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name);
        if name == "q" {
            text = Some(percent_decode(value));
        } else {
            errors.push(
                ErrorObject::new(400, "Unsupported query parameter")
                    .with_detail(format!("`{name}` is not supported here; use q"))
                    .with_parameter(name),
            );
        }
    }
    let text = text.map(|t| t.trim().to_owned()).unwrap_or_default();
    if text.is_empty() {
        errors.push(
            ErrorObject::new(400, "Missing search text")
                .with_detail("pass the text to search for as q, e.g. /v2/search?q=beach")
                .with_parameter("q"),
        );
    }
    if !errors.is_empty() {
        return Err(ErrorDocument::new(errors));
    }
    let Some(search) = &state.0.search else {
        return Err(ErrorObject::new(503, "Search is not configured")
            .with_detail("this server runs without a search server; set REEL_ES_URL to an Elasticsearch or OpenSearch URL and restart")
            .into());
    };
    if !search.is_ready() {
        return Err(search_unavailable(
            "the search index is being built; the search server was unreachable",
        ));
    }
    let (ids, total) = match search_once(search, &text).await? {
        Ok(found) => found,
        Err(error) if search::index_missing(&error) => {
            // Someone deleted the index: build it from the database and ask again.
            tracing::warn!(%error, "search index missing; rebuilding it from the database");
            let assets = state.db().all_assets().await.map_err(db_error)?;
            search.catch_up(assets).await.map_err(|problem| {
                search_unavailable(&format!(
                    "the index was missing and could not be rebuilt: {problem}"
                ))
            })?;
            search_once(search, &text).await?.map_err(search_failed)?
        }
        Err(error) => {
            if matches!(error, reel_search::Error::Transport(_)) {
                // The server may have restarted without its index: check and catch up.
                search.fell_behind(error.to_string());
            }
            return Err(search_failed(error));
        }
    };
    let assets = state.db().assets_by_ids(&ids).await.map_err(db_error)?;
    let base = state.base_url(&headers);
    let context = state.asset_context(&base, &viewer);
    let self_link = format!("{base}{uri}");
    let body = to_value(
        collection(&assets, &context)
            .link("self", self_link.as_str())
            .meta("total", total)
            .meta("q", text)
            .to_vec(),
    )?;
    Ok(respond(200, body, "off", &geo))
}

/// One search, given up after [`search::SEARCH_TIMEOUT`] with a 503 (the outer `Err`): a
/// server that stops answering costs a request one second, not the client's minute.
async fn search_once(
    search: &search::AssetSearch,
    text: &str,
) -> Result<Result<(Vec<i64>, u64), reel_search::Error>, ErrorDocument> {
    tokio::time::timeout(
        search::SEARCH_TIMEOUT,
        search.search(text, DEFAULT_PAGE_SIZE),
    )
    .await
    .map_err(|_| {
        let problem = format!(
            "the search server did not answer within {} ms",
            search::SEARCH_TIMEOUT.as_millis()
        );
        search.fell_behind(problem.clone());
        search_unavailable(&problem)
    })
}

/// A 503 document for a search that cannot be served now (`Retry-After` is added by
/// [`country_on_errors`](crate::respond::country_on_errors) to every 503).
fn search_unavailable(detail: &str) -> ErrorDocument {
    ErrorObject::new(503, "Search unavailable")
        .with_detail(format!("{detail}; try again shortly"))
        .into()
}

/// A document saying what the search server did: a 503 when it did not answer (try again
/// later), a 502 with its error when it answered one.
fn search_failed(error: reel_search::Error) -> ErrorDocument {
    // While the breaker is open every search fails at once: the breaker logged its opening
    // (a warning from reel_search), so each refused search is only a debug line, not an
    // error line per request drowning the log during an outage.
    if matches!(error, reel_search::Error::CircuitOpen { .. }) {
        tracing::debug!(%error, "search refused by the open circuit breaker");
    } else {
        tracing::error!(%error, "search failed");
    }
    match &error {
        reel_search::Error::Transport(_) => {
            search_unavailable("the search server did not answer; check that it runs (REEL_ES_URL)")
        }
        reel_search::Error::CircuitOpen { .. } => search_unavailable(
            "the search server failed repeatedly; searches are paused until a probe succeeds",
        ),
        reel_search::Error::Api {
            status,
            kind,
            reason,
            ..
        } => ErrorObject::new(502, "Search failed")
            .with_detail(format!(
                "the search server answered {status} ({kind}): {reason}"
            ))
            .into(),
        other => ErrorObject::new(502, "Search failed")
            .with_detail(format!("the search failed: {other}"))
            .into(),
    }
}
