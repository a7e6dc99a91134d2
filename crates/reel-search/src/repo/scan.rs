//! Scans: every hit of a search streamed a page at a time, over a point in time or a scroll.
use std::collections::VecDeque;

use elasticsearch::http::Method;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Repo, encode};
use crate::pages::PitFlavor;
use crate::{Error, Hit, SearchRequest, SearchResponse};

impl Repo {
    /// Streams every hit of `request` on `index`, `page_size` at a time: a point in time with
    /// `search_after` where the server supports it (Elasticsearch `_pit`, OpenSearch
    /// `point_in_time`), otherwise a scroll. Memory is bounded by one page.
    pub fn scan<T: DeserializeOwned + Send + 'static>(
        &self,
        index: &str,
        request: SearchRequest,
        page_size: u64,
    ) -> BoxStream<'static, Result<Hit<T>, Error>> {
        self.scan_from(index, request, page_size, ScanMode::Start)
    }

    /// Like [`scan`](Self::scan) but always with a scroll (for servers or proxies that
    /// refuse point-in-time requests).
    pub fn scroll<T: DeserializeOwned + Send + 'static>(
        &self,
        index: &str,
        request: SearchRequest,
        page_size: u64,
    ) -> BoxStream<'static, Result<Hit<T>, Error>> {
        self.scan_from(
            index,
            request,
            page_size,
            ScanMode::Scroll { id: String::new() },
        )
    }

    fn scan_from<T: DeserializeOwned + Send + 'static>(
        &self,
        index: &str,
        request: SearchRequest,
        page_size: u64,
        mode: ScanMode,
    ) -> BoxStream<'static, Result<Hit<T>, Error>> {
        let state = Scan {
            repo: self.clone(),
            index: index.to_owned(),
            request,
            page_size: page_size.max(1),
            mode,
        };
        stream::try_unfold(state, |mut state| async move {
            match state.next_page::<T>().await? {
                Some(page) => Ok::<_, Error>(Some((
                    stream::iter(page.into_iter().map(Ok::<Hit<T>, Error>)),
                    state,
                ))),
                None => Ok(None),
            }
        })
        .try_flatten()
        .boxed()
    }
}

#[derive(Debug)]
enum ScanMode {
    Start,
    Pit {
        flavor: PitFlavor,
        id: String,
        after: Option<Vec<Value>>,
    },
    Scroll {
        id: String,
    },
    Done,
}

struct Scan {
    repo: Repo,
    index: String,
    request: SearchRequest,
    page_size: u64,
    mode: ScanMode,
}

const KEEP_ALIVE: &str = "2m";

/// A scan dropped before its end (the caller stopped reading) releases its context at once,
/// on the runtime it ran on.
impl Drop for Scan {
    fn drop(&mut self) {
        if matches!(self.mode, ScanMode::Done | ScanMode::Start) {
            return;
        }
        let mode = std::mem::replace(&mut self.mode, ScanMode::Done);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let repo = self.repo.clone();
            runtime.spawn(async move { release(&repo, mode).await });
        }
    }
}

/// Releases a scan's point in time or scroll (best effort: the server expires it after
/// `KEEP_ALIVE` anyway).
async fn release(repo: &Repo, mode: ScanMode) {
    let result = match mode {
        ScanMode::Pit { flavor, id, .. } => crate::pages::close_pit(repo, flavor, id).await,
        ScanMode::Scroll { id } if !id.is_empty() => {
            repo.send_json(
                "clear scroll",
                Method::Delete,
                "/_search/scroll",
                &[],
                Some(&json!({ "scroll_id": [id] })),
            )
            .await
        }
        _ => return,
    };
    if let Err(error) = result {
        // The server expires it anyway after KEEP_ALIVE.
        tracing::debug!(%error, "could not release the scan context");
    }
}

impl Scan {
    async fn open_pit(&self) -> Result<Option<(PitFlavor, String)>, Error> {
        crate::pages::open_pit(&self.repo, &self.index, KEEP_ALIVE).await
    }

    async fn close(&mut self) {
        let mode = std::mem::replace(&mut self.mode, ScanMode::Done);
        release(&self.repo, mode).await;
    }

    async fn next_page<T: DeserializeOwned>(&mut self) -> Result<Option<VecDeque<Hit<T>>>, Error> {
        if matches!(self.mode, ScanMode::Start) {
            self.mode = match self.open_pit().await? {
                Some((flavor, id)) => ScanMode::Pit {
                    flavor,
                    id,
                    after: None,
                },
                None => ScanMode::Scroll { id: String::new() },
            };
        }
        let response: SearchResponse<T> = match &self.mode {
            ScanMode::Done | ScanMode::Start => return Ok(None),
            ScanMode::Pit { id, after, .. } => {
                let mut req = self
                    .request
                    .clone()
                    .size(self.page_size)
                    .pit(id, KEEP_ALIVE);
                if !req.has_sort() {
                    req = req.sort(crate::Sort::asc("_doc"));
                }
                if let Some(after) = after {
                    req = req.search_after(after.clone());
                }
                self.repo
                    .call(
                        "scan (point in time)",
                        Method::Post,
                        "/_search",
                        &[],
                        Some(&req.to_value()),
                    )
                    .await?
            }
            ScanMode::Scroll { id } if id.is_empty() => {
                let mut req = self.request.clone().size(self.page_size);
                if !req.has_sort() {
                    req = req.sort(crate::Sort::asc("_doc"));
                }
                self.repo
                    .call(
                        "scan (scroll)",
                        Method::Post,
                        &format!("/{}/_search", encode(&self.index)),
                        &[("scroll", KEEP_ALIVE.into())],
                        Some(&req.to_value()),
                    )
                    .await?
            }
            ScanMode::Scroll { id } => {
                self.repo
                    .call(
                        "scan (scroll)",
                        Method::Post,
                        "/_search/scroll",
                        &[],
                        Some(&json!({"scroll": KEEP_ALIVE, "scroll_id": id})),
                    )
                    .await?
            }
        };
        let hits: VecDeque<Hit<T>> = response.hits.hits.into();
        if hits.is_empty() {
            self.close().await;
            return Ok(None);
        }
        let last_sort = hits.back().map(|h| h.sort.clone()).unwrap_or_default();
        match &mut self.mode {
            ScanMode::Pit { id, after, .. } => {
                if last_sort.is_empty() {
                    return Err(Error::Decode {
                        what: "scan page".into(),
                        reason: "hits carry no sort values to continue from".into(),
                    });
                }
                *after = Some(last_sort);
                if let Some(new_id) = response.pit_id {
                    *id = new_id;
                }
            }
            ScanMode::Scroll { id } => match response.scroll_id {
                Some(new_id) => *id = new_id,
                None => {
                    return Err(Error::Decode {
                        what: "scroll page".into(),
                        reason: "no _scroll_id in the response".into(),
                    });
                }
            },
            _ => {}
        }
        Ok(Some(hits))
    }
}
