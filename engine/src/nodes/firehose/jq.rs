//! Dynamic partitioning's metadata extraction: a JQ query run on each record's JSON (as
//! Firehose runs `MetadataExtractionQuery` with `JsonParsingEngine` JQ-1.6), through the
//! `jaq` crates, giving the record's partition keys (`{customer_id: .customer_id}`).

use std::collections::BTreeMap;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Ctx, Native, RcIter};
use jaq_json::Val;

/// A compiled metadata extraction query.
pub struct Query {
    filter: jaq_core::Filter<Native<Val>>,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Query")
    }
}

impl Query {
    /// Compiles `code`; a parse or compile error says where.
    pub fn compile(code: &str) -> Result<Self, String> {
        let loader = Loader::new(jaq_std::defs().chain(jaq_json::defs()));
        let arena = Arena::default();
        let modules = loader
            .load(&arena, File { code, path: () })
            .map_err(|errs| format!("not a JQ query: {}", describe(&errs)))?;
        let filter = jaq_core::Compiler::default()
            .with_funs(jaq_std::funs().chain(jaq_json::funs()))
            .compile(modules)
            .map_err(|errs| format!("not a JQ query: {}", describe(&errs)))?;
        Ok(Self { filter })
    }

    /// The partition keys of one record: the query's first result, an object whose
    /// values are the keys (strings as they are, other values as JSON text; null means
    /// the key is missing).
    pub fn keys(&self, record: serde_json::Value) -> Result<BTreeMap<String, String>, String> {
        let inputs = RcIter::new(core::iter::empty());
        let mut out = self.filter.run((Ctx::new([], &inputs), Val::from(record)));
        let value = match out.next() {
            Some(Ok(v)) => serde_json::Value::from(v),
            Some(Err(e)) => return Err(format!("the JQ query failed: {e}")),
            None => return Err("the JQ query gave no result".to_owned()),
        };
        let serde_json::Value::Object(map) = value else {
            return Err(format!(
                "the JQ query gave {value}, not an object of partition keys"
            ));
        };
        Ok(map
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some((k, s)),
                other => Some((k, other.to_string())),
            })
            .collect())
    }
}

fn describe<E: std::fmt::Debug>(errs: &[E]) -> String {
    errs.iter()
        .map(|e| format!("{e:?}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_query_aws_documents_gives_the_keys() {
        // The example of "Dynamic partitioning in Amazon Data Firehose".
        let q = Query::compile(
            "{customer_id: .customer_id, device: .type.device, year: .event_timestamp|strftime(\"%Y\")}",
        )
        .unwrap();
        let keys = q
            .keys(
                json!({"type": {"device": "mobile", "event": "user_clicked_submit_button"},
                "customer_id": "1234567890", "event_timestamp": 1630442383}),
            )
            .unwrap();
        assert_eq!(keys["customer_id"], "1234567890");
        assert_eq!(keys["device"], "mobile");
        assert_eq!(keys["year"], "2021");
        // A number is its JSON text; a missing field is no key.
        let q = Query::compile("{n: .n, gone: .nope}").unwrap();
        let keys = q.keys(json!({"n": 7})).unwrap();
        assert_eq!(keys["n"], "7");
        assert!(!keys.contains_key("gone"));
    }

    #[test]
    fn bad_queries_and_results_are_named() {
        assert!(
            Query::compile("{a: .b")
                .unwrap_err()
                .starts_with("not a JQ query")
        );
        let q = Query::compile(".a").unwrap();
        assert!(
            q.keys(json!({"a": 1}))
                .unwrap_err()
                .contains("not an object")
        );
    }
}
