//! `UpdateShardCount`, `SplitShard` and `MergeShards` over a served stream, and what
//! `GetRecords` says at the end of a closed shard (`ChildShards`).
//!
//! The limits follow the `UpdateShardCount` reference: the target is at most double and
//! at least half the open shard count, `UNIFORM_SCALING` is the only scaling type, and
//! on-demand streams are not resharded by hand. Kinesis reshards in the background
//! (`UPDATING` for seconds to minutes); Tributary reshards at once, so the stream stays
//! `ACTIVE` and the new shards take records as soon as the call returns.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ServedStream, StreamRef, shard_id};
use crate::aws::{ACCOUNT, AwsError, Registry, count, parse};
use crate::stream::topic::{Reshard, Topic};

pub(super) fn update_shard_count(
    registry: &Registry,
    body: &[u8],
    region: &str,
) -> std::result::Result<Value, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Req {
        #[serde(flatten)]
        stream: StreamRef,
        target_shard_count: Option<i64>,
        scaling_type: Option<String>,
    }
    let req: Req = parse(body)?;
    let s = req.stream.resolve(registry)?;
    let r = (|| {
        let Some(target) = req.target_shard_count else {
            return Err(AwsError::validation(
                "targetShardCount",
                "Member must not be null",
            ));
        };
        if target < 1 {
            return Err(AwsError::validation(
                "targetShardCount",
                "Member must have value greater than or equal to 1",
            ));
        }
        match req.scaling_type.as_deref() {
            Some("UNIFORM_SCALING") => {}
            None => {
                return Err(AwsError::validation(
                    "scalingType",
                    "Member must not be null",
                ));
            }
            Some(other) => {
                return Err(AwsError::validation(
                    "scalingType",
                    &format!(
                        "Member must satisfy enum value set: [UNIFORM_SCALING] (got '{other}')"
                    ),
                ));
            }
        }
        provisioned(&s, "UpdateShardCount")?;
        let current = s.topic.open_shard_count();
        let target = target as usize;
        if target > current * 2 {
            return Err(AwsError::client(
                "LimitExceededException",
                format!(
                    "UpdateShardCount cannot scale up over double your current open shard count. Current open shard count: {current} Target shard count: {target}"
                ),
            ));
        }
        if target * 2 < current {
            return Err(AwsError::client(
                "LimitExceededException",
                format!(
                    "UpdateShardCount cannot scale down below half your current open shard count. Current open shard count: {current} Target shard count: {target}"
                ),
            ));
        }
        s.topic
            .count_scaling()
            .map_err(|why| AwsError::client("LimitExceededException", why))?;
        apply(&s, Reshard::UniformScaling(target))?;
        Ok(json!({
            "StreamName": s.name,
            "StreamARN": s.arn(region),
            "CurrentShardCount": current,
            "TargetShardCount": target,
        }))
    })();
    count(&s.metrics, &r);
    r
}

pub(super) fn split_shard(
    registry: &Registry,
    body: &[u8],
) -> std::result::Result<Value, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Req {
        #[serde(flatten)]
        stream: StreamRef,
        shard_to_split: Option<String>,
        new_starting_hash_key: Option<String>,
    }
    let req: Req = parse(body)?;
    let s = req.stream.resolve(registry)?;
    let r = (|| {
        let Some(id) = &req.shard_to_split else {
            return Err(AwsError::validation(
                "shardToSplit",
                "Member must not be null",
            ));
        };
        let Some(key) = &req.new_starting_hash_key else {
            return Err(AwsError::validation(
                "newStartingHashKey",
                "Member must not be null",
            ));
        };
        let at = key
            .parse::<u128>()
            .ok()
            .filter(|_| key.bytes().all(|b| b.is_ascii_digit()));
        let Some(at) = at else {
            return Err(AwsError::client(
                "InvalidArgumentException",
                format!(
                    "NewStartingHashKey {key} is invalid: it must be a decimal number from 0 to 2^128 - 1"
                ),
            ));
        };
        provisioned(&s, "SplitShard")?;
        let shard = s.shard(id)?;
        apply(&s, Reshard::Split { shard, at })?;
        Ok(json!({}))
    })();
    count(&s.metrics, &r);
    r
}

pub(super) fn merge_shards(
    registry: &Registry,
    body: &[u8],
) -> std::result::Result<Value, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Req {
        #[serde(flatten)]
        stream: StreamRef,
        shard_to_merge: Option<String>,
        adjacent_shard_to_merge: Option<String>,
    }
    let req: Req = parse(body)?;
    let s = req.stream.resolve(registry)?;
    let r = (|| {
        let (Some(a), Some(b)) = (&req.shard_to_merge, &req.adjacent_shard_to_merge) else {
            return Err(AwsError::validation(
                if req.shard_to_merge.is_none() {
                    "shardToMerge"
                } else {
                    "adjacentShardToMerge"
                },
                "Member must not be null",
            ));
        };
        provisioned(&s, "MergeShards")?;
        let shard = s.shard(a)?;
        let adjacent = s.shard(b)?;
        apply(&s, Reshard::Merge { shard, adjacent })?;
        Ok(json!({}))
    })();
    count(&s.metrics, &r);
    r
}

/// On-demand streams scale themselves; resharding by hand is for provisioned ones.
fn provisioned(s: &ServedStream, op: &str) -> std::result::Result<(), AwsError> {
    if s.on_demand {
        return Err(AwsError::client(
            "ValidationException",
            format!(
                "{op} is supported only for streams in PROVISIONED capacity mode; stream {} under account {ACCOUNT} is ON_DEMAND",
                s.name
            ),
        ));
    }
    Ok(())
}

/// Reshards the stream and logs what changed on its node.
fn apply(s: &ServedStream, change: Reshard) -> std::result::Result<(), AwsError> {
    let before = s.topic.open_shard_count();
    let opened = s
        .topic
        .reshard(change)
        .map_err(|e| AwsError::client("InvalidArgumentException", e.to_string()))?;
    if !opened.is_empty() {
        s.events.info(
            &s.node,
            s.topic.reshard_summary(before, &opened, "the Kinesis API"),
        );
    }
    Ok(())
}

/// `GetRecords`' `ChildShards` when a read of closed shard `shard` reached its end at
/// `next`; `None` while the shard is open or has records left.
pub(super) fn children_at_end(topic: &Topic, shard: usize, next: u64) -> Option<Value> {
    let shards = topic.shards();
    let me = shards.get(shard)?;
    if !me.closed || next < me.bounds.1 {
        return None;
    }
    let children: Vec<Value> = shards
        .iter()
        .filter(|c| c.parents.contains(&shard))
        .map(|c| {
            json!({
                "ShardId": shard_id(c.index),
                "ParentShards": c.parents.iter().map(|p| shard_id(*p)).collect::<Vec<_>>(),
                "HashKeyRange": {
                    "StartingHashKey": c.range.0.to_string(),
                    "EndingHashKey": c.range.1.to_string(),
                },
            })
        })
        .collect();
    Some(Value::Array(children))
}
