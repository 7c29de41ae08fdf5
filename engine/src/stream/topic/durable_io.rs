//! A topic kept on disk (`stream/durable.rs` holds the files): reading back what an
//! earlier run appended with its arrival times, and checkpointing what each consumer
//! acknowledged.

use std::time::Duration;

use super::{Entry, Inner, Result, Topic};
use crate::stream::durable::DurableLog;

impl Topic {
    /// Keeps this (new) topic under `dir`: what was appended before is read back with the
    /// times it arrived, consumers resume from their checkpoints, and every append is on
    /// disk before it is acknowledged to its writer. A topic that keeps what its readers
    /// read ([`Retention::keep_read`], a stream's replay window) reads back everything
    /// its retention still holds, so a reader added later can start at TRIM_HORIZON or
    /// AT_TIMESTAMP in an earlier run's records; otherwise only what some consumer has not
    /// acknowledged. Call before anything subscribes or appends. Returns how many records
    /// the topic took from each input before.
    pub fn attach_durable(
        &self,
        dir: &std::path::Path,
    ) -> Result<std::collections::BTreeMap<String, u64>> {
        let shards = self.shard_count();
        let (log, rec) = DurableLog::open(dir, &self.schema, shards)?;
        {
            let mut inner = self.lock();
            let now = self.clock.now_ms();
            // Per shard, what every known consumer has acknowledged (all of it when none is
            // known: nobody waits for it).
            let acked: Vec<u64> = (0..shards)
                .map(|s| {
                    rec.checkpoints
                        .values()
                        .map(|c| c[s])
                        .min()
                        .unwrap_or(u64::MAX)
                })
                .collect();
            for (s, batches) in rec.shards.into_iter().enumerate() {
                let shard = &mut inner.shards[s];
                for (first_seq, arrival_ms, batch) in batches {
                    let end = first_seq + batch.num_rows() as u64;
                    // Acknowledged by every consumer: kept only in a replay window, and
                    // only while it is younger than the retention period.
                    let too_old = self
                        .retention
                        .max_age
                        .is_some_and(|a| now - arrival_ms > a.as_millis() as i64);
                    if end <= acked[s] && (!self.retention.keep_read || too_old) {
                        continue;
                    }
                    let bytes = batch.get_array_memory_size() as u64;
                    shard.bytes += bytes;
                    shard.entries.push_back(Entry {
                        first_seq,
                        batch,
                        arrival_ms,
                        bytes,
                        meta: None,
                        data_bytes: 0,
                    });
                }
                // The size limit, oldest first, over what every consumer acknowledged.
                if let Some(max) = self.retention.max_bytes {
                    while shard.bytes > max
                        && shard.entries.len() > 1
                        && shard
                            .entries
                            .front()
                            .is_some_and(|e| e.first_seq + e.batch.num_rows() as u64 <= acked[s])
                    {
                        if let Some(e) = shard.entries.pop_front() {
                            shard.bytes -= e.bytes;
                        }
                    }
                }
                shard.next_seq = rec.next_seq[s];
            }
            inner.checkpoints = rec.checkpoints;
            inner.durable = Some(log);
        }
        Ok(rec.inputs)
    }

    /// Saves consumer `index`'s acknowledged positions (at most every 100 ms unless
    /// `force`), and drops segments every consumer has acknowledged and, for a topic
    /// that keeps a replay window, retention no longer holds in memory either.
    pub(super) fn checkpoint_locked(
        &self,
        inner: &mut Inner,
        index: usize,
        force: bool,
    ) -> Result<()> {
        if inner.durable.is_none() {
            return Ok(());
        }
        let c = &inner.consumers[index];
        if !force
            && c.saved_at
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return Ok(());
        }
        let name = c.name.clone();
        // A per-shard reader checkpoints its shard in the checkpoint of its name.
        let acked = match (&c.owned, inner.checkpoints.get(&name)) {
            (Some(owned), Some(saved)) if saved.len() == c.acked.len() => {
                let mut merged = saved.clone();
                for s in owned {
                    merged[*s] = c.acked[*s];
                }
                merged
            }
            _ => c.acked.clone(),
        };
        inner.consumers[index].saved_at = Some(std::time::Instant::now());
        inner.checkpoints.insert(name.clone(), acked.clone());
        let horizon: Vec<u64> = (0..inner.shards.len())
            .map(|s| {
                let acked = inner.checkpoints.values().map(|c| c[s]).min().unwrap_or(0);
                if self.retention.keep_read {
                    acked.min(inner.shards[s].trim_horizon())
                } else {
                    acked
                }
            })
            .collect();
        if let Some(log) = inner.durable.as_mut() {
            log.checkpoint(&name, &acked)?;
            log.drop_before(&horizon)?;
        }
        Ok(())
    }
}
