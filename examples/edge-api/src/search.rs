//! Full-text search over assets through reel-search: a versioned index behind an alias,
//! created or migrated at start-up by `ensure_current` and kept in sync on writes.

use reel_search::{Document, Outcome, Query, Repo, SearchRequest, VersionedIndex};
use serde_json::{Value, json};

use crate::model::{Asset, AssetDoc};

#[derive(Debug, Clone)]
pub(crate) struct AssetSearch {
    index: VersionedIndex<AssetDoc>,
}

impl AssetSearch {
    /// Connects, and builds or migrates the index from `assets` when its mapping changed.
    pub(crate) async fn start(
        url: &str,
        alias: &str,
        assets: Vec<Asset>,
    ) -> Result<Self, crate::StartError> {
        let fail = |e: reel_search::Error| crate::StartError::Search(format!("{url}: {e}"));
        let repo = Repo::connect(url).map_err(fail)?;
        let index = VersionedIndex::with_definition(repo, AssetDoc::definition().with_name(alias));
        let docs = assets
            .iter()
            .map(AssetDoc::from)
            .map(Ok::<_, std::io::Error>);
        match index
            .ensure_current(futures::stream::iter(docs.collect::<Vec<_>>()))
            .await
            .map_err(fail)?
        {
            Outcome::UpToDate { index } => tracing::info!(%index, "search index is current"),
            Outcome::Migrated {
                from, to, report, ..
            } => {
                tracing::info!(?from, %to, ?report, "search index built")
            }
            other => tracing::info!(?other, "search index ready"),
        }
        Ok(Self { index })
    }

    /// Builds the index again from `assets` (after it was deleted behind the API's back).
    pub(crate) async fn rebuild(&self, assets: Vec<Asset>) -> Result<(), reel_search::Error> {
        let docs: Vec<_> = assets
            .iter()
            .map(AssetDoc::from)
            .map(Ok::<_, std::io::Error>)
            .collect();
        let outcome = self
            .index
            .ensure_current(futures::stream::iter(docs))
            .await?;
        tracing::info!(?outcome, "search index rebuilt");
        Ok(())
    }

    /// Writes `asset` to every index behind the write alias and refreshes, so the API reads
    /// its own writes (a demo's choice; a busy service would let the refresh interval do it).
    pub(crate) async fn sync(&self, asset: &Asset) -> Result<(), reel_search::Error> {
        self.index.index(&AssetDoc::from(asset)).await?;
        self.index.repo().refresh(self.index.alias()).await
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

    pub(crate) async fn health(&self) -> (bool, Value) {
        match self.index.current_index().await {
            Ok(target) => (
                target.is_some(),
                json!({"ok": target.is_some(), "alias": self.index.alias(), "target": target}),
            ),
            Err(error) => (
                false,
                json!({"ok": false, "alias": self.index.alias(), "error": error.to_string()}),
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
