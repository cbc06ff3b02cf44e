//! `ikesim list`: the scenarios and experiments there are, one line each.

use std::fs;
use std::path::{Path, PathBuf};

use crate::experiment;

/// One entry of the listing.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The file.
    pub file: PathBuf,
    /// Its name (the `name` key or the file name).
    pub name: String,
    /// Its one-line description, a job count for an experiment, or why it cannot be read.
    pub about: String,
}

/// The `*.toml` files of `dir`, sorted by name (none if the folder does not exist).
pub fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The scenarios in `dir`: name and description, read without building them.
pub fn scenarios(dir: &Path) -> Vec<Entry> {
    toml_files(dir)
        .into_iter()
        .map(|file| {
            let table = fs::read_to_string(&file)
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    toml::from_str::<toml::Table>(&t).map_err(|e| e.message().to_owned())
                });
            let (name, about) = match table {
                Ok(t) => (
                    t.get("name")
                        .and_then(|v| v.as_str())
                        .map_or_else(|| stem(&file), str::to_owned),
                    t.get("description")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_owned(),
                ),
                Err(e) => (stem(&file), format!("(unreadable: {})", one_line(&e))),
            };
            Entry { file, name, about }
        })
        .collect()
}

/// The experiments in `dir`: name, description and job count.
pub fn experiments(dir: &Path) -> Vec<Entry> {
    toml_files(dir)
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "Cargo.toml"))
        .map(|file| match experiment::load(&file) {
            Ok(e) => {
                let points = e.points().len();
                let seeds = e.seeds.len();
                Entry {
                    name: e.name.clone(),
                    about: format!(
                        "{} [{points} point{} x {seeds} seed{} = {} jobs]",
                        e.description,
                        if points == 1 { "" } else { "s" },
                        if seeds == 1 { "" } else { "s" },
                        points * seeds
                    ),
                    file,
                }
            }
            Err(err) => Entry {
                name: stem(&file),
                about: format!("(invalid: {})", one_line(&err.to_string())),
                file,
            },
        })
        .collect()
}

/// A multi-line error (TOML's, with the source line and a caret) as one line: the first line
/// and the last, which says what is wrong.
fn one_line(msg: &str) -> String {
    let lines: Vec<&str> = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [first, .., last] => format!("{first} ... {last}"),
    }
}
