//! Measuring the distance thresholds on labelled faces.
//!
//! Given faces with a known person each, [`calibrate`] measures over a range of
//! distances, for each distance family of [`fs_packs::Thresholds`]:
//!
//! - **face to centroid** (outlier, export-outlier, join, known, candidate): the share of
//!   a person's faces within the distance of their own centroid (leaving the face out
//!   of it), and the share of faces with another person's centroid that close (leaving
//!   out that person's face from the same photo, if any);
//! - **centroid to centroid** (merge): the share of people whose two halves' centroids
//!   are that close, and the share of pairs of people whose centroids are;
//! - **clustering** (cluster): B³ precision, recall and F of average linkage cut there.
//!
//! and recommends a value per family at a stated false-match rate (see [`recommend`]).

use fs_packs::thresholds::{Family, Thresholds};

use crate::Embeddings;
use crate::agglomerative::cluster_with;
use crate::graph::GraphChoice;
use fs_progress::Silent;

/// Faces with their person and photo.
#[derive(Clone, Copy, Debug)]
pub struct Labelled<'a> {
    /// One row per face.
    pub embeddings: &'a Embeddings,
    /// The person of each row (any ids).
    pub person: &'a [usize],
    /// The photo of each row (any ids; byte-identical photos share one): faces of one
    /// photo are never compared with each other.
    pub photo: &'a [u64],
}

/// How to measure and what to recommend.
#[derive(Clone, Debug)]
pub struct CalibrateOptions {
    /// The distances measured, ascending.
    pub grid: Vec<f32>,
    /// The share of false matches a recommendation may allow: faces with another
    /// person's centroid within it, pairs of people whose centroids are, or
    /// 1 − B³ precision of the clustering.
    pub false_match_rate: f32,
    /// The share of a person's faces the tight families (export-outlier, known) keep.
    pub tight_keep: f32,
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        Self {
            grid: (20..=80)
                .map(|i| f32::from(u8::try_from(i).unwrap_or(0)) / 100.0)
                .collect(),
            false_match_rate: 0.01,
            tight_keep: 0.95,
        }
    }
}

/// Shares at one distance.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Point {
    /// The distance.
    pub threshold: f32,
    /// Share of same-person comparisons within it.
    pub own: f32,
    /// Share of other-person comparisons within it (false matches).
    pub other: f32,
}

/// Clustering quality at one threshold.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ClusterPoint {
    /// The threshold.
    pub threshold: f32,
    /// B³ precision.
    pub precision: f32,
    /// B³ recall.
    pub recall: f32,
    /// B³ F-measure.
    pub f: f32,
}

/// A recommended value.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Recommendation {
    /// The family.
    #[serde(serialize_with = "family_name")]
    pub family: Family,
    /// The value.
    pub value: f32,
    /// Why, in a sentence.
    pub because: String,
    /// The smallest value the measurement cannot tell from `value` (the same shares).
    pub as_good_from: f32,
    /// The largest such value; `None` when the data put no upper limit on it (no false
    /// match up to the end of the distances measured).
    pub as_good_to: Option<f32>,
}

#[expect(clippy::trivially_copy_pass_by_ref, reason = "serde's signature")]
fn family_name<S: serde::Serializer>(family: &Family, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(family.name())
}

/// What [`calibrate`] measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Calibration {
    /// People with at least one face.
    pub people: usize,
    /// Faces measured.
    pub faces: usize,
    /// Face to centroid, per distance of the grid.
    pub face_to_centroid: Vec<Point>,
    /// Centroid to centroid (halves of one person; two people), per distance.
    pub centroid_to_centroid: Vec<Point>,
    /// Average linkage, per distance.
    pub clustering: Vec<ClusterPoint>,
    /// One per family, in [`Family::ALL`]'s order.
    pub recommended: Vec<Recommendation>,
}

/// Fewer people than this, and recommendations may be far off.
pub const TRUSTED_PEOPLE: usize = 10;
/// Fewer faces than this, and recommendations may be far off.
pub const TRUSTED_FACES: usize = 100;

