//! Candidate graphs: which pairs of faces could ever end up in one cluster.
//!
//! Average linkage merges two clusters only when their mean pairwise distance is below
//! the threshold, which needs at least one pair of members closer than it. So the pairs
//! of rows within the threshold — the edges of the *threshold graph* — are the only
//! places a merge can start, and clustering needs nothing else of the `n²` distances.
//!
//! - [`exact`]: every edge, from blocked matrix products (GEMM), `n²·d` flops but memory
//!   linear in `n` plus the edges.
//! - [`approximate`]: the edges among each row's nearest neighbours within the cells of
//!   an inverted-file (IVF) index, for libraries where `n²` products take too long.

use std::time::Instant;

use ndarray::Array2;
use ndarray::linalg::general_mat_mul;
use rayon::prelude::*;

use crate::Embeddings;
use fs_progress::{Phase, Progress};

/// Above this many rows, [`GraphChoice::Auto`] uses the approximate graph: the exact one
/// costs `n²·d` flops — about 15 s at 50,000 faces on two cores, a minute at 100,000,
/// four times that at twice the faces — while the approximate one grows about linearly,
/// is 5.7× faster at 100,000 faces and within 0.003 B³-F of the exact clusters there
/// (see `docs/benchmarks.md`).
pub const APPROXIMATE_ABOVE: usize = 50_000;

/// Which candidate graph the linkage runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum GraphChoice {
    /// Exact up to [`APPROXIMATE_ABOVE`] rows, approximate beyond.
    #[default]
    Auto,
    /// Every pair within the threshold: the same clusters as a full linkage.
    Exact,
    /// Pairs among each row's nearest neighbours within the cells of an inverted-file
    /// index: near-identical clusters, for libraries too large for the exact graph.
    Approximate(AnnParams),
}

impl GraphChoice {
    /// Whether this choice uses the approximate graph for `n` rows.
    pub fn is_approximate(self, n: usize) -> bool {
        match self {
            Self::Auto => n > APPROXIMATE_ABOVE,
            Self::Exact => false,
            Self::Approximate(_) => true,
        }
    }
}

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
    /// Every edge once, as `(i, j, distance)` with `i < j`.
    pub fn edges(&self) -> impl Iterator<Item = (usize, usize, f32)> + '_ {
        self.neighbours.iter().enumerate().flat_map(|(i, list)| {
            list.iter()
                .filter(move |e| e.to as usize > i)
                .map(move |e| (i, e.to as usize, e.distance))
        })
    }

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

fn log_built(graph: &Graph, started: Instant) {
    tracing::info!(
        edges = graph.edge_count(),
        seconds = started.elapsed().as_secs_f64(),
        "candidate graph built"
    );
}

/// A row index as the `u32` the lists store.
#[expect(clippy::cast_possible_truncation, reason = "row counts fit in u32")]
pub(crate) fn row_id(i: usize) -> u32 {
    i as u32
}

/// The candidate graph that `choice` selects for these rows: [`exact`], or
/// [`approximate`] with its parameters.
pub fn build(
    embeddings: &Embeddings,
    max_distance: f32,
    choice: GraphChoice,
    progress: &dyn Progress,
) -> Graph {
    match choice {
        GraphChoice::Approximate(params) => approximate(embeddings, max_distance, params, progress),
        GraphChoice::Auto if choice.is_approximate(embeddings.len()) => {
            approximate(embeddings, max_distance, AnnParams::default(), progress)
        }
        GraphChoice::Auto | GraphChoice::Exact => exact(embeddings, max_distance, progress),
    }
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
    log_built(&graph, started);
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

/// How the approximate graph is searched: an inverted-file index (IVF), as vector
/// databases use — the rows are partitioned into cells around k-means centroids, each
/// row joins its few nearest cells, and pairs are compared only within a cell, by the
/// same blocked matrix products as [`exact`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnnParams {
    /// Rows per cell on average (the number of cells is the rows over this).
    pub cell_size: usize,
    /// Most cells a row joins: its nearest centroid, and others within `margin`.
    pub probes: usize,
    /// How much less alike (cosine similarity) than the nearest centroid another may be
    /// for the row to join its cell too.
    pub margin: f32,
    /// Nearest neighbours within the threshold kept per row (over all its cells).
    pub neighbours: usize,
}

