//! `search_after` pagination in a stable order, over a point in time where the server has one.

use bytes::Bytes;
use elasticsearch::http::Method;
use futures::stream::{self, BoxStream, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::repo::{api_error, decode, encode};
use crate::{Error, Hit, Repo, SearchRequest, SearchResponse, Sort, Total};

/// The point-in-time API a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PitFlavor {
    /// `POST /{index}/_pit`, `DELETE /_pit`.
    Elasticsearch,
    /// `POST /{index}/_search/point_in_time`, `DELETE /_search/point_in_time`.
    OpenSearch,
}

/// Opens a point in time on `index`: `None` when the server has no point-in-time API, an
/// error when the index does not exist.
pub(crate) async fn open_pit(
    repo: &Repo,
    index: &str,
    keep_alive: &str,
) -> Result<Option<(PitFlavor, String)>, Error> {
    let index = encode(index);
    for (flavor, path, key) in [
        (PitFlavor::Elasticsearch, format!("/{index}/_pit"), "id"),
        (
            PitFlavor::OpenSearch,
            format!("/{index}/_search/point_in_time"),
            "pit_id",
        ),
    ] {
        let (status, bytes) = repo
            .send(
                "open point in time",
                Method::Post,
                &path,
                &[("keep_alive", keep_alive.into())],
                None,
            )
            .await?;
        if (200..300).contains(&status) {
            let v: Value = decode("open point in time", &bytes)?;
            if let Some(id) = v.get(key).and_then(Value::as_str) {
                return Ok(Some((flavor, id.to_owned())));
            }
        } else if status == 404 && String::from_utf8_lossy(&bytes).contains("index_not_found") {
            return Err(api_error("open point in time", status, &bytes));
        }
    }
    Ok(None)
}

/// Closes a point in time.
pub(crate) async fn close_pit(
    repo: &Repo,
    flavor: PitFlavor,
    id: String,
) -> Result<(u16, Bytes), Error> {
    let (path, body) = match flavor {
        PitFlavor::Elasticsearch => ("/_pit", json!({ "id": id })),
        PitFlavor::OpenSearch => ("/_search/point_in_time", json!({ "pit_id": [id] })),
    };
    repo.send_json(
        "close point in time",
        Method::Delete,
        path,
        &[],
        Some(&body),
    )
    .await
}

/// How [`Repo::pages`] and [`Repo::page`] page: the page size, the tiebreaker that makes the
/// order total, where to start, and whether to hold a point in time.
///
/// ```
/// use reel_search::Paging;
///
/// let paging = Paging::new(50, "id").keep_alive("1m");
/// // Resume after a cursor a client sent back (`Page::next` of an earlier page):
/// let resumed = Paging::new(50, "id").after(vec![serde_json::json!(17), "a17".into()]);
/// # let _ = (paging, resumed);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Paging {
    size: u64,
    tiebreaker: String,
    after: Option<Vec<Value>>,
    point_in_time: bool,
    keep_alive: String,
}

impl Paging {
    /// Pages of `size` hits, ordered by the request's sort clauses and then by `tiebreaker`:
    /// a field with a unique, sortable value per document (a `keyword` id, not `_id`, which
    /// Elasticsearch 8+ does not sort on by default). Without it, hits with equal sort values
    /// can repeat or vanish between pages.
    pub fn new(size: u64, tiebreaker: impl AsRef<str>) -> Self {
        Self {
            size: size.max(1),
            tiebreaker: tiebreaker.as_ref().to_owned(),
            after: None,
            point_in_time: true,
            keep_alive: "2m".to_owned(),
        }
    }
    /// Start after this cursor ([`Page::next`] of an earlier page).
    pub fn after(mut self, cursor: Vec<Value>) -> Self {
        self.after = Some(cursor);
        self
    }
    /// Page the live index instead of a point in time: each page sees the writes made since the
    /// previous one (the order stays stable, the snapshot does not).
    pub fn without_point_in_time(mut self) -> Self {
        self.point_in_time = false;
        self
    }
    /// How long the point in time lives between two pages (default `2m`).
    pub fn keep_alive(mut self, keep_alive: &str) -> Self {
        keep_alive.clone_into(&mut self.keep_alive);
        self
    }

    fn request(&self, request: &SearchRequest) -> SearchRequest {
        let mut request = request.clone().size(self.size);
        if !request.sorts_on(&self.tiebreaker) {
            request = request.sort(Sort::asc(&self.tiebreaker));
        }
        request
    }
}

/// One page of [`Repo::pages`] or [`Repo::page`].
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The hits, in order.
    pub hits: Vec<Hit<T>>,
    /// The total of the search (as the request's `track_total_hits` asks).
    pub total: Option<Total>,
    /// The cursor of the next page (the last hit's sort values); `None` on a page that was not
    /// full, the last one. Hand it to a client and resume with [`Paging::after`].
    pub next: Option<Vec<Value>>,
}

