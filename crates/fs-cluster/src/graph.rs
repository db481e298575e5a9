//! Candidate graphs: which pairs of faces could ever end up in one cluster.
//!
//! Average linkage merges two clusters only when their mean pairwise distance is below
//! the threshold, which needs at least one pair of members closer than it. So the pairs
//! of rows within the threshold — the edges of the *threshold graph* — are the only
//! places a merge can start, and clustering needs nothing else of the `n²` distances.
//!
//! - [`exact`]: every edge, from blocked matrix products (GEMM), `n²·d` flops but memory
//!   linear in `n` plus the edges.
//! - [`approximate`]: the edges among each row's nearest neighbours in an HNSW index,
//!   for libraries where `n²` products take too long.

use std::time::Instant;

use instant_distance::{Builder, Point, Search};
use ndarray::Array2;
use ndarray::linalg::general_mat_mul;
use rayon::prelude::*;

use crate::Embeddings;
use crate::progress::{Phase, Progress};

/// Slack added to the threshold when collecting edges, so that a pair whose GEMM dot
/// product rounds just past it is still a candidate (the merge test itself is exact).
const EDGE_SLACK: f32 = 1e-5;

/// One end of an edge, with the edge's cosine distance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Edge {
    /// The row at the other end.
    pub to: u32,
    /// Cosine distance between the two rows.
    pub distance: f32,
}

/// Adjacency lists: `neighbours[i]` holds the rows joined to row `i` (both directions).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    /// One list per row, each sorted by row.
    pub neighbours: Vec<Vec<Edge>>,
}

impl Graph {
    /// Number of undirected edges.
    pub fn edge_count(&self) -> usize {
        self.neighbours.iter().map(Vec::len).sum::<usize>() / 2
    }

    /// Builds the symmetric lists from each row's neighbours with a higher index
    /// (sorted), freeing those as it goes.
    fn from_upper(mut upper: Vec<Vec<Edge>>) -> Self {
        let n = upper.len();
        let mut degree = vec![0usize; n];
        for (i, list) in upper.iter().enumerate() {
            degree[i] += list.len();
            for e in list {
                degree[e.to as usize] += 1;
            }
        }
        let mut neighbours: Vec<Vec<Edge>> =
            degree.iter().map(|&d| Vec::with_capacity(d)).collect();
        // Row i's lower neighbours arrive before its own upper ones, each in row order.
        for i in 0..n {
            let list = std::mem::take(&mut upper[i]);
            for e in &list {
                neighbours[e.to as usize].push(Edge {
                    to: row_id(i),
                    distance: e.distance,
                });
            }
            neighbours[i].extend(list);
        }
        Self { neighbours }
    }
}

#[expect(clippy::cast_possible_truncation, reason = "row counts fit in u32")]
fn row_id(i: usize) -> u32 {
    i as u32
}