impl Default for AnnParams {
    fn default() -> Self {
        // Measured on realistic synthetic libraries (docs/benchmarks.md).
        Self {
            cell_size: 2000,
            probes: 4,
            margin: 0.05,
            neighbours: 32,
        }
    }
}

/// k-means rounds on the sample.
const KMEANS_ROUNDS: usize = 8;
/// Sample rows per centroid for k-means.
const SAMPLE_PER_CELL: usize = 32;

/// The edges at most `max_distance` long among each row's `params.neighbours` nearest
/// rows within each of its `params.probes` cells. A subset of [`exact`]'s edges;
/// deterministic for a given input.
pub fn approximate(
    embeddings: &Embeddings,
    max_distance: f32,
    params: AnnParams,
    progress: &dyn Progress,
) -> Graph {
    let n = embeddings.len();
    let span = tracing::info_span!("approximate candidate graph", faces = n).entered();
    let started = Instant::now();
    let cells = n.div_ceil(params.cell_size.max(1)).max(1);
    progress.start(Phase::Index, n as u64);
    let members = cells_of(embeddings, cells, params);
    progress.finish(Phase::Index);
    tracing::info!(
        cells = members.len(),
        largest = members.iter().map(Vec::len).max().unwrap_or(0),
        memberships = members.iter().map(Vec::len).sum::<usize>(),
        // What the cell products cost: every pair of rows in a cell.
        products = members.iter().map(|m| m.len() * m.len()).sum::<usize>(),
        seconds = started.elapsed().as_secs_f64(),
        "cells built"
    );

    progress.start(
        Phase::Graph,
        members.iter().map(Vec::len).sum::<usize>() as u64,
    );
    let min_dot = 1.0 - max_distance - EDGE_SLACK;
    let keep = params.neighbours.max(1);
    let found: Vec<Vec<(u32, Edge)>> = members
        .par_iter()
        .map(|rows| {
            let edges = nearest_within_cell(embeddings, rows, min_dot, keep);
            progress.advance(rows.len() as u64);
            edges
        })
        .collect();
    // Each row keeps its `keep` nearest across all its cells (a row in four cells would
    // otherwise keep four times as many, most of them far: 148 per face at a million
    // faces against 32 at 100,000); an edge counts once, in the lower row's list, if
    // either end keeps it.
    let mut by_row: Vec<Vec<Edge>> = vec![Vec::new(); n];
    for cell in found {
        for (i, e) in cell {
            by_row[i as usize].push(e);
        }
    }
    let mut upper: Vec<Vec<Edge>> = vec![Vec::new(); n];
    for (i, mut near) in by_row.into_iter().enumerate() {
        near.sort_unstable_by_key(|e| e.to);
        near.dedup_by_key(|e| e.to);
        if near.len() > keep {
            near.select_nth_unstable_by(keep - 1, |a, b| {
                a.distance.total_cmp(&b.distance).then(a.to.cmp(&b.to))
            });
            near.truncate(keep);
        }
        let i = row_id(i);
        for e in near {
            let (lo, hi) = if e.to < i { (e.to, i) } else { (i, e.to) };
            upper[lo as usize].push(Edge {
                to: hi,
                distance: e.distance,
            });
        }
    }
    for list in &mut upper {
        list.sort_unstable_by_key(|e| e.to);
        list.dedup_by_key(|e| e.to);
        list.shrink_to_fit();
    }
    let graph = Graph::from_upper(upper);
    progress.finish(Phase::Graph);
    log_built(&graph, started);
    drop(span);
    graph
}

