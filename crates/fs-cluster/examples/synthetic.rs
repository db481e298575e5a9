//! Clusters synthetic embeddings, for `cargo xtask bench cluster`.
//!
//! ```text
//! synthetic gen N FILE        write N unit vectors (50 identities) as little-endian f32
//! synthetic cluster FILE OUT  average linkage at 0.55; labels to OUT; JSON timing on stdout
//! synthetic refine FILE OUT   cluster 0.55 → centroid merge 0.40 → outliers 0.55 → size ≥ 15
//! ```
//!
//! Each identity is a random unit centre; faces are the centre plus Gaussian noise
//! scaled so that two faces of one identity sit about 0.4 apart in cosine distance,
//! as real ArcFace embeddings of one person do.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::exit,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    reason = "a benchmark driver"
)]

use std::time::Instant;

use fs_cluster::Embeddings;
use fs_cluster::agglomerative::cluster;
use fs_cluster::centroid::{merge_by_centroid, reject_outliers};

const DIM: usize = 512;
const IDENTITIES: usize = 50;

/// `SplitMix64`: a small deterministic generator, enough for test data.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal by Box–Muller.
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

fn generate(n: usize) -> Vec<f32> {
    let mut rng = SplitMix(42);
    let centres: Vec<Vec<f32>> = (0..IDENTITIES)
        .map(|_| (0..DIM).map(|_| rng.normal()).collect())
        .collect();
    let centre_norm = (DIM as f32).sqrt();
    // Noise of norm ~0.8 against a unit centre: same-identity cosine ≈ 0.6.
    let sigma = 0.8 / (DIM as f32).sqrt();
    let mut out = Vec::with_capacity(n * DIM);
    for _ in 0..n {
        // Identity sizes vary: small identity numbers are much more frequent.
        let k = (rng.uniform() * rng.uniform() * IDENTITIES as f64) as usize % IDENTITIES;
        out.extend(
            centres[k]
                .iter()
                .map(|c| c / centre_norm + sigma * rng.normal()),
        );
    }
    out
}

fn read(path: &str) -> Embeddings {
    let bytes = std::fs::read(path).expect("readable embeddings file");
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let rows: Vec<&[f32]> = values.chunks_exact(DIM).collect();
    Embeddings::from_rows(DIM, &rows)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn write_labels(path: &str, n: usize, clusters: &[Vec<usize>]) {
    let mut labels = vec![-1i64; n];
    for (c, members) in clusters.iter().enumerate() {
        for &i in members {
            labels[i] = c as i64;
        }
    }
    let text = labels
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(path, text).expect("writable labels file");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["gen", n, file] => {
            let data = generate(n.parse().expect("a count"));
            let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(file, bytes).expect("writable output");
        }
        ["cluster", file, out] => {
            let e = read(file);
            let start = Instant::now();
            let clusters = cluster(&e, 0.55);
            let secs = start.elapsed().as_secs_f64();
            write_labels(out, e.len(), &clusters);
            println!(
                "{{\"seconds\": {secs:.3}, \"clusters\": {}, \"peak_mib\": {:.0}}}",
                clusters.len(),
                peak_rss_mib()
            );
        }
        ["refine", file, out] => {
            let e = read(file);
            let start = Instant::now();
            let clusters = merge_by_centroid(&e, cluster(&e, 0.55), 0.40);
            let facesets: Vec<Vec<usize>> = clusters
                .into_iter()
                .map(|c| reject_outliers(&e, &c, 0.55, 4).0)
                .filter(|c| c.len() >= 15)
                .collect();
            let secs = start.elapsed().as_secs_f64();
            write_labels(out, e.len(), &facesets);
            println!(
                "{{\"seconds\": {secs:.3}, \"clusters\": {}, \"peak_mib\": {:.0}}}",
                facesets.len(),
                peak_rss_mib()
            );
        }
        _ => {
            eprintln!("usage: synthetic gen N FILE | cluster FILE LABELS | refine FILE LABELS");
            std::process::exit(2);
        }
    }
}