/// Every pair of rows at most `max_distance` apart (cosine distance), found with
/// blocked matrix products: each block of rows against tiles of the rows after it, so
/// no more than a tile of dot products is held at once.
pub fn exact(embeddings: &Embeddings, max_distance: f32, progress: &dyn Progress) -> Graph {
    const ROWS: usize = 1024;
    const COLS: usize = 1024;
    let n = embeddings.len();
    let span = tracing::info_span!("exact candidate graph", faces = n).entered();
    let started = Instant::now();
    progress.start(Phase::Graph, n as u64);
    let min_dot = 1.0 - max_distance - EDGE_SLACK;
    let view = embeddings.view();
    let starts: Vec<usize> = (0..n).step_by(ROWS).collect();
    let upper: Vec<Vec<Edge>> = starts
        .into_par_iter()
        .map_init(
            || Array2::<f32>::zeros((ROWS, COLS)),
            |gram, first| {
                let rows = ROWS.min(n - first);
                let block = view.slice(ndarray::s![first..first + rows, ..]);
                let mut lists: Vec<Vec<Edge>> = vec![Vec::new(); rows];
                let mut col = first;
                while col < n {
                    let cols = COLS.min(n - col);
                    let tile = view.slice(ndarray::s![col..col + cols, ..]);
                    let mut out = gram.slice_mut(ndarray::s![..rows, ..cols]);
                    general_mat_mul(1.0, &block, &tile.t(), 0.0, &mut out);
                    for (r, list) in lists.iter_mut().enumerate() {
                        let i = first + r;
                        // Only pairs j > i: skip the columns at or before the diagonal.
                        let skip = (i + 1).saturating_sub(col).min(cols);
                        let row = out.row(r);
                        let row = &row.as_slice().expect("rows are contiguous")[skip..];
                        collect_within(row, min_dot, col + skip, list);
                    }
                    col += cols;
                }
                // Exact sizes: these lists live until the symmetric ones are built.
                lists.iter_mut().for_each(Vec::shrink_to_fit);
                progress.advance(rows as u64);
                lists
            },
        )
        .flatten_iter()
        .collect();
    let graph = Graph::from_upper(upper);
    progress.finish(Phase::Graph);
    tracing::info!(
        edges = graph.edge_count(),
        seconds = started.elapsed().as_secs_f64(),
        "candidate graph built"
    );
    drop(span);
    graph
}

/// Pushes an edge for each `dots[c] >= min_dot`, to row `first + c`. Few pass, so
/// chunks are screened by their maximum first, which vectorises.
fn collect_within(dots: &[f32], min_dot: f32, first: usize, list: &mut Vec<Edge>) {
    const CHUNK: usize = 16;
    for (k, chunk) in dots.chunks(CHUNK).enumerate() {
        if chunk.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) < min_dot {
            continue;
        }
        for (c, &dot) in chunk.iter().enumerate() {
            if dot >= min_dot {
                list.push(Edge {
                    to: row_id(first + k * CHUNK + c),
                    distance: (1.0 - dot).max(0.0),
                });
            }
        }
    }
}

/// How the approximate graph is searched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnnParams {
    /// Neighbours looked up per row (HNSW `ef` at search time).
    pub neighbours: usize,
    /// HNSW `ef` while building the index.
    pub ef_construction: usize,
}

impl Default for AnnParams {
    fn default() -> Self {
        Self {
            neighbours: 48,
            ef_construction: 100,
        }
    }
}

/// A row of the embedding matrix as an HNSW point, borrowed, so the index holds no copy.
#[derive(Clone, Copy)]
struct Row<'a>(&'a [f32]);

impl Point for Row<'_> {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - crate::embeddings::dot(self.0, other.0)
    }
}

