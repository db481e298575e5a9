use ndarray::{Array2, ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;

/// One unit vector per row.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    rows: Array2<f32>,
}

/// `1 - a·b` for unit vectors, clamped at 0.
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    (1.0 - dot(a, b)).max(0.0)
}

/// `a·b`: with AVX2 and FMA where the processor has them (checked once, at run time),
/// otherwise in portable code the compiler vectorises.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        #[expect(
            unsafe_code,
            reason = "calls AVX2 code only after detecting AVX2 and FMA"
        )]
        // SAFETY: the processor supports the features `dot_avx2` is compiled for.
        return unsafe { dot_avx2(a, b) };
    }
    dot_lanes(a, b, |acc, x, y| acc + x * y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes(a, b, |acc, x, y| x.mul_add(y, acc))
}

/// `a·b` summed in sixteen independent lanes, so it compiles to wide vector code.
#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32], step: impl Fn(f32, f32, f32) -> f32) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for k in 0..LANES {
            acc[k] = step(acc[k], x[k], y[k]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

impl Embeddings {
    /// From rows of any length-`dim` vectors; each row is normalised.
    pub fn from_rows<R: AsRef<[f32]>>(dim: usize, rows: &[R]) -> Self {
        let mut m = Array2::<f32>::zeros((rows.len(), dim));
        for (mut dst, src) in m.axis_iter_mut(Axis(0)).zip(rows) {
            let src = src.as_ref();
            assert_eq!(src.len(), dim, "every row must have {dim} values");
            let norm = src.iter().map(|v| v * v).sum::<f32>().sqrt();
            for (d, s) in dst.iter_mut().zip(src) {
                *d = if norm > 0.0 { s / norm } else { 0.0 };
            }
        }
        Self { rows: m }
    }

    /// From `rows × dim` values in row-major order, normalised in place (no copy).
    pub fn from_flat(dim: usize, values: Vec<f32>) -> Self {
        assert!(
            dim > 0 && values.len().is_multiple_of(dim),
            "values must fill rows of {dim}"
        );
        let mut m = Array2::from_shape_vec((values.len() / dim, dim), values)
            .expect("the shape matches the length");
        for mut row in m.axis_iter_mut(Axis(0)) {
            let norm = row.dot(&row).sqrt();
            if norm > 0.0 {
                row /= norm;
            }
        }
        Self { rows: m }
    }

    /// Replaces row `i` with `values`, normalised.
    pub fn set_row(&mut self, i: usize, values: &[f32]) {
        let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
        for (d, s) in self.rows.row_mut(i).iter_mut().zip(values) {
            *d = if norm > 0.0 { s / norm } else { 0.0 };
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.nrows()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.nrows() == 0
    }

    /// Vector length.
    pub fn dim(&self) -> usize {
        self.rows.ncols()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> ArrayView1<'_, f32> {
        self.rows.row(i)
    }

    /// The whole matrix.
    pub fn view(&self) -> ArrayView2<'_, f32> {
        self.rows.view()
    }

    /// The rows at `indices`, in that order.
    #[must_use]
    pub fn select(&self, indices: &[usize]) -> Self {
        Self {
            rows: self.rows.select(Axis(0), indices),
        }
    }

    /// Cosine distance between rows `i` and `j`.
    pub fn distance(&self, i: usize, j: usize) -> f32 {
        (1.0 - self.row(i).dot(&self.row(j))).max(0.0)
    }

    /// How many pairs (`i < j`) fall in each of `bins` distance bins of `width` (the
    /// last bin takes everything beyond), counted block by block: memory stays linear.
    pub fn distance_histogram(&self, width: f32, bins: usize) -> Vec<usize> {
        const BLOCK: usize = 256;
        let n = self.len();
        let starts: Vec<usize> = (0..n).step_by(BLOCK).collect();
        starts
            .into_par_iter()
            .map(|first| {
                let mut counts = vec![0usize; bins.max(1)];
                let rows = BLOCK.min(n - first);
                let block = self.rows.slice(ndarray::s![first..first + rows, ..]);
                let right = self.rows.slice(ndarray::s![first.., ..]);
                let gram = block.dot(&right.t());
                for r in 0..rows {
                    for &dot in gram.row(r).iter().skip(r + 1) {
                        #[expect(
                            clippy::cast_possible_truncation,
                            clippy::cast_sign_loss,
                            reason = "a non-negative bin index, clamped"
                        )]
                        let bin = (((1.0 - dot).max(0.0) / width) as usize).min(counts.len() - 1);
                        counts[bin] += 1;
                    }
                }
                counts
            })
            .reduce(
                || vec![0usize; bins.max(1)],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                    a
                },
            )
    }

    /// The condensed upper-triangle distance matrix (`i < j`, row-major), as kodama and
    /// `SciPy` lay it out: `n (n - 1) / 2` values. Filled in blocks of rows, each block a
    /// matrix product run on its own thread.
    pub fn condensed_distances(&self) -> Vec<f32> {
        const BLOCK: usize = 256;
        let n = self.len();
        let mut out = vec![0f32; n * n.saturating_sub(1) / 2];
        // Where row i's run (j = i+1..n) starts in the condensed vector.
        let start = |i: usize| i * n - i * (i + 1) / 2;
        let mut chunks: Vec<(usize, &mut [f32])> = Vec::new();
        let mut rest: &mut [f32] = &mut out;
        let mut i = 0;
        while i + 1 < n {
            let end = (i + BLOCK).min(n - 1);
            let len = start(end) - start(i);
            let (head, tail) = rest.split_at_mut(len);
            chunks.push((i, head));
            rest = tail;
            i = end;
        }
        chunks.into_par_iter().for_each(|(first, chunk)| {
            let rows = chunk_rows(first, chunk.len(), n);
            let block = self.rows.slice(ndarray::s![first..first + rows, ..]);
            let right = self.rows.slice(ndarray::s![first + 1.., ..]);
            let gram = block.dot(&right.t());
            let mut at = 0;
            for r in 0..rows {
                let i = first + r;
                // Row i pairs with j = i+1..n, i.e. columns (i+1 - (first+1)).. of `gram`.
                let cols = gram.row(r);
                for &dot in cols.iter().skip(i - first) {
                    chunk[at] = (1.0 - dot).max(0.0);
                    at += 1;
                }
            }
            debug_assert_eq!(at, chunk.len());
        });
        out
    }
}

