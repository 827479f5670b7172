//! The jq mapping engine: jq programs (run with jaq) that turn a decoded source document into
//! canonical JSON (ARCHITECTURE §5, `mappings/`).
//!
//! A [`MappingSet`] is loaded from a directory: every `*.jq` file is a mapping named by its file
//! stem (`shopify.order.jq` → `shopify.order`). The set is cheap to clone and shared between
//! threads; it holds source text, and each thread compiles a program once per version of the
//! file (see `compile`). Files are re-read when they change on disk (checked at most once per
//! second per mapping), so an operator can fix a mapping without a restart.
//!
//! Besides jq's standard library, mappings get exact decimal functions for money
//! (`decimal_add`, `decimal_sub`, `decimal_mul`, `decimal_div`, `decimal_sum`, `decimal_abs`,
//! `decimal`; semantics in `decimal.rs`), since jq arithmetic goes through binary floats.
//!
//! # What a run is bounded by
//! [`Limits`]: the number of outputs, their total JSON size and the wall time. All three are
//! checked *between outputs*: a program that loops or recurses without ever emitting is not
//! interrupted (and unbounded recursion can exhaust the stack). Mapping files are operator code
//! reviewed with their tests; untrusted input is bounded before it gets here (document size and
//! nesting depth in `normalize::decode`), which bounds what walking the input can cost.

mod compile;
mod decimal;
mod fast;
mod redact;
pub mod testfile;
mod value;

pub use redact::{jaq_message, json_type, read_output, OutputError, BAD_INPUT_MARK};

pub use compile::compile_count;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use jaq_core::{unwrap_valr, Ctx, Vars};

/// What can go wrong loading or running a mapping.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MappingError {
    /// The mappings directory or a file in it could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// A mapping file does not compile; `message` has `line:column` positions.
    #[error("mapping {mapping} ({path}) does not compile: {message}")]
    Compile {
        /// Mapping name.
        mapping: String,
        /// The `.jq` file.
        path: PathBuf,
        /// Parser or compiler message with positions.
        message: String,
    },
    /// No mapping of that name.
    #[error("no mapping named {mapping}")]
    Unknown {
        /// The name asked for.
        mapping: String,
    },
    /// The jq program raised an error while running.
    #[error("mapping {mapping} failed: {message}")]
    Runtime {
        /// Mapping name.
        mapping: String,
        /// The jq error (`error("…")` text or a type error).
        message: String,
    },
    /// A run went past one of its [`Limits`].
    #[error("mapping {mapping} exceeded its limit: {limit}")]
    Limit {
        /// Mapping name.
        mapping: String,
        /// Which limit, with the numbers.
        limit: String,
    },
    /// The program produced a value that is not JSON (e.g. a non-string object key).
    #[error("mapping {mapping} produced output {index} that is not JSON: {message}")]
    NotJson {
        /// Mapping name.
        mapping: String,
        /// 0-based output index.
        index: usize,
        /// What is wrong with it.
        message: String,
    },
}

/// Bounds on one mapping run, checked between outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most outputs one run may produce.
    pub max_outputs: usize,
    /// Most total (approximate) JSON bytes over all outputs of one run.
    pub max_output_bytes: usize,
    /// Longest wall time one run may take, checked after each output.
    pub max_wall_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_outputs: 10_000,
            max_output_bytes: 64 * 1024 * 1024,
            max_wall_time: Duration::from_secs(10),
        }
    }
}

/// How often a mapping file's mtime is looked at.
const RECHECK: Duration = Duration::from_secs(1);

/// A set of named jq mappings loaded from a directory, shared by every thread that normalizes.
#[derive(Clone)]
pub struct MappingSet {
    inner: Arc<Inner>,
}

struct Inner {
    /// The directory the mappings come from; new files in it are found by name.
    dir: PathBuf,
    /// Run bounds applied to every mapping.
    limits: Limits,
    /// The mappings by name.
    entries: RwLock<BTreeMap<String, Entry>>,
}

