//! Hostile and careless command lines against the example programs (issue 25): each ends in
//! a clear error or a handled result, and nothing outside the output folder is touched.
//! The programs are the ones `cargo test` builds beside this test (target/<profile>/examples).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The built example `name`, next to this test's own binary.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/..");
    profile_dir.join("examples").join(name)
}

fn run(name: &str, args: &[&str], cwd: &Path) -> Output {
    let bin = example(name);
    assert!(
        bin.exists(),
        "{} not built: `cargo test` builds the examples (`cargo test --test hostile` alone does not; run `cargo build --examples` first)",
        bin.display()
    );
    Command::new(&bin)
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn pipeline_name_cannot_escape_out() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    std::fs::create_dir_all(tmp.path().join("data")).unwrap();
    std::fs::write(tmp.path().join("data/keep.txt"), "precious").unwrap();
    for name in ["..", ".", "../x", "a/b"] {
        let o = run(
            "pipeline",
            &["--out", out.to_str().unwrap(), "--name", name],
            tmp.path(),
        );
        assert!(!o.status.success(), "--name {name:?} accepted");
        assert!(
            stderr(&o).contains("invalid setting name"),
            "{name:?}: {}",
            stderr(&o)
        );
    }
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("data/keep.txt")).unwrap(),
        "precious"
    );
    assert!(!tmp.path().join("config.json").exists());
}

#[test]
fn phantom_refuses_a_folder_with_files_unless_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cohort");
    let args = ["--n-per-class", "1", "--size", "64", "--slices", "8-9"];
    let first = run(
        "phantom",
        &[&["--out", out.to_str().unwrap()][..], &args].concat(),
        tmp.path(),
    );
    assert!(first.status.success(), "{}", stderr(&first));
    std::fs::write(out.join("stale.txt"), "old").unwrap();
    let again = run(
        "phantom",
        &[&["--out", out.to_str().unwrap()][..], &args].concat(),
        tmp.path(),
    );
    assert!(!again.status.success());
    assert!(stderr(&again).contains("--overwrite"), "{}", stderr(&again));
    assert!(
        out.join("stale.txt").exists(),
        "nothing removed without --overwrite"
    );
    let cleared = run(
        "phantom",
        &[&["--out", out.to_str().unwrap(), "--overwrite"][..], &args].concat(),
        tmp.path(),
    );
    assert!(cleared.status.success(), "{}", stderr(&cleared));
    assert!(!out.join("stale.txt").exists());
    // A cohort that cannot fit in memory is refused before anything is written.
    let huge = tmp.path().join("huge");
    let o = run(
        "phantom",
        &["--out", huge.to_str().unwrap(), "--n-per-class", "100000"],
        tmp.path(),
    );
    assert!(
        !o.status.success() && stderr(&o).contains("GiB"),
        "{}",
        stderr(&o)
    );
    assert!(!huge.exists());
}

#[test]
fn hash_goes_on_past_a_bad_image_and_bounds_its_size() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.png");
    std::fs::write(&bad, b"not a png").unwrap();
    let good = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/ct-similarity/tests/data/images/la00_51x43.png");
    let o = run(
        "hash",
        &[bad.to_str().unwrap(), good.to_str().unwrap()],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("la00_51x43.png ahash="));
    assert!(
        stderr(&o).contains("1 of 2 images failed"),
        "{}",
        stderr(&o)
    );
    let only_bad = run("hash", &[bad.to_str().unwrap()], tmp.path());
    assert!(!only_bad.status.success());
    let huge = run(
        "hash",
        &["--size", "100000", good.to_str().unwrap()],
        tmp.path(),
    );
    assert!(!huge.status.success() && stderr(&huge).contains("--size"));
}

