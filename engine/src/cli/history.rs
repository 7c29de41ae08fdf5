//! `tributary runs` (the runs recorded beside a project), `tributary diff` (a node's
//! output in two of them compared) and `tributary validate --against-catalog` (what the
//! catalog's newest table versions do to the project).

use std::io::Write;
use std::path::Path;

use crate::engine::{diff, drift, runs};

/// The project (it must load: a typo should say so) and the folder its runs are in.
fn load(project: &Path) -> Result<(crate::project::Project, std::path::PathBuf), String> {
    let p = crate::project::Project::load(project).map_err(|e| e.to_string())?;
    Ok((p, super::project_dir(project)?))
}

/// Lists the recorded runs, oldest first.
pub fn list(project: &Path, json: bool, out: &mut dyn Write) -> Result<i32, String> {
    let (_, base) = load(project)?;
    let recorded = runs::list(&base);
    let text = if json {
        let rows: Vec<serde_json::Value> = recorded
            .iter()
            .map(|r| serde_json::json!({"id": r.id, "started": r.started, "status": r.status}))
            .collect();
        serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())? + "\n"
    } else if recorded.is_empty() {
        format!(
            "no recorded runs beside {} (a run records itself; the project's runs_kept \
             bounds how many stay)\n",
            project.display()
        )
    } else {
        let mut t = String::new();
        for r in &recorded {
            let tables = r.nodes.iter().filter(|n| !n.outputs.is_empty()).count();
            t.push_str(&format!(
                "{}  {}  {:<7}  {} node(s), {tables} table(s) recorded\n",
                r.id,
                r.started,
                r.status,
                r.nodes.len()
            ));
        }
        t
    };
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(0)
}

