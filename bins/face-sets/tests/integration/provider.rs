//! `--provider` on a machine without a GPU: what runs, what is refused and how the
//! refusal reads, which ONNX Runtime is loaded, and the run log.

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{face_sets as bin, fixtures, run, stderr};
use fs_packs::Locations;

/// One photo with a face, in a folder of its own.
fn one_photo(dir: &Path) -> PathBuf {
    let photos = dir.join("photos");
    fs::create_dir_all(&photos).unwrap();
    fs::copy(fixtures().join("images/f0012.jpg"), photos.join("a.jpg")).unwrap();
    photos
}

#[test]
fn a_provider_the_runtime_lacks_exits_2_naming_it_and_how_to_get_it() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = one_photo(tmp.path());
    let cache = tmp.path().join("c.fsc");
    for (flag, env, needle) in [
        (Some("cuda"), None, "cargo xtask setup --gpu cuda"),
        (None, Some("cuda"), "cargo xtask setup --gpu cuda"),
        (Some("rocm"), None, "ORT_DYLIB_PATH"),
        (Some("openvino"), None, "onnxruntime-openvino"),
    ] {
        let mut cmd = bin();
        if let Some(value) = env {
            cmd.env("FACE_SETS_PROVIDER", value);
        }
        cmd.arg("embed");
        if let Some(value) = flag {
            cmd.args(["--provider", value]);
        }
        let out = run(cmd.arg(&photos).arg(&cache));
        let name = flag.or(env).unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!(
                "execution provider {name} is not in the ONNX Runtime"
            )) && stderr(&out).contains(needle),
            "{name}: {}",
            stderr(&out)
        );
    }
    let out = run(bin()
        .env("FACE_SETS_PROVIDER", "gpu")
        .arg("embed")
        .arg(&photos)
        .arg(&cache));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("\"gpu\""), "{}", stderr(&out));
}

#[test]
fn auto_runs_on_the_cpu_here_says_so_and_the_run_log_records_it_once_per_run_with_work() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = one_photo(tmp.path());
    let cache = tmp.path().join("c.fsc");
    let out = run(bin().arg("embed").arg(&photos).arg(&cache));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("execution provider: cpu (auto: no GPU provider"),
        "{}",
        stderr(&out)
    );
    let inspect = |cache: &Path| {
        let out = run(bin().arg("inspect").arg(cache));
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(
        inspect(&cache).contains("runs        1 (last: face-sets 0.1.0 embed on cpu)"),
        "{}",
        inspect(&cache)
    );
    // Nothing new: no run recorded. A new photo on the CPU named explicitly: a second.
    let embed_on_cpu = || {
        let out = run(bin()
            .args(["embed", "--provider", "cpu"])
            .arg(&photos)
            .arg(&cache));
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    embed_on_cpu();
    assert!(
        inspect(&cache).contains("runs        1 "),
        "{}",
        inspect(&cache)
    );
    fs::copy(fixtures().join("images/f0007.jpg"), photos.join("b.jpg")).unwrap();
    let out = embed_on_cpu();
    assert!(
        stderr(&out).contains("execution provider: cpu\n"),
        "{}",
        stderr(&out)
    );
    assert!(
        inspect(&cache).contains("runs        2 "),
        "{}",
        inspect(&cache)
    );
}

#[test]
fn an_installed_gpu_runtime_is_what_auto_and_cuda_load() {
    let real = fs_fixtures::locations();
    assert!(
        real.runtime.is_file(),
        "run `cargo xtask setup`: no runtime at {}",
        real.runtime.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let photos = one_photo(tmp.path());
    // A data home whose runtime-cuda/ holds a runtime (the CPU build stands in for the
    // CUDA one) and a library that cannot be loaded, which preloading must survive.
    let data = tmp.path().join("data");
    let home = Locations::new(&data.join("face-sets"), None, None);
    let gpu = home.gpu_runtime("cuda");
    fs::create_dir_all(gpu.parent().unwrap()).unwrap();
    fs::create_dir_all(home.runtime.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&real.runtime, &gpu).unwrap();
    std::os::unix::fs::symlink(&real.runtime, &home.runtime).unwrap();
    fs::create_dir_all(home.gpu_libraries("cuda")).unwrap();
    fs::write(
        home.gpu_libraries("cuda").join("libnot_a_library.so.1"),
        b"junk",
    )
    .unwrap();
    let face_sets = |provider: &str, cache: &str| {
        run(bin()
            .env("XDG_DATA_HOME", &data)
            .env("FACE_SETS_MODELS", &real.models)
            .env_remove("ORT_DYLIB_PATH")
            .args(["embed", "--provider", provider])
            .arg(&photos)
            .arg(tmp.path().join(cache)))
    };
    let out = face_sets("cuda", "cuda.fsc");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&gpu.display().to_string()),
        "cuda loads the GPU runtime: {}",
        stderr(&out)
    );
    let out = face_sets("auto", "auto.fsc");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("execution provider: cpu"),
        "{}",
        stderr(&out)
    );
    let out = face_sets("cpu", "cpu.fsc");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn setup_from_the_binary_keeps_an_intact_install_and_refuses_an_unknown_gpu() {
    let real = fs_fixtures::locations();
    let out = run(bin().arg("setup"));
    assert!(out.status.success(), "{}", stderr(&out));
    for line in [
        "runtime: ONNX Runtime 1.31.1 already installed",
        "models: buffalo_s already installed",
        "models: yunet_sface already installed",
        "ready: runtime",
    ] {
        assert!(stderr(&out).contains(line), "{line}: {}", stderr(&out));
    }
    assert!(real.runtime.is_file());
    let out = run(bin().args(["setup", "--gpu", "tpu"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("tpu"), "{}", stderr(&out));
}
