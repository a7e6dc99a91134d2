//! The multi-key commands of [`MemcacheCluster`]: keys grouped by node, one request or
//! pipeline per node, all nodes concurrently, and failures reported per node and per key
//! instead of failing the whole call.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use super::{DeleteMulti, GetMulti, Handle, MemcacheCluster, SetMulti};
use crate::cluster::NodeFailure;
use crate::error::Error;
use crate::metrics::{self, Command};
use crate::wire::{Connection, expiration};

/// Commands per pipeline round: a batch larger than this is sent in several rounds on the
/// same connection, so the replies never fill the socket buffers while the requests are
/// still being written.
const PIPELINE_CHUNK: usize = 512;

/// One node's share of a multi-key write: the positions of its keys and the keys as sent.
type NodeGroup = (Handle, Vec<usize>, Vec<String>);

impl MemcacheCluster {
    /// Fetches many keys: they are grouped by node and each node is asked once, all nodes
    /// concurrently. A node that fails fails only its own keys (listed in
    /// [`GetMulti::failed`]); the call itself fails only for an invalid key. A node that
    /// refuses the command (`SERVER_ERROR`) fails its keys without counting as a node failure.
    pub async fn get_multi<K: AsRef<str>>(&self, keys: &[K]) -> Result<GetMulti, Error> {
        // Per node, the keys as sent (with the prefix).
        let mut groups: Vec<(Handle, Vec<String>)> = Vec::new();
        let mut result = GetMulti::default();
        for key in keys {
            let key = key.as_ref();
            let wire = self.wire_key(key)?.into_owned();
            let handle = self.cluster.core.route(key.as_bytes())?;
            match groups.iter_mut().find(|(h, _)| Arc::ptr_eq(h, &handle)) {
                Some((_, group)) => group.push(wire),
                None => groups.push((handle, vec![wire])),
            }
        }
        // All nodes at once, in this task: no spawn, no cross-thread wake-ups.
        let core = &self.cluster.core;
        let outcomes = join_all(groups.into_iter().map(|(handle, group)| async move {
            let mut attempt = 0;
            loop {
                let outcome = core
                    .run_on(&handle, Command::GetMulti, metrics::ok, |timer| {
                        Self::with_connection(&handle, timer, async |connection| {
                            connection.retrieve("get", None, &group).await
                        })
                    })
                    .await;
                match outcome {
                    Err(error) if error.is_node_failure() && attempt < core.config.read_retries => {
                        attempt += 1;
                    }
                    other => return (handle, group, other),
                }
            }
        }))
        .await;
        for (handle, group, outcome) in outcomes {
            match outcome {
                Ok(found) => {
                    for key in &group {
                        if found.contains_key(key) {
                            handle.hit();
                        } else {
                            handle.miss();
                        }
                    }
                    let hits = found.len() as u64;
                    handle
                        .counters
                        .metrics
                        .multi_keys(hits, group.len() as u64 - hits);
                    result.found.extend(
                        found
                            .into_iter()
                            .map(|(key, value)| (self.user_key(key), value.data)),
                    );
                }
                Err(error) => result.failed.push(NodeFailure {
                    node: handle.node.clone(),
                    keys: group.into_iter().map(|key| self.user_key(key)).collect(),
                    error,
                }),
            }
        }
        Ok(result)
    }

    /// Groups `keys` by node: per node, the positions (in `keys`) and the keys as sent.
    fn group_by_node<K: AsRef<str>>(
        &self,
        keys: impl Iterator<Item = K>,
    ) -> Result<Vec<NodeGroup>, Error> {
        let mut groups: Vec<NodeGroup> = Vec::new();
        for (position, key) in keys.enumerate() {
            let key = key.as_ref();
            let wire = self.wire_key(key)?.into_owned();
            let handle = self.cluster.core.route(key.as_bytes())?;
            match groups.iter_mut().find(|(h, _, _)| Arc::ptr_eq(h, &handle)) {
                Some((_, positions, wires)) => {
                    positions.push(position);
                    wires.push(wire);
                }
                None => groups.push((handle, vec![position], vec![wire])),
            }
        }
        Ok(groups)
    }