/// The edges at most `max_distance` long among each row's `params.neighbours` nearest
/// rows, found through an HNSW index. A subset of [`exact`]'s edges; deterministic for a
/// given input (fixed seed).
pub fn approximate(
    embeddings: &Embeddings,
    max_distance: f32,
    params: AnnParams,
    progress: &dyn Progress,
) -> Graph {
    let n = embeddings.len();
    let span = tracing::info_span!("approximate candidate graph", faces = n).entered();
    let started = Instant::now();
    let view = embeddings.view();
    let flat = view.as_slice().expect("embedding rows are contiguous");
    let dim = embeddings.dim().max(1);
    let points: Vec<Row<'_>> = flat.chunks_exact(dim).map(Row).collect();
    progress.start(Phase::Index, n as u64);
    let (index, ids) = Builder::default()
        .ef_construction(params.ef_construction.max(params.neighbours))
        .ef_search(params.neighbours)
        .seed(0x5eed_f00d)
        .build_hnsw(points.clone());
    progress.finish(Phase::Index);
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "HNSW index built"
    );
    // The index numbers points its own way; map back to rows.
    let mut row_of = vec![0u32; n];
    for (row, id) in ids.iter().enumerate() {
        row_of[id.into_inner() as usize] = row_id(row);
    }
    progress.start(Phase::Graph, n as u64);
    let limit = max_distance + EDGE_SLACK;
    let found: Vec<Vec<Edge>> = points
        .par_iter()
        .enumerate()
        .map_init(Search::default, |search, (i, point)| {
            let near: Vec<Edge> = index
                .search(point, search)
                .filter(|item| item.distance <= limit)
                .map(|item| Edge {
                    to: row_of[item.pid.into_inner() as usize],
                    distance: item.distance.max(0.0),
                })
                .filter(|e| e.to as usize != i)
                .collect();
            progress.advance(1);
            near
        })
        .collect();
    // An edge found from either end counts once, in the lower row's list.
    let mut upper: Vec<Vec<Edge>> = vec![Vec::new(); n];
    for (i, near) in found.into_iter().enumerate() {
        for e in near {
            let (lo, hi) = if (e.to as usize) < i {
                (e.to as usize, row_id(i))
            } else {
                (i, e.to)
            };
            upper[lo].push(Edge {
                to: hi,
                distance: e.distance,
            });
        }
    }
    for list in &mut upper {
        list.sort_unstable_by_key(|e| e.to);
        list.dedup_by_key(|e| e.to);
    }
    let graph = Graph::from_upper(upper);
    progress.finish(Phase::Graph);
    tracing::info!(
        edges = graph.edge_count(),
        seconds = started.elapsed().as_secs_f64(),
        "candidate graph built"
    );
    drop(span);
    graph
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn exact_graph_is_every_pair_within(
            rows in prop::collection::vec(prop::collection::vec(-1f32..1.0, 4), 0..600),
            max in 0.0f32..1.0,
        ) {
            let e = Embeddings::from_rows(4, &rows);
            let g = exact(&e, max, &Silent);
            prop_assert_eq!(g.neighbours.len(), e.len());
            for i in 0..e.len() {
                prop_assert!(g.neighbours[i].windows(2).all(|w| w[0].to < w[1].to), "sorted, no repeats");
                for j in 0..e.len() {
                    if i == j {
                        continue;
                    }
                    let d = e.distance(i, j);
                    let edge = g.neighbours[i].iter().find(|e| e.to as usize == j);
                    if let Some(e) = edge {
                        prop_assert!((e.distance - d).abs() < 1e-4, "edge {} {} carries {} for {}", i, j, e.distance, d);
                    }
                    let joined = edge.is_some();
                    if d < max - 1e-4 {
                        prop_assert!(joined, "missing edge {} {} at {}", i, j, d);
                    }
                    if d > max + 1e-4 {
                        prop_assert!(!joined, "edge {} {} at {} past {}", i, j, d, max);
                    }
                }
            }
        }
    }

    #[test]
    fn approximate_graph_is_symmetric_and_within_the_threshold() {
        // Four tight groups on the circle: the nearest neighbours are the group mates.
        let rows: Vec<[f32; 3]> = (0..200)
            .map(|i| {
                #[expect(clippy::cast_precision_loss, reason = "small numbers")]
                let a = (i % 4) as f32 * 1.5 + (i / 4) as f32 * 0.002;
                [a.cos(), a.sin(), 0.1]
            })
            .collect();
        let e = Embeddings::from_rows(3, &rows);
        let g = approximate(&e, 0.05, AnnParams::default(), &Silent);
        let exact = exact(&e, 0.05, &Silent);
        for (i, list) in g.neighbours.iter().enumerate() {
            for edge in list {
                let j = edge.to as usize;
                assert!((e.distance(i, j) - edge.distance).abs() < 1e-4);
                assert!(edge.distance <= 0.05 + 1e-4);
                assert!(g.neighbours[j].iter().any(|b| b.to as usize == i));
                assert!(
                    exact.neighbours[i].iter().any(|x| x.to == edge.to),
                    "a subset of the exact edges"
                );
            }
            assert!(!list.is_empty(), "row {i} has group mates within 0.05");
        }
    }
}
