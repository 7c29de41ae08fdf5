//! The cost shadow meter: what a run would have cost in AWS, from the prices in one
//! editable data file (`assets/aws-prices.json`, bundled; an `aws-prices.json` beside a
//! project replaces it), never from numbers in code.
//!
//! Each node kind that maps to a billed service prices its own run
//! (`Kind::cost`), from what it measured, as items (`what`, `quantity`, `unit`, `usd`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The bundled price file.
pub const BUNDLED_PRICES: &str = include_str!("../../../assets/aws-prices.json");

/// The name of a price file beside a project that replaces the bundled one.
pub const PRICES_FILE: &str = "aws-prices.json";

/// AWS list prices, as the price file gives them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    /// The region the prices are for.
    pub region: String,
    /// Their currency.
    pub currency: String,
    /// The date the prices were taken.
    pub as_of: String,
    /// Where the file came from (set when loaded: the bundled file or a path).
    #[serde(default, skip_deserializing)]
    pub source: String,
    /// Kinesis Data Streams (provisioned).
    pub kinesis: KinesisPrices,
    /// Lambda.
    pub lambda: LambdaPrices,
    /// Amazon Data Firehose.
    pub firehose: FirehosePrices,
    /// S3 Standard.
    pub s3: S3Prices,
    /// Glue crawlers and ETL jobs.
    pub glue: GluePrices,
    /// Athena.
    pub athena: AthenaPrices,
    /// EMR.
    pub emr: EmrPrices,
    /// Managed Service for Apache Flink (the analytics node's windows).
    pub flink: FlinkPrices,
}

/// Managed Service for Apache Flink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlinkPrices {
    /// Per KPU-hour.
    pub kpu_hour: f64,
    /// KPUs an application is assumed to use for its processing.
    pub kpus: f64,
    /// The extra KPU each application is charged for orchestration.
    pub orchestration_kpus: f64,
}

/// Kinesis Data Streams, provisioned mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KinesisPrices {
    /// Per shard-hour.
    pub shard_hour: f64,
    /// Per million PUT payload units.
    pub put_payload_units_per_million: f64,
    /// A PUT payload unit: each record counts its size in these, rounded up (25 KB).
    pub put_payload_unit_bytes: u64,
    /// Per shard-hour of retention beyond 24 hours (up to 7 days).
    pub extended_retention_shard_hour: f64,
    /// On-demand: per stream-hour.
    pub on_demand_stream_hour: f64,
    /// On-demand: per GB written (each record rounded up to `on_demand_increment_bytes`).
    pub on_demand_data_in_gb: f64,
    /// On-demand: per GB read by standard consumers.
    pub on_demand_data_out_gb: f64,
    /// Enhanced fan-out: per consumer-shard-hour (provisioned streams).
    #[serde(default = "efo_consumer_shard_hour")]
    pub enhanced_fan_out_consumer_shard_hour: f64,
    /// Enhanced fan-out: per GB read through a consumer (provisioned streams).
    #[serde(default = "efo_data_gb")]
    pub enhanced_fan_out_data_gb: f64,
    /// On-demand: each record counts its size rounded up to this (1 KB).
    pub on_demand_increment_bytes: u64,
}

/// Lambda.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LambdaPrices {
    /// Per million requests (invocations).
    pub requests_per_million: f64,
    /// Per GB-second of billed duration at the configured memory.
    pub gb_second: f64,
}

/// Amazon Data Firehose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FirehosePrices {
    /// Per GB ingested.
    pub ingested_gb: f64,
    /// Each record is counted rounded up to a multiple of this (5 KB).
    pub ingest_increment_bytes: u64,
    /// Per GB converted to Parquet or ORC.
    pub format_conversion_gb: f64,
    /// Per GB processed by dynamic partitioning.
    pub dynamic_partitioning_gb: f64,
    /// Per 1,000 objects delivered with dynamic partitioning.
    pub dynamic_partitioning_objects_per_1000: f64,
}

/// S3 Standard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct S3Prices {
    /// Per 1,000 PUT, COPY, POST or LIST requests.
    pub put_requests_per_1000: f64,
    /// Per 1,000 GET requests.
    pub get_requests_per_1000: f64,
    /// Per GB-month stored.
    pub standard_gb_month: f64,
}

/// Glue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GluePrices {
    /// Per DPU-hour (crawlers and Spark ETL jobs), billed per second.
    pub dpu_hour: f64,
    /// DPUs a crawler run is assumed to use.
    pub crawler_dpus: f64,
    /// The minimum billed time of a crawler run.
    pub crawler_minimum_seconds: f64,
    /// DPUs an ETL job run is assumed to use (a Spark job's default of 10).
    pub etl_dpus: f64,
    /// The minimum billed time of an ETL job run.
    pub etl_minimum_seconds: f64,
}

