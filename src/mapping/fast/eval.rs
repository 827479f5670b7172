//! Evaluation: each term calls back once per output (no iterators, no boxing); variables and
//! parameters live in a chain of frames on the Rust stack.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use jaq_core::ops::{Cmp, Math};
use jaq_core::{Ctx, ValT, Vars};
use jaq_json::Val;
use serde_json::Value;

use super::val::{compare, equal, owned_arr, owned_obj, to_text, Obj, K, V};
use super::{DefIr, Ir, Native, PartIr, Pat, Program};
use crate::mapping::compile::Program as JaqProgram;
use crate::mapping::Limits;

/// Why a run stops early.
enum Ctl<'a> {
    /// An error: the value of `error(v)`, or `None` for an error only jaq words.
    Err(Option<V<'a>>),
    /// Unwinding to the construct that owns this id (`first`, `limit`, `try`, `//`).
    Unwind(u32),
    /// Something this engine leaves to jaq: the whole run is repeated there.
    Fallback,
}

type R<'a> = Result<(), Ctl<'a>>;
type Out<'c, 'a> = &'c mut dyn FnMut(V<'a>) -> R<'a>;

enum Frame<'p, 'a, 'e> {
    Var(V<'a>),
    Arg(&'p Ir, Env<'p, 'a, 'e>),
    Def(&'p DefIr),
}

struct Node<'p, 'a, 'e> {
    frame: Frame<'p, 'a, 'e>,
    up: Env<'p, 'a, 'e>,
}

type Env<'p, 'a, 'e> = Option<&'e Node<'p, 'a, 'e>>;

fn nth<'p, 'a, 'e>(env: Env<'p, 'a, 'e>, n: usize) -> Option<&'e Node<'p, 'a, 'e>> {
    let mut node = env?;
    for _ in 0..n {
        node = node.up?;
    }
    Some(node)
}

/// Stack a run leaves unused: below this it is handed to jaq (which starts again from the
/// caller's depth), so deep recursion in a mapping never overflows the thread's stack.
const STACK_RESERVE: usize = 256 * 1024;
/// Where the stack bound of the thread is unknown: most stack one run may use.
const STACK_BUDGET: usize = 512 * 1024;

thread_local! {
    /// The lowest usable address of this thread's stack (0: unknown).
    static STACK_LOW: usize = stack_low();
}