/// The rows of each cell: `cells` k-means cells, those too large split.
fn cells_of(embeddings: &Embeddings, cells: usize, params: AnnParams) -> Vec<Vec<u32>> {
    let centroids = kmeans(embeddings, cells);
    let members = assign(
        embeddings,
        &centroids,
        params.probes.clamp(1, cells),
        params.margin,
    );
    split_oversized(embeddings, members, params)
}

/// Spherical k-means on an evenly spaced sample of the rows: `cells` unit centroids
/// (as rows of a matrix). Deterministic.
fn kmeans(embeddings: &Embeddings, cells: usize) -> Array2<f32> {
    let n = embeddings.len();
    let sample_size = (cells * SAMPLE_PER_CELL).min(n);
    let sample: Vec<usize> = (0..sample_size).map(|k| k * n / sample_size).collect();
    let sample = embeddings.select(&sample);
    // Start from evenly spaced sample rows.
    let starts: Vec<usize> = (0..cells).map(|k| k * sample_size / cells).collect();
    let mut centroids = sample.view().select(ndarray::Axis(0), &starts);
    for _ in 0..KMEANS_ROUNDS {
        let nearest = nearest_centroids(&sample.view(), &centroids.view(), 1, 0.0);
        let mut sums = Array2::<f32>::zeros(centroids.dim());
        for (row, near) in nearest.iter().enumerate() {
            let mut target = sums.row_mut(near[0] as usize);
            target += &sample.row(row);
        }
        for (mut sum, mut centroid) in sums.rows_mut().into_iter().zip(centroids.rows_mut()) {
            let norm = sum.dot(&sum).sqrt();
            // An empty cell keeps its centroid.
            if norm > 0.0 {
                sum /= norm;
                centroid.assign(&sum);
            }
        }
    }
    centroids
}

/// Each centroid's member rows: every row joins its nearest centroid, and up to
/// `probes - 1` more that are nearly as near (within `margin` in cosine similarity): a
/// row between cells joins each, a row deep inside one stays there.
fn assign(
    embeddings: &Embeddings,
    centroids: &Array2<f32>,
    probes: usize,
    margin: f32,
) -> Vec<Vec<u32>> {
    let nearest = nearest_centroids(&embeddings.view(), &centroids.view(), probes, margin);
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); centroids.nrows()];
    for (row, near) in nearest.iter().enumerate() {
        for &c in near {
            members[c as usize].push(row_id(row));
        }
    }
    members.retain(|m| !m.is_empty());
    members
}

/// Cells may hold at most this many times [`AnnParams::cell_size`] rows: k-means packs
/// a person of thousands of near-identical faces into one cell, whose products grow
/// as its size squared.
const MAX_CELL_FACTOR: usize = 2;

/// Of a split cell's rows, at most this share also join their second-nearest part:
/// enough to keep one person's faces connected across the parts, bounded so that a
/// tight cell (where every row is near every part) does not copy itself into each.
/// Splits nest (a person of 75,000 faces is split again and again), so the share
/// compounds: at a quarter, the products of 200,000 `hubs` faces were 1.8× those at a
/// tenth, for the same clusters.
const SPLIT_OVERLAP: f32 = 0.1;

