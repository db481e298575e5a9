//! Embed a folder of photos and list the people in it.
//!
//! ```text
//! people PHOTOS CACHE
//! ```
//!
//! The cache is made when missing and grows on each run (only new photos are read).
//! Every person is a cluster of faces at the cluster distance of the pack that made
//! them; nothing is written but the cache.
#![allow(clippy::print_stdout, reason = "an example program: reports on stdout")]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(photos), Some(cache), None) = (args.next(), args.next(), args.next()) else {
        #[expect(clippy::print_stderr, reason = "the usage line")]
        {
            eprintln!("usage: people PHOTOS CACHE");
        }
        return ExitCode::from(2);
    };
    match list(&photos, &cache) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[expect(clippy::print_stderr, reason = "the one place errors reach the user")]
            {
                eprintln!("error: {e}");
            }
            ExitCode::from(2)
        }
    }
}

fn list(photos: &PathBuf, cache: &PathBuf) -> Result<(), facesets::Error> {
    let cache = facesets::embed(photos, cache)?;
    let people = facesets::people(&cache);
    for person in &people.clusters {
        let mut photos: Vec<_> = person.faces.iter().map(|f| f.path.display()).collect();
        photos.dedup_by(|a, b| a.to_string() == b.to_string());
        println!("{}: {} faces", person.name, person.faces.len());
        for photo in photos {
            println!("  {photo}");
        }
    }
    println!(
        "{} people; {} faces alone; {} photos without a face",
        people.clusters.len(),
        people.singletons.len(),
        people.noface.len()
    );
    Ok(())
}
