//! A layered left-to-right layout of the graph (Sugiyama style): every wire goes from a
//! column to a column on its right, nodes in a column are ordered to cross few wires,
//! and no two nodes overlap. View → Arrange uses it, and so does opening a project whose
//! nodes have no positions.
//!
//! The steps are the classic ones, kept small: columns by longest path from the sources,
//! order within a column by barycenters swept both ways, then each node placed level with
//! its neighbours where its column leaves room.

use egui::{Pos2, Vec2, pos2};

/// Space between columns.
pub const COLUMN_GAP: f32 = 48.0;
/// Space between nodes of a column.
pub const ROW_GAP: f32 = 24.0;
/// Ordering sweeps (each goes right, then left).
const SWEEPS: usize = 6;

/// Top-left positions for nodes of `sizes`, wired by `edges` (from, to) as indices into
/// `sizes`. Wires that would close a cycle (the canvas refuses them) are laid out as if
/// absent.
pub fn layered(sizes: &[Vec2], edges: &[(usize, usize)]) -> Vec<Pos2> {
    let n = sizes.len();
    if n == 0 {
        return Vec::new();
    }
    let edges: Vec<(usize, usize)> = edges
        .iter()
        .copied()
        .filter(|(a, b)| a != b && *a < n && *b < n)
        .collect();
    let column = columns(n, &edges);
    let mut order = initial_order(n, &edges, &column);
    sweep(&mut order, &edges, &column);
    place(sizes, &edges, &order)
}

/// Each node's column: the longest path reaching it from a node with no inputs.
fn columns(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    for (_, b) in edges {
        indegree[*b] += 1;
    }
    let mut column = vec![0usize; n];
    let mut done = vec![false; n];
    let mut ready: Vec<usize> = (0..n).filter(|i| indegree[*i] == 0).collect();
    let mut visited = 0;
    loop {
        while let Some(i) = ready.pop() {
            done[i] = true;
            visited += 1;
            for (a, b) in edges {
                if *a == i && !done[*b] {
                    column[*b] = column[*b].max(column[i] + 1);
                    indegree[*b] -= 1;
                    if indegree[*b] == 0 {
                        ready.push(*b);
                    }
                }
            }
        }
        if visited == n {
            // A node with no inputs moves to just left of its first reader when that
            // column is shorter than its own: wires get shorter, the graph no taller.
            for i in 0..n {
                if edges.iter().any(|(_, b)| *b == i) {
                    continue;
                }
                let Some(first) = edges
                    .iter()
                    .filter(|(a, _)| *a == i)
                    .map(|(_, b)| column[*b])
                    .min()
                else {
                    continue;
                };
                let to = first.saturating_sub(1);
                let height = |c: usize| column.iter().filter(|x| **x == c).count();
                if to > column[i] && height(to) < height(column[i]) {
                    column[i] = to;
                }
            }
            return column;
        }
        // A cycle: release its first node and go on.
        if let Some(i) = (0..n).find(|i| !done[*i]) {
            indegree[i] = 0;
            ready.push(i);
        }
    }
}

/// Columns as lists of nodes, first ordered by a depth-first walk from the sources so
/// that connected nodes start out together.
fn initial_order(n: usize, edges: &[(usize, usize)], column: &[usize]) -> Vec<Vec<usize>> {
    let width = column.iter().max().map_or(0, |m| m + 1);
    let mut order = vec![Vec::new(); width];
    let mut seen = vec![false; n];
    let starts: Vec<usize> = (0..n)
        .filter(|i| !edges.iter().any(|(_, b)| b == i))
        .chain(0..n)
        .collect();
    for start in starts {
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            order[column[i]].push(i);
            let next: Vec<usize> = edges
                .iter()
                .filter(|(a, _)| *a == i)
                .map(|(_, b)| *b)
                .collect();
            stack.extend(next.into_iter().rev());
        }
    }
    order
}