impl<T> Page<T> {
    fn from_response(response: SearchResponse<T>, size: u64) -> Result<Self, Error> {
        let hits = response.hits.hits;
        let next = match hits.last() {
            Some(last) if hits.len() as u64 >= size => {
                if last.sort.is_empty() {
                    return Err(Error::Decode {
                        what: "a search_after page".into(),
                        reason: "its hits carry no sort values to continue from".into(),
                    });
                }
                Some(last.sort.clone())
            }
            _ => None,
        };
        Ok(Self {
            hits,
            total: response.hits.total,
            next,
        })
    }
}

struct PageState {
    repo: Repo,
    index: String,
    request: SearchRequest,
    paging: Paging,
    pit: Option<(PitFlavor, String)>,
    started: bool,
    done: bool,
}

/// A stream dropped before its end releases its point in time at once.
impl Drop for PageState {
    fn drop(&mut self) {
        if let Some((flavor, id)) = self.pit.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let repo = self.repo.clone();
            runtime.spawn(async move {
                if let Err(error) = close_pit(&repo, flavor, id).await {
                    tracing::debug!(%error, "could not close the point in time");
                }
            });
        }
    }
}

impl PageState {
    async fn next_page<T: DeserializeOwned>(&mut self) -> Result<Option<Page<T>>, Error> {
        if self.done {
            return Ok(None);
        }
        if !self.started {
            self.started = true;
            if self.paging.point_in_time {
                self.pit = open_pit(&self.repo, &self.index, &self.paging.keep_alive).await?;
            }
        }
        let mut request = self.request.clone();
        if let Some(after) = &self.paging.after {
            request = request.search_after(after.clone());
        }
        let response: SearchResponse<T> = match &self.pit {
            Some((_, id)) => {
                request = request.pit(id.clone(), &self.paging.keep_alive);
                let op = format!("search_after page of {} (point in time)", self.index);
                let body = request.to_value();
                self.repo
                    .call(&op, Method::Post, "/_search", &[], Some(&body))
                    .await?
            }
            None => {
                let op = format!("search_after page of {}", self.index);
                let path = format!("/{}/_search", encode(&self.index));
                let body = request.to_value();
                self.repo
                    .call(&op, Method::Post, &path, &[], Some(&body))
                    .await?
            }
        };
        if let (Some((_, id)), Some(new_id)) = (&mut self.pit, &response.pit_id) {
            new_id.clone_into(id);
        }
        let page = Page::from_response(response, self.paging.size)?;
        match &page.next {
            Some(next) => self.paging.after = Some(next.clone()),
            None => {
                self.done = true;
                if let Some((flavor, id)) = self.pit.take()
                    && let Err(error) = close_pit(&self.repo, flavor, id).await
                {
                    tracing::debug!(%error, "could not close the point in time");
                }
            }
        }
        if page.hits.is_empty() {
            return Ok(None);
        }
        Ok(Some(page))
    }
}

impl Repo {
    /// Pages through every hit of `request` with `search_after`, in the request's sort order
    /// completed by the [`Paging`] tiebreaker, over one point in time where the server has one
    /// (Elasticsearch `_pit`, OpenSearch `point_in_time`; a consistent snapshot), the live
    /// index otherwise. Yields non-empty pages; an error ends the stream. Dropping the stream
    /// early closes the point in time.
    ///
    /// Unlike [`scan`](Self::scan), which streams hits in index order, the pages keep the
    /// request's order (by `_score` first: add `Sort::desc("_score")`) and carry a cursor.
    ///
    /// ```no_run
    /// # async fn run(repo: reel_search::Repo) -> Result<(), reel_search::Error> {
    /// use futures::TryStreamExt;
    /// use reel_search::{Paging, Query, SearchRequest, Sort};
    ///
    /// let request = SearchRequest::new()
    ///     .query(Query::matches("title", "beach"))
    ///     .sort(Sort::desc("created_at"));
    /// let mut pages = repo.pages::<serde_json::Value>("assets", request, Paging::new(100, "id"));
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("{} hits, next cursor {:?}", page.hits.len(), page.next);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn pages<T: DeserializeOwned + Send + 'static>(
        &self,
        index: &str,
        request: SearchRequest,
        paging: Paging,
    ) -> BoxStream<'static, Result<Page<T>, Error>> {
        let state = PageState {
            repo: self.clone(),
            index: index.to_owned(),
            request: paging.request(&request),
            paging,
            pit: None,
            started: false,
            done: false,
        };
        stream::try_unfold(state, |mut state| async move {
            Ok(state.next_page::<T>().await?.map(|page| (page, state)))
        })
        .boxed()
    }

    /// One page of `request` on the live index, after [`Paging::after`] (the first page
    /// without it): the stateless form of [`pages`](Self::pages) for an API that hands the
    /// cursor ([`Page::next`]) to its clients.
    pub async fn page<T: DeserializeOwned>(
        &self,
        index: &str,
        request: &SearchRequest,
        paging: &Paging,
    ) -> Result<Page<T>, Error> {
        let mut request = paging.request(request);
        if let Some(after) = &paging.after {
            request = request.search_after(after.clone());
        }
        let response = self.search::<T>(index, &request).await?;
        Page::from_response(response, paging.size)
    }
}
