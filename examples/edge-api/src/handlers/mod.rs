//! The route handlers, one module per resource.

mod assets;
mod health;
mod owners;
mod search;

pub(crate) use assets::{create_asset, list_assets, show_asset, update_asset};
pub(crate) use health::health;
pub(crate) use owners::{asset_owner, asset_owner_linkage, show_owner};
pub(crate) use search::search_assets;
