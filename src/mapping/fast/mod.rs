//! The fast engine: runs a mapping directly on the decoded input, with jaq as the reference.
//!
//! jaq converts the whole input into its own values and runs filters as chains of boxed
//! iterators; for a mapping that copies a few dozen fields into the canonical order that costs
//! far more than the work itself (see the README's Performance section). This engine compiles
//! the same jq source (parsed by jaq's own parser) into a tree with every name resolved, and
//! evaluates it with callbacks instead of iterators, borrowing the input instead of converting
//! it.
//!
//! It does not reimplement jq. What it runs itself is the language core (paths, pipes,
//! bindings, `reduce`/`foreach`, `if`, `try`, `//`, object and array construction, string
//! interpolation, definitions with filter and value parameters, simple path assignments) and a
//! few hot builtins; every other builtin whose arguments are values is *delegated*: called in
//! jaq with the argument values, so it behaves exactly as in jaq. A program using anything else
//! (labels, `$__loc__`, `@format` strings, path functions, destructuring…) is not compiled
//! here, and the mapping runs on jaq as before. A run that ends in an error — or meets
//! something unusual at run time — is repeated on jaq, so error messages are jaq's and the
//! fast engine can only ever agree with it. The mapping tests run every shipped mapping on both
//! engines and require equal outputs.

mod eval;
mod val;

use std::rc::Rc;

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def, Pattern, Term};
use jaq_core::ops::{Cmp, Math};
use jaq_core::path::{Opt, Part};
use jaq_core::ValT;
use jaq_json::Val;

pub(crate) use eval::{run, Outcome};
use val::V;

/// A compiled program.
#[derive(Debug)]
pub(crate) struct Program {
    main: Ir,
}

/// A resolved term.
#[derive(Debug)]
pub(crate) enum Ir {
    Id,
    Recurse,
    /// A literal (number, string, `null`, `true`, `false`).
    Const(V<'static>),
    /// String with interpolations: `lits[0]`, the text of `exprs[0]`, `lits[1]`, … (one more
    /// literal than terms).
    Str(Vec<Rc<str>>, Vec<Ir>),
    Arr(Option<Box<Ir>>),
    Obj(Vec<(Ir, Ir)>),
    Neg(Box<Ir>),
    Pipe(Box<Ir>, Box<Ir>),
    /// `l as $x | r`: `r` runs with one more variable.
    Bind(Box<Ir>, Box<Ir>),
    /// `l as [$a, {b: $c}] | r`: `r` runs with one more variable per name in the pattern.
    Destructure(Box<Ir>, Pat, Box<Ir>),
    Comma(Box<Ir>, Box<Ir>),
    Alt(Box<Ir>, Box<Ir>),
    And(Box<Ir>, Box<Ir>),
    Or(Box<Ir>, Box<Ir>),
    Math(Box<Ir>, Math, Box<Ir>),
    Cmp(Box<Ir>, Cmp, Box<Ir>),
    /// `reduce xs as $x (init; update)` / `foreach xs as $x (init; update; extract)`.
    Fold {
        xs: Box<Ir>,
        init: Box<Ir>,
        update: Box<Ir>,
        foreach: Option<Option<Box<Ir>>>,
    },
    Try(Box<Ir>, Option<Box<Ir>>),
    If(Vec<(Ir, Ir)>, Option<Box<Ir>>),
    /// Local definitions (one environment frame each), then the body.
    Defs(Vec<Rc<DefIr>>, Box<Ir>),
    /// Call of the definition `up` frames out.
    CallDef(usize, Vec<Ir>),
    /// Call of the filter parameter `up` frames out.
    CallArg(usize),
    /// The variable `up` frames out.
    Var(usize),
    Native(Native, Vec<Ir>),
    /// A builtin run by jaq with the argument values.
    Delegate(Rc<str>, Vec<Ir>),
    Path(Box<Ir>, Vec<(PartIr, bool)>),
    /// `path = value`, `path |= f`, `path op= value` on a path of fixed keys and indices.
    Assign(Vec<Ir>, Box<Ir>),
    Update(Vec<Ir>, Box<Ir>),
    UpdateMath(Vec<Ir>, Math, Box<Ir>),
}

/// A destructuring pattern; variables are bound in the order they are written.
#[derive(Debug)]
pub(crate) enum Pat {
    Var,
    Arr(Vec<Pat>),
    /// Entries with fixed keys.
    Obj(Vec<(Rc<str>, Pat)>),
}

/// A path part; the bool says `?`.
#[derive(Debug)]
pub(crate) enum PartIr {
    Index(Ir),
    Range(Option<Ir>, Option<Ir>),
}

/// A local definition.
#[derive(Debug)]
pub(crate) struct DefIr {
    /// Per parameter: whether it is a value parameter (`$x`).
    params: Vec<bool>,
    body: Ir,
}

/// Builtins run by this engine itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Native {
    Empty,
    Not,
    Length,
    Type,
    ToString,
    Trim,
    Has,
    StartsWith,
    EndsWith,
    LtrimStr,
    RtrimStr,
    Join,
    Select,
    Map,
    First,
    FirstOf,
    Last,
    Error0,
    Error1,
    Limit,
    IsEmpty,
    Values,
}

