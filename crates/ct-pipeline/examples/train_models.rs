//! The model chain of `crates/ct-pipeline/models/` (`MANIFEST.json`): check it, plan or run
//! the rebuild of one model and everything downstream of it, and record a retraining.
//!
//! ```sh
//! cargo run --release -p ct-pipeline --example train_models                 # check the chain
//! cargo run --release -p ct-pipeline --example train_models -- --from lesion_pattern_unet --plan
//! cargo run --release -p ct-pipeline --example train_models -- --from scan_model --run
//! cargo run --release -p ct-pipeline --example train_models -- --update --lung-recipe body-first
//! ```
//!
//! `--run` executes each model's command (from the workspace root, through `sh -c`) in
//! dependency order, then writes the updated manifest. `--update` records files retrained
//! by hand, and refuses when a model was retrained but a model downstream of it was not.
//! Exit status 1 when the chain has problems or a command fails.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ct_pipeline::{Error, LungRecipe, Manifest, ManifestEntry};

/// Check, plan, run or record the rebuild of the shipped model chain.
#[derive(Parser)]
struct Args {
    /// The models folder (holds MANIFEST.json).
    #[arg(long, default_value = "crates/ct-pipeline/models")]
    models: PathBuf,
    /// The model to rebuild, with everything downstream of it.
    #[arg(long)]
    from: Option<String>,
    /// Print the commands that rebuild `--from` and its dependents, in order.
    #[arg(long, requires = "from")]
    plan: bool,
    /// Run those commands, then record the new files in the manifest.
    #[arg(long, requires = "from", conflicts_with = "plan")]
    run: bool,
    /// Record retrained files in the manifest (checksums, what each learned from).
    #[arg(long, conflicts_with_all = ["plan", "run"])]
    update: bool,
    /// The lung recipe the retrained models' scans were segmented with.
    #[arg(long, value_enum, default_value = "body-first")]
    lung_recipe: Recipe,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Recipe {
    BodyFirst,
    Seed,
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", e.chain());
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<ExitCode, Error> {
    let args = Args::parse();
    let lung_recipe = match args.lung_recipe {
        Recipe::BodyFirst => LungRecipe::BodyFirst,
        Recipe::Seed => LungRecipe::Seed,
    };
    let manifest = Manifest::read(&args.models)?;
    let dir = args.models.clone();
    let read = move |e: &ManifestEntry| std::fs::read(dir.join(&e.file)).ok();
    let write = |m: &Manifest| {
        let path = args.models.join("MANIFEST.json");
        std::fs::write(&path, m.to_json()?).map_err(|source| Error::Io { path, source })
    };
    if args.update {
        let new = manifest.updated(&read, lung_recipe)?;
        write(&new)?;
        println!("{} updated", args.models.join("MANIFEST.json").display());
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(from) = &args.from {
        let order = manifest.rebuild_order(from)?;
        if args.plan {
            for (k, e) in order.iter().enumerate() {
                println!(
                    "# {}. {} ({})\n{}\n",
                    k + 1,
                    e.name,
                    e.training_data,
                    e.command
                );
            }
            println!("# then: train_models --update --lung-recipe <the recipe you used>");
            return Ok(ExitCode::SUCCESS);
        }
        if args.run {
            let new = manifest.rebuild(from, run_command, &read, lung_recipe)?;
            write(&new)?;
            println!("rebuilt {} models; manifest updated", order.len());
            return Ok(ExitCode::SUCCESS);
        }
    }
    check(&manifest, &read)
}

/// Prints the chain and its problems.
fn check(
    manifest: &Manifest,
    read: &dyn Fn(&ManifestEntry) -> Option<Vec<u8>>,
) -> Result<ExitCode, Error> {
    for e in &manifest.models {
        let with: Vec<&str> = e.trained_with.keys().map(String::as_str).collect();
        println!(
            "{:<22} {}  lung recipe {:<10} learned from: {}",
            e.name,
            &e.sha256[..12.min(e.sha256.len())],
            e.lung_recipe.map_or("-", LungRecipe::name),
            if with.is_empty() {
                "-".to_string()
            } else {
                with.join(", ")
            }
        );
    }
    let problems = manifest.problems(read);
    if problems.is_empty() {
        println!("chain consistent");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        println!("problem: {p}");
    }
    Ok(ExitCode::FAILURE)
}

/// Runs one model's command from the current folder (the workspace root).
fn run_command(e: &ManifestEntry) -> Result<(), Error> {
    eprintln!("== {}: {}", e.name, e.command);
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(&e.command)
        .status()
        .map_err(|source| Error::Io {
            path: "sh".into(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Config {
            name: "command",
            why: format!("{:?} ended with {status}", e.command),
        })
    }
}
