//! `/v2/owners/{id}` and an asset's owner (its related resource and its linkage).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use reel_jsonapi::axum::Negotiated;
use reel_jsonapi::{Context, ErrorDocument, ErrorObject, document};
use serde_json::json;

use super::assets::{not_found_asset, parse_id};
use crate::AppState;
use crate::db::db_error;
use crate::model::Owner;
use crate::params::{Shape, checked_query};
use crate::respond::{Geo, respond, to_value};

/// The related-resource link of an asset's owner (`relationships.owner.links.related`).
pub(crate) async fn asset_owner(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: Negotiated,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
) -> Result<Response, ErrorDocument> {
    let query = checked_query::<Owner>(&uri, None, Shape::Single)?;
    let asset = state
        .db()
        .asset(parse_id(&id)?)
        .await
        .map_err(db_error)?
        .ok_or_else(|| not_found_asset(&id))?;
    let base = state.base_url(&headers);
    let context = Context::empty().with_base_url(format!("{base}/v2"));
    let self_link = format!("{base}{uri}");
    let body = to_value(
        document(&asset.owner, &context)
            .query(&query)
            .link("self", self_link.as_str())
            .to_vec(),
    )?;
    Ok(respond(200, body, "off", &geo))
}

/// The relationship link of an asset's owner: its linkage.
pub(crate) async fn asset_owner_linkage(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: Negotiated,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
) -> Result<Response, ErrorDocument> {
    checked_query::<Owner>(&uri, None, Shape::Linkage)?;
    let asset = state
        .db()
        .asset(parse_id(&id)?)
        .await
        .map_err(db_error)?
        .ok_or_else(|| not_found_asset(&id))?;
    let base = state.base_url(&headers);
    let body = json!({
        "links": {
            "self": format!("{base}/v2/assets/{id}/relationships/owner"),
            "related": format!("{base}/v2/assets/{id}/owner"),
        },
        "data": {"type": "owners", "id": asset.owner.id.to_string()},
    });
    Ok(respond(200, body, "off", &geo))
}

pub(crate) async fn show_owner(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: Negotiated,
    uri: Uri,
    headers: HeaderMap,
    geo: Geo,
) -> Result<Response, ErrorDocument> {
    let missing = || {
        ErrorDocument::from(
            ErrorObject::new(404, "Not Found").with_detail(format!("there is no owner `{id}`")),
        )
    };
    let query = checked_query::<Owner>(&uri, None, Shape::Single)?;
    let owner_id: i64 = id.parse().map_err(|_| missing())?;
    let owner = state
        .db()
        .owner(owner_id)
        .await
        .map_err(db_error)?
        .ok_or_else(missing)?;
    let base = state.base_url(&headers);
    let context = Context::empty().with_base_url(format!("{base}/v2"));
    let self_link = format!("{base}{uri}");
    let body = to_value(
        document(&owner, &context)
            .query(&query)
            .link("self", self_link.as_str())
            .to_vec(),
    )?;
    Ok(respond(200, body, "off", &geo))
}
