//! The fast engine against jaq: same outputs on every shipped mapping and its test inputs, and
//! on a set of programs chosen for jq's corner cases.

use std::path::Path;

use jaq_core::{unwrap_valr, Ctx, Vars};
use serde_json::{json, Value};

use super::{run, Outcome, Program};
use crate::mapping::compile::{compile, Data};
use crate::mapping::value::{json_to_val, val_to_json};
use crate::mapping::Limits;

/// jaq's outputs, or `None` if the run fails.
fn on_jaq(source: &str, input: &Value) -> Option<Vec<Value>> {
    let p = compile(source).unwrap_or_else(|e| panic!("jaq compiles {source}: {e}"));
    let ctx = Ctx::<Data>::new(&p.lut, Vars::new([]));
    let mut out = Vec::new();
    for r in p.id.run((ctx, json_to_val(input))) {
        let v = unwrap_valr(r).ok()?;
        out.push(val_to_json(v, &mut 0).ok()?);
    }
    Some(out)
}

/// Checks both engines agree: equal outputs, or the fast engine hands a failing run to jaq.
/// Returns whether jaq succeeded and whether the fast engine ran it to the end itself.
fn check(source: &str, input: &Value) -> (bool, bool) {
    let want = on_jaq(source, input);
    let jaq_ok = want.is_some();
    let Ok(program) = Program::compile(source) else {
        return (jaq_ok, false);
    };
    match (run(&program, input, Limits::default()), want) {
        (Outcome::Outputs(got), Some(want)) => {
            assert_eq!(got, want, "program {source} on {input}");
            (true, true)
        }
        (Outcome::Outputs(got), None) => {
            panic!("program {source} on {input}: jaq fails, the fast engine gave {got:?}")
        }
        (Outcome::Jaq, _) => (jaq_ok, false),
    }
}

/// [`check`]: whether the fast engine ran it itself.
fn agree(source: &str, input: &Value) -> bool {
    check(source, input).1
}

/// Runs `f` on a thread with a stack as large as a release build's frames need in a debug
/// build (unoptimised frames are several times larger).
fn on_big_stack(f: fn()) {
    std::thread::Builder::new()
        .stack_size(64 * 1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn every_shipped_mapping_compiles_on_the_fast_engine_and_agrees_with_jaq() {
    on_big_stack(shipped_mappings_agree);
}

fn shipped_mappings_agree() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let mut inputs: Vec<(String, Value)> = Vec::new();
    let mut stack = vec![dir.join("testdata")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                let text = std::fs::read_to_string(&p).unwrap();
                if let Ok(v) = serde_json::from_str(&text) {
                    inputs.push((p.display().to_string(), v));
                }
            }
        }
    }
    // Inputs written inline in the sibling test files.
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with(".test.json") {
            let tests: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            for case in tests["cases"].as_array().unwrap() {
                if let Some(input) = case.get("input") {
                    inputs.push((format!("{} inline", p.display()), input.clone()));
                }
            }
        }
    }
    assert!(inputs.len() > 40, "{} inputs", inputs.len());
    let mut ran_fast = 0;
    let mut mappings = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "jq") {
            continue;
        }
        mappings += 1;
        let source = std::fs::read_to_string(&p).unwrap();
        if let Err(why) = Program::compile(&source) {
            panic!("{} does not compile on the fast engine: {why}", p.display());
        }
        for (name, input) in &inputs {
            let (jaq_ok, fast) = check(&source, input);
            // A shipped mapping that succeeds must not need jaq.
            assert!(
                fast || !jaq_ok,
                "{} on {name} succeeds on jaq but was handed to it",
                p.display()
            );
            ran_fast += usize::from(fast);
        }
    }
    assert!(mappings >= 9);
    // Most inputs are for another mapping and fail there (a `bad input` error, run on jaq);
    // each mapping's own inputs run fast.
    assert!(ran_fast >= mappings * 3, "{ran_fast} fast runs");
}

#[test]
fn corner_cases_agree_with_jaq() {
    on_big_stack(corner_cases);
}