/// One mapping file as last read.
#[derive(Clone)]
struct Entry {
    /// The `.jq` file.
    path: PathBuf,
    /// Its modification time when read, to notice edits.
    mtime: Option<SystemTime>,
    /// When the mtime was last looked at.
    checked: Instant,
    /// The program text and its hash, or why it does not compile.
    program: Result<(Arc<str>, u64), String>,
}

impl std::fmt::Debug for MappingSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappingSet")
            .field("dir", &self.inner.dir)
            .field("mappings", &self.names())
            .finish()
    }
}

impl MappingSet {
    /// Loads every `*.jq` file of `dir` with default [`Limits`]; fails on the first file that
    /// cannot be read or compiled.
    pub fn load(dir: &Path) -> Result<MappingSet, MappingError> {
        Self::load_with_limits(dir, Limits::default())
    }

    /// Like [`MappingSet::load`] with explicit run bounds.
    pub fn load_with_limits(dir: &Path, limits: Limits) -> Result<MappingSet, MappingError> {
        let io = |e: std::io::Error| MappingError::Io {
            path: dir.to_path_buf(),
            message: e.to_string(),
        };
        let mut entries = BTreeMap::new();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io)?;
        paths.sort();
        for path in paths {
            let Some(name) = mapping_name(&path) else {
                continue;
            };
            let entry = read_entry(&path)?;
            if let Err(message) = &entry.program {
                return Err(MappingError::Compile {
                    mapping: name,
                    path,
                    message: message.clone(),
                });
            }
            entries.insert(name, entry);
        }
        Ok(MappingSet {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                limits,
                entries: RwLock::new(entries),
            }),
        })
    }

    /// The directory the mappings were loaded from.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Names of the mappings known so far, sorted.
    pub fn names(&self) -> Vec<String> {
        self.read_entries().keys().cloned().collect()
    }

    /// The current source of a mapping, re-read if the file changed on disk; a file that now
    /// fails to compile gives [`MappingError::Compile`] until it is fixed. A name not loaded yet
    /// is looked for as `<dir>/<name>.jq`, so a new mapping needs no restart either.
    pub fn get(&self, name: &str) -> Result<Arc<str>, MappingError> {
        self.current(name).map(|(source, _)| source)
    }

    /// Runs mapping `name` on `input` and returns its outputs, within the set's [`Limits`].
    pub fn run(
        &self,
        name: &str,
        input: &serde_json::Value,
    ) -> Result<Vec<serde_json::Value>, MappingError> {
        let (source, hash) = self.current(name)?;
        let program = compile::cached(hash, &source).map_err(|message| MappingError::Compile {
            mapping: name.to_string(),
            path: self.inner.dir.join(format!("{name}.jq")),
            message,
        })?;
        let limits = self.inner.limits;
        if let Some(fast) = &program.fast {
            if let fast::Outcome::Outputs(outputs) = fast::run(fast, input, limits) {
                return Ok(outputs);
            }
            // An error, a limit or something unusual: jaq runs it and has the last word.
        }
        self.run_jaq(name, &program.jaq, input)
    }

    /// Runs a mapping on jaq, the reference engine.
    fn run_jaq(
        &self,
        name: &str,
        program: &compile::Program,
        input: &serde_json::Value,
    ) -> Result<Vec<serde_json::Value>, MappingError> {
        let limits = self.inner.limits;
        let started = Instant::now();
        let ctx = Ctx::<compile::Data>::new(&program.lut, Vars::new([]));
        let mut outputs = Vec::new();
        let mut bytes = 0usize;
        for item in program.id.run((ctx, value::json_to_val(input))) {
            let val = unwrap_valr(item).map_err(|e| MappingError::Runtime {
                mapping: name.to_string(),
                message: runtime_message(e),
            })?;
            let index = outputs.len();
            let json = value::val_to_json(val, &mut bytes).map_err(|e| MappingError::NotJson {
                mapping: name.to_string(),
                index,
                message: jaq_message(&e.0),
            })?;
            outputs.push(json);
            let limit = |limit: String| MappingError::Limit {
                mapping: name.to_string(),
                limit,
            };
            if outputs.len() > limits.max_outputs {
                return Err(limit(format!("more than {} outputs", limits.max_outputs)));
            }
            if bytes > limits.max_output_bytes {
                return Err(limit(format!(
                    "more than {} bytes of output",
                    limits.max_output_bytes
                )));
            }
            if started.elapsed() > limits.max_wall_time {
                return Err(limit(format!("ran longer than {:?}", limits.max_wall_time)));
            }
        }
        Ok(outputs)
    }

    fn read_entries(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        // A poisoned lock only means a panic elsewhere mid-update of plain data; keep going.
        self.inner
            .entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The source and hash to run for `name`, refreshing from disk when due.
    fn current(&self, name: &str) -> Result<(Arc<str>, u64), MappingError> {
        let known = self.read_entries().get(name).cloned();
        let entry = match known {
            Some(entry) if entry.checked.elapsed() < RECHECK => entry,
            Some(entry) => self.refresh(name, entry),
            None => self.discover(name)?,
        };
        entry.program.map_err(|message| MappingError::Compile {
            mapping: name.to_string(),
            path: entry.path.clone(),
            message,
        })
    }

    /// Re-reads a mapping whose file changed; keeps the last good text if the file vanished.
    fn refresh(&self, name: &str, old: Entry) -> Entry {
        let mtime = std::fs::metadata(&old.path).and_then(|m| m.modified()).ok();
        let entry = if mtime.is_some() && mtime != old.mtime {
            match read_entry(&old.path) {
                Ok(entry) => {
                    match &entry.program {
                        Ok(_) => tracing::info!(mapping = name, "Mapping reloaded."),
                        Err(error) => {
                            tracing::warn!(mapping = name, error = %error, "Mapping no longer compiles.")
                        }
                    }
                    entry
                }
                Err(error) => {
                    tracing::warn!(mapping = name, error = %error, "Mapping file unreadable, keeping the loaded version.");
                    Entry {
                        checked: Instant::now(),
                        ..old
                    }
                }
            }
        } else {
            Entry {
                checked: Instant::now(),
                ..old
            }
        };
        self.store(name, entry.clone());
        entry
    }

    /// Looks for a mapping that appeared after loading.
    fn discover(&self, name: &str) -> Result<Entry, MappingError> {
        let unknown = || MappingError::Unknown {
            mapping: name.to_string(),
        };
        let safe = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            && !name.starts_with('.');
        if !safe {
            return Err(unknown());
        }
        let path = self.inner.dir.join(format!("{name}.jq"));
        if !path.is_file() {
            return Err(unknown());
        }
        let entry = read_entry(&path)?;
        self.store(name, entry.clone());
        Ok(entry)
    }

    fn store(&self, name: &str, entry: Entry) {
        let mut entries = self
            .inner
            .entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.insert(name.to_string(), entry);
    }
}

/// `shopify.order` for `…/shopify.order.jq`; `None` for other files.
fn mapping_name(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    let stem = file.strip_suffix(".jq")?;
    (!stem.is_empty() && path.is_file()).then(|| stem.to_string())
}

/// Reads a mapping file and checks that it compiles (on this thread, which caches it).
fn read_entry(path: &Path) -> Result<Entry, MappingError> {
    let io = |e: std::io::Error| MappingError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let source: Arc<str> = std::fs::read_to_string(path).map_err(io)?.into();
    let hash = compile::source_hash(&source);
    let program = compile::cached(hash, &source).map(|_| (source, hash));
    Ok(Entry {
        path: path.to_path_buf(),
        mtime,
        checked: Instant::now(),
        program,
    })
}

/// The text of a jq error: the bare message for `error("text")`, else jaq's rendering; either
/// way without the values of the document it may quote (see [`jaq_message`]).
fn runtime_message(error: jaq_core::Error<jaq_json::Val>) -> String {
    let text = error.to_string();
    // `error("x")` renders as the JSON string "x"; show it without quotes.
    let text = serde_json::from_str::<String>(&text).unwrap_or(text);
    jaq_message(&text)
}

#[cfg(test)]
mod tests;