    /// Runs one pipeline per node (all nodes concurrently, each in rounds of
    /// [`PIPELINE_CHUNK`] commands) and sorts each key's reply: `on_status(position, status)`
    /// for an allowed reply, a [`NodeFailure`] otherwise.
    async fn per_node_pipeline<K: AsRef<str>>(
        &self,
        keys: &[K],
        name: Command,
        send: impl AsyncFn(
            &mut Connection,
            &[usize],
            &[String],
        ) -> Result<Vec<Result<&'static str, Error>>, Error>,
        mut on_status: impl FnMut(usize, &'static str),
    ) -> Result<Vec<NodeFailure>, Error> {
        let groups = self.group_by_node(keys.iter())?;
        let core = &self.cluster.core;
        let send = &send;
        let outcomes = join_all(
            groups
                .into_iter()
                .map(|(handle, positions, wires)| async move {
                    let outcome = core
                        .run_on(&handle, name, metrics::ok, |timer| {
                            Self::with_connection(&handle, timer, async |connection| {
                                let mut replies = Vec::with_capacity(wires.len());
                                for (positions, wires) in positions
                                    .chunks(PIPELINE_CHUNK)
                                    .zip(wires.chunks(PIPELINE_CHUNK))
                                {
                                    let round = send(connection, positions, wires).await?;
                                    let refused = round.iter().any(Result::is_err);
                                    replies.extend(round);
                                    if refused {
                                        // The connection is closed; the later rounds are not sent.
                                        break;
                                    }
                                }
                                Ok(replies)
                            })
                        })
                        .await;
                    (handle, positions, outcome)
                }),
        )
        .await;
        let user_key = |position: usize| keys[position].as_ref().to_owned();
        let mut failed = Vec::new();
        for (handle, positions, outcome) in outcomes {
            match outcome {
                Ok(replies) => {
                    let mut replies = replies.into_iter();
                    for &position in &positions {
                        match replies.next() {
                            Some(Ok(status)) => on_status(position, status),
                            Some(Err(error)) => failed.push(NodeFailure {
                                node: handle.node.clone(),
                                keys: vec![user_key(position)],
                                error,
                            }),
                            None => failed.push(NodeFailure {
                                node: handle.node.clone(),
                                keys: vec![user_key(position)],
                                error: Error::Server {
                                    node: handle.node.clone(),
                                    message: "not sent: an earlier command of the same batch \
                                              was refused"
                                        .to_owned(),
                                },
                            }),
                        }
                    }
                }
                Err(error) => failed.push(NodeFailure {
                    node: handle.node.clone(),
                    keys: positions.into_iter().map(user_key).collect(),
                    error,
                }),
            }
        }
        Ok(failed)
    }

    /// Stores many items for `ttl`: grouped by node, one pipeline per node (every `set` of a
    /// node written in one send, the `STORED` replies read in order), all nodes
    /// concurrently. A node that fails fails only its own keys, and a key a node refuses
    /// (a value over its item size limit) fails alone with the keys sent after it on that
    /// node (see [`SetMulti::failed`]). The call itself fails only for an invalid key or TTL.
    /// Writes are not retried.
    pub async fn set_multi<K: AsRef<str>, V: AsRef<[u8]>>(
        &self,
        items: &[(K, V)],
        ttl: Duration,
    ) -> Result<SetMulti, Error> {
        let exptime = expiration(ttl)?;
        let keys: Vec<&str> = items.iter().map(|(key, _)| key.as_ref()).collect();
        let mut stored = Vec::with_capacity(items.len());
        let failed = self
            .per_node_pipeline(
                &keys,
                Command::SetMulti,
                async |connection, positions, wires| {
                    let round: Vec<(&str, &[u8])> = positions
                        .iter()
                        .zip(wires)
                        .map(|(&p, wire)| (wire.as_str(), items[p].1.as_ref()))
                        .collect();
                    connection.store_many("set", &round, 0, exptime).await
                },
                |position, status| {
                    if status == "STORED" {
                        stored.push(keys[position].to_owned());
                    }
                },
            )
            .await?;
        Ok(SetMulti { stored, failed })
    }

    /// Deletes many keys: grouped by node, one pipeline per node, all nodes concurrently;
    /// failures per node and per key as in [`set_multi`](Self::set_multi).
    pub async fn delete_multi<K: AsRef<str>>(&self, keys: &[K]) -> Result<DeleteMulti, Error> {
        let mut result = DeleteMulti::default();
        let (deleted, not_found) = (&mut result.deleted, &mut result.not_found);
        result.failed = self
            .per_node_pipeline(
                keys,
                Command::DeleteMulti,
                async |connection, _, wires| connection.delete_many(wires).await,
                |position, status| {
                    let key = keys[position].as_ref().to_owned();
                    if status == "DELETED" {
                        deleted.push(key);
                    } else {
                        not_found.push(key);
                    }
                },
            )
            .await?;
        Ok(result)
    }
}