#[test]
fn morph_refuses_a_lying_npy_header_without_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let mut f = b"\x93NUMPY\x01\x00".to_vec();
    f.extend(60000u16.to_le_bytes());
    f.extend(b"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }\n");
    let p = tmp.path().join("lie.npy");
    std::fs::write(&p, &f).unwrap();
    let o = run(
        "morph",
        &["--op", "erode", p.to_str().unwrap(), "out.npy"],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("ends inside the header"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn train_refuses_bad_runs_before_writing_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs/r");
    let out_s = out.to_str().unwrap();
    let cache = tmp.path().join("cache");
    let cache_s = cache.to_str().unwrap();
    // Flags out of range are refused when parsed, naming the flag.
    for (flag, value) in [
        ("--lr", "nan"),
        ("--width", "0"),
        ("--folds", "0"),
        ("--model", "resnet"),
    ] {
        let o = run(
            "train",
            &["--phantoms", "2", "--out", out_s, flag, value],
            tmp.path(),
        );
        assert!(!o.status.success(), "{flag} {value} accepted");
        assert!(stderr(&o).contains(flag), "{flag}: {}", stderr(&o));
    }
    // Two scans per class cannot fill five folds: a typed error, no run folder.
    let o = run(
        "train",
        &[
            "--phantoms",
            "2",
            "--phantom-size",
            "64",
            "--size",
            "16",
            "--fixed-slices",
            "4",
            "--out",
            out_s,
            "--cache",
            cache_s,
        ],
        tmp.path(),
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("fewer than the 5 folds"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    // Neither a data set nor phantoms.
    let o = run("train", &["--out", out_s], tmp.path());
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--data DIR or --phantoms N"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn nan_inputs_and_regularisation_are_refused_not_propagated() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n);
    // import_torch: a NaN pixel is named before any weights are read.
    let mut x = ndarray::Array4::<f32>::zeros((1, 3, 8, 8));
    x[[0, 1, 2, 3]] = f32::NAN;
    ndarray_npy::write_npy(p("x.npy"), &x).unwrap();
    let o = run(
        "import_torch",
        &[
            "--arch",
            "resnet18",
            "--weights",
            "absent.pt",
            "--input",
            "x.npy",
            "--out",
            "l.npy",
        ],
        tmp.path(),
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not finite"), "{}", stderr(&o));
    assert!(!p("l.npy").exists());
    // otdd: NaN features and a NaN or zero --entreg are errors, not a distance.
    let mut a = ndarray::Array2::<f64>::zeros((4, 2));
    ndarray_npy::write_npy(p("a.npy"), &a).unwrap();
    a[[2, 1]] = f64::NAN;
    ndarray_npy::write_npy(p("nan.npy"), &a).unwrap();
    ndarray_npy::write_npy(p("y.npy"), &ndarray::arr1(&[0i64, 0, 1, 1])).unwrap();
    let o = run("otdd", &["nan.npy", "y.npy", "a.npy", "y.npy"], tmp.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not finite"), "{}", stderr(&o));
    for bad in ["nan", "0", "-1", "inf"] {
        let flag = format!("--entreg={bad}");
        let o = run(
            "otdd",
            &["a.npy", "y.npy", "a.npy", "y.npy", &flag],
            tmp.path(),
        );
        assert!(!o.status.success(), "--entreg {bad} accepted");
        assert!(stderr(&o).contains("--entreg"), "{bad}: {}", stderr(&o));
    }
}

#[test]
fn predict_refuses_what_is_not_a_bundle_without_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let scan = tmp.path().join("scan.npy");
    std::fs::write(&scan, b"not a scan").unwrap();
    let out = tmp.path().join("pred");
    let case = |model: &Path, expect: &str| {
        let o = run(
            "predict",
            &[
                "--model",
                model.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                scan.to_str().unwrap(),
            ],
            tmp.path(),
        );
        assert!(!o.status.success(), "{} accepted", model.display());
        let e = stderr(&o);
        assert!(e.contains(expect), "{}: {e}", model.display());
        assert!(!e.contains("panicked"), "{e}");
    };
    case(&tmp.path().join("missing"), "no such folder");
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    case(&empty, "cannot read bundle.json");
    let junk = tmp.path().join("junk");
    std::fs::create_dir_all(&junk).unwrap();
    std::fs::write(junk.join("bundle.json"), "[1, 2").unwrap();
    case(&junk, "not JSON");
    std::fs::write(
        junk.join("bundle.json"),
        r#"{"format": "covid-ct pipeline bundle", "version": 7, "written_by": "ct-pipeline 9.0.0"}"#,
    )
    .unwrap();
    case(&junk, "format version 7");
    // Nothing was predicted, so nothing was written.
    assert!(!out.exists());
}