/// The low end of the current thread's stack, from the thread's attributes.
#[cfg(target_os = "linux")]
fn stack_low() -> usize {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: pthread_getattr_np initialises `attr` on success (checked), the stack query
    // only reads it, and it is destroyed once, after its last use.
    unsafe {
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return 0;
        }
        let mut attr = attr.assume_init();
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if ok {
            addr as usize
        } else {
            0
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn stack_low() -> usize {
    0
}

/// What a run gave.
pub(crate) enum Outcome {
    /// The outputs, as JSON.
    Outputs(Vec<Value>),
    /// Run it on jaq: an error, a limit, or something this engine does not do.
    Jaq,
}

/// Runs `program` on `input` within `limits`.
pub(crate) fn run(program: &Program, input: &Value, limits: Limits) -> Outcome {
    let base = 0u8;
    let ev = Ev {
        ids: Cell::new(0),
        base: std::ptr::addr_of!(base) as usize,
        low: STACK_LOW.with(|l| *l),
    };
    let started = Instant::now();
    let mut outputs = Vec::new();
    let mut bytes = 0usize;
    let result = ev.run(&program.main, None, V::Ref(input), &mut |v| {
        outputs.push(v.into_json(&mut bytes));
        if outputs.len() > limits.max_outputs
            || bytes > limits.max_output_bytes
            || started.elapsed() > limits.max_wall_time
        {
            return Err(Ctl::Fallback);
        }
        Ok(())
    });
    match result {
        Ok(()) => Outcome::Outputs(outputs),
        Err(_) => Outcome::Jaq,
    }
}

struct Ev {
    ids: Cell<u32>,
    /// Where the stack was when the run started (it grows down).
    base: usize,
    /// The low end of the thread's stack, 0 if unknown.
    low: usize,
}

fn err<'a, T>() -> Result<T, Ctl<'a>> {
    Err(Ctl::Err(None))
}

fn from_jaq<'a>(v: Val) -> Result<V<'a>, Ctl<'a>> {
    V::from_jaq(v).ok_or(Ctl::Fallback)
}

impl Ev {
    fn id(&self) -> u32 {
        let id = self.ids.get().wrapping_add(1);
        self.ids.set(id);
        id
    }

    /// Runs `f` with `out` wrapped so that what `out` fails with passes through any handler
    /// of errors in between: returns `(result, downstream failure)`.
    fn guarded<'a>(
        &self,
        out: Out<'_, 'a>,
        f: impl FnOnce(Out<'_, 'a>) -> R<'a>,
    ) -> (R<'a>, Option<Ctl<'a>>) {
        let id = self.id();
        let mut downstream = None;
        let r = f(&mut |v| match out(v) {
            Ok(()) => Ok(()),
            Err(e) => {
                downstream = Some(e);
                Err(Ctl::Unwind(id))
            }
        });
        match r {
            Err(Ctl::Unwind(i)) if i == id => (Ok(()), downstream),
            r => (r, None),
        }
    }

    /// Fails over to jaq when this run has used its stack budget.
    fn stack_left<'a>(&self) -> R<'a> {
        let here = 0u8;
        let here = std::ptr::addr_of!(here) as usize;
        let exhausted = if self.low != 0 {
            here.saturating_sub(self.low) < STACK_RESERVE
        } else {
            self.base.saturating_sub(here) > STACK_BUDGET
        };
        if exhausted {
            return Err(Ctl::Fallback);
        }
        Ok(())
    }

    /// The first output of `ir`, if any (errors propagate).
    fn first<'p, 'a, 'e>(
        &self,
        ir: &'p Ir,
        env: Env<'p, 'a, 'e>,
        v: V<'a>,
    ) -> Result<Option<V<'a>>, Ctl<'a>> {
        let id = self.id();
        let mut got = None;
        match self.run(ir, env, v, &mut |x| {
            got = Some(x);
            Err(Ctl::Unwind(id))
        }) {
            Ok(()) => Ok(got),
            Err(Ctl::Unwind(i)) if i == id => Ok(got),
            Err(e) => Err(e),
        }
    }

    /// Runs `ir` on `v`, calling `out` once per output.
    fn run<'p, 'a, 'e>(
        &self,
        ir: &'p Ir,
        env: Env<'p, 'a, 'e>,
        v: V<'a>,
        out: Out<'_, 'a>,
    ) -> R<'a> {
        self.stack_left()?;
        match ir {
            Ir::Id => out(v),
            Ir::Const(c) => out(c.clone()),
            Ir::Var(up) => match nth(env, *up).map(|n| &n.frame) {
                Some(Frame::Var(x)) => out(x.clone()),
                _ => Err(Ctl::Fallback),
            },
            Ir::Pipe(l, r) => self.run(l, env, v, &mut |x| self.run(r, env, x, out)),
            Ir::Bind(l, r) => self.run(l, env, v.clone(), &mut |x| {
                let node = Node {
                    frame: Frame::Var(x),
                    up: env,
                };
                self.run(r, Some(&node), v.clone(), out)
            }),
            Ir::Destructure(l, pat, r) => self.run(l, env, v.clone(), &mut |x| {
                let mut vars = Vec::new();
                destructure(pat, x, &mut vars)?;
                self.with_vars(&vars, env, &mut |env| self.run(r, env, v.clone(), out))
            }),
            Ir::Comma(l, r) => {
                self.run(l, env, v.clone(), out)?;
                self.run(r, env, v, out)
            }
            Ir::Path(head, parts) => self.run(head, env, v.clone(), &mut |h| {
                self.path(parts, env, &v, h, out)
            }),
            Ir::Arr(None) => out(V::Arr(Rc::new(Vec::new()))),
            Ir::Arr(Some(t)) => {
                let mut items = Vec::new();
                self.run(t, env, v, &mut |x| {
                    items.push(x);
                    Ok(())
                })?;
                out(V::Arr(Rc::new(items)))
            }
            Ir::Obj(entries) => {
                let mut bound = Vec::with_capacity(entries.len());
                self.obj(entries, env, &v, &mut bound, out)
            }
            // The first interpolated term varies slowest.
            Ir::Str(lits, exprs) => self.values(exprs, env, &v, &mut Vec::new(), &mut |vals| {
                let mut s = String::from(&*lits[0]);
                for (x, lit) in vals.iter().zip(&lits[1..]) {
                    s.push_str(&to_text(x));
                    s.push_str(lit);
                }
                out(V::Str(Rc::from(s)))
            }),
            Ir::If(branches, els) => self.branch(branches, els.as_deref(), env, v, out),
            Ir::Alt(l, r) => {
                // jaq: the truthy outputs of `l` (an error counts as one and stops the run),
                // else the outputs of `r`.
                let mut any = false;
                self.run(l, env, v.clone(), &mut |x| {
                    if x.truthy() {
                        any = true;
                        out(x)
                    } else {
                        Ok(())
                    }
                })?;
                if any {
                    Ok(())
                } else {
                    self.run(r, env, v, out)
                }
            }
            Ir::Try(body, catch) => {
                let (res, downstream) = self.guarded(out, |out| self.run(body, env, v, out));
                if let Some(d) = downstream {
                    return Err(d);
                }
                match (res, catch) {
                    (Ok(()), _) | (Err(Ctl::Err(_)), None) => Ok(()),
                    (Err(Ctl::Err(Some(e))), Some(c)) => self.run(c, env, e, out),
                    (Err(Ctl::Err(None)), Some(_)) => Err(Ctl::Fallback),
                    (Err(e), _) => Err(e),
                }
            }
            Ir::And(l, r) => self.run(l, env, v.clone(), &mut |x| {
                if !x.truthy() {
                    return out(V::Bool(false));
                }
                self.run(r, env, v.clone(), &mut |y| out(V::Bool(y.truthy())))
            }),
            Ir::Or(l, r) => self.run(l, env, v.clone(), &mut |x| {
                if x.truthy() {
                    return out(V::Bool(true));
                }
                self.run(r, env, v.clone(), &mut |y| out(V::Bool(y.truthy())))
            }),
            Ir::Cmp(l, op, r) => self.run(r, env, v.clone(), &mut |y| {
                self.run(l, env, v.clone(), &mut |x| out(V::Bool(cmp(&x, *op, &y))))
            }),
            Ir::Math(l, op, r) => self.run(r, env, v.clone(), &mut |y| {
                self.run(l, env, v.clone(), &mut |x| out(math(x, *op, y.clone())?))
            }),
            Ir::Neg(t) => self.run(t, env, v, &mut |x| match x.kind() {
                K::Num(n) => out(V::Num(-n.to_num())),
                _ => err(),
            }),
            Ir::Fold {
                xs,
                init,
                update,
                foreach,
            } => {
                let mut items = Vec::new();
                self.run(xs, env, v.clone(), &mut |x| {
                    items.push(x);
                    Ok(())
                })?;
                self.run(init, env, v, &mut |state| {
                    self.fold(&items, update, foreach.as_ref(), env, state, out)
                })
            }
            Ir::Defs(defs, rest) => self.defs(defs, rest, env, v, out),
            Ir::CallDef(up, args) => {
                let Some(node) = nth(env, *up) else {
                    return Err(Ctl::Fallback);
                };
                let Frame::Def(def) = &node.frame else {
                    return Err(Ctl::Fallback);
                };
                self.bind_params(def, args, 0, env, Some(node), v, out)
            }
            Ir::CallArg(up) => match nth(env, *up).map(|n| &n.frame) {
                Some(Frame::Arg(body, cenv)) => self.run(body, *cenv, v, out),
                _ => Err(Ctl::Fallback),
            },
            Ir::Recurse => self.recurse(v, out),
            Ir::Native(n, args) => self.native(*n, args, env, v, out),
            Ir::Delegate(name, args) => {
                let mut vals = Vec::with_capacity(args.len());
                self.values(args, env, &v, &mut vals, &mut |vals| {
                    delegate(name, &v, vals, out)
                })
            }
            Ir::Assign(path, value) => {
                let keys = self.path_keys(path, env, &v)?;
                self.run(value, env, v.clone(), &mut |x| {
                    out(set_path(v.clone(), &keys, &mut |_| Ok(Some(x.clone())))?)
                })
            }
            Ir::Update(path, f) => {
                let keys = self.path_keys(path, env, &v)?;
                out(set_path(v.clone(), &keys, &mut |old| {
                    self.first(f, env, old)
                })?)
            }
            Ir::UpdateMath(path, op, value) => {
                let keys = self.path_keys(path, env, &v)?;
                self.run(value, env, v.clone(), &mut |x| {
                    out(set_path(v.clone(), &keys, &mut |old| {
                        math(old, *op, x.clone()).map(Some)
                    })?)
                })
            }
        }
    }

    /// Runs `f` with `vars` pushed on `env`, first one outermost.
    fn with_vars<'p, 'a, 'e>(
        &self,
        vars: &[V<'a>],
        env: Env<'p, 'a, 'e>,
        f: &mut dyn for<'f> FnMut(Env<'p, 'a, 'f>) -> R<'a>,
    ) -> R<'a> {
        match vars.split_first() {
            None => f(env),
            Some((x, rest)) => {
                let node = Node {
                    frame: Frame::Var(x.clone()),
                    up: env,
                };
                self.with_vars(rest, Some(&node), f)
            }
        }
    }

    fn defs<'p, 'a, 'e>(
        &self,
        defs: &'p [Rc<DefIr>],
        rest: &'p Ir,
        env: Env<'p, 'a, 'e>,
        v: V<'a>,
        out: Out<'_, 'a>,
    ) -> R<'a> {
        match defs.split_first() {
            None => self.run(rest, env, v, out),
            Some((d, more)) => {
                let node = Node {
                    frame: Frame::Def(d),
                    up: env,
                };
                self.defs(more, rest, Some(&node), v, out)
            }
        }
    }

    /// Binds the parameters of `def` from `i` on (value parameters once per output of their
    /// argument, first parameter outermost), then runs its body.
    #[allow(clippy::too_many_arguments)]
    fn bind_params<'p, 'a, 'e>(
        &self,
        def: &'p DefIr,
        args: &'p [Ir],
        i: usize,
        caller: Env<'p, 'a, 'e>,
        at: Env<'p, 'a, 'e>,
        v: V<'a>,
        out: Out<'_, 'a>,
    ) -> R<'a> {
        let Some(arg) = args.get(i) else {
            return self.run(&def.body, at, v, out);
        };
        if def.params.get(i).copied().unwrap_or(false) {
            self.run(arg, caller, v.clone(), &mut |x| {
                let var = Node {
                    frame: Frame::Var(x),
                    up: at,
                };
                self.bind_params(def, args, i + 1, caller, Some(&var), v.clone(), out)
            })
        } else {
            let closure = Node {
                frame: Frame::Arg(arg, caller),
                up: at,
            };
            self.bind_params(def, args, i + 1, caller, Some(&closure), v, out)
        }
    }

    fn branch<'p, 'a, 'e>(
        &self,
        branches: &'p [(Ir, Ir)],
        els: Option<&'p Ir>,
        env: Env<'p, 'a, 'e>,
        v: V<'a>,
        out: Out<'_, 'a>,
    ) -> R<'a> {
        match branches.split_first() {
            None => match els {
                Some(e) => self.run(e, env, v, out),
                None => out(v),
            },
            Some(((c, t), rest)) => self.run(c, env, v.clone(), &mut |x| {
                if x.truthy() {
                    self.run(t, env, v.clone(), out)
                } else {
                    self.branch(rest, els, env, v.clone(), out)
                }
            }),
        }
    }

    /// Object construction: the first entry varies slowest, its key before its value.
    fn obj<'p, 'a, 'e>(
        &self,
        entries: &'p [(Ir, Ir)],
        env: Env<'p, 'a, 'e>,
        v: &V<'a>,
        bound: &mut Vec<(Rc<str>, V<'a>)>,
        out: Out<'_, 'a>,
    ) -> R<'a> {
        let Some(((k, x), rest)) = entries.split_first() else {
            let mut map = Obj::with_capacity_and_hasher(bound.len(), Default::default());
            for (k, x) in bound.iter() {
                map.insert(k.clone(), x.clone());
            }
            return out(V::Obj(Rc::new(map)));
        };
        self.run(k, env, v.clone(), &mut |key| {
            let Some(key) = key.as_str().map(Rc::<str>::from) else {
                return err();
            };
            self.run(x, env, v.clone(), &mut |value| {
                bound.push((key.clone(), value));
                let r = self.obj(rest, env, v, bound, out);
                bound.pop();
                r
            })
        })
    }

    fn path<'p, 'a, 'e>(
        &self,
        parts: &'p [(PartIr, bool)],
        env: Env<'p, 'a, 'e>,
        root: &V<'a>,
        cur: V<'a>,
        out: Out<'_, 'a>,
    ) -> R<'a> {
        let Some(((part, optional), rest)) = parts.split_first() else {
            return out(cur);
        };
        let mut next = |x: V<'a>| self.path(rest, env, root, x, out);
        let r = match part {
            PartIr::Index(i) => self.run(i, env, root.clone(), &mut |key| {
                let fast = match key.kind() {
                    K::Str(k) => cur.field(k),
                    K::Num(n) => n.to_num().as_isize().and_then(|i| cur.item(i)),
                    _ => None,
                };
                let x = match fast {
                    Some(x) => x,
                    None => from_jaq(
                        cur.to_jaq()
                            .index(&key.to_jaq())
                            .map_err(|_| Ctl::Err(None))?,
                    )?,
                };
                next(x)
            }),
            PartIr::Range(None, None) => {
                let mut r = Ok(());
                let iterable = cur.each(|x| {
                    r = next(x);
                    r.is_ok()
                });
                match iterable {
                    Some(()) => r,
                    None => err(),
                }
            }
            PartIr::Range(from, to) => {
                let bound = |b: &'p Option<Ir>| -> Result<Val, Ctl<'a>> {
                    match b {
                        None => Ok(Val::Null),
                        Some(b) => match self.first(b, env, root.clone())? {
                            Some(x) => Ok(x.to_jaq()),
                            None => Err(Ctl::Fallback),
                        },
                    }
                };
                let (from, to) = (bound(from)?, bound(to)?);
                let range = jaq_core::val::Range {
                    start: (!matches!(from, Val::Null)).then_some(&from),
                    end: (!matches!(to, Val::Null)).then_some(&to),
                };
                match cur.to_jaq().range(range) {
                    Ok(x) => next(from_jaq(x)?),
                    Err(_) => err(),
                }
            }
        };
        match r {
            Err(Ctl::Err(_)) if *optional => Ok(()),
            r => r,
        }
    }

    fn fold<'p, 'a, 'e>(
        &self,
        items: &[V<'a>],
        update: &'p Ir,
        foreach: Option<&Option<Box<Ir>>>,
        env: Env<'p, 'a, 'e>,
        mut state: V<'a>,
        out: Out<'_, 'a>,
    ) -> R<'a> {
        for (i, x) in items.iter().enumerate() {
            let node = Node {
                frame: Frame::Var(x.clone()),
                up: env,
            };
            let mut next = Vec::with_capacity(1);
            self.run(update, Some(&node), state, &mut |s| {
                next.push(s);
                Ok(())
            })?;
            if next.len() != 1 {
                // Several states fork the rest of the fold (jaq's semantics); none ends it.
                for s in next {
                    if let Some(extract) = foreach {
                        self.extract(extract.as_deref(), &node, s.clone(), out)?;
                    }
                    self.fold(&items[i + 1..], update, foreach, env, s, out)?;
                }
                return Ok(());
            }
            state = next.pop().unwrap_or(V::Null);
            if let Some(extract) = foreach {
                self.extract(extract.as_deref(), &node, state.clone(), out)?;
            }
        }
        match foreach {
            None => out(state),
            Some(_) => Ok(()),
        }
    }

    fn extract<'p, 'a, 'e>(
        &self,
        extract: Option<&'p Ir>,
        node: &Node<'p, 'a, 'e>,
        state: V<'a>,
        out: Out<'_, 'a>,
    ) -> R<'a> {
        match extract {
            Some(e) => self.run(e, Some(node), state, out),
            None => out(state),
        }
    }

    fn recurse<'a>(&self, v: V<'a>, out: Out<'_, 'a>) -> R<'a> {
        self.stack_left()?;
        out(v.clone())?;
        let mut r = Ok(());
        v.each(|x| {
            r = self.recurse(x, out);
            r.is_ok()
        });
        r
    }

    /// The argument values of a call, cartesian, first argument outermost.
    fn values<'p, 'a, 'e>(
        &self,
        args: &'p [Ir],
        env: Env<'p, 'a, 'e>,
        v: &V<'a>,
        vals: &mut Vec<V<'a>>,
        f: &mut dyn FnMut(&[V<'a>]) -> R<'a>,
    ) -> R<'a> {
        match args.split_first() {
            None => f(vals),
            Some((a, rest)) => self.run(a, env, v.clone(), &mut |x| {
                vals.push(x);
                let r = self.values(rest, env, v, vals, f);
                vals.pop();
                r
            }),
        }
    }

    /// The keys of an assignment path (each key expression runs on the input); a path
    /// expression with several outputs (several paths) is left to jaq.
    fn path_keys<'p, 'a, 'e>(
        &self,
        path: &'p [Ir],
        env: Env<'p, 'a, 'e>,
        v: &V<'a>,
    ) -> Result<Vec<V<'a>>, Ctl<'a>> {
        let mut all: Vec<Vec<V<'a>>> = Vec::new();
        self.values(path, env, v, &mut Vec::new(), &mut |keys| {
            all.push(keys.to_vec());
            Ok(())
        })?;
        match all.len() {
            1 => Ok(all.pop().unwrap_or_default()),
            _ => Err(Ctl::Fallback),
        }
    }

    fn native<'p, 'a, 'e>(
        &self,
        n: Native,
        args: &'p [Ir],
        env: Env<'p, 'a, 'e>,
        v: V<'a>,
        out: Out<'_, 'a>,
    ) -> R<'a> {
        match n {
            Native::Empty => Ok(()),
            Native::Not => out(V::Bool(!v.truthy())),
            Native::Values => {
                if v.is_null() {
                    Ok(())
                } else {
                    out(v)
                }
            }
            Native::Length => match v.kind() {
                K::Null => out(V::Num(jaq_json::Num::from_integral(0))),
                K::Str(s) => out(V::Num(jaq_json::Num::from_integral(s.chars().count()))),
                _ => match v.len() {
                    Some(n) => out(V::Num(jaq_json::Num::from_integral(n))),
                    None => delegate("length", &v, &[], out),
                },
            },
            Native::Type => out(V::Str(type_name(&v))),
            Native::ToString => out(V::Str(to_text(&v))),
            Native::Trim => match v.kind() {
                K::Str(s) => {
                    let t = s.trim();
                    if t.len() == s.len() {
                        out(v.clone())
                    } else {
                        out(V::str(t))
                    }
                }
                _ => err(),
            },
            Native::Select => self.run(&args[0], env, v.clone(), &mut |c| {
                if c.truthy() {
                    out(v.clone())
                } else {
                    Ok(())
                }
            }),
            Native::Map => {
                let mut items = Vec::new();
                let mut r = Ok(());
                let iterable = v.each(|x| {
                    r = self.run(&args[0], env, x, &mut |y| {
                        items.push(y);
                        Ok(())
                    });
                    r.is_ok()
                });
                match iterable {
                    None => err(),
                    Some(()) => {
                        r?;
                        out(V::Arr(Rc::new(items)))
                    }
                }
            }
            Native::FirstOf => match self.first(&args[0], env, v)? {
                Some(x) => out(x),
                None => Ok(()),
            },
            Native::IsEmpty => {
                let some = self.first(&args[0], env, v)?.is_some();
                out(V::Bool(!some))
            }
            Native::First | Native::Last => {
                let i = if n == Native::First { 0 } else { -1 };
                match v.item(i) {
                    Some(x) => out(x),
                    None => from_jaq(
                        v.to_jaq()
                            .index(&Val::from(i))
                            .map_err(|_| Ctl::Err(None))?,
                    )
                    .and_then(&mut *out),
                }
            }
            Native::Error0 => Err(Ctl::Err(Some(v))),
            Native::Error1 => self.run(&args[0], env, v, &mut |m| Err(Ctl::Err(Some(m)))),
            Native::Limit => self.run(&args[0], env, v.clone(), &mut |n| {
                let Some(n) = (match n.kind() {
                    K::Num(n) => n.to_num().as_isize(),
                    _ => None,
                }) else {
                    return Err(Ctl::Fallback);
                };
                if n <= 0 {
                    return Ok(());
                }
                // The own stop is told apart by its id; what `out` fails with passes through.
                let mut left = n;
                let id = self.id();
                let r = self.run(&args[1], env, v.clone(), &mut |x| {
                    out(x)?;
                    left -= 1;
                    if left == 0 {
                        Err(Ctl::Unwind(id))
                    } else {
                        Ok(())
                    }
                });
                match r {
                    Err(Ctl::Unwind(i)) if i == id => Ok(()),
                    r => r,
                }
            }),
            Native::Has
            | Native::StartsWith
            | Native::EndsWith
            | Native::LtrimStr
            | Native::RtrimStr
            | Native::Join => self.run(&args[0], env, v.clone(), &mut |a| {
                let fast = match (n, v.kind(), a.kind()) {
                    (Native::Has, K::ObjRef(o), K::Str(k)) => Some(V::Bool(o.contains_key(k))),
                    (Native::Has, K::ObjOwn(o), K::Str(k)) => Some(V::Bool(o.contains_key(k))),
                    (Native::StartsWith, K::Str(s), K::Str(p)) => Some(V::Bool(s.starts_with(p))),
                    (Native::EndsWith, K::Str(s), K::Str(p)) => Some(V::Bool(s.ends_with(p))),
                    (Native::LtrimStr, K::Str(s), K::Str(p)) => {
                        Some(s.strip_prefix(p).map_or_else(|| v.clone(), V::str))
                    }
                    (Native::RtrimStr, K::Str(s), K::Str(p)) => {
                        Some(s.strip_suffix(p).map_or_else(|| v.clone(), V::str))
                    }
                    (Native::Join, K::ArrRef(_) | K::ArrOwn(_), K::Str(sep)) => {
                        let mut s = String::new();
                        let mut first = true;
                        v.each(|x| {
                            if !first {
                                s.push_str(sep);
                            }
                            first = false;
                            s.push_str(&to_text(&x));
                            true
                        });
                        Some(V::Str(Rc::from(s)))
                    }
                    _ => None,
                };
                match fast {
                    Some(x) => out(x),
                    None => {
                        let name = match n {
                            Native::Has => "has",
                            Native::StartsWith => "startswith",
                            Native::EndsWith => "endswith",
                            Native::LtrimStr => "ltrimstr",
                            Native::RtrimStr => "rtrimstr",
                            _ => "join",
                        };
                        delegate(name, &v, std::slice::from_ref(&a), out)
                    }
                }
            }),
        }
    }
}