impl Calibration {
    /// Why the measurement is too small to trust, if it is.
    pub fn too_few(&self) -> Option<String> {
        (self.people < TRUSTED_PEOPLE || self.faces < TRUSTED_FACES).then(|| {
            format!(
                "{} people and {} faces are too few to trust (at least {TRUSTED_PEOPLE} people \
                 and {TRUSTED_FACES} faces): one unusual photo moves a value a lot, and \
                 look-alikes the folders lack are not measured",
                self.people, self.faces
            )
        })
    }

    /// The recommendations as a set of thresholds, keeping `current`'s value of a
    /// family where the measurement cannot tell it from the recommended one.
    pub fn thresholds_over(&self, current: &Thresholds) -> Thresholds {
        let mut t = *current;
        for r in &self.recommended {
            let now = current.get(r.family);
            let as_good = now >= r.as_good_from && r.as_good_to.is_none_or(|to| now <= to);
            t.set(r.family, if as_good { now } else { r.value });
        }
        // A tight gate is never looser than its loose counterpart.
        t.known = t.known.min(t.join);
        t.export_outlier = t.export_outlier.min(t.outlier);
        t
    }
}

/// Why faces cannot be calibrated on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalibrateError {
    /// Fewer than two people: no distance to another person can be measured.
    #[error("calibration needs faces of at least two people; found {0}")]
    TooFewPeople(usize),
    /// The inputs disagree in length.
    #[error("{embeddings} faces but {person} person ids and {photo} photo ids")]
    Mismatch {
        /// Rows.
        embeddings: usize,
        /// Person ids.
        person: usize,
        /// Photo ids.
        photo: usize,
    },
}

/// Measures every family over `options.grid` and recommends values.
pub fn calibrate(
    faces: Labelled<'_>,
    options: &CalibrateOptions,
) -> Result<Calibration, CalibrateError> {
    let n = faces.embeddings.len();
    if faces.person.len() != n || faces.photo.len() != n {
        return Err(CalibrateError::Mismatch {
            embeddings: n,
            person: faces.person.len(),
            photo: faces.photo.len(),
        });
    }
    let people = group_by_person(faces.person);
    if people.len() < 2 {
        return Err(CalibrateError::TooFewPeople(people.len()));
    }
    let (own, other) = face_to_centroid_distances(faces, &people);
    let face_to_centroid = shares(&options.grid, &own, &other);
    let (halves, pairs) = centroid_distances(faces.embeddings, &people);
    let centroid_to_centroid = shares(&options.grid, &halves, &pairs);
    let clustering = options
        .grid
        .iter()
        .map(|&t| {
            let clusters = cluster_with(faces.embeddings, t, GraphChoice::Exact, &Silent);
            let (precision, recall, f) = b_cubed(&clusters, faces.person);
            ClusterPoint {
                threshold: t,
                precision,
                recall,
                f,
            }
        })
        .collect();
    let mut calibration = Calibration {
        people: people.len(),
        faces: n,
        face_to_centroid,
        centroid_to_centroid,
        clustering,
        recommended: Vec::new(),
    };
    calibration.recommended = recommend(&calibration, options);
    Ok(calibration)
}