/// The groups of `0..n` that `pairs` connect (every index in exactly one group, each
/// group sorted, groups in order of their first index).
pub fn connected_groups(
    n: usize,
    pairs: impl IntoIterator<Item = (usize, usize)>,
) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..n).collect();
    for (a, b) in pairs {
        union(&mut parent, a, b);
    }
    groups_of(&mut parent)
}

fn groups_of(parent: &mut [usize]) -> Vec<Vec<usize>> {
    let mut by_root: std::collections::BTreeMap<usize, Vec<usize>> =
        std::collections::BTreeMap::new();
    for i in 0..parent.len() {
        let root = find(parent, i);
        by_root.entry(root).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = by_root.into_values().collect();
    groups.sort_by_key(|c| c[0]);
    groups
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        parent[ra.max(rb)] = ra.min(rb);
    }
}

/// How many rows starting at `first` fill `len` condensed entries.
fn chunk_rows(first: usize, len: usize, n: usize) -> usize {
    let (mut rows, mut filled) = (0, 0);
    while filled < len {
        filled += n - 1 - (first + rows);
        rows += 1;
    }
    rows
}

#[cfg(test)]
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "test values: exact copies compared, small counts cast"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Few cases: sizes past one block (256 rows) are what matter, and each case is
        // quadratic in unoptimised test code.
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn condensed_matches_pairwise(rows in prop::collection::vec(prop::collection::vec(-1f32..1.0, 8), 0..300)) {
            let e = Embeddings::from_rows(8, &rows);
            let c = e.condensed_distances();
            let n = e.len();
            prop_assert_eq!(c.len(), n * n.saturating_sub(1) / 2);
            let mut k = 0;
            for i in 0..n {
                for j in i + 1..n {
                    prop_assert!((c[k] - e.distance(i, j)).abs() < 1e-4, "({}, {})", i, j);
                    k += 1;
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn pairs_within_matches_brute_force(rows in prop::collection::vec(prop::collection::vec(-1f32..1.0, 4), 0..700), max in 0.0f32..1.0) {
            let e = Embeddings::from_rows(4, &rows);
            let got: Vec<(usize, usize)> = e.pairs_within(max).into_iter().map(|(i, j, _)| (i, j)).collect();
            let mut want = Vec::new();
            for i in 0..e.len() {
                for j in i + 1..e.len() {
                    let d = e.distance(i, j);
                    // Skip pairs within float noise of the boundary.
                    if (d - max).abs() > 1e-4 && d <= max {
                        want.push((i, j));
                    }
                }
            }
            for p in &want {
                prop_assert!(got.contains(p), "missing {:?}", p);
            }
            for &(i, j) in &got {
                prop_assert!(e.distance(i, j) <= max + 1e-4);
            }
        }
    }

    #[test]
    fn histogram_counts_every_pair_once() {
        let rows: Vec<[f32; 2]> = (0..300)
            .map(|i| {
                #[expect(clippy::cast_precision_loss, reason = "small numbers")]
                let a = i as f32 * 0.01;
                [a.cos(), a.sin()]
            })
            .collect();
        let e = Embeddings::from_rows(2, &rows);
        let h = e.distance_histogram(0.05, 20);
        assert_eq!(h.iter().sum::<usize>(), 300 * 299 / 2);
        let mut want = vec![0usize; 20];
        for d in e.condensed_distances() {
            want[((d / 0.05) as usize).min(19)] += 1;
        }
        assert_eq!(h, want);
    }

    #[test]
    fn distance_of_unit_vectors() {
        let e = Embeddings::from_rows(2, &[[3.0, 0.0], [0.0, 2.0], [-1.0, 0.0]]);
        assert!((e.distance(0, 1) - 1.0).abs() < 1e-6);
        assert!((e.distance(0, 2) - 2.0).abs() < 1e-6);
        assert!(e.distance(0, 0).abs() < 1e-6);
    }
}
