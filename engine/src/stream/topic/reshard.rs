//! Resharding, as Kinesis does it: `UpdateShardCount` (uniform scaling), `SplitShard` and
//! `MergeShards` close parent shards and open child shards with new hash key ranges.
//!
//! A closed shard takes no more records and keeps what it holds until retention drops
//! it; new records of a key go to the open shard whose range holds the key's hash. A
//! reader finishes a parent before it reads the parent's children, so the records of a
//! key are read in the order they were put across a reshard (the Kinesis Client Library
//! and Lambda's event source mappings read shards in this order). New shards are numbered
//! after the existing ones, as Kinesis numbers them (`shardId-000000000002`, …).
//!
//! A reader of one shard (a Lambda's per-shard poller) takes the children of the shards it
//! read: each child goes to the poller of one of its parents with the fewest open shards.
//! It reads a child once every parent is read to its end by this reader and handled by
//! the poller that read it, so the last batch of a parent is handled before the first
//! of its child.

use super::{Inner, Shard, Topic, hash_key_range};
use crate::error::{Error, Result};

/// How [`super::Producer::put`]'s error begins when a shard closed under the put.
const CLOSED: &str = "resharded:";

/// The error of a put into a shard that resharding closed meanwhile.
pub(super) fn closed_shard(stream: &str, shard: usize) -> Error {
    Error::Invalid(format!(
        "{CLOSED} shard {shard} of stream '{stream}' was closed by resharding"
    ))
}

/// Whether a put failed because resharding closed its shard meanwhile: the caller routes
/// the records again.
pub fn is_closed_shard(e: &Error) -> bool {
    matches!(e, Error::Invalid(m) if m.starts_with(CLOSED))
}

/// A change to a stream's shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reshard {
    /// `UpdateShardCount` with `UNIFORM_SCALING`: this many open shards with even hash
    /// key ranges; every open shard closes, and each new one's parents are the closed
    /// shards whose ranges overlap its own.
    UniformScaling(usize),
    /// `SplitShard`: `shard` becomes two children, the second taking hash keys from `at`.
    Split {
        /// The shard to split.
        shard: usize,
        /// `NewStartingHashKey`.
        at: u128,
    },
    /// `MergeShards`: two adjacent shards become one.
    Merge {
        /// `ShardToMerge`.
        shard: usize,
        /// `AdjacentShardToMerge`.
        adjacent: usize,
    },
}

/// A shard resharding opens: its hash key range and its parents.
type Child = ((u128, u128), Vec<usize>);

/// One shard, as `ListShards` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    /// Its index (`shardId-<index>`).
    pub index: usize,
    /// The first and last hash key it takes (took, once closed).
    pub range: (u128, u128),
    /// The shards it was split or merged from.
    pub parents: Vec<usize>,
    /// Closed by resharding.
    pub closed: bool,
    /// The first sequence number retained, and the next one (its end, once closed).
    pub bounds: (u64, u64),
}

impl Topic {
    /// Every shard, open and closed, in index order.
    pub fn shards(&self) -> Vec<ShardInfo> {
        self.lock()
            .shards
            .iter()
            .enumerate()
            .map(|(index, s)| ShardInfo {
                index,
                range: s.range,
                parents: s.parents.clone(),
                closed: s.is_closed(),
                bounds: (s.trim_horizon(), s.next_seq),
            })
            .collect()
    }

    /// `UpdateShardCount`'s quota, with AWS realism: "You can't scale more than ten times
    /// per rolling 24-hour period per stream" (UpdateShardCount, Kinesis API Reference).
    /// Counts one scaling now, or says why it may not happen (without write limits, no
    /// quota is kept).
    pub fn count_scaling(&self) -> std::result::Result<(), String> {
        const PER_DAY: usize = 10;
        let mut inner = self.lock();
        if inner.budgets.is_none() {
            return Ok(());
        }
        let day = std::time::Duration::from_secs(24 * 3600);
        let now = self.clock.instant();
        inner
            .scalings
            .retain(|t| now.saturating_duration_since(*t) < day);
        if inner.scalings.len() >= PER_DAY {
            return Err(format!(
                "UpdateShardCount cannot scale stream {} more than {PER_DAY} times in a rolling 24-hour period",
                self.name
            ));
        }
        inner.scalings.push(now);
        Ok(())
    }