/// The jq type name of `v`, shared (`type` runs once per field in most mappings).
fn type_name(v: &V) -> Rc<str> {
    thread_local! {
        static NAMES: [Rc<str>; 6] =
            ["null", "boolean", "number", "string", "array", "object"].map(Rc::from);
    }
    NAMES.with(|n| n[usize::from(v.kind().rank())].clone())
}

/// The values a pattern binds, in order; indexing as `.[i]` / `.[key]` does.
fn destructure<'a>(pat: &Pat, v: V<'a>, vars: &mut Vec<V<'a>>) -> R<'a> {
    match pat {
        Pat::Var => vars.push(v),
        Pat::Arr(items) => {
            for (i, p) in items.iter().enumerate() {
                let x = v.item(i as isize).ok_or(Ctl::Err(None))?;
                destructure(p, x, vars)?;
            }
        }
        Pat::Obj(entries) => {
            for (k, p) in entries {
                let x = v.field(k).ok_or(Ctl::Err(None))?;
                destructure(p, x, vars)?;
            }
        }
    }
    Ok(())
}

fn cmp(x: &V, op: Cmp, y: &V) -> bool {
    match op {
        Cmp::Eq => equal(x, y),
        Cmp::Ne => !equal(x, y),
        Cmp::Lt => compare(x, y).is_lt(),
        Cmp::Le => compare(x, y).is_le(),
        Cmp::Gt => compare(x, y).is_gt(),
        Cmp::Ge => compare(x, y).is_ge(),
    }
}

