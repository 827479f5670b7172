//! Values of the fast engine: the decoded input is borrowed, never copied; what a mapping builds
//! is reference-counted. Anything beyond the common operations converts to jaq's own value and
//! uses jaq's implementation, so results agree with the reference engine by construction.

use std::cmp::Ordering;
use std::rc::Rc;

use indexmap::IndexMap;
use jaq_core::ValT;
use jaq_json::{Num, Val};
use serde_json::Value;

use super::super::value::{json_to_val, num_to_json, number_to_num};

/// An object built by a mapping: insertion-ordered like jaq's.
pub(crate) type Obj<'a> = IndexMap<Rc<str>, V<'a>, foldhash::fast::RandomState>;

/// A value: borrowed from the input (`Ref`) or built by the mapping.
#[derive(Clone, Debug)]
pub(crate) enum V<'a> {
    /// A node of the input document.
    Ref(&'a Value),
    Null,
    Bool(bool),
    Num(Num),
    Str(Rc<str>),
    Arr(Rc<Vec<V<'a>>>),
    Obj(Rc<Obj<'a>>),
}

/// A view of a value's kind, borrowed or built alike.
pub(crate) enum K<'v, 'a> {
    Null,
    Bool(bool),
    /// A number; the input's are read lazily.
    Num(NumRef<'v>),
    Str(&'v str),
    /// Borrowed or built array.
    ArrRef(&'a [Value]),
    ArrOwn(&'v [V<'a>]),
    /// Borrowed or built object.
    ObjRef(&'a serde_json::Map<String, Value>),
    ObjOwn(&'v Obj<'a>),
}

pub(crate) enum NumRef<'v> {
    Json(&'v serde_json::Number),
    Jaq(&'v Num),
}

impl K<'_, '_> {
    /// The kind's place in jq's order of types (null, boolean, number, string, array,
    /// object), also the index of its type name.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            K::Null => 0,
            K::Bool(_) => 1,
            K::Num(_) => 2,
            K::Str(_) => 3,
            K::ArrRef(_) | K::ArrOwn(_) => 4,
            K::ObjRef(_) | K::ObjOwn(_) => 5,
        }
    }
}

impl NumRef<'_> {
    pub(crate) fn to_num(&self) -> Num {
        match self {
            NumRef::Json(n) => number_to_num(n),
            NumRef::Jaq(n) => (*n).clone(),
        }
    }
}

impl<'a> V<'a> {
    pub(crate) fn str(s: &str) -> Self {
        V::Str(Rc::from(s))
    }

    pub(crate) fn kind(&self) -> K<'_, 'a> {
        match self {
            V::Ref(v) => match v {
                Value::Null => K::Null,
                Value::Bool(b) => K::Bool(*b),
                Value::Number(n) => K::Num(NumRef::Json(n)),
                Value::String(s) => K::Str(s),
                Value::Array(a) => K::ArrRef(a),
                Value::Object(o) => K::ObjRef(o),
            },
            V::Null => K::Null,
            V::Bool(b) => K::Bool(*b),
            V::Num(n) => K::Num(NumRef::Jaq(n)),
            V::Str(s) => K::Str(s),
            V::Arr(a) => K::ArrOwn(a),
            V::Obj(o) => K::ObjOwn(o),
        }
    }

    /// jq truthiness: everything but `null` and `false`.
    pub(crate) fn truthy(&self) -> bool {
        !matches!(self.kind(), K::Null | K::Bool(false))
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self.kind() {
            K::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self.kind(), K::Null)
    }

    /// `.[key]` on an object or null; `None` when jaq's rules are needed.
    pub(crate) fn field(&self, key: &str) -> Option<V<'a>> {
        Some(match self {
            V::Ref(Value::Object(o)) => o.get(key).map_or(V::Null, V::Ref),
            V::Ref(Value::Null) | V::Null => V::Null,
            V::Obj(o) => o.get(key).cloned().unwrap_or(V::Null),
            _ => return None,
        })
    }

    /// `.[i]` on an array or null for an integer `i`; `None` when jaq's rules are needed.
    pub(crate) fn item(&self, i: isize) -> Option<V<'a>> {
        let pick = |len: usize| -> Option<usize> {
            let i = if i < 0 { len as isize + i } else { i };
            (i >= 0 && (i as usize) < len).then_some(i as usize)
        };
        Some(match self {
            V::Ref(Value::Array(a)) => pick(a.len()).map_or(V::Null, |i| V::Ref(&a[i])),
            V::Arr(a) => pick(a.len()).map_or(V::Null, |i| a[i].clone()),
            V::Ref(Value::Null) | V::Null => V::Null,
            _ => return None,
        })
    }

    /// The values of an array or object (`.[]`); `None` for other kinds.
    pub(crate) fn each(&self, mut f: impl FnMut(V<'a>) -> bool) -> Option<()> {
        match self {
            V::Ref(Value::Array(a)) => {
                for x in a.iter() {
                    if !f(V::Ref(x)) {
                        break;
                    }
                }
            }
            V::Ref(Value::Object(o)) => {
                for x in o.values() {
                    if !f(V::Ref(x)) {
                        break;
                    }
                }
            }
            V::Arr(a) => {
                for x in a.iter() {
                    if !f(x.clone()) {
                        break;
                    }
                }
            }
            V::Obj(o) => {
                for x in o.values() {
                    if !f(x.clone()) {
                        break;
                    }
                }
            }
            _ => return None,
        }
        Some(())
    }

    /// Number of items of an array or entries of an object.
    pub(crate) fn len(&self) -> Option<usize> {
        match self.kind() {
            K::ArrRef(a) => Some(a.len()),
            K::ArrOwn(a) => Some(a.len()),
            K::ObjRef(o) => Some(o.len()),
            K::ObjOwn(o) => Some(o.len()),
            _ => None,
        }
    }

    /// The value as jaq's, for operations done by jaq.
    pub(crate) fn to_jaq(&self) -> Val {
        match self {
            V::Ref(v) => json_to_val(v),
            V::Null => Val::Null,
            V::Bool(b) => Val::Bool(*b),
            V::Num(n) => Val::Num(n.clone()),
            V::Str(s) => Val::utf8_str(s.as_bytes().to_vec()),
            V::Arr(a) => a.iter().map(V::to_jaq).collect(),
            V::Obj(o) => {
                let mut map = jaq_json::Map::default();
                for (k, v) in o.iter() {
                    map.insert(Val::utf8_str(k.as_bytes().to_vec()), v.to_jaq());
                }
                Val::obj(map)
            }
        }
    }

    /// A jaq value as ours; `None` if it has a non-string key or a byte string.
    pub(crate) fn from_jaq(val: Val) -> Option<V<'a>> {
        Some(match val {
            Val::Null => V::Null,
            Val::Bool(b) => V::Bool(b),
            Val::Num(n) => V::Num(n),
            Val::TStr(b) => V::Str(Rc::from(std::str::from_utf8(&b).ok()?)),
            Val::BStr(_) => return None,
            Val::Arr(a) => V::Arr(Rc::new(
                a.iter().cloned().map(V::from_jaq).collect::<Option<_>>()?,
            )),
            Val::Obj(o) => {
                let mut map = Obj::default();
                for (k, v) in o.iter() {
                    let Val::TStr(k) = k else { return None };
                    map.insert(
                        Rc::from(std::str::from_utf8(k).ok()?),
                        V::from_jaq(v.clone())?,
                    );
                }
                V::Obj(Rc::new(map))
            }
        })
    }

    /// The output as JSON, as the reference engine writes it; adds its approximate size.
    pub(crate) fn into_json(self, bytes: &mut usize) -> Value {
        match self {
            V::Ref(v) => {
                *bytes += approx_size(v);
                ref_to_json(v)
            }
            V::Null => {
                *bytes += 4;
                Value::Null
            }
            V::Bool(b) => {
                *bytes += 5;
                Value::Bool(b)
            }
            V::Num(n) => {
                *bytes += 8;
                num_to_json(&n)
            }
            V::Str(s) => {
                *bytes += s.len() + 2;
                Value::String(s.to_string())
            }
            V::Arr(a) => {
                *bytes += 2;
                let items = Rc::try_unwrap(a).unwrap_or_else(|rc| (*rc).clone());
                Value::Array(
                    items
                        .into_iter()
                        .map(|x| {
                            *bytes += 1;
                            x.into_json(bytes)
                        })
                        .collect(),
                )
            }
            V::Obj(o) => {
                *bytes += 2;
                let fields = Rc::try_unwrap(o).unwrap_or_else(|rc| (*rc).clone());
                let mut out = serde_json::Map::new();
                for (k, v) in fields {
                    *bytes += k.len() + 4;
                    out.insert(k.to_string(), v.into_json(bytes));
                }
                Value::Object(out)
            }
        }
    }
}

/// An input node as the reference engine would write it back: numbers go through jaq's
/// number so their text is the same (`1e3` → `1e+3`).
fn ref_to_json(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => Value::Number(n.clone()),
        Value::Number(n) => num_to_json(&number_to_num(n)),
        Value::Array(a) => Value::Array(a.iter().map(ref_to_json).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), ref_to_json(v))).collect())
        }
        other => other.clone(),
    }
}