/// What a name in scope stands for, innermost last.
#[derive(Clone)]
enum Scope<'s> {
    Var(&'s str),
    Arg(&'s str),
    Def(&'s str, usize),
}

/// Definitions of jaq's standard library this engine compiles from jq source (they take
/// filter parameters, so they cannot be delegated); exactly jaq's definitions.
const PRELUDE: &str = r#"
def range(from; to): range(from; to; 1);
def range(to): range(0; to);
def add(f): reduce f as $x (null; . + $x);
def add: add(.[]);
def recurse(f): def rec: ., (f | rec); rec;
def recurse: recurse(.[]?);
def until(cond; update): def rec: if cond then . else update | rec end; rec;
def while(cond; update): def rec: if cond then ., (update | rec) else empty end; rec;
def repeat(f): def rec: f, rec; rec;
def all(g; cond): isempty(g | cond and empty);
def any(g; cond): isempty(g | cond  or empty) | not;
def all(cond): all(.[]; cond);
def any(cond): any(.[]; cond);
def all: all(.[]; .);
def any: any(.[]; .);
def with_entries(f): to_entries | map(f) | from_entries;
def in(xs): . as $x | xs | has($x);
def nth(n): .[n];
.
"#;

/// The parameter kinds of jaq's builtins, by name and arity: `true` for a value parameter.
fn builtin_params(name: &str, arity: usize) -> Option<Vec<bool>> {
    use std::collections::HashMap;
    thread_local! {
        static SIGS: HashMap<(String, usize), Vec<bool>> = {
            let mut sigs = HashMap::new();
            let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
            for d in defs {
                let params = d.args.iter().map(|a| a.starts_with('$')).collect();
                sigs.insert((d.name.to_string(), d.args.len()), params);
            }
            let funs = jaq_core::funs::<super::compile::Data>()
                .chain(jaq_std::funs())
                .chain(jaq_json::funs())
                .chain(super::decimal::funs());
            for (name, args, _) in funs {
                let params = args.iter().map(|a| matches!(a, jaq_core::Bind::Var(()))).collect();
                sigs.insert((name.to_string(), args.len()), params);
            }
            sigs
        };
    }
    SIGS.with(|s| s.get(&(name.to_string(), arity)).cloned())
}

/// Builtins that must never be delegated: they read input or write output, which a run that
/// may be repeated on jaq must not do.
const NOT_DELEGATED: &[&str] = &[
    "input",
    "inputs",
    "debug",
    "debug_empty",
    "stderr",
    "stderr_empty",
    "halt",
    "halt_error",
    "input_filename",
];

impl Program {
    /// Compiles `source`; the error says what this engine does not run (jaq will).
    pub(crate) fn compile(source: &str) -> Result<Program, String> {
        let main = jaq_core::load::parse(source, |p| p.term())
            .ok_or("not parsed by the fast engine (module header or syntax)")?;
        let prelude = jaq_core::load::parse(PRELUDE, |p| p.term()).ok_or("prelude")?;
        let Term::Def(prelude_defs, _) = prelude else {
            return Err("prelude".into());
        };
        let mut c = Compiler { scope: Vec::new() };
        let main = c.defs_then(&prelude_defs, |c| c.term(&main))?;
        Ok(Program { main })
    }
}

struct Compiler<'s> {
    scope: Vec<Scope<'s>>,
}

fn konst(val: Val) -> Result<Ir, String> {
    V::from_jaq(val)
        .map(Ir::Const)
        .ok_or_else(|| "literal".to_string())
}

fn bx(ir: Ir) -> Box<Ir> {
    Box::new(ir)
}

impl<'s> Compiler<'s> {
    fn defs_then(
        &mut self,
        defs: &[Def<&'s str>],
        rest: impl FnOnce(&mut Self) -> Result<Ir, String>,
    ) -> Result<Ir, String> {
        let depth = self.scope.len();
        let mut out = Vec::new();
        for d in defs {
            // The definition sees itself (recursion) and the ones before it.
            self.scope.push(Scope::Def(d.name, d.args.len()));
            let inner = self.scope.len();
            let mut params = Vec::new();
            for a in &d.args {
                if a.starts_with('$') {
                    self.scope.push(Scope::Var(a));
                    params.push(true);
                } else {
                    self.scope.push(Scope::Arg(a));
                    params.push(false);
                }
            }
            let body = self.term(&d.body)?;
            self.scope.truncate(inner);
            out.push(Rc::new(DefIr { params, body }));
        }
        let rest = rest(self)?;
        self.scope.truncate(depth);
        Ok(Ir::Defs(out, bx(rest)))
    }

    fn lookup(&self, want: impl Fn(&Scope<'s>) -> bool) -> Option<usize> {
        self.scope.iter().rev().position(want)
    }

    fn term(&mut self, t: &Term<&'s str>) -> Result<Ir, String> {
        Ok(match t {
            Term::Id => Ir::Id,
            Term::Recurse => Ir::Recurse,
            Term::Num(n) => konst(Val::from_num(n).map_err(|_| format!("number {n}"))?)?,
            Term::Str(Some(fmt), _) => return Err(format!("format string {fmt}")),
            Term::Str(None, parts) => {
                let (mut lits, mut exprs) = (Vec::new(), Vec::new());
                let mut lit = String::new();
                for p in parts {
                    match p {
                        StrPart::Str(s) => lit.push_str(s),
                        StrPart::Char(c) => lit.push(*c),
                        StrPart::Term(t) => {
                            lits.push(Rc::from(std::mem::take(&mut lit)));
                            exprs.push(self.term(t)?);
                        }
                    }
                }
                if exprs.is_empty() {
                    return konst(Val::utf8_str(lit.into_bytes()));
                }
                lits.push(Rc::from(lit));
                Ir::Str(lits, exprs)
            }
            Term::Arr(inner) => Ir::Arr(match inner {
                Some(t) => Some(bx(self.term(t)?)),
                None => None,
            }),
            Term::Obj(entries) => {
                let mut out = Vec::new();
                for (k, v) in entries {
                    let key = self.term(k)?;
                    let value = match (v, k) {
                        (Some(v), _) => self.term(v)?,
                        // `{a}` / `{"a"}` is `{a: .a}`; `{$x}` is `{x: $x}`.
                        (None, Term::Var(name)) => {
                            let var = self.term(k)?;
                            out.push((konst(Val::utf8_str(name.as_bytes()[1..].to_vec()))?, var));
                            continue;
                        }
                        (None, Term::Str(None, _)) => {
                            let key2 = self.term(k)?;
                            Ir::Path(bx(Ir::Id), vec![(PartIr::Index(key2), false)])
                        }
                        (None, _) => return Err("object shorthand".into()),
                    };
                    out.push((key, value));
                }
                Ir::Obj(out)
            }
            Term::Neg(t) => Ir::Neg(bx(self.term(t)?)),
            Term::BinOp(l, op, r) => self.binop(l, op, r)?,
            Term::Label(..) | Term::Break(_) => return Err("label/break".into()),
            Term::Fold(kind, xs, pat, args) => {
                let Pattern::Var(x) = pat else {
                    return Err("destructuring pattern".into());
                };
                let xs = bx(self.term(xs)?);
                let (init, rest) = args.split_first().ok_or("fold without init")?;
                let init = bx(self.term(init)?);
                self.scope.push(Scope::Var(x));
                let compiled: Result<Vec<Ir>, String> = rest.iter().map(|t| self.term(t)).collect();
                self.scope.pop();
                let mut compiled = compiled?.into_iter();
                let update = bx(compiled.next().ok_or("fold without update")?);
                let extract = compiled.next().map(bx);
                let foreach = match *kind {
                    "reduce" if extract.is_none() => None,
                    "foreach" => Some(extract),
                    _ => return Err(format!("{kind} form")),
                };
                Ir::Fold {
                    xs,
                    init,
                    update,
                    foreach,
                }
            }
            Term::TryCatch(t, c) => Ir::Try(
                bx(self.term(t)?),
                match c {
                    Some(c) => Some(bx(self.term(c)?)),
                    None => None,
                },
            ),
            Term::IfThenElse(branches, els) => {
                let mut out = Vec::new();
                for (c, t) in branches {
                    out.push((self.term(c)?, self.term(t)?));
                }
                Ir::If(
                    out,
                    match els {
                        Some(e) => Some(bx(self.term(e)?)),
                        None => None,
                    },
                )
            }
            Term::Def(defs, rest) => self.defs_then(defs, |c| c.term(rest))?,
            Term::Var(name) => match self.lookup(|s| matches!(s, Scope::Var(n) if n == name)) {
                Some(up) => Ir::Var(up),
                None => return Err(format!("variable {name}")),
            },
            Term::Call(name, args) => self.call(name, args)?,
            Term::Path(head, path) => {
                let head = bx(self.term(head)?);
                let mut parts = Vec::new();
                for (part, opt) in &path.0 {
                    let part = match part {
                        Part::Index(i) => PartIr::Index(self.term(i)?),
                        Part::Range(from, to) => PartIr::Range(
                            from.as_ref().map(|t| self.term(t)).transpose()?,
                            to.as_ref().map(|t| self.term(t)).transpose()?,
                        ),
                    };
                    parts.push((part, matches!(opt, Opt::Optional)));
                }
                Ir::Path(head, parts)
            }
        })
    }

    fn binop(
        &mut self,
        l: &Term<&'s str>,
        op: &BinaryOp<&'s str>,
        r: &Term<&'s str>,
    ) -> Result<Ir, String> {
        Ok(match op {
            BinaryOp::Pipe(None) => Ir::Pipe(bx(self.term(l)?), bx(self.term(r)?)),
            BinaryOp::Pipe(Some(Pattern::Var(x))) => {
                let l = bx(self.term(l)?);
                self.scope.push(Scope::Var(x));
                let r = self.term(r);
                self.scope.pop();
                Ir::Bind(l, bx(r?))
            }
            BinaryOp::Pipe(Some(pat)) => {
                let l = bx(self.term(l)?);
                let depth = self.scope.len();
                let pat = self.pattern(pat);
                let r = pat.and_then(|pat| Ok((pat, self.term(r)?)));
                self.scope.truncate(depth);
                let (pat, r) = r?;
                Ir::Destructure(l, pat, bx(r))
            }
            BinaryOp::Comma => Ir::Comma(bx(self.term(l)?), bx(self.term(r)?)),
            BinaryOp::Alt => Ir::Alt(bx(self.term(l)?), bx(self.term(r)?)),
            BinaryOp::Or => Ir::Or(bx(self.term(l)?), bx(self.term(r)?)),
            BinaryOp::And => Ir::And(bx(self.term(l)?), bx(self.term(r)?)),
            BinaryOp::Math(m) => Ir::Math(bx(self.term(l)?), *m, bx(self.term(r)?)),
            BinaryOp::Cmp(c) => Ir::Cmp(bx(self.term(l)?), *c, bx(self.term(r)?)),
            BinaryOp::Assign => Ir::Assign(self.simple_path(l)?, bx(self.term(r)?)),
            BinaryOp::Update => Ir::Update(self.simple_path(l)?, bx(self.term(r)?)),
            BinaryOp::UpdateMath(m) => Ir::UpdateMath(self.simple_path(l)?, *m, bx(self.term(r)?)),
            BinaryOp::UpdateAlt => return Err("//=".into()),
        })
    }

    /// A destructuring pattern; pushes its variables on the scope in order.
    fn pattern(&mut self, p: &Pattern<&'s str>) -> Result<Pat, String> {
        Ok(match p {
            Pattern::Var(x) => {
                self.scope.push(Scope::Var(x));
                Pat::Var
            }
            Pattern::Arr(items) => Pat::Arr(
                items
                    .iter()
                    .map(|p| self.pattern(p))
                    .collect::<Result<_, _>>()?,
            ),
            Pattern::Obj(entries) => {
                let mut out = Vec::new();
                for (k, p) in entries {
                    let Term::Str(None, parts) = k else {
                        return Err("computed key in a pattern".into());
                    };
                    let [StrPart::Str(key)] = parts.as_slice() else {
                        return Err("computed key in a pattern".into());
                    };
                    out.push((Rc::from(*key), self.pattern(p)?));
                }
                Pat::Obj(out)
            }
        })
    }

    /// The keys/indices of a path `.a.b[f]` (rooted at `.`, no iteration, no `?`).
    fn simple_path(&mut self, t: &Term<&'s str>) -> Result<Vec<Ir>, String> {
        match t {
            Term::Id => Ok(Vec::new()),
            Term::Path(head, path) if matches!(**head, Term::Id) => path
                .0
                .iter()
                .map(|(part, opt)| match (part, opt) {
                    (Part::Index(i), Opt::Essential) => self.term(i),
                    _ => Err("assignment to a path with ranges or `?`".to_string()),
                })
                .collect(),
            _ => Err("assignment to a computed path".into()),
        }
    }

    fn call(&mut self, name: &'s str, args: &[Term<&'s str>]) -> Result<Ir, String> {
        let arity = args.len();
        let found = self.lookup(|s| match s {
            Scope::Arg(n) => arity == 0 && n == &name,
            Scope::Def(n, a) => *a == arity && n == &name,
            Scope::Var(_) => false,
        });
        if let Some(up) = found {
            return Ok(match self.scope[self.scope.len() - 1 - up] {
                Scope::Arg(_) => Ir::CallArg(up),
                _ => Ir::CallDef(up, self.terms(args)?),
            });
        }
        let native = match (name, arity) {
            ("empty", 0) => Some(Native::Empty),
            ("not", 0) => Some(Native::Not),
            ("length", 0) => Some(Native::Length),
            ("type", 0) => Some(Native::Type),
            ("tostring", 0) => Some(Native::ToString),
            ("trim", 0) => Some(Native::Trim),
            ("has", 1) => Some(Native::Has),
            ("startswith", 1) => Some(Native::StartsWith),
            ("endswith", 1) => Some(Native::EndsWith),
            ("ltrimstr", 1) => Some(Native::LtrimStr),
            ("rtrimstr", 1) => Some(Native::RtrimStr),
            ("join", 1) => Some(Native::Join),
            ("select", 1) => Some(Native::Select),
            ("map", 1) => Some(Native::Map),
            ("first", 0) => Some(Native::First),
            ("first", 1) => Some(Native::FirstOf),
            ("last", 0) => Some(Native::Last),
            ("error", 0) => Some(Native::Error0),
            ("error", 1) => Some(Native::Error1),
            ("limit", 2) => Some(Native::Limit),
            ("isempty", 1) => Some(Native::IsEmpty),
            ("values", 0) => Some(Native::Values),
            ("null", 0) => return Ok(Ir::Const(V::Null)),
            ("true", 0) => return Ok(Ir::Const(V::Bool(true))),
            ("false", 0) => return Ok(Ir::Const(V::Bool(false))),
            _ => None,
        };
        if let Some(native) = native {
            return Ok(Ir::Native(native, self.terms(args)?));
        }
        if NOT_DELEGATED.contains(&name) || name.starts_with('@') {
            return Err(format!("builtin {name}/{arity}"));
        }
        let params = builtin_params(name, arity).ok_or(format!("unknown {name}/{arity}"))?;
        let args = self.terms(args)?;
        // A filter parameter can take a value only when the argument is a constant.
        for (is_value, arg) in params.iter().zip(&args) {
            if !is_value && !matches!(arg, Ir::Const(_)) {
                return Err(format!("builtin {name}/{arity} with a filter argument"));
            }
        }
        Ok(Ir::Delegate(Rc::from(name), args))
    }

    fn terms(&mut self, ts: &[Term<&'s str>]) -> Result<Vec<Ir>, String> {
        ts.iter().map(|t| self.term(t)).collect()
    }
}

#[cfg(test)]
mod tests;
