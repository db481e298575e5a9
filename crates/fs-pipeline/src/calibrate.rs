//! `calibrate`: the distances measured on the user's own labelled folders (one folder
//! per person), and keeping them as a library's defaults.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use fs_cache::Cache;
use fs_cluster::Embeddings;
use fs_cluster::calibrate::{CalibrateOptions, Calibration, Labelled};
use fs_library::{Calibrated, Library};
use fs_packs::Thresholds;
use fs_packs::thresholds::Origin;

use crate::error::{Result, input};

/// The labelled faces of a cache: the largest face of every cached photo under exactly
/// one person's folder, and what was left out.
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    /// One embedding per photo.
    pub rows: Vec<Vec<f32>>,
    /// The person (folder index) of each row.
    pub person: Vec<usize>,
    /// The photo (cache order) of each row.
    pub photo: Vec<u64>,
    /// Photos under two people's folders (left out).
    pub in_two_folders: usize,
    /// Photos without a face (left out).
    pub without_face: usize,
    /// Photo files under the folders that the cache does not hold.
    pub not_in_cache: usize,
}

/// Gathers the labelled faces of `cache` under `folders` (one per person).
pub fn gather(cache: &Cache, folders: &[PathBuf]) -> Gathered {
    let roots: Vec<PathBuf> = folders
        .iter()
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
        .collect();
    let mut gathered = Gathered::default();
    let mut cached: HashSet<&Path> = HashSet::new();
    for (photo, image) in (0u64..).zip(cache.images()) {
        cached.extend(image.all_paths().map(PathBuf::as_path));
        let owners: Vec<usize> = (0..roots.len())
            .filter(|&r| image.all_paths().any(|p| p.starts_with(&roots[r])))
            .collect();
        match owners.as_slice() {
            [] => {}
            [owner] => match image.largest_face() {
                Some((_, face)) => {
                    gathered.rows.push(face.embedding.unit().to_vec());
                    gathered.person.push(*owner);
                    gathered.photo.push(photo);
                }
                None => gathered.without_face += 1,
            },
            _ => gathered.in_two_folders += 1,
        }
    }
    gathered.not_in_cache = roots
        .iter()
        .flat_map(|root| walkdir::WalkDir::new(root).into_iter().flatten())
        .filter(|e| e.file_type().is_file() && fs_embedder::pipeline::is_photo_name(e.path()))
        .filter(|e| !cached.contains(e.path()))
        .count();
    gathered
}

/// A calibration and what it was measured on.
#[derive(Clone, Debug)]
pub struct Measured {
    /// The measurement.
    pub calibration: Calibration,
    /// What went in and what was left out.
    pub gathered: Gathered,
    /// The false-match rate it was asked for.
    pub false_match_rate: f32,
    /// The distances in force before (the library's or the pack's).
    pub current: Thresholds,
    /// Where they come from.
    pub origin: Origin,
}

/// Measures the distances of `cache`'s embeddings on the labelled `folders` (each
/// `(label, folder)`), against the defaults of `library` (or the pack's).
pub fn measure(
    cache: &Cache,
    folders: &[(String, PathBuf)],
    false_match_rate: f32,
    library: Option<&Library>,
) -> Result<Measured> {
    for (label, dir) in folders {
        if !dir.is_dir() {
            return Err(input(
                dir,
                format!("no such folder (given as {label}={})", dir.display()),
            ));
        }
    }
    let dirs: Vec<PathBuf> = folders.iter().map(|(_, d)| d.clone()).collect();
    measure_gathered(cache, gather(cache, &dirs), false_match_rate, library)
}

/// Reads a labels file: `path,identity` lines under a header (LFW's layout as its
/// extraction writes it), each path relative to the file's folder; rows without an
/// identity are left out.
pub fn read_labels(file: &Path) -> Result<BTreeMap<PathBuf, String>> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| input(file, format!("cannot read the labels: {e}")))?;
    let base = file.parent().unwrap_or(Path::new("."));
    let mut labels = BTreeMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let Some((path, identity)) = line.split_once(',') else {
            return Err(input(
                file,
                format!("line {}: expected path,identity", n + 1),
            ));
        };
        if !identity.trim().is_empty() {
            let path = std::path::absolute(base.join(path)).unwrap_or_else(|_| base.join(path));
            labels.insert(path, identity.trim().to_string());
        }
    }
    Ok(labels)
}

/// The labelled faces of `cache` by `labels` (photo → person): each photo's face
/// nearest its centre is that person's, as in LFW (whose photos centre the person
/// they are labelled with). People with one photo count as others only.
pub fn gather_labelled(cache: &Cache, labels: &BTreeMap<PathBuf, String>) -> Gathered {
    let mut people: HashMap<&str, usize> = HashMap::new();
    let mut gathered = Gathered::default();
    let mut cached: HashSet<&Path> = HashSet::new();
    for (photo, image) in (0u64..).zip(cache.images()) {
        cached.extend(image.all_paths().map(PathBuf::as_path));
        let owners: HashSet<&str> = image
            .all_paths()
            .filter_map(|p| labels.get(p).map(String::as_str))
            .collect();
        match owners.len() {
            0 => continue,
            1 => {}
            _ => {
                gathered.in_two_folders += 1;
                continue;
            }
        }
        let owner = owners.into_iter().next().expect("one owner");
        match image.central_face() {
            Some((_, face)) => {
                let next = people.len();
                gathered.rows.push(face.embedding.unit().to_vec());
                gathered.person.push(*people.entry(owner).or_insert(next));
                gathered.photo.push(photo);
            }
            None => gathered.without_face += 1,
        }
    }
    gathered.not_in_cache = labels
        .keys()
        .filter(|p| !cached.contains(p.as_path()))
        .count();
    gathered
}