fn approx_size(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(_) => 5,
        Value::Number(_) => 8,
        Value::String(s) => s.len() + 2,
        Value::Array(a) => 2 + a.iter().map(|x| 1 + approx_size(x)).sum::<usize>(),
        Value::Object(o) => {
            2 + o
                .iter()
                .map(|(k, v)| k.len() + 4 + approx_size(v))
                .sum::<usize>()
        }
    }
}

/// jq's order (jaq's `Ord` on values): done here for scalars, by jaq for the rest.
pub(crate) fn compare(a: &V, b: &V) -> Ordering {
    let rank = K::rank;
    let (ka, kb) = (a.kind(), b.kind());
    match (&ka, &kb) {
        (K::Null, K::Null) => Ordering::Equal,
        (K::Bool(x), K::Bool(y)) => x.cmp(y),
        (K::Str(x), K::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (K::Num(NumRef::Json(x)), K::Num(NumRef::Json(y))) if x.is_i64() && y.is_i64() => {
            x.as_i64().cmp(&y.as_i64())
        }
        (K::Num(x), K::Num(y)) => x.to_num().cmp(&y.to_num()),
        _ if rank(&ka) != rank(&kb) => rank(&ka).cmp(&rank(&kb)),
        _ => a.to_jaq().cmp(&b.to_jaq()),
    }
}

/// jq equality.
pub(crate) fn equal(a: &V, b: &V) -> bool {
    match (a.kind(), b.kind()) {
        (K::Null, K::Null) => true,
        (K::Bool(x), K::Bool(y)) => x == y,
        (K::Str(x), K::Str(y)) => x == y,
        (K::Num(x), K::Num(y)) => x.to_num() == y.to_num(),
        (K::ArrRef(_) | K::ArrOwn(_), K::ArrRef(_) | K::ArrOwn(_))
        | (K::ObjRef(_) | K::ObjOwn(_), K::ObjRef(_) | K::ObjOwn(_)) => a.to_jaq() == b.to_jaq(),
        _ => false,
    }
}

/// The text `tostring` and string interpolation give.
pub(crate) fn to_text(v: &V) -> Rc<str> {
    match v {
        V::Str(s) => s.clone(),
        V::Ref(Value::String(s)) => Rc::from(s.as_str()),
        other => match other.to_jaq().into_string() {
            Val::TStr(b) | Val::BStr(b) => Rc::from(String::from_utf8_lossy(&b).as_ref()),
            _ => Rc::from(""),
        },
    }
}

/// The object of `v` as a built one (copied when borrowed or shared).
pub(crate) fn owned_obj<'a>(v: V<'a>) -> Option<Obj<'a>> {
    match v {
        V::Obj(o) => Some(Rc::try_unwrap(o).unwrap_or_else(|rc| (*rc).clone())),
        V::Ref(Value::Object(o)) => Some(
            o.iter()
                .map(|(k, v)| (Rc::from(k.as_str()), V::Ref(v)))
                .collect(),
        ),
        _ => None,
    }
}

/// The array of `v` as a built one (copied when borrowed or shared).
pub(crate) fn owned_arr<'a>(v: V<'a>) -> Option<Vec<V<'a>>> {
    match v {
        V::Arr(a) => Some(Rc::try_unwrap(a).unwrap_or_else(|rc| (*rc).clone())),
        V::Ref(Value::Array(a)) => Some(a.iter().map(V::Ref).collect()),
        _ => None,
    }
}