/// Splits every cell of more than [`MAX_CELL_FACTOR`] × `cell_size` rows by k-means
/// within it, until none is, or a split no longer shrinks it. Each row joins its
/// nearest part; the rows nearest a boundary (within the margin, at most
/// [`SPLIT_OVERLAP`] of them) join the second-nearest too.
fn split_oversized(
    embeddings: &Embeddings,
    mut members: Vec<Vec<u32>>,
    params: AnnParams,
) -> Vec<Vec<u32>> {
    let cap = MAX_CELL_FACTOR * params.cell_size.max(1);
    let mut done = Vec::with_capacity(members.len());
    while let Some(cell) = members.pop() {
        if cell.len() <= cap {
            done.push(cell);
            continue;
        }
        let parts = cell.len().div_ceil(params.cell_size.max(1));
        let indices: Vec<usize> = cell.iter().map(|&r| r as usize).collect();
        let local = embeddings.select(&indices);
        let centroids = kmeans(&local, parts);
        let nearest = nearest_two(&local.view(), &centroids.view());
        let mut split: Vec<Vec<u32>> = vec![Vec::new(); parts];
        for (r, &(first, _, _)) in nearest.iter().enumerate() {
            split[first as usize].push(cell[r]);
        }
        let mut near_boundary: Vec<(usize, f32)> = nearest
            .iter()
            .enumerate()
            .filter(|(_, n)| n.2 <= params.margin && n.1 != n.0)
            .map(|(r, n)| (r, n.2))
            .collect();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a share of a count"
        )]
        let overlap = (cell.len() as f32 * SPLIT_OVERLAP) as usize;
        if near_boundary.len() > overlap {
            near_boundary
                .select_nth_unstable_by(overlap, |a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            near_boundary.truncate(overlap);
        }
        for (r, _) in near_boundary {
            split[nearest[r].1 as usize].push(cell[r]);
        }
        split.retain(|part| !part.is_empty());
        if split.len() > 1 && split.iter().all(|part| part.len() < cell.len()) {
            for part in &mut split {
                part.sort_unstable();
            }
            members.extend(split);
        } else {
            done.push(cell);
        }
    }
    // Largest first, then by first row: an order that does not depend on the splits'.
    done.sort_by(|a, b| b.len().cmp(&a.len()).then(a.first().cmp(&b.first())));
    done
}

/// Each row's nearest and second-nearest centroid (the same when there is one) and how
/// much less alike the second is.
fn nearest_two(
    rows: &ndarray::ArrayView2<'_, f32>,
    centroids: &ndarray::ArrayView2<'_, f32>,
) -> Vec<(u32, u32, f32)> {
    let dots = rows.dot(&centroids.t());
    dots.rows()
        .into_iter()
        .map(|d| {
            let top = top_k(d.iter().copied().enumerate(), 2);
            let first = top[0];
            let second = top.get(1).copied().unwrap_or(first);
            (first, second, d[first as usize] - d[second as usize])
        })
        .collect()
}