/// jq arithmetic: string, array and object `+` here, everything else by jaq.
fn math<'a>(x: V<'a>, op: Math, y: V<'a>) -> Result<V<'a>, Ctl<'a>> {
    if op == Math::Add {
        match (x.kind(), y.kind()) {
            (K::Null, _) => return Ok(y),
            (_, K::Null) => return Ok(x),
            (K::Str(a), K::Str(b)) => {
                let mut s = String::with_capacity(a.len() + b.len());
                s.push_str(a);
                s.push_str(b);
                return Ok(V::Str(Rc::from(s)));
            }
            (K::ArrRef(_) | K::ArrOwn(_), K::ArrRef(_) | K::ArrOwn(_)) => {
                let mut a = owned_arr(x).ok_or(Ctl::Fallback)?;
                y.each(|item| {
                    a.push(item);
                    true
                });
                return Ok(V::Arr(Rc::new(a)));
            }
            (K::ObjRef(_) | K::ObjOwn(_), K::ObjRef(_) | K::ObjOwn(_)) => {
                let mut a = owned_obj(x).ok_or(Ctl::Fallback)?;
                for (k, item) in owned_obj(y).ok_or(Ctl::Fallback)? {
                    a.insert(k, item);
                }
                return Ok(V::Obj(Rc::new(a)));
            }
            _ => {}
        }
    }
    let (a, b) = (x.to_jaq(), y.to_jaq());
    let r = match op {
        Math::Add => a + b,
        Math::Sub => a - b,
        Math::Mul => a * b,
        Math::Div => a / b,
        Math::Rem => a % b,
    };
    match r {
        Ok(v) => from_jaq(v),
        Err(_) => err(),
    }
}

