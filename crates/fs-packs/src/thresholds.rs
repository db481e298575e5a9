//! The cosine distances that decide who is who, per model pack.
//!
//! Each recogniser has its own embedding space: two photos of one person sit at one
//! distance with `w600k_r50` (`buffalo_l`) and at another with `w600k_mbf`
//! (`buffalo_s`). So every distance default belongs to the pack whose recogniser made
//! the embeddings, found by the recogniser's checksum (or, for packs pinned on first
//! install, its file name). `docs/thresholds.md` gives the table and how each value
//! was chosen; `face-sets calibrate` measures them on a user's own labelled folders.

use serde::{Deserialize, Serialize};

/// One value per distance family. Every value is a cosine distance (0 to 2).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Average linkage: clusters merge while the mean distance between their faces is
    /// below it (`cluster --threshold`, `refine --initial-threshold`,
    /// `extend --cluster-threshold`, discovery's clustering).
    pub cluster: f32,
    /// Two clusters whose centroids are closer than this are one person
    /// (`refine --merge-threshold`).
    pub merge: f32,
    /// A face farther than this from its cluster's centroid is dropped
    /// (`refine --outlier-threshold`).
    pub outlier: f32,
    /// The tighter gate of an export: a face farther than this from its faceset's
    /// centroid is not exported (`export-swap --outlier-threshold`).
    pub export_outlier: f32,
    /// A new face joins the nearest person whose centroid is within this
    /// (`extend --threshold`).
    pub join: f32,
    /// A face this close to a known identity's centroid is that identity: covered
    /// already when discovering (`--existing-threshold`), routed into it
    /// (`hand_sorted --route-threshold`).
    pub known: f32,
    /// A singleton this close to a faceset's centroid is offered as a candidate
    /// (`--candidate-match-threshold`).
    pub candidate: f32,
}

/// The distance families, in the order [`Thresholds`] lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// [`Thresholds::cluster`].
    Cluster,
    /// [`Thresholds::merge`].
    Merge,
    /// [`Thresholds::outlier`].
    Outlier,
    /// [`Thresholds::export_outlier`].
    ExportOutlier,
    /// [`Thresholds::join`].
    Join,
    /// [`Thresholds::known`].
    Known,
    /// [`Thresholds::candidate`].
    Candidate,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 7] = [
        Family::Cluster,
        Family::Merge,
        Family::Outlier,
        Family::ExportOutlier,
        Family::Join,
        Family::Known,
        Family::Candidate,
    ];

    /// Its name in tables and JSON (`export-outlier`).
    pub fn name(self) -> &'static str {
        match self {
            Family::Cluster => "cluster",
            Family::Merge => "merge",
            Family::Outlier => "outlier",
            Family::ExportOutlier => "export-outlier",
            Family::Join => "join",
            Family::Known => "known",
            Family::Candidate => "candidate",
        }
    }

    /// What it compares, in a few words.
    pub fn compares(self) -> &'static str {
        match self {
            Family::Cluster => "mean face to face, between clusters",
            Family::Merge => "centroid to centroid",
            Family::Outlier
            | Family::ExportOutlier
            | Family::Join
            | Family::Known
            | Family::Candidate => "face to a person's centroid",
        }
    }
}

impl Thresholds {
    /// The value of one family.
    pub fn get(&self, family: Family) -> f32 {
        match family {
            Family::Cluster => self.cluster,
            Family::Merge => self.merge,
            Family::Outlier => self.outlier,
            Family::ExportOutlier => self.export_outlier,
            Family::Join => self.join,
            Family::Known => self.known,
            Family::Candidate => self.candidate,
        }
    }

    /// Sets the value of one family.
    pub fn set(&mut self, family: Family, value: f32) {
        *match family {
            Family::Cluster => &mut self.cluster,
            Family::Merge => &mut self.merge,
            Family::Outlier => &mut self.outlier,
            Family::ExportOutlier => &mut self.export_outlier,
            Family::Join => &mut self.join,
            Family::Known => &mut self.known,
            Family::Candidate => &mut self.candidate,
        } = value;
    }
}

impl Default for Thresholds {
    /// The default pack's.
    fn default() -> Self {
        for_pack(crate::DEFAULT_PACK).0
    }
}

/// The reference tool's values, tuned by its users on `buffalo_l`.
pub const REFERENCE: Thresholds = Thresholds {
    cluster: 0.55,
    merge: 0.40,
    outlier: 0.55,
    export_outlier: 0.45,
    join: 0.55,
    known: 0.45,
    candidate: 0.55,
};

/// The values for `buffalo_s` (`w600k_mbf`), chosen from labelled sets measured with
/// it (see `docs/thresholds.md`): its faces of one person spread wider than
/// `buffalo_l`'s while other people stay as far, so the clustering and the tight
/// face-to-centroid gates are looser.
pub const BUFFALO_S: Thresholds = Thresholds {
    cluster: 0.65,
    merge: 0.40,
    outlier: 0.55,
    export_outlier: 0.50,
    join: 0.55,
    known: 0.50,
    candidate: 0.55,
};

/// The values for `yunet_sface` (SFace), measured by `face-sets calibrate --labels` on
/// LFW's development half (people A–L: 8,292 photos of 3,417 people; see
/// `docs/thresholds.md`). `cluster` 0.51 gives B³ F 0.991 at precision 0.996 there (the
/// 0.60 derived before had precision 0.935); the face-to-centroid gates keep 96% of a
/// person's faces with under 1% of faces within another person's centroid. `merge`
/// stays `buffalo_s`'s 0.40 scaled by 0.86: LFW, most of whose people have one photo,
/// sets no upper limit for it.
pub const YUNET_SFACE: Thresholds = Thresholds {
    cluster: 0.51,
    merge: 0.35,
    outlier: 0.42,
    export_outlier: 0.40,
    join: 0.42,
    known: 0.40,
    candidate: 0.42,
};