/// Athena (SQL queries).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AthenaPrices {
    /// Per TB (2^40 bytes) scanned.
    pub tb_scanned: f64,
    /// The least a query is billed for, in bytes (scans round up to whole MB).
    pub minimum_bytes: u64,
}

/// EMR.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmrPrices {
    /// EMR's own charge per instance-hour.
    pub instance_hour: f64,
    /// EC2's charge per instance-hour.
    pub ec2_instance_hour: f64,
    /// The instance type those prices are for.
    pub instance_type: String,
    /// Instances of a job's cluster (a primary and its core nodes).
    pub instances: f64,
    /// The minimum billed time of a cluster.
    pub minimum_seconds: f64,
}

impl Prices {
    /// The bundled prices.
    pub fn bundled() -> Self {
        let mut p: Prices =
            serde_json::from_str(BUNDLED_PRICES).expect("the bundled price file is valid");
        p.source = "assets/aws-prices.json (bundled)".to_owned();
        p
    }

    /// Region, date and file, as a cost shows where its prices come from.
    pub fn describe(&self) -> String {
        format!(
            "{} prices of {}, from {}",
            self.region, self.as_of, self.source
        )
    }

    /// The prices for a project in `base_dir`: its `aws-prices.json` if it has one,
    /// else the bundled ones. A price file that does not read is an error naming it.
    pub fn for_project(base_dir: &Path) -> Result<Self> {
        let path = base_dir.join(PRICES_FILE);
        if !path.is_file() {
            return Ok(Self::bundled());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut p: Prices = serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("{}: not a price file: {e}", path.display())))?;
        p.source = path.display().to_string();
        Ok(p)
    }
}

/// One priced quantity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostItem {
    /// What is billed (`Kinesis shard-hours`).
    pub what: String,
    /// How much of it.
    pub quantity: f64,
    /// Its unit (`shard-hour`).
    pub unit: String,
    /// What it costs.
    pub usd: f64,
}

/// What one node's run would have cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Cost {
    /// The sum of the items.
    pub usd: f64,
    /// At this rate for a month (730 hours), for nodes that run continuously (streams,
    /// functions, delivery streams); none for a batch node, billed per run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd_per_month: Option<f64>,
    /// Each priced quantity.
    pub items: Vec<CostItem>,
    /// The prices used: region, date and file ([`Prices::describe`]).
    #[serde(skip)]
    pub basis: String,
}

/// The sizes of records, counted in whole KiB (each rounded up): enough to count them
/// exactly in any billing increment that is a multiple of 1 KiB (Kinesis's 25 KB PUT
/// payload units, Firehose's 5 KB increments, on-demand's 1 KB), in fixed memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sizes {
    kib: std::collections::BTreeMap<u64, u64>,
    records: u64,
    bytes: u64,
}

impl Sizes {
    /// Counts a record of `bytes` bytes.
    pub fn add(&mut self, bytes: u64) {
        *self.kib.entry(bytes.div_ceil(1024).max(1)).or_default() += 1;
        self.records += 1;
        self.bytes += bytes;
    }

    /// Adds another count.
    pub fn merge(&mut self, other: &Sizes) {
        for (k, n) in &other.kib {
            *self.kib.entry(*k).or_default() += n;
        }
        self.records += other.records;
        self.bytes += other.bytes;
    }

    /// Bytes counted, exactly.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Records counted.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Billing units of `unit` bytes: each record's size rounded up to whole units
    /// (a record of 5 KB is one 25 KB unit, one of 45 KB two).
    pub fn units(&self, unit: u64) -> u64 {
        let unit = unit.max(1);
        self.kib
            .iter()
            .map(|(k, n)| (k * 1024).div_ceil(unit) * n)
            .sum()
    }
}

/// The bundled price of an enhanced fan-out consumer-shard-hour, for a price file
/// written before it was priced.
fn efo_consumer_shard_hour() -> f64 {
    0.015
}

/// The bundled price of a GB read through an enhanced fan-out consumer.
fn efo_data_gb() -> f64 {
    0.013
}

/// Bytes in a GB as AWS bills them (2^30).
pub const GB: f64 = (1u64 << 30) as f64;

/// Hours in a month, as AWS's pricing examples count them.
pub const HOURS_PER_MONTH: f64 = 730.0;

