//! Which models and which distances a stage uses: the one place that decides.
//!
//! - The runtime: ONNX Runtime from [`Locations`], on the execution provider
//!   [`Models::provider`] allows.
//! - The pack: the one named, else the pack that made the cache (so installing another
//!   pack never changes what an existing cache uses), else the default for new caches.
//! - The distances: the library's calibrated ones for the cache's model, else the table
//!   of the pack whose recogniser made the embeddings; the caller's [`Overrides`] win.

use fs_cache::{Cache, ModelId};
use fs_detect::provider::{Choice, Provider};
use fs_export::swap::CropCheck;
use fs_library::Library;
use fs_packs::thresholds::{Family, Origin};
use fs_packs::{Locations, ModelPack, Thresholds};
use fs_progress::Progress;

use crate::error::{Error, Result};

/// Where the runtime and the packs are, what may run them, and on how many threads.
#[derive(Clone, Debug)]
pub struct Models {
    /// Where ONNX Runtime and the packs are installed.
    pub locations: Locations,
    /// Which execution provider may run the models.
    pub provider: Choice,
    /// Inference threads; 0 means one per core.
    pub threads: usize,
}

impl Default for Models {
    /// The installed runtime and packs (`face-sets setup`), the best provider there is,
    /// every core.
    fn default() -> Self {
        Self {
            locations: Locations::default(),
            provider: Choice::Auto,
            threads: 0,
        }
    }
}

impl Models {
    /// The installed runtime and packs, on the CPU.
    pub fn cpu() -> Self {
        Self {
            provider: Choice::Only(Provider::Cpu),
            ..Self::default()
        }
    }

    /// These models at `locations`.
    #[must_use]
    pub fn at(mut self, locations: Locations) -> Self {
        self.locations = locations;
        self
    }

    /// These models on `threads` threads (0: one per core).
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// The threads inference uses: [`Models::threads`], or one per core.
    pub fn thread_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        }
    }

    /// Loads ONNX Runtime and selects the provider, telling `progress` which one runs
    /// (and, for `auto`, why no GPU did). Loading it again does nothing.
    pub fn start_runtime(&self, progress: &dyn Progress) -> Result<Provider> {
        if fs_detect::runtime::is_initialized() {
            return Ok(fs_detect::runtime::active_provider());
        }
        let selected = fs_detect::runtime::start(&self.locations, self.provider)?;
        let failed: Vec<String> = selected
            .passed_over
            .iter()
            .filter(|(_, why)| why != fs_detect::runtime::NOT_BUILT_IN)
            .map(|(p, why)| format!("{p}: {why}"))
            .collect();
        let note = match (self.provider, failed.is_empty(), selected.provider) {
            (Choice::Only(_), ..) => String::new(),
            (Choice::Auto, true, Provider::Cpu) => {
                " (auto: no GPU provider in this ONNX Runtime; `face-sets setup --gpu cuda` \
                 installs one)"
                    .into()
            }
            (Choice::Auto, true, _) => " (auto)".into(),
            (Choice::Auto, false, _) => format!(" (auto; passed over {})", failed.join("; ")),
        };
        progress.note(&format!("execution provider: {}{note}", selected.provider));
        Ok(selected.provider)
    }

    /// Loads the runtime and finds the pack: `named` (a pack name or a folder), else the
    /// pack that made the cache (`cache_model`), else the default pack.
    pub fn pack(
        &self,
        named: Option<&str>,
        cache_model: Option<&ModelId>,
        progress: &dyn Progress,
    ) -> Result<ModelPack> {
        self.start_runtime(progress)?;
        let locations = &self.locations;
        Ok(match (named, cache_model) {
            (Some(name), _) => ModelPack::resolve(&locations.models, name)?,
            (None, Some(model)) => ModelPack::from_dir(locations.pack_for(Some(&model.pack)))
                .map_err(|e| Error::PackOfCache {
                    model: Box::new(model.clone()),
                    source: e,
                })?,
            (None, None) => ModelPack::from_dir(locations.pack_for(None))?,
        })
    }

    /// The roop crop check for faces of `cache`: the detector of the pack `named`, else
    /// of the pack that made the cache.
    pub fn crop_check(
        &self,
        cache: &Cache,
        named: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<CropCheck> {
        let pack = self.pack(named, cache.model(), progress)?;
        Ok(CropCheck::new(&pack.detector, self.thread_count())?)
    }
}

/// Distances the caller gives; the rest come from the library or the pack.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Overrides {
    values: [Option<f32>; Family::ALL.len()],
}

impl Overrides {
    /// `family` at `value`.
    #[must_use]
    pub fn with(mut self, family: Family, value: f32) -> Self {
        self.set(family, Some(value));
        self
    }

    /// Sets (or, with `None`, clears) the value of `family`.
    pub fn set(&mut self, family: Family, value: Option<f32>) {
        let at = Family::ALL
            .iter()
            .position(|f| *f == family)
            .expect("every family is in ALL");
        self.values[at] = value;
    }

    /// `defaults` with these values in place.
    pub fn apply(&self, defaults: &Thresholds) -> Thresholds {
        let mut out = *defaults;
        for (family, value) in Family::ALL.iter().zip(self.values) {
            if let Some(v) = value {
                out.set(*family, v);
            }
        }
        out
    }
}

impl FromIterator<(Family, Option<f32>)> for Overrides {
    /// Each family given a value; `None` leaves it to the defaults.
    fn from_iter<I: IntoIterator<Item = (Family, Option<f32>)>>(values: I) -> Self {
        let mut overrides = Self::default();
        for (family, value) in values {
            overrides.set(family, value);
        }
        overrides
    }
}

/// The distance defaults for a cache's embeddings: `library`'s calibrated ones for its
/// model, else the table of the pack whose recogniser made them.
pub fn default_distances(cache: &Cache, library: Option<&Library>) -> (Thresholds, Origin) {
    match library {
        Some(library) => library.distances_for(cache.model()),
        None => fs_library::pack_distances(cache.model()),
    }
}

/// The distances in force for `cache` ([`default_distances`] with `overrides`), said to
/// `progress` (which values, and where they come from).
pub fn distances(
    cache: &Cache,
    library: Option<&Library>,
    overrides: &Overrides,
    progress: &dyn Progress,
) -> (Thresholds, Origin) {
    let (defaults, origin) = default_distances(cache, library);
    let values = overrides.apply(&defaults);
    let listed: Vec<String> = Family::ALL
        .iter()
        .map(|f| format!("{} {:.2}", f.name(), values.get(*f)))
        .collect();
    let given = match overrides.values.iter().flatten().count() {
        0 => String::new(),
        n => format!("; {n} given"),
    };
    progress.note(&format!(
        "distances: {} ({origin}{given})",
        listed.join(", ")
    ));
    (values, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[expect(clippy::float_cmp, reason = "the values are copied, never computed")]
    fn overrides_replace_only_the_families_given() {
        let defaults = fs_packs::thresholds::BUFFALO_S;
        let overrides = Overrides::default()
            .with(Family::Cluster, 0.5)
            .with(Family::Candidate, 0.3);
        let out = overrides.apply(&defaults);
        assert_eq!(out.get(Family::Cluster), 0.5);
        assert_eq!(out.get(Family::Candidate), 0.3);
        for family in Family::ALL {
            if !matches!(family, Family::Cluster | Family::Candidate) {
                assert_eq!(out.get(family), defaults.get(family), "{family:?}");
            }
        }
        let mut cleared = overrides;
        cleared.set(Family::Cluster, None);
        assert_eq!(
            cleared.apply(&defaults).get(Family::Cluster),
            defaults.cluster
        );
    }
}