/// Reorders each column by the mean position of its neighbours in the columns before
/// (sweeping right) or after (sweeping left).
fn sweep(order: &mut [Vec<usize>], edges: &[(usize, usize)], column: &[usize]) {
    let n = column.len();
    let mut before = vec![Vec::new(); n];
    let mut after = vec![Vec::new(); n];
    for &(a, b) in edges {
        if column[a] < column[b] {
            before[b].push(a);
            after[a].push(b);
        }
    }
    let mut index = vec![0.0f32; n];
    for col in order.iter() {
        for (k, &node) in col.iter().enumerate() {
            index[node] = k as f32;
        }
    }
    for _ in 0..SWEEPS {
        for rightwards in [true, false] {
            let columns: Vec<usize> = if rightwards {
                (1..order.len()).collect()
            } else {
                (0..order.len().saturating_sub(1)).rev().collect()
            };
            for c in columns {
                let mut keyed: Vec<(f32, usize)> = order[c]
                    .iter()
                    .map(|&node| {
                        let neighbours = if rightwards {
                            &before[node]
                        } else {
                            &after[node]
                        };
                        let key = if neighbours.is_empty() {
                            index[node]
                        } else {
                            neighbours.iter().map(|m| index[*m]).sum::<f32>()
                                / neighbours.len() as f32
                        };
                        (key, node)
                    })
                    .collect();
                keyed.sort_by(|x, y| x.0.total_cmp(&y.0));
                order[c] = keyed.into_iter().map(|(_, node)| node).collect();
                for (k, &node) in order[c].iter().enumerate() {
                    index[node] = k as f32;
                }
            }
        }
    }
}

/// Positions: columns left to right, each as wide as its widest node; in a column, each
/// node as level with the centre of its neighbours as the nodes above it allow.
fn place(sizes: &[Vec2], edges: &[(usize, usize)], order: &[Vec<usize>]) -> Vec<Pos2> {
    let mut pos = vec![Pos2::ZERO; sizes.len()];
    let mut x = 0.0;
    for col in order {
        let width = col.iter().map(|i| sizes[*i].x).fold(0.0, f32::max);
        let mut bottom = f32::NEG_INFINITY;
        for &i in col {
            pos[i] = pos2(x, bottom.max(0.0));
            bottom = pos[i].y + sizes[i].y + ROW_GAP;
        }
        x += width + COLUMN_GAP;
    }
    // Level nodes with their neighbours: right from the inputs, then left from the
    // outputs (for nodes with no inputs), keeping the column's order and gaps.
    let mut inputs = vec![Vec::new(); sizes.len()];
    let mut outputs = vec![Vec::new(); sizes.len()];
    for &(a, b) in edges {
        inputs[b].push(a);
        outputs[a].push(b);
    }
    let centre = |pos: &[Pos2], i: usize| pos[i].y + sizes[i].y / 2.0;
    for rightwards in [true, false] {
        let cols: Vec<&Vec<usize>> = if rightwards {
            order.iter().collect()
        } else {
            order.iter().rev().collect()
        };
        for col in cols {
            let mut bottom = f32::NEG_INFINITY;
            for &i in col {
                let neighbours = match rightwards {
                    true => &inputs[i],
                    false if inputs[i].is_empty() => &outputs[i],
                    false => &Vec::new(),
                };
                let wanted = if neighbours.is_empty() {
                    pos[i].y
                } else {
                    neighbours.iter().map(|m| centre(&pos, *m)).sum::<f32>()
                        / neighbours.len() as f32
                        - sizes[i].y / 2.0
                };
                pos[i].y = wanted.max(bottom);
                bottom = pos[i].y + sizes[i].y + ROW_GAP;
            }
        }
    }
    // Whole points: node sizes measured at another zoom differ by a fraction of a point,
    // which must not move a node when the graph is arranged again.
    pos.iter().map(|p| p.round()).collect()
}