fn corner_cases() {
    let input = json!({
        "a": {"b": [1, 2.50, "x", null, {"c": true}]},
        "s": "  Chloé Zoë  ",
        "n": 1e3, "f": 0.1, "i": 6218803473512u64, "neg": -7,
        "list": [3, 1, 2], "strs": ["b", "a", "c"], "nums": ["1.10", "2.205", null, ""],
        "e": [], "o": {}, "t": true, "z": false, "k": "a"
    });
    let programs = [
        ".",
        ".a.b[0]",
        ".a.b[-1]",
        ".a.b[9]",
        ".a.b[-9]",
        ".a.b[1:3]",
        ".a.b[:2]",
        ".a.b[-2:]",
        ".s[1:4]",
        ".a.b[]",
        ".a.b[]?",
        ".s[]?",
        ".[\"a\"].b",
        ".missing.deeper",
        ".a.b[1.7]",
        ".s | trim",
        ".s | length",
        ".list | length",
        ".o | length",
        ".neg | length",
        "null | length",
        ".t | length",
        "[.[] | type]",
        ".i | tostring",
        ".f | tostring",
        ".n | tostring",
        ".a | tostring",
        "\"x\\(.f)y\\(.a.b)z\\(.s)\"",
        "\"\\(1, 2)-\\(3, 4)\"",
        ".f + .f",
        ".i + 1",
        ".n * 2",
        "1 / 3",
        "10 % 3",
        ".s + .k",
        ".list + .strs",
        ".a + .o + {d: 1}",
        "null + 1",
        "1 + null",
        "{} + {a: 1} + {a: 2}",
        ".k * 3",
        "\"a,b,c\" / \",\"",
        "[1, 1.0, 1.5] | map(. == 1)",
        ".list | sort",
        ".strs | sort",
        "[.list[] | select(. > 1)]",
        "[.[] | values] | length",
        ".list | add",
        ".strs | add",
        ".e | add",
        ".nums | join(\"-\")",
        "[1, null, \"a\", true] | join(\",\")",
        ".list | join(\",\")",
        "{a: (1, 2), b: (3, 4)}",
        "{(.strs[]): 1}",
        "{a, t}",
        ". as $x | {k, \"t\", $x}",
        ". as $x | {$x} | keys",
        "[.list[] as $x | $x * 2]",
        "reduce .list[] as $x (0; . + $x)",
        "reduce .list[] as $x (0; ., 10)",
        "reduce .e[] as $x (0; empty)",
        "reduce .list[] as $x (0; empty)",
        "foreach .list[] as $x (0; . + $x)",
        "foreach .list[] as $x (0; . + $x; [$x, .])",
        "[limit(2; .list[])]",
        "[limit(0; .list[])]",
        "first(.list[])",
        "first(empty)",
        "[.list | first, last]",
        "isempty(.e[])",
        "isempty(.list[])",
        ".list | any(. > 2)",
        ".list | all(. > 2)",
        "any(.list[]; . == 1)",
        "[range(5)]",
        "[range(1; 4)]",
        "[.list[] | tostring] | join(\"\")",
        "try error(\"x\") catch .",
        "try error({a: 1}) catch .a",
        "[.list[] | try (if . == 1 then error(\"x\") else . end)]",
        "[(1, 2) | try (if . == 2 then error(\"e\") else . end) catch \"caught\"]",
        "(.a.b[] | numbers) // \"none\"",
        ".missing // \"d\"",
        "(null, false) // 3",
        "(error(\"x\") // 1)",
        "[.list[] // 0]",
        "empty // 1",
        "(1, null, 2) // 3",
        ".t and .z",
        ".t or .z",
        "(.t, .z) and (.t, .z)",
        "[.[] | not]",
        "if .t then 1 elif .z then 2 else 3 end",
        "if .z then 1 end",
        "if (.t, .z) then 1 else 2 end",
        "def f: . + 1; def g(h): h | h; 3 | g(f)",
        "def f($a; $b): $a - $b; f(10; 3)",
        "def f($a; g): g + $a; f(2; 3)",
        "def fac: if . <= 1 then 1 else . * (. - 1 | fac) end; 10 | fac",
        ". as $o | def f: $o.k; 5 | f",
        "def f(g): def h: g; h; 7 | f(. * 3)",
        ".list | until(length <= 1; .[1:])",
        "[.list | recurse(if length > 1 then .[1:] else empty end)]",
        "[.. | numbers]",
        ".a.b.c = 1",
        ".o.x.y = 1",
        ".e[2] = 1",
        ".list[1] |= . * 10",
        ".list += [4]",
        ".a.b[0] += 5",
        ".x.y |= 3",
        ".list[-1] = 0",
        ".list[-9] = 0",
        ".s | ltrimstr(\"  C\")",
        ".s | rtrimstr(\"x\")",
        ".i | ltrimstr(\"6\")",
        ".s | startswith(\"  \")",
        ".o | has(\"a\")",
        ". | has(\"a\")",
        ".list | has(1)",
        ".s | test(\"ch\")",
        ".s | test(\"ch\"; \"i\")",
        ".s | sub(\" +\"; \"\")",
        ".s | gsub(\" \"; \"_\")",
        ".s | ascii_downcase",
        ".s | explode | implode",
        ".o | to_entries",
        ". | keys",
        ".a | with_entries(.value |= tostring)",
        "\"12.50\" | tonumber",
        "\"x\" | tonumber",
        ".nums | map(select(. != null and . != \"\")) | decimal_sum",
        "decimal_sub(\"10.00\"; \"0.05\")",
        "decimal_div(\"1\"; \"3\")",
        "-(.list[])",
        "-.s",
        "[.list[] | -(.)]",
        ".[] |= 1",
        "[.a.b[] | objects]",
        "[.[] | strings]",
        "@base64",
        "label $f | 1, break $f, 2",
        ".a.b | .[1:] | length",
        "[splits(\", \")]",
        "[.strs[] | ascii_upcase] | min",
        ".list | max",
        "[.list, .strs] | min",
        "{} == {}",
        "[1, 2] == [1, 2.0]",
        "{a: 1} < {a: 2}",
        "null < false",
        "\"a\" < [1]",
        "[.list[] | . as $x | .list?]",
        "[paths]",
        "to_entries | from_entries | keys",
        "getpath([\"a\", \"b\", 0])",
        ".s | split(\" \")",
        "[.list[] | if . > 1 then . else empty end]",
        "def x: 1; def x(f): 2; [x, x(.)]",
        "[.list[] as $x | .strs[] as $y | \"\\($x)\\($y)\"]",
        "error",
        "error(null)",
        "try error(null) catch .",
        ".a.b[\"x\"]",
        ".s.x",
        ".a[0]",
    ];
    let mut fast = 0;
    for p in programs {
        fast += usize::from(agree(p, &input));
    }
    // The unusual ones run on jaq; the bulk runs on the fast engine.
    assert!(
        fast > programs.len() * 2 / 3,
        "{fast} of {} ran fast",
        programs.len()
    );
}

#[test]
fn unsupported_constructs_are_left_to_jaq() {
    for p in [
        "label $f | 1",
        "@base64",
        ". as {(.k): $a} | $a",
        "path(.a)",
        "input",
    ] {
        assert!(Program::compile(p).is_err(), "{p}");
    }
}

#[test]
fn deep_recursion_is_left_to_jaq_instead_of_exhausting_the_stack() {
    // Runs on a 2 MiB stack like tokio's blocking threads.
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let p =
                Program::compile("def r: if . < 100000 then . + 1 | r else . end; 0 | r").unwrap();
            matches!(run(&p, &Value::Null, Limits::default()), Outcome::Jaq)
        })
        .unwrap();
    assert!(handle.join().unwrap());
}

#[test]
fn limits_hand_the_run_to_jaq() {
    let p = Program::compile("range(100)").unwrap();
    let limits = Limits {
        max_outputs: 10,
        ..Limits::default()
    };
    assert!(matches!(run(&p, &Value::Null, limits), Outcome::Jaq));
}
