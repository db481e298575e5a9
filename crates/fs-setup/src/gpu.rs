//! `cargo xtask setup --gpu cuda`: the CUDA build of ONNX Runtime and the CUDA and
//! cuDNN libraries it loads, every wheel pinned by SHA-256, fetched with pip.
//!
//! Layout, beside the CPU runtime (see `fs_packs::Locations::gpu_runtime`):
//!
//! ```text
//! runtime-cuda/libonnxruntime.so.1.31.1            the CUDA build (also runs on the CPU)
//! runtime-cuda/libonnxruntime_providers_*.so       its CUDA, TensorRT and shared providers
//! runtime-cuda/lib/lib{cudart,cublas,cudnn,…}.so.* preloaded by face-sets before use
//! ```

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Context, Result, bail};
use fs_packs::locations::Locations;

use crate::{CP311_MANYLINUX_2_28, PinnedWheel, Pip, write_atomically};

/// What one GPU kind installs.
pub(crate) struct GpuPlan {
    /// Its name (`cuda`).
    pub(crate) kind: &'static str,
    /// The ONNX Runtime build: members under `onnxruntime/capi/` named `lib*` go to the
    /// runtime folder.
    pub(crate) runtime: PinnedWheel,
    /// Wheels whose `lib*.so*` members go to the `lib/` folder.
    pub(crate) libraries: Vec<PinnedWheel>,
}

const CUDA_PLATFORM: &[&str] = &["--python-version", "3.11", "--implementation", "py"];

/// ONNX Runtime 1.31.1 for CUDA 13 and cuDNN 9, and the NVIDIA wheels its `cuda` and
/// `cudnn` extras name (cuBLAS and nvJitLink come with cuDNN and cuFFT).
pub(crate) fn cuda_plan() -> GpuPlan {
    GpuPlan {
        kind: "cuda",
        runtime: PinnedWheel {
            requirement: "onnxruntime-gpu==1.31.1",
            file_name: "onnxruntime_gpu-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
            sha256: "e26c475fe361b2015f45b4b824bd13f0bb20204e59b62814e6f0acd5f3d491a6",
            pip_args: CP311_MANYLINUX_2_28,
        },
        libraries: vec![
            nvidia(
                "nvidia-cuda-runtime==13.5.37",
                "nvidia_cuda_runtime-13.5.37-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
                "df2b79a8852f10d1fef8c848489c49eebb5754051bf870202a862831412b179d",
                &["--platform", "manylinux_2_17_x86_64"],
            ),
            nvidia(
                "nvidia-cuda-nvrtc==13.5.37",
                "nvidia_cuda_nvrtc-13.5.37-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl",
                "86b4d68058807988b7d9af5b44917a0601e9c337f35ccd657bfb3c759ff8d8bc",
                &["--platform", "manylinux_2_12_x86_64"],
            ),
            nvidia(
                "nvidia-cublas==13.10.0.20",
                "nvidia_cublas-13.10.0.20-py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.whl",
                "dcc6d63884c53d07e267ce7e6feac17b2538cebaafec5db865736c3e28e4dc84",
                &["--platform", "manylinux_2_5_x86_64"],
            ),
            nvidia(
                "nvidia-cufft==12.5.0.14",
                "nvidia_cufft-12.5.0.14-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
                "b8be26837a5abad2b5b74f3e92dd29f622a42934b355be0961a48712cbba23ad",
                &["--platform", "manylinux_2_17_x86_64"],
            ),
            nvidia(
                "nvidia-curand==10.4.5.25",
                "nvidia_curand-10.4.5.25-py3-none-manylinux_2_27_x86_64.whl",
                "22bb226a857e5888fe6b54ae465fc4371296bcff13a35f79e19691bcf454f529",
                &["--platform", "manylinux_2_27_x86_64"],
            ),
            nvidia(
                "nvidia-nvjitlink==13.5.37",
                "nvidia_nvjitlink-13.5.37-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl",
                "280d7cb9649704145f074b8dbde500de04ce02d0872e066e20a83c17bcaa93eb",
                &["--platform", "manylinux_2_12_x86_64"],
            ),
            nvidia(
                "nvidia-cudnn-cu13==9.28.1.4",
                "nvidia_cudnn_cu13-9.28.1.4-py3-none-manylinux_2_27_x86_64.whl",
                "a54f205b1db1f2895d99f398754db1369816f0569dd459731f925635cf7b65ec",
                &["--platform", "manylinux_2_27_x86_64"],
            ),
        ],
    }
}