impl Cost {
    /// Adds `quantity` `unit`s of `what` at `price` per `per` units.
    pub fn add(&mut self, what: &str, quantity: f64, unit: &str, price: f64, per: f64) {
        let usd = quantity * price / per;
        self.usd += usd;
        self.items.push(CostItem {
            what: what.to_owned(),
            quantity,
            unit: unit.to_owned(),
            usd,
        });
    }

    /// Adds the hours of `units` (DPUs, instances) busy for `elapsed_ms`, billed per
    /// second with `minimum_seconds` at least, at `per_hour` each.
    pub fn add_time(
        &mut self,
        what: &str,
        elapsed_ms: u64,
        minimum_seconds: f64,
        units: f64,
        unit: &str,
        per_hour: f64,
    ) {
        let seconds = (elapsed_ms as f64 / 1000.0).ceil().max(minimum_seconds);
        self.add(what, units * seconds / 3600.0, unit, per_hour, 1.0);
    }

    /// A cost of one item: `units` busy for `elapsed_ms` ([`Cost::add_time`]).
    pub fn of_time(
        what: &str,
        elapsed_ms: u64,
        minimum_seconds: f64,
        units: f64,
        unit: &str,
        per_hour: f64,
    ) -> Self {
        let mut cost = Self::default();
        cost.add_time(what, elapsed_ms, minimum_seconds, units, unit, per_hour);
        cost
    }

    /// `item`'s share of the month's extrapolation (`None` for a cost billed per run).
    pub fn item_per_month(&self, item: &CostItem) -> Option<f64> {
        let month = self.usd_per_month?;
        Some(if self.usd > 0.0 {
            item.usd / self.usd * month
        } else {
            0.0
        })
    }

    /// Marks the cost as a rate over `seconds` of running, extrapolated to a month.
    pub fn continuous(mut self, seconds: f64) -> Self {
        if seconds > 0.0 {
            self.usd_per_month = Some(self.usd * HOURS_PER_MONTH * 3600.0 / seconds);
        }
        self
    }
}

/// A quantity as the cost table shows it: whole numbers whole, others to 4 significant
/// digits.
pub fn quantity(q: f64) -> String {
    if q.fract() == 0.0 {
        format!("{q:.0}")
    } else if q >= 1.0 {
        format!("{q:.2}")
    } else {
        format!(
            "{:.1$}",
            q,
            (3 - q.log10().floor() as i32).clamp(0, 12) as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_prices_read_and_name_their_region_and_date() {
        let p = Prices::bundled();
        assert_eq!(p.region, "us-east-1");
        assert_eq!(p.as_of.len(), 10);
        assert_eq!(p.kinesis.put_payload_unit_bytes, 25_600);
        assert_eq!(p.athena.minimum_bytes, 10 << 20);
    }

    #[test]
    fn a_broken_price_file_beside_a_project_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PRICES_FILE), "{\"region\": 1}").unwrap();
        let e = Prices::for_project(dir.path()).unwrap_err().to_string();
        assert!(e.contains("aws-prices.json: not a price file"), "{e}");
    }

    #[test]
    fn sizes_count_billing_units_as_aws_rounds_them() {
        let mut s = Sizes::default();
        // AWS's examples: a 5 KB record is one PUT payload unit, 45 KB two, 1 MB 40.
        for bytes in [5 * 1024, 45 * 1024, 1_000 * 1024] {
            s.add(bytes);
        }
        assert_eq!(s.units(25_600), 1 + 2 + 40);
        // Firehose rounds each record up to 5 KB: 1 + 9 + 200 increments.
        assert_eq!(s.units(5_120), 1 + 9 + 200);
        // Exactly at a boundary, and one byte past it.
        let mut t = Sizes::default();
        t.add(25_600);
        t.add(25_601);
        assert_eq!(t.units(25_600), 1 + 2);
        assert_eq!(t.records(), 2);
    }

    #[test]
    fn quantities_read_well() {
        assert_eq!(quantity(20_000.0), "20000");
        assert_eq!(quantity(2.5), "2.50");
        assert_eq!(quantity(0.0223), "0.02230");
        assert_eq!(quantity(0.000_123_4), "0.0001234");
    }

    #[test]
    fn a_cost_adds_its_items_and_extrapolates_a_month() {
        let mut c = Cost::default();
        c.add("Kinesis shard-hours", 2.0, "shard-hour", 0.015, 1.0);
        c.add("PUT payload units", 1_000_000.0, "unit", 0.014, 1e6);
        assert!((c.usd - 0.044).abs() < 1e-12);
        // Two hours of running: a month is 365 times that.
        let c = c.continuous(7200.0);
        assert!((c.usd_per_month.unwrap() - 0.044 * 365.0).abs() < 1e-9);
    }
}
