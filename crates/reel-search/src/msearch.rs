//! `_msearch`: many typed searches in one round trip, each with its own result.

use bytes::Bytes;
use elasticsearch::http::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::repo::{api_error, decode};
use crate::{Error, Repo, SearchRequest, SearchResponse};

#[derive(Deserialize)]
struct MultiResponse {
    responses: Vec<Value>,
}

impl Repo {
    /// Runs several searches in one `_msearch` request and decodes each item's hits as `T`
    /// (use `serde_json::Value` for indices of different models).
    ///
    /// The outer `Result` fails when the request as a whole does (unreachable cluster, a
    /// malformed body); each item is its own `Result`, in the order given, so one failing
    /// search (a missing index, a bad query, a document that does not decode as `T`) is an
    /// error for that item only.
    ///
    /// ```no_run
    /// # async fn run(repo: reel_search::Repo) -> Result<(), reel_search::Error> {
    /// use reel_search::{Query, SearchRequest};
    ///
    /// let results = repo
    ///     .msearch::<serde_json::Value, _>(&[
    ///         ("assets", SearchRequest::new().query(Query::matches("title", "beach"))),
    ///         ("assets", SearchRequest::new().size(0).track_total_hits(true)),
    ///     ])
    ///     .await?;
    /// for result in results {
    ///     match result {
    ///         Ok(found) => println!("{} hits", found.hits.hits.len()),
    ///         Err(error) => eprintln!("this search failed: {error}"),
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn msearch<T: DeserializeOwned, I: AsRef<str>>(
        &self,
        searches: &[(I, SearchRequest)],
    ) -> Result<Vec<Result<SearchResponse<T>, Error>>, Error> {
        if searches.is_empty() {
            return Ok(Vec::new());
        }
        let mut body = Vec::new();
        for (index, request) in searches {
            serde_json::to_writer(&mut body, &json!({ "index": index.as_ref() }))?;
            body.push(b'\n');
            serde_json::to_writer(&mut body, request)?;
            body.push(b'\n');
        }
        let operation = format!("msearch of {} searches", searches.len());
        let (status, bytes) = self
            .send(
                &operation,
                Method::Post,
                "/_msearch",
                &[],
                Some(Bytes::from(body)),
            )
            .await?;
        if !(200..300).contains(&status) {
            return Err(api_error(&operation, status, &bytes));
        }
        let response: MultiResponse = decode(&operation, &bytes)?;
        if response.responses.len() != searches.len() {
            return Err(Error::Decode {
                what: format!("the answer to {operation}"),
                reason: format!(
                    "{} responses for {} searches",
                    response.responses.len(),
                    searches.len()
                ),
            });
        }
        Ok(response
            .responses
            .into_iter()
            .zip(searches)
            .enumerate()
            .map(|(i, (item, (index, _)))| {
                let what = format!("msearch item {i} (search {})", index.as_ref());
                decode_item(&what, item)
            })
            .collect())
    }
}

fn decode_item<T: DeserializeOwned>(what: &str, item: Value) -> Result<SearchResponse<T>, Error> {
    let status = item
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200);
    if let Some(error) = item.get("error") {
        let (kind, reason) = crate::api_error::kind_and_reason(error);
        return Err(Error::Api {
            operation: what.to_owned(),
            status: if status < 400 { 500 } else { status },
            kind,
            reason,
        });
    }
    SearchResponse::<T>::deserialize(item).map_err(|e| Error::Decode {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}