/// The rules, at false-match rate `r`:
///
/// - **cluster**: among thresholds whose B³ precision is at least 1 − `r`, those with
///   the highest F; the middle of the first run of them.
/// - **merge**: the largest distance at which at most `r` of the pairs of people have
///   centroids that close.
/// - **outlier, join, candidate** (loose): the largest distance at which at most `r` of
///   the faces have another person's centroid that close.
/// - **export-outlier, known** (tight): the smallest distance that keeps
///   `tight_keep` of a person's faces, or the loose value if that is smaller.
///
/// Each comes with the range of values the measurement cannot tell from it, so that
/// [`Calibration::thresholds_over`] changes a current value only when the data argue
/// against it.
pub fn recommend(calibration: &Calibration, options: &CalibrateOptions) -> Vec<Recommendation> {
    let r = options.false_match_rate;
    let grid = &options.grid;
    let last = |points: &[Point], ok: &dyn Fn(&Point) -> bool| {
        points.iter().take_while(|p| ok(p)).last().copied()
    };
    let percent = |x: f32| format!("{:.1}%", 100.0 * x);
    let up_to = |v: f32| (grid.last() != Some(&v)).then_some(v);
    // The first distance with the same share of a person's faces as `p`.
    let same_own_from = |points: &[Point], p: &Point| {
        points
            .iter()
            .find(|q| q.own >= p.own)
            .map_or(p.threshold, |q| q.threshold)
    };

    let cluster = {
        let eligible: Vec<&ClusterPoint> = calibration
            .clustering
            .iter()
            .filter(|c| c.precision >= 1.0 - r)
            .collect();
        let best_f = eligible
            .iter()
            .map(|c| c.f)
            .fold(f32::NEG_INFINITY, f32::max);
        let first = calibration
            .clustering
            .iter()
            .position(|c| c.precision >= 1.0 - r && c.f >= best_f);
        match first {
            Some(start) => {
                let run = calibration.clustering[start..]
                    .iter()
                    .take_while(|c| c.precision >= 1.0 - r && c.f >= best_f)
                    .count();
                let chosen = calibration.clustering[start + run / 2];
                Recommendation {
                    family: Family::Cluster,
                    value: chosen.threshold,
                    because: format!("B³ F {:.3} at precision {:.3}", chosen.f, chosen.precision),
                    as_good_from: calibration.clustering[start].threshold,
                    as_good_to: up_to(calibration.clustering[start + run - 1].threshold),
                }
            }
            None => Recommendation {
                family: Family::Cluster,
                value: grid.first().copied().unwrap_or(0.0),
                because: format!("no threshold reaches B³ precision {:.3}", 1.0 - r),
                as_good_from: grid.first().copied().unwrap_or(0.0),
                as_good_to: grid.first().copied(),
            },
        }
    };

    let merge = match last(&calibration.centroid_to_centroid, &|p| p.other <= r) {
        Some(p) => Recommendation {
            family: Family::Merge,
            value: p.threshold,
            because: format!(
                "{} of pairs of people this close; {} of people's halves",
                percent(p.other),
                percent(p.own)
            ),
            as_good_from: same_own_from(&calibration.centroid_to_centroid, &p),
            as_good_to: up_to(p.threshold),
        },
        None => unbounded(Family::Merge, grid, r),
    };

    let loose_point = last(&calibration.face_to_centroid, &|p| p.other <= r);
    let loose = |family: Family| match loose_point {
        Some(p) => Recommendation {
            family,
            value: p.threshold,
            because: format!(
                "{} of faces have another person's centroid this close; {} their own",
                percent(p.other),
                percent(p.own)
            ),
            as_good_from: same_own_from(&calibration.face_to_centroid, &p),
            as_good_to: up_to(p.threshold),
        },
        None => unbounded(family, grid, r),
    };
    let tight = |family: Family| {
        let keep = calibration
            .face_to_centroid
            .iter()
            .find(|p| p.own >= options.tight_keep)
            .copied();
        match (keep, loose_point) {
            (Some(k), Some(l)) if k.threshold <= l.threshold => Recommendation {
                family,
                value: k.threshold,
                because: format!(
                    "keeps {} of a person's faces; {} of faces have another's centroid this close",
                    percent(k.own),
                    percent(k.other)
                ),
                // Any distance keeping that share and no looser than the loose gate.
                as_good_from: k.threshold,
                as_good_to: up_to(l.threshold),
            },
            _ => loose(family),
        }
    };

    Family::ALL
        .into_iter()
        .map(|family| match family {
            Family::Cluster => cluster.clone(),
            Family::Merge => merge.clone(),
            Family::Outlier | Family::Join | Family::Candidate => loose(family),
            Family::ExportOutlier | Family::Known => tight(family),
        })
        .collect()
}

fn unbounded(family: Family, grid: &[f32], r: f32) -> Recommendation {
    Recommendation {
        family,
        value: grid.first().copied().unwrap_or(0.0),
        because: format!(
            "more than {:.1}% false matches even at the smallest distance",
            100.0 * r
        ),
        as_good_from: grid.first().copied().unwrap_or(0.0),
        as_good_to: grid.first().copied(),
    }
}

