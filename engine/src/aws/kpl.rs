//! KPL-aggregated records: the Kinesis Producer Library packs many user records into one
//! Kinesis record, as AWS documents the format
//! (<https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md>):
//! the magic bytes `F3 89 9A C2`, a protobuf `AggregatedRecord`, then the MD5 of the
//! protobuf bytes.
//!
//! ```text
//! message AggregatedRecord {
//!   repeated string partition_key_table     = 1;
//!   repeated string explicit_hash_key_table = 2;
//!   repeated Record records                 = 3;
//! }
//! message Record {
//!   required uint64 partition_key_index     = 1;
//!   optional uint64 explicit_hash_key_index = 2;
//!   required bytes  data                    = 3;
//!   repeated Tag    tags                    = 4;
//! }
//! ```
//!
//! Two message types of a few fields: read here directly rather than through a protobuf
//! code generator.

use md5::{Digest as _, Md5};

/// The first four bytes of an aggregated record.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

/// One user record of an aggregated record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// Its partition key.
    pub partition_key: String,
    /// Its explicit hash key, if it had one.
    pub explicit_hash_key: Option<String>,
    /// Its data.
    pub data: Vec<u8>,
}

/// The user records of `data` when it is a KPL-aggregated record (`None` when it is not
/// one: no magic, or too short to hold the digest), or why it cannot be read.
pub fn deaggregate(data: &[u8]) -> Option<Result<Vec<UserRecord>, String>> {
    if data.len() < MAGIC.len() + 16 || data[..4] != MAGIC {
        return None;
    }
    let (message, digest) = data[4..].split_at(data.len() - 4 - 16);
    if Md5::digest(message).as_slice() != digest {
        // As the KCL does: a record whose digest does not match is not aggregated.
        return None;
    }
    Some(read_aggregated(message))
}

/// A protobuf reader over a message's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .bytes
                .get(self.at)
                .ok_or("the aggregated record ends inside a number")?;
            self.at += 1;
            value |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a number in the aggregated record is too long".to_owned())
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.varint()? as usize;
        let end = self
            .at
            .checked_add(len)
            .filter(|e| *e <= self.bytes.len())
            .ok_or("a field of the aggregated record runs past its end")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// The next field's number and wire type.
    fn key(&mut self) -> Result<(u64, u8), String> {
        let key = self.varint()?;
        Ok((key >> 3, (key & 7) as u8))
    }

    /// Skips a field of `wire` type.
    fn skip(&mut self, wire: u8) -> Result<(), String> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.advance(8),
            2 => self.bytes().map(|_| ()),
            5 => self.advance(4),
            other => Err(format!(
                "the aggregated record has a field of wire type {other}, which protobuf 3 does not use"
            )),
        }
    }

    fn advance(&mut self, n: usize) -> Result<(), String> {
        if self.at + n > self.bytes.len() {
            return Err("a field of the aggregated record runs past its end".to_owned());
        }
        self.at += n;
        Ok(())
    }
}

fn text(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| "a key of the aggregated record is not UTF-8".to_owned())
}

fn read_aggregated(message: &[u8]) -> Result<Vec<UserRecord>, String> {
    let mut r = Reader {
        bytes: message,
        at: 0,
    };
    let (mut keys, mut hash_keys, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    while !r.done() {
        match r.key()? {
            (1, 2) => keys.push(text(r.bytes()?)?),
            (2, 2) => hash_keys.push(text(r.bytes()?)?),
            (3, 2) => raw.push(r.bytes()?),
            (_, wire) => r.skip(wire)?,
        }
    }
    raw.into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            let mut r = Reader { bytes, at: 0 };
            let (mut key, mut hash, mut data) = (None, None, None);
            while !r.done() {
                match r.key()? {
                    (1, 0) => key = Some(r.varint()? as usize),
                    (2, 0) => hash = Some(r.varint()? as usize),
                    (3, 2) => data = Some(r.bytes()?.to_vec()),
                    (_, wire) => r.skip(wire)?,
                }
            }
            let at = |what: &str| format!("user record {i} of the aggregated record {what}");
            let key = key.ok_or_else(|| at("has no partition key index"))?;
            Ok(UserRecord {
                partition_key: keys.get(key).cloned().ok_or_else(|| {
                    at(&format!("points at partition key {key}, not in its table"))
                })?,
                explicit_hash_key: match hash {
                    Some(h) => Some(hash_keys.get(h).cloned().ok_or_else(|| {
                        at(&format!(
                            "points at explicit hash key {h}, not in its table"
                        ))
                    })?),
                    None => None,
                },
                data: data.ok_or_else(|| at("has no data"))?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7F) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn field(number: u64, bytes: &[u8], out: &mut Vec<u8>) {
        varint(number << 3 | 2, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    /// An aggregated record built field by field as the format document describes it.
    fn aggregate(records: &[(&str, &[u8])]) -> Vec<u8> {
        let mut message = Vec::new();
        for (k, _) in records {
            field(1, k.as_bytes(), &mut message);
        }
        for (i, (_, data)) in records.iter().enumerate() {
            let mut r = Vec::new();
            varint(1 << 3, &mut r);
            varint(i as u64, &mut r);
            field(3, data, &mut r);
            field(3, &r, &mut message);
        }
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&message);
        out.extend_from_slice(&Md5::digest(&message));
        out
    }

    #[test]
    fn user_records_come_back_in_order_with_their_keys() {
        let agg = aggregate(&[("a", b"one"), ("b", b""), ("a", b"three")]);
        let records = deaggregate(&agg).unwrap().unwrap();
        let got: Vec<(&str, &[u8])> = records
            .iter()
            .map(|r| (r.partition_key.as_str(), r.data.as_slice()))
            .collect();
        assert_eq!(got, [("a", &b"one"[..]), ("b", b""), ("a", b"three")]);
    }

    #[test]
    fn plain_records_and_bad_digests_are_not_aggregated_and_garbage_is_an_error() {
        assert_eq!(deaggregate(b"{\"plain\": 1}"), None);
        let mut agg = aggregate(&[("a", b"one")]);
        let last = agg.len() - 1;
        agg[last] ^= 1;
        assert_eq!(deaggregate(&agg), None, "a digest that does not match");
        // A message that lies about a length, with a digest that matches it.
        let message = [0x1A, 0x7F, 0x01];
        let mut bad = MAGIC.to_vec();
        bad.extend_from_slice(&message);
        bad.extend_from_slice(&Md5::digest(message));
        assert!(deaggregate(&bad).unwrap().is_err());
    }
}
