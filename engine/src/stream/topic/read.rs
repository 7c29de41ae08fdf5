//! Reading a shard without a reader, as `GetRecords` does: records from a position
//! (their bytes as put, or the JSON of rows the graph appended), how far behind the tip
//! that is, and the positions of a shard's retained records.

use super::{Error, Result, Topic};

/// One record as `GetRecords` returns it.
#[derive(Clone, Debug)]
pub struct StoredRecord {
    /// Its sequence number in its shard.
    pub seq: u64,
    /// When it arrived (ms since the epoch).
    pub arrival_ms: i64,
    /// Its partition key.
    pub partition_key: String,
    /// Its bytes: as put, or for a record appended by the graph, the JSON of its row (the
    /// bytes themselves when the only column is binary).
    pub data: Vec<u8>,
}

/// What a read of one shard at a position found.
#[derive(Clone, Debug, Default)]
pub struct ShardRead {
    /// The records, in sequence order.
    pub records: Vec<StoredRecord>,
    /// The position after them.
    pub next: u64,
    /// The position the read started at, after clamping to what is retained.
    pub start: u64,
    /// Milliseconds between now and the arrival of the first record after these (0 at
    /// the tip): how far behind the reader is, as `MillisBehindLatest`.
    pub millis_behind: u64,
}

impl Topic {
    /// Up to `limit` records of shard `shard` from position `from` (clamped to what is
    /// retained), as `GetRecords` returns them, without registering a reader. Stops
    /// early past `max_bytes` of data (at least one record is returned).
    pub fn read_shard(
        &self,
        shard: usize,
        from: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<ShardRead> {
        let inner = self.lock();
        let Some(s) = inner.shards.get(shard) else {
            return Err(Error::Invalid(format!(
                "stream '{}' has no shard {shard}",
                self.name
            )));
        };
        let start = from.clamp(s.trim_horizon(), s.next_seq);
        let mut out = ShardRead {
            start,
            next: start,
            ..Default::default()
        };
        let mut size = 0;
        let idx = s
            .entries
            .partition_point(|e| e.first_seq + e.batch.num_rows() as u64 <= start);
        'entries: for e in s.entries.iter().skip(idx) {
            let offset = out.next.saturating_sub(e.first_seq) as usize;
            let n = (e.batch.num_rows() - offset).min(limit - out.records.len());
            let (keys, data) = match &e.meta {
                Some(m) => {
                    let m = m.slice(offset, n);
                    let keys = m
                        .column(0)
                        .as_any()
                        .downcast_ref::<crate::arrow::array::StringArray>()
                        .map(|a| a.iter().map(|k| k.unwrap_or_default().to_owned()).collect())
                        .unwrap_or_else(|| vec![String::new(); n]);
                    let data = m
                        .column(1)
                        .as_any()
                        .downcast_ref::<crate::arrow::array::BinaryArray>()
                        .map(|a| a.iter().map(|d| d.unwrap_or_default().to_vec()).collect())
                        .unwrap_or_else(|| vec![Vec::new(); n]);
                    (keys, data)
                }
                None => {
                    let rows = e.batch.slice(offset, n);
                    let keys = crate::stream::records::partition_keys(&rows, self.key_column)?;
                    let data = crate::stream::records::record_bytes(&rows)?
                        .iter()
                        .map(<[u8]>::to_vec)
                        .collect();
                    (keys, data)
                }
            };
            for (i, (partition_key, data)) in keys.into_iter().zip(data).enumerate() {
                if !out.records.is_empty() && size + data.len() > max_bytes {
                    break 'entries;
                }
                size += data.len();
                out.records.push(StoredRecord {
                    seq: e.first_seq + (offset + i) as u64,
                    arrival_ms: e.arrival_ms,
                    partition_key,
                    data,
                });
                out.next += 1;
            }
            if out.records.len() >= limit {
                break;
            }
        }
        // Behind the tip: how long ago the next unread record arrived.
        let next = out.next;
        if let Some(e) = s
            .entries
            .iter()
            .find(|e| e.first_seq + e.batch.num_rows() as u64 > next)
        {
            out.millis_behind = (self.clock.now_ms() - e.arrival_ms).max(0) as u64;
        }
        Ok(out)
    }

    /// Per shard, the first sequence number retained and the next to be appended.
    pub fn shard_bounds(&self) -> Vec<(u64, u64)> {
        self.lock()
            .shards
            .iter()
            .map(|s| (s.trim_horizon(), s.next_seq))
            .collect()
    }

    /// Per shard, the first sequence number of a record that arrived at or after `ts`
    /// (ms since the epoch), or the tip.
    pub fn seq_at_timestamp(&self, shard: usize, ts: i64) -> u64 {
        let inner = self.lock();
        inner.shards.get(shard).map_or(0, |s| {
            s.entries
                .iter()
                .find(|e| e.arrival_ms >= ts)
                .map(|e| e.first_seq)
                .unwrap_or(s.next_seq)
        })
    }
}