/// `v` with the value at `keys` (which exist, in objects and arrays) replaced by what `f`
/// makes of the old one; anything else (deleting, creating, growing) is left to jaq.
fn set_path<'a>(
    v: V<'a>,
    keys: &[V<'a>],
    f: &mut dyn FnMut(V<'a>) -> Result<Option<V<'a>>, Ctl<'a>>,
) -> Result<V<'a>, Ctl<'a>> {
    let Some((key, rest)) = keys.split_first() else {
        return f(v)?.ok_or(Ctl::Fallback);
    };
    match (key.kind(), v.kind()) {
        (K::Str(k), K::ObjRef(_) | K::ObjOwn(_)) => {
            let k: Rc<str> = Rc::from(k);
            let mut obj = owned_obj(v).ok_or(Ctl::Fallback)?;
            let old = obj.get(&k).cloned().unwrap_or(V::Null);
            let new = set_path(old, rest, f)?;
            obj.insert(k, new);
            Ok(V::Obj(Rc::new(obj)))
        }
        (K::Num(n), K::ArrRef(_) | K::ArrOwn(_)) => {
            let Some(i) = n.to_num().as_isize() else {
                return Err(Ctl::Fallback);
            };
            let mut arr = owned_arr(v).ok_or(Ctl::Fallback)?;
            let len = arr.len() as isize;
            let at = if i < 0 { len + i } else { i };
            // Growing an array (or indexing from before its start) follows jaq's own rules.
            if at < 0 || at >= len {
                return Err(Ctl::Fallback);
            }
            let at = at as usize;
            let old = std::mem::replace(&mut arr[at], V::Null);
            arr[at] = set_path(old, rest, f)?;
            Ok(V::Arr(Rc::new(arr)))
        }
        // Creating containers in null follows jaq's own rules.
        _ => Err(Ctl::Fallback),
    }
}

/// jaq programs for delegated builtins, by name and arity.
type Delegates = HashMap<(Rc<str>, usize), Rc<JaqProgram>>;

thread_local! {
    /// jaq programs for delegated builtins, by name and arity.
    static DELEGATES: RefCell<Delegates> =
        RefCell::new(HashMap::new());
}

/// Runs the builtin `name` in jaq on `v` with argument values `args`.
fn delegate<'a>(name: &str, v: &V<'a>, args: &[V<'a>], out: Out<'_, 'a>) -> R<'a> {
    if name.starts_with("decimal") {
        let vals: Vec<Val> = args.iter().map(V::to_jaq).collect();
        if let Some(r) = crate::mapping::decimal::call(name, &v.to_jaq(), &vals) {
            return match r {
                Ok(x) => out(from_jaq(x)?),
                Err(_) => err(),
            };
        }
    }
    let key = (Rc::<str>::from(name), args.len());
    let program = DELEGATES.with(|d| d.borrow().get(&key).cloned());
    let program = match program {
        Some(p) => p,
        None => {
            let vars: Vec<String> = (0..args.len()).map(|i| format!("$__{i}")).collect();
            let call = if vars.is_empty() {
                name.to_string()
            } else {
                format!("{name}({})", vars.join("; "))
            };
            let p = super::super::compile::compile_with_vars(&call, &vars)
                .map(Rc::new)
                .map_err(|_| Ctl::Fallback)?;
            DELEGATES.with(|d| d.borrow_mut().insert(key, p.clone()));
            p
        }
    };
    let ctx = Ctx::<super::super::compile::Data>::new(
        &program.lut,
        Vars::new(args.iter().map(V::to_jaq)),
    );
    let mut results = Vec::new();
    for r in program.id.run((ctx, v.to_jaq())) {
        match jaq_core::unwrap_valr(r) {
            Ok(x) => results.push(from_jaq(x)?),
            Err(_) => {
                for x in results {
                    out(x)?;
                }
                return err();
            }
        }
    }
    for x in results {
        out(x)?;
    }
    Ok(())
}