/// Rows of each person, in order of first appearance.
fn group_by_person(person: &[usize]) -> Vec<Vec<usize>> {
    let mut index = std::collections::HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (row, &p) in person.iter().enumerate() {
        let g = *index.entry(p).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(row);
    }
    groups
}

/// Cosine distance between a row and a sum of rows (not normalised).
fn distance_to_sum(embeddings: &Embeddings, row: usize, sum: &[f32]) -> Option<f32> {
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm <= f32::EPSILON {
        return None;
    }
    let dot: f32 = embeddings
        .row(row)
        .iter()
        .zip(sum)
        .map(|(a, b)| a * b)
        .sum();
    Some(1.0 - dot / norm)
}

/// Each face to its own person's centroid without it (people with two or more
/// faces), and each face to the nearest other person's centroid (without that person's
/// face from the same photo).
fn face_to_centroid_distances(faces: Labelled<'_>, people: &[Vec<usize>]) -> (Vec<f32>, Vec<f32>) {
    let e = faces.embeddings;
    let sums: Vec<Vec<f32>> = people
        .iter()
        .map(|rows| crate::centroid::sum(e, rows))
        .collect();
    let mut own = Vec::new();
    let mut other = Vec::new();
    for (p, rows) in people.iter().enumerate() {
        for &i in rows {
            if rows.len() > 1 {
                let without: Vec<f32> = sums[p].iter().zip(e.row(i)).map(|(s, v)| s - v).collect();
                own.extend(distance_to_sum(e, i, &without));
            }
            let nearest_other = people
                .iter()
                .enumerate()
                .filter(|&(q, _)| q != p)
                .filter_map(|(q, members)| {
                    let same_photo: Vec<usize> = members
                        .iter()
                        .copied()
                        .filter(|&j| faces.photo[j] == faces.photo[i])
                        .collect();
                    if same_photo.is_empty() {
                        distance_to_sum(e, i, &sums[q])
                    } else {
                        let sum: Vec<f32> = sums[q]
                            .iter()
                            .zip(crate::centroid::sum(e, &same_photo))
                            .map(|(s, v)| s - v)
                            .collect();
                        distance_to_sum(e, i, &sum)
                    }
                })
                .fold(f32::INFINITY, f32::min);
            if nearest_other.is_finite() {
                other.push(nearest_other);
            }
        }
    }
    (own, other)
}

/// Distances between the centroids of each person's two halves (alternate faces;
/// people with two or more), and between every two people's centroids.
fn centroid_distances(embeddings: &Embeddings, people: &[Vec<usize>]) -> (Vec<f32>, Vec<f32>) {
    let centroid = |rows: &[usize]| crate::centroid::centroid(embeddings, rows);
    let halves = people
        .iter()
        .filter(|rows| rows.len() > 1)
        .map(|rows| {
            let a: Vec<usize> = rows.iter().copied().step_by(2).collect();
            let b: Vec<usize> = rows.iter().copied().skip(1).step_by(2).collect();
            crate::cosine_distance(&centroid(&a), &centroid(&b))
        })
        .collect();
    let centroids: Vec<Vec<f32>> = people.iter().map(|rows| centroid(rows)).collect();
    let mut pairs = Vec::new();
    for (i, a) in centroids.iter().enumerate() {
        for b in &centroids[i + 1..] {
            pairs.push(crate::cosine_distance(a, b));
        }
    }
    (halves, pairs)
}

#[expect(clippy::cast_precision_loss, reason = "shares of counts")]
fn shares(grid: &[f32], own: &[f32], other: &[f32]) -> Vec<Point> {
    let share = |values: &[f32], t: f32| {
        if values.is_empty() {
            0.0
        } else {
            values.iter().filter(|&&d| d <= t).count() as f32 / values.len() as f32
        }
    };
    grid.iter()
        .map(|&t| Point {
            threshold: t,
            own: share(own, t),
            other: share(other, t),
        })
        .collect()
}

