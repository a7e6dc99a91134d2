//! `/v2/assets`: list, show, create and update assets.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::Response;
use reel_jsonapi::axum::{JsonApiBody, JsonApiRequest, Negotiated};
use reel_jsonapi::de::{Create, Update};
use reel_jsonapi::query::QueryRules;
use reel_jsonapi::ser::Page;
use reel_jsonapi::{ErrorDocument, ErrorObject, collection, document};
use serde_json::Value;

use crate::db::db_error;
use crate::model::{Asset, AssetChanges, AssetInput};
use crate::params::{Shape, checked_query, without_page};
use crate::respond::{Geo, internal, respond, to_value};
use crate::viewer::Viewer;
use crate::{AppState, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

pub(super) fn not_found_asset(id: &str) -> ErrorDocument {
    ErrorObject::new(404, "Not Found")
        .with_detail(format!("there is no asset `{id}`"))
        .into()
}

pub(super) fn parse_id(id: &str) -> Result<i64, ErrorDocument> {
    id.parse().map_err(|_| not_found_asset(id))
}

pub(crate) async fn list_assets(
    State(state): State<AppState>,
    viewer: Viewer,
    _: Negotiated,
    rules: Option<Extension<QueryRules>>,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
) -> Result<Response, ErrorDocument> {
    let query = checked_query::<Asset>(&uri, rules.as_deref(), Shape::Collection)?;
    let base = state.base_url(&headers);
    let raw = uri.query().unwrap_or_default();
    state
        .cached_read(&["list", &base, raw, &viewer.key()], &geo, async || {
            let total = state.db().count_assets().await.map_err(db_error)?;
            let page = query.number_page(DEFAULT_PAGE_SIZE, Some(total.max(0) as u64))?;
            let Page::Number { number, size, .. } = page else {
                return Err(internal("number_page returned another kind of page"));
            };
            let size = size.clamp(1, MAX_PAGE_SIZE);
            let offset = (number - 1).saturating_mul(size).min(i64::MAX as u64) as i64;
            let assets = state
                .db()
                .list_assets(&query.sort, size as i64, offset)
                .await
                .map_err(db_error)?;
            let context = state.asset_context(&base, &viewer);
            let self_link = format!("{base}{uri}");
            let collection_url = format!("{base}/v2/assets{}", without_page(raw));
            let mut body = to_value(
                collection(&assets, &context)
                    .query(&query)
                    .paginate(&page, &collection_url)
                    .link("self", self_link.as_str())
                    .to_vec(),
            )?;
            // Past the last page, `prev` leads back to the last page (not to the requested
            // page minus one, which may be past the end too).
            let last = (total.max(0) as u64).div_ceil(size).max(1);
            if number > last
                && let Some(links) = body.get_mut("links").and_then(Value::as_object_mut)
                && let Some(Value::String(last_link)) = links.get("last").cloned()
            {
                links.insert("prev".into(), Value::String(last_link));
            }
            Ok(body)
        })
        .await
}

// One argument per axum extractor.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn show_asset(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    _: Negotiated,
    rules: Option<Extension<QueryRules>>,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
) -> Result<Response, ErrorDocument> {
    let query = checked_query::<Asset>(&uri, rules.as_deref(), Shape::Single)?;
    let asset_id = parse_id(&id)?;
    let base = state.base_url(&headers);
    let raw = uri.query().unwrap_or_default();
    state
        .cached_read(
            &["show", &base, &id, raw, &viewer.key()],
            &geo,
            async || {
                let asset = state
                    .db()
                    .asset(asset_id)
                    .await
                    .map_err(db_error)?
                    .ok_or_else(|| not_found_asset(&id))?;
                let context = state.asset_context(&base, &viewer);
                let self_link = format!("{base}{uri}");
                to_value(
                    document(&asset, &context)
                        .query(&query)
                        .link("self", self_link.as_str())
                        .to_vec(),
                )
            },
        )
        .await
}

/// 404 when the owner a request names does not exist (JSON:API: a reference to a related
/// resource that does not exist).
async fn check_owner(state: &AppState, changes: &AssetChanges) -> Result<(), ErrorDocument> {
    if let Some(owner) = changes.owner_id
        && !state.db().owner_exists(owner).await.map_err(db_error)?
    {
        return Err(ErrorObject::new(404, "Owner not found")
            .with_detail(format!("there is no owner `{owner}`"))
            .with_pointer("/data/relationships/owner/data")
            .into());
    }
    Ok(())
}

pub(crate) async fn create_asset(
    State(state): State<AppState>,
    viewer: Viewer,
    rules: Option<Extension<QueryRules>>,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
    JsonApiRequest(create): JsonApiRequest<Create<AssetInput>>,
) -> Result<Response, ErrorDocument> {
    let query = checked_query::<Asset>(&uri, rules.as_deref(), Shape::Single)?;
    let changes = create.resource.validate(None)?;
    check_owner(&state, &changes).await?;
    let id = state.db().insert_asset(&changes).await.map_err(db_error)?;
    let asset = state
        .db()
        .asset(id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| internal(format!("asset {id} vanished after its insert")))?;
    state.after_write(&asset).await;
    let base = state.base_url(&headers);
    let context = state.asset_context(&base, &viewer);
    let body = to_value(document(&asset, &context).query(&query).to_vec())?;
    let mut response = respond(201, body, "off", &geo);
    if let Ok(location) = HeaderValue::from_str(&format!("{base}/v2/assets/{id}")) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

// One argument per axum extractor.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn update_asset(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    rules: Option<Extension<QueryRules>>,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
    JsonApiBody(bytes, _): JsonApiBody,
) -> Result<Response, ErrorDocument> {
    let query = checked_query::<Asset>(&uri, rules.as_deref(), Shape::Single)?;
    let update = Update::<AssetInput>::from_slice(&bytes, Some(&id))?;
    let asset_id = parse_id(&id)?;
    let present = |name: &str| update.is_present(name);
    let changes = update
        .apply(AssetInput::default())?
        .validate(Some(&present))?;
    check_owner(&state, &changes).await?;
    if !state
        .db()
        .update_asset(asset_id, &changes)
        .await
        .map_err(db_error)?
    {
        return Err(not_found_asset(&id));
    }
    let asset = state
        .db()
        .asset(asset_id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| not_found_asset(&id))?;
    state.after_write(&asset).await;
    let base = state.base_url(&headers);
    let context = state.asset_context(&base, &viewer);
    let body = to_value(document(&asset, &context).query(&query).to_vec())?;
    Ok(respond(200, body, "off", &geo))
}