/// Compares node `node`'s output in runs `a` and `b`.
pub fn compare(
    project: &Path,
    a: &str,
    b: &str,
    node: &str,
    key: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> Result<i32, String> {
    let (_, base) = load(project)?;
    let run_a = runs::find(&base, a).map_err(|e| e.to_string())?;
    let run_b = runs::find(&base, b).map_err(|e| e.to_string())?;
    let (out_a, schema_a, rows_a) = runs::output(&base, &run_a, node).map_err(|e| e.to_string())?;
    let (out_b, schema_b, rows_b) = runs::output(&base, &run_b, node).map_err(|e| e.to_string())?;
    let d = diff::diff((&schema_a, &rows_a), (&schema_b, &rows_b), key)
        .map_err(|e| format!("node '{node}': {e}"))?;
    let truncated: Vec<&str> = [(&out_a, &run_a.id), (&out_b, &run_b.id)]
        .iter()
        .filter(|(o, _)| o.truncated)
        .map(|(_, id)| id.as_str())
        .collect();
    let text = if json {
        let mut v = serde_json::to_value(&d).map_err(|e| e.to_string())?;
        v["node"] = serde_json::json!(node);
        v["runs"] = serde_json::json!([run_a.id, run_b.id]);
        v["key"] = serde_json::json!(key);
        v["truncated"] = serde_json::json!(truncated);
        v["live"] = serde_json::json!(out_a.live || out_b.live);
        serde_json::to_string_pretty(&v).map_err(|e| e.to_string())? + "\n"
    } else {
        let mut t = format!(
            "node '{node}': {} → {} ({})\n  {} added, {} removed, {} changed, {} unchanged\n",
            run_a.id,
            run_b.id,
            match key {
                Some(k) => format!("rows by {k}"),
                None => "whole rows".to_owned(),
            },
            d.added,
            d.removed,
            d.changed,
            d.unchanged
        );
        for change in &d.schema_changes {
            t.push_str(&format!("  schema: {change}\n"));
        }
        for row in &d.samples.added {
            t.push_str(&format!("  + {row}\n"));
        }
        for row in &d.samples.removed {
            t.push_str(&format!("  - {row}\n"));
        }
        for change in &d.samples.changed {
            t.push_str(&format!("  ~ {}\n", diff::describe_change(change)));
        }
        if out_a.live || out_b.live {
            t.push_str("  (a streaming sink: its live view as each run ended)\n");
        } else {
            for id in &truncated {
                t.push_str(&format!(
                    "  (run {id} recorded the first {} rows only)\n",
                    runs::MAX_ROWS
                ));
            }
        }
        t
    };
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(0)
}

/// Lists the tables with a newer version and the nodes it breaks or changes; 1 when
/// something breaks.
pub fn drift(project: &Path, out: &mut dyn Write) -> Result<i32, String> {
    let (p, base) = load(project)?;
    let (drifted, impacts) = drift::against_catalog(&p, &base).map_err(|e| e.to_string())?;
    let mut t = String::new();
    if drifted.is_empty() {
        t.push_str("catalog: no table has a newer version than the one before it\n");
    }
    for d in &drifted {
        if d.proposed {
            t.push_str(&format!(
                "catalog: {} has a proposed version {} (a crawl with schema_change_policy log found it; `tributary catalog --catalog <file> accept {}` applies it): {}\n",
                d.table, d.version, d.table, d.change
            ));
        } else {
            t.push_str(&format!(
                "catalog: {} is at version {}: {}\n",
                d.table, d.version, d.change
            ));
        }
    }
    let mut broken = false;
    for i in &impacts {
        match &i.verdict {
            drift::Verdict::Breaks(why) => {
                broken = true;
                t.push_str(&format!(
                    "breaks: node '{}': {}: {why}\n",
                    i.node, i.setting
                ));
            }
            drift::Verdict::Changes(lines) => t.push_str(&format!(
                "changes: node '{}': {}: {}\n",
                i.node,
                i.setting,
                lines.join("; ")
            )),
        }
    }
    if impacts.is_empty() && !drifted.is_empty() {
        t.push_str("no node is affected\n");
    }
    out.write_all(t.as_bytes()).map_err(|e| e.to_string())?;
    Ok(if broken { 1 } else { 0 })
}

/// A replay compared with the run it replays: each node both recorded, diffed.
pub struct ReplayComparison {
    /// The original run's id.
    pub original: String,
    /// The replay's recorded run id.
    pub replay: String,
    /// Per node recorded in both: the difference (whole rows), or why it cannot be
    /// compared.
    pub nodes: Vec<(String, Result<diff::Diff, String>)>,
}

impl ReplayComparison {
    /// As `run --json` prints it under `replay.compared`.
    pub fn json(&self) -> serde_json::Value {
        let nodes: serde_json::Map<String, serde_json::Value> = self
            .nodes
            .iter()
            .map(|(node, d)| {
                let v = match d {
                    Ok(d) => serde_json::json!({
                        "added": d.added,
                        "removed": d.removed,
                        "changed": d.changed,
                        "unchanged": d.unchanged,
                        "schema_changes": d.schema_changes,
                        "samples": d.samples,
                    }),
                    Err(e) => serde_json::json!({ "error": e }),
                };
                (node.clone(), v)
            })
            .collect();
        serde_json::json!({
            "original": self.original,
            "replay": self.replay,
            "nodes": nodes,
        })
    }

    /// As `run` prints it after the summary.
    pub fn text(&self) -> String {
        let mut t = format!(
            "\ncompared with run {} (replay recorded as {}):\n",
            self.original, self.replay
        );
        if self.nodes.is_empty() {
            t.push_str("  no node downstream recorded an output in both runs\n");
        }
        for (node, d) in &self.nodes {
            match d {
                Ok(d) if d.added + d.removed + d.changed == 0 && d.schema_changes.is_empty() => {
                    t.push_str(&format!("  {node:<20} the same ({} rows)\n", d.unchanged))
                }
                Ok(d) => {
                    t.push_str(&format!(
                        "  {node:<20} {} added, {} removed, {} changed, {} unchanged{}\n",
                        d.added,
                        d.removed,
                        d.changed,
                        d.unchanged,
                        if d.schema_changes.is_empty() {
                            String::new()
                        } else {
                            format!("; schema: {}", d.schema_changes.join("; "))
                        }
                    ));
                    for row in d.samples.added.iter().take(2) {
                        t.push_str(&format!("    + {row}\n"));
                    }
                    for row in d.samples.removed.iter().take(2) {
                        t.push_str(&format!("    - {row}\n"));
                    }
                }
                Err(e) => t.push_str(&format!("  {node:<20} not compared: {e}\n")),
            }
        }
        t
    }
}

/// The run a replay is compared with: `against` (an id, a prefix, `previous`), else the
/// newest recorded run that was not itself a replay.
pub fn original_run(
    base: &Path,
    against: Option<&str>,
) -> Result<Option<runs::RecordedRun>, String> {
    match against {
        Some(id) => runs::find(base, id).map(Some).map_err(|e| e.to_string()),
        None => Ok(runs::list(base)
            .into_iter()
            .rev()
            .find(|r| r.replay.is_none())),
    }
}

/// Compares the newest recorded replay with `original`, node by node (the nodes the
/// replay ran and both recorded, whole rows).
pub fn compare_replay(
    base: &Path,
    original: &runs::RecordedRun,
) -> Result<ReplayComparison, String> {
    let replay = runs::list(base)
        .into_iter()
        .rev()
        .find(|r| r.replay.is_some())
        .ok_or("the replay was not recorded (the project's runs_kept is 0?)")?;
    let mut nodes = Vec::new();
    for line in replay.nodes.iter().filter(|n| !n.outputs.is_empty()) {
        let recorded_before = original
            .nodes
            .iter()
            .any(|n| n.id == line.id && !n.outputs.is_empty());
        if !recorded_before {
            continue;
        }
        let compared = runs::output(base, original, &line.id)
            .and_then(|a| Ok((a, runs::output(base, &replay, &line.id)?)))
            .map_err(|e| e.to_string())
            .and_then(|((_, sa, ra), (_, sb, rb))| {
                diff::diff((&sa, &ra), (&sb, &rb), None).map_err(|e| e.to_string())
            });
        nodes.push((line.id.clone(), compared));
    }
    Ok(ReplayComparison {
        original: original.id.clone(),
        replay: replay.id,
        nodes,
    })
}

/// What `tributary timeline` asks.
pub struct Moment {
    /// The run (id, prefix, `latest`, `previous`).
    pub run: String,
    /// The moment (RFC 3339 or ms since the epoch); `None` lists the moments.
    pub at: Option<String>,
    /// Only this node.
    pub node: Option<String>,
    /// Print JSON.
    pub json: bool,
}

/// Reads a moment: RFC 3339 or ms since the epoch.
fn parse_moment(text: &str) -> Result<i64, String> {
    match crate::api::ReplayFrom::parse_time(text)? {
        crate::api::ReplayFrom::AtTimestamp(ms) => Ok(ms),
        _ => Err(format!(
            "'{text}' is not a moment: an RFC 3339 time (2024-01-01T00:10:00Z) or ms since the epoch"
        )),
    }
}

/// Prints a recorded run's timeline at a moment (or the moments it has).
pub fn timeline(project: &Path, ask: &Moment, out: &mut dyn Write) -> Result<i32, String> {
    use crate::api::clock::format_ms;
    let (p, base) = load(project)?;
    let run = runs::find(&base, &ask.run).map_err(|e| e.to_string())?;
    let dir = runs::runs_dir(&base).join(&run.id);
    let Some(t) = crate::engine::timeline::read(&dir).map_err(|e| e.to_string())? else {
        return Err(format!(
            "run {} kept no timeline (it had no streaming nodes, or the project's timeline_points is 0)",
            run.id
        ));
    };
    if let Some(node) = &ask.node
        && p.node(node).is_none()
    {
        return Err(format!("no node '{node}' in the project"));
    }
    let Some(at_text) = &ask.at else {
        let moments = t.moments();
        let (from, to) = t.span().unwrap_or_default();
        let text = if ask.json {
            serde_json::to_string_pretty(&serde_json::json!({
                "run": run.id,
                "from": format_ms(from),
                "to": format_ms(to),
                "step_ms": t.file.step_ms,
                "points": t.file.keep,
                "moments_ms": moments,
                "views": t.file.views.iter().map(|v| serde_json::json!({
                    "node": v.node, "port": v.port, "moments_ms": v.at_ms,
                })).collect::<Vec<_>>(),
            }))
            .map_err(|e| e.to_string())?
                + "\n"
        } else {
            let mut s = format!(
                "run {}: timeline from {} to {}, a point every {} (at most {} per node), {} moments\n",
                run.id,
                format_ms(from),
                format_ms(to),
                crate::api::clock::format_duration_ms(t.file.step_ms),
                t.file.keep,
                moments.len()
            );
            for v in &t.file.views {
                s.push_str(&format!(
                    "  {}.{}: {} snapshots\n",
                    v.node,
                    v.port,
                    v.at_ms.len()
                ));
            }
            s
        };
        out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        return Ok(0);
    };
    let at = parse_moment(at_text)?;
    let nodes: Vec<String> = match &ask.node {
        Some(n) => vec![n.clone()],
        None => t.file.counts.keys().cloned().collect(),
    };
    let mut doc = serde_json::json!({
        "run": run.id,
        "at": format_ms(at),
        "at_ms": at,
    });
    let mut text = format!("run {} at {}:\n", run.id, format_ms(at));
    for id in &nodes {
        let state = t.state_at(id, at);
        let counts = state
            .counts
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| e.to_string())?;
        if let Some(c) = &state.counts {
            text.push_str(&format!(
                "  {id:<20} in {:>10}  out {:>10}  behind {:>8}  (as of {})\n",
                c.records_in,
                c.records_out,
                c.lag_records,
                format_ms(c.at_ms)
            ));
            if !c.shards.is_empty() {
                let tips: Vec<String> = c
                    .shards
                    .iter()
                    .enumerate()
                    .map(|(s, tip)| format!("shard {s}: {tip}"))
                    .collect();
                text.push_str(&format!("  {:<20} tips {}\n", "", tips.join(", ")));
            }
        } else {
            text.push_str(&format!("  {id:<20} nothing recorded by then\n"));
        }
        if ask.node.is_none() {
            doc["nodes"][id] = counts.unwrap_or(serde_json::Value::Null);
            continue;
        }
        doc["node"] = serde_json::json!(id);
        doc["counts"] = counts.unwrap_or(serde_json::Value::Null);
        let mut views = serde_json::Map::new();
        for (port, v) in &state.views {
            let rows = serde_json::Value::from(
                diff::rows(&v.batches)
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(serde_json::Value::Object)
                    .collect::<Vec<_>>(),
            );
            text.push_str(&if port == crate::api::timeline::EMITTED {
                format!(
                    "  emitted: the newest {} of the {} records it had sent by {}\n",
                    v.batches.iter().map(|b| b.num_rows()).sum::<usize>(),
                    v.total,
                    format_ms(v.at_ms)
                )
            } else {
                format!(
                    "  {port}: as of {}, standing for {} records\n",
                    format_ms(v.at_ms),
                    v.total
                )
            });
            for r in rows.as_array().into_iter().flatten().take(20) {
                text.push_str(&format!("    {r}\n"));
            }
            views.insert(
                port.clone(),
                serde_json::json!({"at_ms": v.at_ms, "total": v.total, "rows": rows}),
            );
        }
        doc["views"] = serde_json::Value::Object(views);
        // A durable stream: its shards' tips then, from what it retains.
        if let Some(crate::nodes::NodeConfig::Stream(c)) = p.node(id).map(|n| &n.config)
            && c.durable
        {
            let dir = crate::nodes::stream::replay::folder(&base, id);
            let shards = crate::stream::durable::shards_at(&dir, c.shard_count(), at)
                .map_err(|e| e.to_string())?;
            for s in &shards {
                text.push_str(&format!(
                    "  shard {}: {} records by then{}\n",
                    s.shard,
                    s.position,
                    s.last_arrival_ms
                        .map(|a| format!(" (the last arrived {})", format_ms(a)))
                        .unwrap_or_default()
                ));
            }
            doc["shards"] = serde_json::to_value(&shards).map_err(|e| e.to_string())?;
        }
    }
    let text = if ask.json {
        serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())? + "\n"
    } else {
        text
    };
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(0)
}