    /// Whether the shards changed since the topic was made.
    pub fn is_resharded(&self) -> bool {
        self.lock().router.is_some()
    }

    /// How many shards are open.
    pub fn open_shard_count(&self) -> usize {
        self.lock().shards.iter().filter(|s| !s.is_closed()).count()
    }

    /// The open shard that takes hash key `hash` now.
    pub fn route_hash(&self, hash: u128) -> usize {
        self.lock().route(hash)
    }

    /// Changes the shards; returns the shards it opened (none when nothing changes).
    pub fn reshard(&self, change: Reshard) -> Result<Vec<usize>> {
        let mut inner = self.lock();
        if inner.durable.is_some() {
            return Err(Error::Invalid(format!(
                "stream '{}' keeps its records on disk (durable), and a durable stream is not resharded; run it with durable off to reshard it",
                self.name
            )));
        }
        let mut open: Vec<(u128, u128, usize)> = inner
            .shards
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_closed())
            .map(|(i, s)| (s.range.0, s.range.1, i))
            .collect();
        open.sort_unstable();
        let is_open = |shard: usize| open.iter().find(|o| o.2 == shard).copied();
        let (close, children): (Vec<usize>, Vec<Child>) = match change {
            Reshard::UniformScaling(n) => {
                if n == 0 {
                    return Err(Error::Invalid(
                        "a stream needs at least one shard".to_owned(),
                    ));
                }
                let even = (0..n).map(|i| hash_key_range(i, n));
                if open.len() == n && open.iter().map(|o| (o.0, o.1)).eq(even.clone()) {
                    return Ok(Vec::new());
                }
                let children = even
                    .map(|(start, end)| {
                        let parents = open
                            .iter()
                            .filter(|o| o.0 <= end && start <= o.1)
                            .map(|o| o.2)
                            .collect();
                        ((start, end), parents)
                    })
                    .collect();
                (open.iter().map(|o| o.2).collect(), children)
            }
            Reshard::Split { shard, at } => {
                let Some((start, end, _)) = is_open(shard) else {
                    return Err(self.not_open(&inner, shard));
                };
                if at <= start || at > end {
                    return Err(Error::Invalid(format!(
                        "NewStartingHashKey {at} is not inside shard {shard}'s hash key range {start}..{end} (it must be greater than the first key, at most the last)"
                    )));
                }
                (
                    vec![shard],
                    vec![((start, at - 1), vec![shard]), ((at, end), vec![shard])],
                )
            }
            Reshard::Merge { shard, adjacent } => {
                let Some(a) = is_open(shard) else {
                    return Err(self.not_open(&inner, shard));
                };
                let Some(b) = is_open(adjacent) else {
                    return Err(self.not_open(&inner, adjacent));
                };
                let touching = a.1.checked_add(1) == Some(b.0) || b.1.checked_add(1) == Some(a.0);
                if shard == adjacent || !touching {
                    return Err(Error::Invalid(format!(
                        "shards {shard} and {adjacent} are not adjacent: their hash key ranges do not meet, and only adjacent shards merge"
                    )));
                }
                (
                    vec![shard, adjacent],
                    vec![((a.0.min(b.0), a.1.max(b.1)), vec![shard, adjacent])],
                )
            }
        };
        for c in &close {
            inner.shards[*c].closed_at = Some(self.clock.instant());
        }
        let first = inner.shards.len();
        for (range, parents) in children {
            inner
                .shards
                .push(Shard::new(range, parents, self.clock.instant()));
        }
        let total = inner.shards.len();
        let opened: Vec<usize> = (first..total).collect();
        let mut router: Vec<(u128, usize)> = inner
            .shards
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_closed())
            .map(|(i, s)| (s.range.0, i))
            .collect();
        router.sort_unstable();
        inner.router = Some(router);
        if let Some(b) = inner.budgets.as_mut() {
            b.grow(total);
        }
        if let Some(r) = inner.reads.as_mut() {
            r.grow(total);
        }
        for c in inner.consumers.iter_mut() {
            if let Some(f) = c.fan_out.as_mut() {
                f.grow(total);
            }
            c.positions.resize(total, 0);
            c.acked.resize(total, 0);
            c.handled.resize(total, 0);
        }
        give_children(&mut inner, &opened);
        drop(inner);
        self.data.notify_waiters();
        self.room.notify_waiters();
        Ok(opened)
    }

    /// What a reshard did, for the log: "resharded by `by`: 2 → 4 open shards; opened
    /// shardId-000000000002 (from shardId-000000000000), …".
    pub fn reshard_summary(&self, before: usize, opened: &[usize], by: &str) -> String {
        let id = |s: usize| format!("shardId-{s:012}");
        let shards = self.shards();
        let children: Vec<String> = opened
            .iter()
            .filter_map(|i| shards.get(*i))
            .map(|c| {
                let parents: Vec<String> = c.parents.iter().map(|p| id(*p)).collect();
                format!("{} (from {})", id(c.index), parents.join(" + "))
            })
            .collect();
        format!(
            "resharded by {by}: {before} → {} open shards; opened {}. Readers finish each parent shard before its children, so order per partition key holds",
            shards.iter().filter(|s| !s.closed).count(),
            children.join(", ")
        )
    }

    fn not_open(&self, inner: &Inner, shard: usize) -> Error {
        Error::Invalid(match inner.shards.get(shard) {
            Some(_) => format!(
                "shard {shard} of stream '{}' is closed (resharded); only open shards split or merge",
                self.name
            ),
            None => format!("stream '{}' has no shard {shard}", self.name),
        })
    }
}

