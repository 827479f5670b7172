//! Compiling jq source with jaq, and the per-thread cache of compiled programs.
//!
//! jaq's values and compiled filters use `Rc`, so a compiled program cannot cross threads. The
//! shared [`super::MappingSet`] holds only source text; each thread compiles a program the first
//! time it runs it and keeps it in a thread-local cache keyed by the hash of the source, so a
//! program is compiled once per thread and per version of the file, never per document.

use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{data, Compiler};
use jaq_json::Val;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The data kind our filters run with: values only, no `input`/`inputs`.
pub(crate) type Data = data::JustLut<Val>;
/// A program compiled by jaq.
pub(crate) type Program = jaq_core::Filter<Data>;

/// A compiled mapping: jaq's program (the reference) and, when the fast engine runs this
/// source, its program too (see `super::fast`).
pub(crate) struct Compiled {
    /// jaq's program.
    pub(crate) jaq: Program,
    /// The fast engine's program, if it runs this source.
    pub(crate) fast: Option<super::fast::Program>,
}

/// How many programs were compiled in this process (all threads); lets tests and metrics show
/// that compiling is not done per document.
static COMPILED: AtomicU64 = AtomicU64::new(0);

/// Programs compiled by this thread, by source hash.
const CACHE_CAP: usize = 256;

thread_local! {
    static CACHE: RefCell<HashMap<u64, Rc<Compiled>>> = RefCell::new(HashMap::new());
}

/// Number of programs compiled so far in this process.
pub fn compile_count() -> u64 {
    COMPILED.load(Ordering::Relaxed)
}

/// The cache key of a source text.
pub(crate) fn source_hash(source: &str) -> u64 {
    let mut h = DefaultHasher::new();
    source.hash(&mut h);
    h.finish()
}

/// The compiled program for `source`, from this thread's cache or freshly compiled.
pub(crate) fn cached(hash: u64, source: &str) -> Result<Rc<Compiled>, String> {
    if let Some(p) = CACHE.with(|c| c.borrow().get(&hash).cloned()) {
        return Ok(p);
    }
    let jaq = compile(source)?;
    let fast = match super::fast::Program::compile(source) {
        Ok(p) => Some(p),
        Err(why) => {
            tracing::debug!(reason = %why, "Mapping runs on jaq only.");
            None
        }
    };
    let program = Rc::new(Compiled { jaq, fast });
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_CAP {
            // Old versions of edited files pile up here; dropping all is simple and rare.
            c.clear();
        }
        c.insert(hash, program.clone());
    });
    Ok(program)
}

/// Compiles jq source; the error names the position (`line:column`) and what went wrong.
pub(crate) fn compile(source: &str) -> Result<Program, String> {
    COMPILED.fetch_add(1, Ordering::Relaxed);
    compile_with_vars(source, &[])
}

/// Compiles jq source that may use the global variables `vars` (names with `$`), bound in
/// order by `Vars::new` when it runs.
pub(crate) fn compile_with_vars(source: &str, vars: &[String]) -> Result<Program, String> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .chain(super::decimal::funs());
    let arena = Arena::default();
    let file = File {
        code: source,
        path: (),
    };
    let modules = Loader::new(defs).load(&arena, file).map_err(|errs| {
        let msgs: Vec<String> = errs
            .into_iter()
            .flat_map(|(file, err)| load_error(file.code, err))
            .collect();
        msgs.join("; ")
    })?;
    Compiler::default()
        .with_funs(funs)
        .with_global_vars(vars.iter().map(String::as_str))
        .compile(modules)
        .map_err(|errs| {
            let msgs: Vec<String> = errs
                .into_iter()
                .flat_map(|(file, errs)| {
                    errs.into_iter().map(move |(name, undef)| {
                        format!(
                            "{}: undefined {} `{name}`",
                            position(file.code, name),
                            undef.as_str()
                        )
                    })
                })
                .collect();
            msgs.join("; ")
        })
}

fn load_error(code: &str, err: load::Error<&str>) -> Vec<String> {
    match err {
        load::Error::Io(errs) => errs
            .into_iter()
            .map(|(path, msg)| format!("cannot import `{path}`: {msg}"))
            .collect(),
        load::Error::Lex(errs) => errs
            .into_iter()
            .map(|(expect, at)| format!("{}: expected {}", position(code, at), expect.as_str()))
            .collect(),
        load::Error::Parse(errs) => errs
            .into_iter()
            .map(|(expect, at)| {
                let found = if at.is_empty() {
                    "end of input".to_string()
                } else {
                    format!("`{}`", at.chars().take(20).collect::<String>())
                };
                format!(
                    "{}: expected {}, found {found}",
                    position(code, at),
                    expect.as_str()
                )
            })
            .collect(),
    }
}

/// `line:column` (1-based) of `part`, a slice of `whole`; `?` when it is not one.
fn position(whole: &str, part: &str) -> String {
    let start = whole.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    if at < start || at > start + whole.len() {
        return "?".to_string();
    }
    let offset = at - start;
    let before = whole.get(..offset).unwrap_or(whole);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{column}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_names_line_and_column() {
        let err = compile(".a |\n  { b: }").err().unwrap();
        assert!(err.starts_with("2:"), "{err}");
    }

    #[test]
    fn undefined_filter_is_named() {
        let err = compile("\n\nnot_a_filter(1)").err().unwrap();
        assert!(err.contains("3:1") && err.contains("not_a_filter"), "{err}");
    }

    #[test]
    fn cache_compiles_once_per_source() {
        let src = ". + 1 # cache test";
        let h = source_hash(src);
        let a = cached(h, src).unwrap();
        let b = cached(h, src).unwrap();
        assert!(Rc::ptr_eq(&a, &b));
        assert!(a.fast.is_some(), "a plain program runs on the fast engine");
    }
}