/// Up to `probes` nearest centroids of every row, nearest first, by blocked products:
/// the nearest, and those whose cosine similarity is within `margin` of it.
fn nearest_centroids(
    rows: &ndarray::ArrayView2<'_, f32>,
    centroids: &ndarray::ArrayView2<'_, f32>,
    probes: usize,
    margin: f32,
) -> Vec<Vec<u32>> {
    const ROWS: usize = 1024;
    let n = rows.nrows();
    let starts: Vec<usize> = (0..n).step_by(ROWS).collect();
    starts
        .into_par_iter()
        .flat_map_iter(|first| {
            let block = rows.slice(ndarray::s![first..(first + ROWS).min(n), ..]);
            let dots = block.dot(&centroids.t());
            dots.rows()
                .into_iter()
                .map(|d| {
                    let top = top_k(d.iter().copied().enumerate(), probes);
                    let best = d[top[0] as usize];
                    top.into_iter()
                        .filter(|&c| d[c as usize] >= best - margin)
                        .collect()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Indices of the `k` largest values, largest first (ties to the lower index).
fn top_k(values: impl Iterator<Item = (usize, f32)>, k: usize) -> Vec<u32> {
    let mut all: Vec<(usize, f32)> = values.collect();
    keep_largest(&mut all, k);
    all.sort_unstable_by(largest_first);
    all.into_iter().map(|(i, _)| row_id(i)).collect()
}

/// Larger value first, then the lower index.
fn largest_first(a: &(usize, f32), b: &(usize, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Cuts `values` to its `k` largest (in no particular order).
fn keep_largest(values: &mut Vec<(usize, f32)>, k: usize) {
    if values.len() > k {
        values.select_nth_unstable_by(k - 1, largest_first);
        values.truncate(k);
    }
}

/// For each row of a cell, its `keep` nearest cell mates at least `min_dot` alike, as
/// `(row, edge)` pairs in library rows.
fn nearest_within_cell(
    embeddings: &Embeddings,
    rows: &[u32],
    min_dot: f32,
    keep: usize,
) -> Vec<(u32, Edge)> {
    const TILE: usize = 512;
    let indices: Vec<usize> = rows.iter().map(|&r| r as usize).collect();
    let cell = embeddings.select(&indices);
    let view = cell.view();
    let mut out = Vec::new();
    let mut near: Vec<(usize, f32)> = Vec::new();
    for first in (0..rows.len()).step_by(TILE) {
        let tile = view.slice(ndarray::s![first..(first + TILE).min(rows.len()), ..]);
        let gram = tile.dot(&view.t());
        for (r, dots) in gram.rows().into_iter().enumerate() {
            let i = first + r;
            near.clear();
            near.extend(
                dots.iter()
                    .copied()
                    .enumerate()
                    .filter(|&(j, dot)| j != i && dot >= min_dot),
            );
            keep_largest(&mut near, keep);
            out.extend(near.iter().map(|&(j, dot)| {
                (
                    rows[i],
                    Edge {
                        to: rows[j],
                        distance: (1.0 - dot).max(0.0),
                    },
                )
            }));
        }
    }
    out
}

impl Embeddings {
    /// Every pair `(i, j, distance)` with `i < j` and cosine distance at most
    /// `max_distance`, in order, found block by block without holding the full matrix
    /// (the edges of [`exact`]).
    pub fn pairs_within(&self, max_distance: f32) -> Vec<(usize, usize, f32)> {
        exact(self, max_distance, &fs_progress::Silent)
            .edges()
            .filter(|&(_, _, d)| d <= max_distance)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fs_progress::Silent;
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
    fn a_crowded_cell_is_split_and_its_rows_stay_connected() {
        // One tight person of 900 faces and a few others: k-means puts the person in
        // one cell of 900 rows; with cells of 100 the cap splits it.
        let mut rows: Vec<[f32; 3]> = (0..900)
            .map(|i| {
                #[expect(clippy::cast_precision_loss, reason = "small numbers")]
                let a = (i as f32) * 0.0004;
                [a.cos(), a.sin(), 0.2]
            })
            .collect();
        rows.extend((0..100).map(|i| {
            #[expect(clippy::cast_precision_loss, reason = "small numbers")]
            let a = 2.0 + (i % 5) as f32 * 0.8;
            [a.cos(), a.sin(), 0.2]
        }));
        let e = Embeddings::from_rows(3, &rows);
        let params = AnnParams {
            cell_size: 100,
            ..AnnParams::default()
        };
        // One k-means cell to start from: all 1,000 rows, split down to the cap.
        let cells = cells_of(&e, 1, params);
        let largest = cells.iter().map(Vec::len).max().unwrap();
        assert!(
            cells.len() > 1 && largest <= MAX_CELL_FACTOR * 100,
            "largest cell {largest}"
        );
        let total: usize = cells.iter().map(Vec::len).sum();
        assert!(
            total <= 1000 + 1000 / 4 * 3,
            "overlap bounded: {total} memberships"
        );
        // Every row is in a cell, and cells sharing rows connect the person's rows:
        // the split parts overlap, so the person's edges can cross them.
        let mut seen = vec![false; e.len()];
        cells
            .iter()
            .flatten()
            .for_each(|&r| seen[r as usize] = true);
        assert!(seen.iter().all(|&s| s));
        let links = cells
            .iter()
            .flat_map(|c| c.windows(2).map(|w| (w[0] as usize, w[1] as usize)));
        let groups = crate::connected_groups(e.len(), links);
        let person = groups.iter().find(|g| g.contains(&0)).unwrap();
        assert!(
            person.len() >= 900,
            "the person's cells do not overlap: {}",
            person.len()
        );
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