/// Measures the distances of `gathered` faces against the defaults of `library` (or
/// the pack's).
pub fn measure_gathered(
    cache: &Cache,
    gathered: Gathered,
    false_match_rate: f32,
    library: Option<&Library>,
) -> Result<Measured> {
    let embeddings =
        Embeddings::from_rows(gathered.rows.first().map_or(512, Vec::len), &gathered.rows);
    let calibration = fs_cluster::calibrate::calibrate(
        Labelled {
            embeddings: &embeddings,
            person: &gathered.person,
            photo: &gathered.photo,
        },
        &CalibrateOptions {
            false_match_rate,
            ..CalibrateOptions::default()
        },
    )?;
    let (current, origin) = crate::models::default_distances(cache, library);
    Ok(Measured {
        calibration,
        gathered,
        false_match_rate,
        current,
        origin,
    })
}

impl Measured {
    /// The distances it recommends, over those in force.
    pub fn recommended(&self) -> Thresholds {
        self.calibration.thresholds_over(&self.current)
    }

    /// Keeps the recommendation as `library`'s defaults for the cache's model. Refused,
    /// changing nothing, when the folders are too few to trust unless `force`.
    pub fn keep(&self, cache: &Cache, library: &mut Library, force: bool) -> Result<()> {
        if let Some(why) = self.calibration.too_few().filter(|_| !force) {
            return Err(input(
                library.dir(),
                format!("the folders are too few to trust: {why}"),
            ));
        }
        library.set_calibrated(Calibrated {
            model: cache.model().cloned(),
            thresholds: self.recommended(),
            people: self.calibration.people,
            faces: self.calibration.faces,
            false_match_rate: self.false_match_rate,
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        })?;
        library.save()?;
        Ok(())
    }

    /// What a person should know before trusting it: photos of the folders that the
    /// cache at `cache` lacks, too few people or faces.
    pub fn warnings(&self, cache: &Path) -> Vec<String> {
        let mut warnings = Vec::new();
        let missing = self.gathered.not_in_cache;
        if missing > 0 {
            let c = cache.display();
            warnings.push(format!(
                "{missing} photos under the folders are not in {c}; embed them first with \
                 `face-sets embed DIR... {c}`"
            ));
        }
        warnings.extend(self.calibration.too_few());
        warnings
    }

    /// The whole measurement as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "people": self.calibration.people,
            "faces": self.calibration.faces,
            "false_match_rate": self.false_match_rate,
            "warning": self.calibration.too_few(),
            "current": self.current,
            "current_from": self.origin.to_string(),
            "recommended": self.recommended(),
            "measurement": self.calibration,
        })
    }
}

/// The table a person reads: each family now and recommended, and the curves behind.
impl fmt::Display for Measured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (c, g) = (&self.calibration, &self.gathered);
        writeln!(
            f,
            "measured on {} people, {} faces ({} photos in two people's folders and {} without a face left out)",
            c.people, c.faces, g.in_two_folders, g.without_face
        )?;
        writeln!(
            f,
            "recommended at a false-match rate of {:.1}%; now in force: {}\n",
            100.0 * self.false_match_rate,
            self.origin
        )?;
        writeln!(
            f,
            "{:<15} {:<36} {:>5} {:>12}  because",
            "family", "compares", "now", "recommended"
        )?;
        let recommended = self.recommended();
        for r in &c.recommended {
            let range = match r.as_good_to {
                None => format!(
                    "; as good from {:.2} to the end of the range measured (the folders \
                     set no upper limit)",
                    r.as_good_from
                ),
                Some(to) if to > r.as_good_from => {
                    format!("; as good from {:.2} to {to:.2}", r.as_good_from)
                }
                Some(_) => String::new(),
            };
            writeln!(
                f,
                "{:<15} {:<36} {:>5.2} {:>12.2}  {}{range}",
                r.family.name(),
                r.family.compares(),
                self.current.get(r.family),
                recommended.get(r.family),
                r.because,
            )?;
        }
        writeln!(f, "\nface to centroid:   distance  own   other")?;
        for p in c.face_to_centroid.iter().filter(|p| is_shown(p.threshold)) {
            writeln!(
                f,
                "                    {:>8.2} {:>5.1}% {:>5.1}%",
                p.threshold,
                100.0 * p.own,
                100.0 * p.other
            )?;
        }
        write!(f, "\nclustering:         distance  B³-P   B³-R   B³-F")?;
        for p in c.clustering.iter().filter(|p| is_shown(p.threshold)) {
            write!(
                f,
                "\n                    {:>8.2} {:>6.3} {:>6.3} {:>6.3}",
                p.threshold, p.precision, p.recall, p.f
            )?;
        }
        Ok(())
    }
}

/// Whether `t` is a multiple of 0.05 (the rows the table shows; the JSON has them all).
fn is_shown(t: f32) -> bool {
    let hundredths = (t * 100.0).round();
    (t * 100.0 - hundredths).abs() < 1e-3 && hundredths % 5.0 == 0.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_shows_every_twentieth() {
        assert!(super::is_shown(0.55));
        assert!(super::is_shown(0.6));
        assert!(!super::is_shown(0.57));
        assert!(!super::is_shown(0.551));
    }
}