/// Gives each of `opened` to a per-shard reader of each name: one that reads one of its
/// parents, with the fewest open shards.
fn give_children(inner: &mut Inner, opened: &[usize]) {
    let names: std::collections::BTreeSet<String> = inner
        .consumers
        .iter()
        .filter(|c| c.active && c.owned.is_some())
        .map(|c| c.name.clone())
        .collect();
    for &child in opened {
        let parents = inner.shards[child].parents.clone();
        for name in &names {
            let load = |owned: &Option<Vec<usize>>| {
                owned.as_ref().map_or(0, |o| {
                    o.iter().filter(|s| !inner.shards[**s].is_closed()).count()
                })
            };
            let pick = inner
                .consumers
                .iter()
                .enumerate()
                .filter(|(_, c)| c.active && &c.name == name && c.owned.is_some())
                .filter(|(_, c)| parents.iter().any(|p| c.reads(*p)))
                .min_by_key(|(i, c)| (load(&c.owned), *i))
                .or_else(|| {
                    inner
                        .consumers
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| c.active && &c.name == name && c.owned.is_some())
                        .min_by_key(|(i, c)| (load(&c.owned), *i))
                })
                .map(|(i, _)| i);
            if let Some(i) = pick
                && let Some(o) = inner.consumers[i].owned.as_mut()
            {
                o.push(child);
            }
        }
    }
}

/// Whether consumer `index` may read shard `s`: every parent of `s` is read to its end,
/// by this consumer, or (a parent another poller of its name reads) handled.
pub(super) fn parents_done(inner: &Inner, index: usize, s: usize) -> bool {
    let parents = &inner.shards[s].parents;
    if parents.is_empty() {
        return true;
    }
    let me = &inner.consumers[index];
    parents.iter().all(|&p| {
        let end = inner.shards[p].next_seq;
        if me.reads(p) {
            return me.positions[p] >= end;
        }
        inner
            .consumers
            .iter()
            .filter(|o| o.name == me.name && o.reads(p) && o.owned.is_some())
            .filter(|o| o.active || o.failed)
            .all(|o| o.handled[p] >= end)
    })
}

/// Whether consumer `index` has records it may not read yet: in a shard whose parents
/// another poller has not finished.
pub(super) fn waiting_for_parents(inner: &Inner, index: usize) -> bool {
    let me = &inner.consumers[index];
    inner.shards.iter().enumerate().any(|(s, shard)| {
        me.reads(s) && me.positions[s] < shard.next_seq && !parents_done(inner, index, s)
    })
}