fn nvidia(
    requirement: &'static str,
    file_name: &'static str,
    sha256: &'static str,
    platform: &'static [&'static str],
) -> PinnedWheel {
    // pip takes the platform flags as given; the rest is the same for every wheel.
    let args: Vec<&'static str> = platform.iter().chain(CUDA_PLATFORM).copied().collect();
    PinnedWheel {
        requirement,
        file_name,
        sha256,
        pip_args: Box::leak(args.into_boxed_slice()),
    }
}

/// Installs `plan` under `locations`, fetching from `index` (pip's default when
/// `None`). Files already there are replaced atomically; a wheel whose hash differs
/// from its pin stops the install before anything of it is written.
pub(crate) fn install(
    plan: &GpuPlan,
    locations: &Locations,
    pip: &Pip<'_>,
    report: &dyn Fn(&str),
) -> Result<()> {
    let runtime = locations.gpu_runtime(plan.kind);
    let libraries = locations.gpu_libraries(plan.kind);
    let folder = runtime
        .parent()
        .context("the GPU runtime has no folder")?
        .to_path_buf();
    // Every wheel is fetched and checked before anything is written.
    let tmp = tempfile::tempdir()?;
    let wheel = pip.download(&plan.runtime, tmp.path(), report)?;
    let library_wheels = plan
        .libraries
        .iter()
        .map(|pinned| Ok((pinned, pip.download(pinned, tmp.path(), report)?)))
        .collect::<Result<Vec<_>>>()?;
    let written = extract(&wheel, |name| {
        name.strip_prefix("onnxruntime/capi/")
            .filter(|rest| rest.starts_with("lib") && !rest.contains('/'))
            .map(|rest| folder.join(rest))
    })?;
    if !written.contains(&runtime) {
        bail!(
            "{} holds no {}",
            plan.runtime.file_name,
            runtime.file_name().unwrap_or_default().to_string_lossy()
        );
    }
    for (pinned, wheel) in &library_wheels {
        let written = extract(wheel, |name| {
            let file = name.rsplit('/').next()?;
            (name.contains("/lib/") && file.starts_with("lib") && file.contains(".so"))
                .then(|| libraries.join(file))
        })?;
        if written.is_empty() {
            bail!("{} holds no shared library", pinned.file_name);
        }
    }
    report(&format!(
        "runtime: installed ONNX Runtime for {} at {} (libraries in {})",
        plan.kind,
        runtime.display(),
        libraries.display()
    ));
    Ok(())
}