/// A pack's defaults, found by its recogniser.
#[derive(Clone, Copy, Debug)]
pub struct PackThresholds {
    /// The pack's name.
    pub pack: &'static str,
    /// Its recogniser's file name.
    pub recognizer: &'static str,
    /// Its recogniser's SHA-256, where the project pins it.
    pub recognizer_sha256: Option<&'static str>,
    /// The defaults.
    pub thresholds: Thresholds,
}

/// Every pack's defaults.
pub const PACK_THRESHOLDS: &[PackThresholds] = &[
    PackThresholds {
        pack: "buffalo_s",
        recognizer: "w600k_mbf.onnx",
        recognizer_sha256: Some("9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f"),
        thresholds: BUFFALO_S,
    },
    PackThresholds {
        pack: "buffalo_l",
        recognizer: "w600k_r50.onnx",
        recognizer_sha256: None,
        thresholds: REFERENCE,
    },
    PackThresholds {
        pack: "yunet_sface",
        recognizer: crate::catalogue::SFACE_INT8BQ_ORTFIX_FILE,
        recognizer_sha256: Some(crate::catalogue::SFACE_INT8BQ_ORTFIX_SHA256),
        thresholds: YUNET_SFACE,
    },
];

/// Where a set of defaults came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "from", content = "name")]
pub enum Origin {
    /// The table of a known pack.
    Pack(String),
    /// The library's own, written by `face-sets calibrate --write`.
    Calibrated(String),
    /// A recogniser no table knows: the reference tool's values.
    Unknown(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Pack(pack) => write!(f, "the {pack} defaults"),
            Origin::Calibrated(library) => write!(f, "calibrated for {library}"),
            Origin::Unknown(recognizer) => write!(
                f,
                "the reference tool's values (no defaults for recogniser {recognizer}; \
                 run `face-sets calibrate` to measure them)"
            ),
        }
    }
}

/// The defaults for a recogniser: a pack whose pinned checksum matches, else a pack
/// whose recogniser file name matches, else [`REFERENCE`].
pub fn for_recognizer(file: &str, sha256: &str) -> (Thresholds, Origin) {
    let by_sha = PACK_THRESHOLDS
        .iter()
        .find(|p| p.recognizer_sha256 == Some(sha256));
    let by_name = || {
        PACK_THRESHOLDS
            .iter()
            .find(|p| p.recognizer_sha256.is_none() && p.recognizer == file)
    };
    match by_sha.or_else(by_name) {
        Some(p) => (p.thresholds, Origin::Pack(p.pack.to_string())),
        None => (REFERENCE, Origin::Unknown(file.to_string())),
    }
}

/// The defaults of a pack by name (for caches that record no model): the table's, else
/// [`REFERENCE`].
pub fn for_pack(pack: &str) -> (Thresholds, Origin) {
    match PACK_THRESHOLDS.iter().find(|p| p.pack == pack) {
        Some(p) => (p.thresholds, Origin::Pack(p.pack.to_string())),
        None => (REFERENCE, Origin::Unknown(pack.to_string())),
    }
}

/// A line for `--help`: each pack's default of one family.
pub fn help_defaults(family: Family) -> String {
    let values: Vec<String> = PACK_THRESHOLDS
        .iter()
        .map(|p| format!("{} {:.2}", p.pack, p.thresholds.get(family)))
        .collect();
    format!("Default: the pack's ({}).", values.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_recogniser_is_found_by_checksum_even_when_renamed() {
        let sha = PACK_THRESHOLDS[0].recognizer_sha256.unwrap();
        let (t, origin) = for_recognizer("renamed.onnx", sha);
        assert_eq!(t, BUFFALO_S);
        assert_eq!(origin, Origin::Pack("buffalo_s".into()));
    }

    #[test]
    fn an_unpinned_recogniser_is_found_by_name_and_a_changed_pinned_one_is_not() {
        assert_eq!(for_recognizer("w600k_r50.onnx", "00").0, REFERENCE);
        // A file named like buffalo_s's but with other bytes is not buffalo_s.
        let (t, origin) = for_recognizer("w600k_mbf.onnx", "00");
        assert_eq!(t, REFERENCE);
        assert_eq!(origin, Origin::Unknown("w600k_mbf.onnx".into()));
        assert!(origin.to_string().contains("calibrate"));
    }

    #[test]
    fn get_and_set_address_every_family_once() {
        let values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
        let mut t = REFERENCE;
        for (family, v) in Family::ALL.into_iter().zip(values) {
            t.set(family, v);
        }
        for (family, v) in Family::ALL.into_iter().zip(values) {
            assert_eq!(t.get(family).to_bits(), v.to_bits(), "{}", family.name());
        }
    }

    #[test]
    fn packs_are_found_by_name_and_help_lists_each_default() {
        assert_eq!(for_pack("buffalo_l").0, REFERENCE);
        assert_eq!(for_pack("buffalo_s").0, BUFFALO_S);
        assert!(help_defaults(Family::Cluster).contains("buffalo_s 0.65"));
        assert!(help_defaults(Family::Cluster).contains("buffalo_l 0.55"));
        assert!(help_defaults(Family::Cluster).contains("yunet_sface 0.51"));
        assert_eq!(for_pack("yunet_sface").0, YUNET_SFACE);
    }

    #[test]
    fn thresholds_round_trip_through_json() {
        let json = serde_json::to_string(&BUFFALO_S).unwrap();
        assert!(json.contains("\"export_outlier\":0.5"), "{json}");
        let back: Thresholds = serde_json::from_str(&json).unwrap();
        assert_eq!(back, BUFFALO_S);
    }
}