/// B³ precision, recall and F of `clusters` (rows not in any cluster are singletons)
/// against the true `person` of each row.
#[expect(clippy::cast_precision_loss, reason = "shares of counts")]
pub fn b_cubed(clusters: &[Vec<usize>], person: &[usize]) -> (f32, f32, f32) {
    use std::collections::HashMap;
    let n = person.len();
    if n == 0 {
        return (1.0, 1.0, 1.0);
    }
    let mut class_size: HashMap<usize, usize> = HashMap::new();
    for &p in person {
        *class_size.entry(p).or_default() += 1;
    }
    let mut in_cluster = vec![false; n];
    let (mut precision, mut recall) = (0.0f64, 0.0f64);
    for cluster in clusters {
        let mut counts: HashMap<usize, usize> = HashMap::new();
        for &row in cluster {
            *counts.entry(person[row]).or_default() += 1;
            in_cluster[row] = true;
        }
        for &row in cluster {
            let same = counts[&person[row]] as f64;
            precision += same / cluster.len() as f64;
            recall += same / class_size[&person[row]] as f64;
        }
    }
    for (row, _) in in_cluster.iter().enumerate().filter(|(_, c)| !**c) {
        precision += 1.0;
        recall += 1.0 / class_size[&person[row]] as f64;
    }
    let (p, r) = (precision / n as f64, recall / n as f64);
    let f = if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    };
    #[expect(clippy::cast_possible_truncation, reason = "a share")]
    (p as f32, r as f32, f as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// People on orthogonal axes of `dim`, each face tilted off its axis by `spread`
    /// (cosine distance to the axis ≈ 1 − cos(spread)) in a direction of its own.
    fn people(faces_per_person: &[usize], spread: f32, dim: usize) -> (Embeddings, Vec<usize>) {
        let mut rows = Vec::new();
        let mut person = Vec::new();
        let mut k = 0;
        for (p, &count) in faces_per_person.iter().enumerate() {
            for _ in 0..count {
                let mut v = vec![0.0f32; dim];
                v[p] = spread.cos();
                v[faces_per_person.len() + k % (dim - faces_per_person.len())] = spread.sin();
                k += 1;
                rows.push(v);
                person.push(p);
            }
        }
        (Embeddings::from_rows(dim, &rows), person)
    }

    fn photos(n: usize) -> Vec<u64> {
        (0..n as u64).collect()
    }

    #[test]
    fn b_cubed_of_known_clusterings() {
        let person = [0, 0, 1, 1];
        assert_eq!(b_cubed(&[vec![0, 1], vec![2, 3]], &person), (1.0, 1.0, 1.0));
        // Everything in one cluster: precision 1/2, recall 1.
        let (p, r, _) = b_cubed(&[vec![0, 1, 2, 3]], &person);
        assert!((p - 0.5).abs() < 1e-6 && (r - 1.0).abs() < 1e-6);
        // Every row alone: precision 1, recall 1/2.
        let (p, r, _) = b_cubed(&[], &person);
        assert!((p - 1.0).abs() < 1e-6 && (r - 0.5).abs() < 1e-6);
    }

    #[test]
    fn well_separated_people_get_recommendations_between_their_spread_and_their_distance() {
        // Faces 0.3 rad off their person's axis; people orthogonal (distance 1).
        let (e, person) = people(&[12, 12, 12, 12], 0.3, 64);
        let photo = photos(e.len());
        let labelled = Labelled {
            embeddings: &e,
            person: &person,
            photo: &photo,
        };
        let c = calibrate(labelled, &CalibrateOptions::default()).unwrap();
        assert_eq!((c.people, c.faces), (4, 48));
        let t = c.thresholds_over(&fs_packs::thresholds::REFERENCE);
        // Clustering is perfect across a plateau; the middle of it is chosen.
        let cluster = &c.recommended[0];
        assert!(
            (0.3..=0.8).contains(&t.cluster),
            "{cluster:?} {:?}",
            c.clustering
        );
        // No other person is within the grid: the loose gates reach its end, unbounded,
        // and every distance from where all faces are their person's is as good, so a
        // current value in that range stays and one below it is raised.
        let join = &c.recommended[4];
        assert!((join.value - 0.80).abs() < 1e-6 && join.as_good_to.is_none());
        assert!(join.as_good_from <= fs_packs::thresholds::REFERENCE.join);
        assert!((t.join - fs_packs::thresholds::REFERENCE.join).abs() < 1e-6);
        let too_tight = Thresholds {
            join: join.as_good_from - 0.05,
            ..fs_packs::thresholds::REFERENCE
        };
        assert!((c.thresholds_over(&too_tight).join - 0.80).abs() < 1e-6);
        // The tight gates: the smallest distance keeping 95% of the faces; a current
        // value below it is raised to it, one above it (and within the loose gate) stays.
        let own = c.face_to_centroid.iter().find(|p| p.own >= 0.95).unwrap();
        let known = &c.recommended[5];
        assert!((known.value - own.threshold).abs() < 1e-6, "{known:?}");
        let below = Thresholds {
            known: own.threshold - 0.05,
            ..fs_packs::thresholds::REFERENCE
        };
        assert!((c.thresholds_over(&below).known - own.threshold).abs() < 1e-6);
        let above = Thresholds {
            known: own.threshold + 0.05,
            ..fs_packs::thresholds::REFERENCE
        };
        assert!((c.thresholds_over(&above).known - above.known).abs() < 1e-6);
    }

    #[test]
    fn a_face_of_another_person_in_one_photo_is_left_out_of_their_centroid() {
        // Person 1 has two faces, one of them from photo 7, where person 0's face is
        // its exact copy (the same face labelled twice). Without the photo rule, that
        // face's distance to person 1's centroid would count as a near false match.
        let rows = [
            [1.0, 0.0, 0.0],
            [0.98, 0.199, 0.0],
            [0.0, 0.0, 1.0],
            [1.0, 0.0, 0.0],
        ];
        let e = Embeddings::from_rows(3, &rows);
        let person = [0, 0, 1, 1];
        let photo = [7, 8, 9, 7];
        let (_, other) = face_to_centroid_distances(
            Labelled {
                embeddings: &e,
                person: &person,
                photo: &photo,
            },
            &group_by_person(&person),
        );
        // Row 0 against person 1 without row 3 is the far axis: distance 1.
        assert!((other[0] - 1.0).abs() < 1e-5, "{other:?}");
    }

    #[test]
    fn one_person_is_an_error() {
        let (e, person) = people(&[5], 0.2, 8);
        let photo = photos(e.len());
        let err = calibrate(
            Labelled {
                embeddings: &e,
                person: &person,
                photo: &photo,
            },
            &CalibrateOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err, CalibrateError::TooFewPeople(1));
        assert!(err.to_string().contains("at least two people"));
    }

    proptest! {
        #[test]
        fn shares_grow_with_the_distance_and_recommendations_respect_the_rate(
            spread in 0.2f32..1.2,
            counts in proptest::collection::vec(2usize..8, 2..5),
            rate in 0.0f32..0.2,
        ) {
            let (e, person) = people(&counts, spread, 48);
            let photo = photos(e.len());
            let options = CalibrateOptions { false_match_rate: rate, ..CalibrateOptions::default() };
            let c = calibrate(Labelled { embeddings: &e, person: &person, photo: &photo }, &options).unwrap();
            for curve in [&c.face_to_centroid, &c.centroid_to_centroid] {
                for w in curve.windows(2) {
                    prop_assert!(w[0].own <= w[1].own && w[0].other <= w[1].other);
                }
            }
            let t = c.thresholds_over(&fs_packs::thresholds::REFERENCE);
            let at = |v: f32| c.face_to_centroid.iter().find(|p| (p.threshold - v).abs() < 1e-6).copied();
            for family in [Family::Outlier, Family::Join, Family::Candidate, Family::Known, Family::ExportOutlier] {
                let r = &c.recommended[Family::ALL.iter().position(|f| *f == family).unwrap()];
                if let Some(p) = at(t.get(family)) {
                    prop_assert!(p.other <= rate || r.value <= options.grid[0], "{family:?} {p:?} {r:?}");
                }
            }
            prop_assert!(t.known <= t.join + 1e-6);
            let chosen = c.clustering.iter().find(|p| (p.threshold - t.cluster).abs() < 1e-6).unwrap();
            prop_assert!(chosen.precision >= 1.0 - rate || t.cluster <= options.grid[0]);
        }
    }
}