/// Writes every member of `wheel` that `target` maps to a path; returns the paths.
fn extract(wheel: &Path, target: impl Fn(&str) -> Option<PathBuf>) -> Result<Vec<PathBuf>> {
    let file = fs::File::open(wheel).with_context(|| format!("cannot open {}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a wheel", wheel.display()))?;
    let mut written = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let Some(path) = entry.is_file().then(|| target(entry.name())).flatten() else {
            continue;
        };
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        write_atomically(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::io::Write;

    use super::*;

    /// A wheel holding `members` (name, bytes) and the metadata pip reads.
    fn wheel(path: &Path, members: &[(&str, &[u8])]) -> String {
        let file_name = path.file_name().unwrap().to_str().unwrap();
        let mut parts = file_name.split('-');
        let (name, version) = (parts.next().unwrap(), parts.next().unwrap());
        let metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
        let info = format!("{name}-{version}.dist-info");
        let mut zip = zip::ZipWriter::new(fs::File::create(path).unwrap());
        let wheel_file =
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
        for (name, bytes) in [
            (format!("{info}/METADATA"), metadata.as_bytes()),
            (format!("{info}/WHEEL"), wheel_file.as_bytes()),
        ] {
            zip.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        for (name, bytes) in members {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        crate::sha256_file(path).unwrap()
    }

    /// A PEP 503 simple index on loopback serving the wheels in `dir`.
    fn serve(dir: &Path) -> (String, std::thread::JoinHandle<()>) {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}/simple/", server.server_addr());
        let dir = dir.to_path_buf();
        let handle = std::thread::spawn(move || {
            for request in server.incoming_requests() {
                let path = request.url().trim_matches('/').to_string();
                let response = if let Some(project) = path.strip_prefix("simple/") {
                    // Every wheel whose normalised project name matches.
                    let wanted = project.replace(['-', '.'], "_");
                    let links: String = fs::read_dir(&dir)
                        .unwrap()
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n.split('-').next() == Some(wanted.as_str()))
                        .fold(String::new(), |mut html, n| {
                            let _ = writeln!(html, "<a href=\"/files/{n}\">{n}</a>");
                            html
                        });
                    tiny_http::Response::from_string(format!("<html><body>{links}</body></html>"))
                        .with_header(
                            "Content-Type: text/html"
                                .parse::<tiny_http::Header>()
                                .unwrap(),
                        )
                } else if let Some(file) = path.strip_prefix("files/") {
                    match fs::read(dir.join(file)) {
                        Ok(bytes) => tiny_http::Response::from_data(bytes),
                        Err(_) => tiny_http::Response::from_string("").with_status_code(404),
                    }
                } else {
                    tiny_http::Response::from_string("").with_status_code(404)
                };
                let _ = request.respond(response);
            }
        });
        (url, handle)
    }

    #[test]
    fn installs_the_runtime_and_libraries_from_an_index_and_refuses_a_changed_wheel() {
        let index_dir = tempfile::tempdir().unwrap();
        let runtime_wheel = "onnxruntime_gpu-1.31.1-py3-none-any.whl";
        let runtime_sha = wheel(
            &index_dir.path().join(runtime_wheel),
            &[
                (
                    "onnxruntime/capi/libonnxruntime.so.1.31.1",
                    b"runtime".as_slice(),
                ),
                ("onnxruntime/capi/libonnxruntime_providers_cuda.so", b"cuda"),
                ("onnxruntime/capi/onnxruntime_pybind11_state.so", b"python"),
            ],
        );
        let cudnn_wheel = "nvidia_cudnn_cu13-9.28.1.4-py3-none-any.whl";
        let cudnn_sha = wheel(
            &index_dir.path().join(cudnn_wheel),
            &[
                ("nvidia/cudnn/lib/libcudnn.so.9", b"cudnn".as_slice()),
                ("nvidia/cudnn/include/cudnn.h", b"header"),
            ],
        );
        let (url, _server) = serve(index_dir.path());
        let plan = |cudnn_sha: &'static str| GpuPlan {
            kind: "cuda",
            runtime: PinnedWheel {
                requirement: "onnxruntime-gpu==1.31.1",
                file_name: runtime_wheel,
                sha256: Box::leak(runtime_sha.clone().into_boxed_str()),
                pip_args: &[],
            },
            libraries: vec![PinnedWheel {
                requirement: "nvidia-cudnn-cu13==9.28.1.4",
                file_name: cudnn_wheel,
                sha256: cudnn_sha,
                pip_args: &[],
            }],
        };
        let home = tempfile::tempdir().unwrap();
        let locations = Locations::new(home.path(), None, None);
        install(
            &plan(Box::leak(cudnn_sha.into_boxed_str())),
            &locations,
            &Pip {
                python: "python3",
                index: Some(&url),
            },
            &|_| {},
        )
        .unwrap();
        let runtime = locations.gpu_runtime("cuda");
        assert_eq!(fs::read(&runtime).unwrap(), b"runtime");
        let folder = runtime.parent().unwrap();
        assert_eq!(
            fs::read(folder.join("libonnxruntime_providers_cuda.so")).unwrap(),
            b"cuda"
        );
        assert!(!folder.join("onnxruntime_pybind11_state.so").exists());
        let lib = locations.gpu_libraries("cuda");
        assert_eq!(fs::read(lib.join("libcudnn.so.9")).unwrap(), b"cudnn");
        assert!(!lib.join("cudnn.h").exists());
        // The CPU runtime's place is untouched.
        assert!(!locations.runtime.exists());

        // A wheel that is not the pinned one stops the install, naming it.
        fs::remove_dir_all(home.path()).unwrap();
        let err = install(
            &plan("0".repeat(64).leak()),
            &locations,
            &Pip {
                python: "python3",
                index: Some(&url),
            },
            &|_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(cudnn_wheel), "{err}");
        assert!(
            !locations.gpu_runtime("cuda").exists()
                && !locations
                    .gpu_libraries("cuda")
                    .join("libcudnn.so.9")
                    .exists(),
            "nothing is written when a wheel is refused"
        );
    }

    #[test]
    fn the_cuda_plan_pins_every_wheel_and_names_the_libraries_onnx_runtime_loads() {
        let plan = cuda_plan();
        for w in std::iter::once(&plan.runtime).chain(&plan.libraries) {
            assert_eq!(w.sha256.len(), 64, "{}", w.file_name);
            let (name, version) = w.requirement.split_once("==").unwrap();
            assert!(
                w.file_name
                    .starts_with(&format!("{}-{version}-", name.replace('-', "_"))),
                "{} does not match {}",
                w.file_name,
                w.requirement
            );
        }
        let names: Vec<&str> = plan
            .libraries
            .iter()
            .map(|w| w.requirement.split("==").next().unwrap())
            .collect();
        for needed in [
            "nvidia-cuda-runtime",
            "nvidia-cublas",
            "nvidia-cudnn-cu13",
            "nvidia-cufft",
            "nvidia-curand",
            "nvidia-cuda-nvrtc",
        ] {
            assert!(names.contains(&needed), "{needed} missing");
        }
    }
}
