use super::*;
use serde_json::json;
use std::time::Duration;

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn loads_by_file_stem_and_runs() {
    let dir = dir_with(&[("shop.order.jq", ".a"), ("README.md", "not a mapping")]);
    let set = MappingSet::load(dir.path()).unwrap();
    assert_eq!(set.names(), vec!["shop.order".to_string()]);
    assert_eq!(
        set.run("shop.order", &json!({"a": 1})).unwrap(),
        vec![json!(1)]
    );
    assert!(matches!(
        set.run("nope", &json!(null)),
        Err(MappingError::Unknown { .. })
    ));
}

#[test]
fn compile_error_names_file_and_position() {
    let dir = dir_with(&[("bad.jq", "{a: .x,\n  b: }")]);
    let err = MappingSet::load(dir.path()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("bad.jq") && text.contains("2:"), "{text}");
}

#[test]
fn price_number_comes_out_exact() {
    let dir = dir_with(&[("m.jq", "{price: .price, list: [.items[].p], big: .big}")]);
    let set = MappingSet::load(dir.path()).unwrap();
    let input: serde_json::Value =
        serde_json::from_str(r#"{"price": 29.99, "items": [{"p": 0.1}, {"p": 19.90}], "big": 12345678901234567890.123456789}"#)
            .unwrap();
    let out = set.run("m", &input).unwrap();
    assert_eq!(
        serde_json::to_string(&out[0]).unwrap(),
        r#"{"big":12345678901234567890.123456789,"list":[0.1,19.90],"price":29.99}"#
    );
    let order_money: rust_decimal::Decimal = out[0]["price"].to_string().parse().unwrap();
    assert_eq!(order_money.to_string(), "29.99");
}

#[test]
fn runtime_error_is_typed() {
    let dir = dir_with(&[("m.jq", r#"if .x then error("no x allowed") else . end"#)]);
    let set = MappingSet::load(dir.path()).unwrap();
    match set.run("m", &json!({"x": true})) {
        Err(MappingError::Runtime { mapping, message }) => {
            assert_eq!(mapping, "m");
            assert_eq!(message, "no x allowed");
        }
        other => panic!("{other:?}"),
    }
    let err = set.run("m", &json!({})).err();
    assert!(err.is_none());
    let err = MappingSet::load(dir_with(&[("t.jq", ".a + 1")]).path())
        .unwrap()
        .run("t", &json!({"a": "s"}))
        .unwrap_err();
    assert!(matches!(err, MappingError::Runtime { .. }), "{err}");
}

#[test]
fn limits_stop_runaway_output() {
    let dir = dir_with(&[("many.jq", "range(1000000)"), ("forever.jq", "repeat(.)")]);
    let limits = Limits {
        max_outputs: 100,
        max_output_bytes: 1_000_000,
        max_wall_time: Duration::from_millis(200),
    };
    let set = MappingSet::load_with_limits(dir.path(), limits).unwrap();
    assert!(matches!(
        set.run("many", &json!(null)),
        Err(MappingError::Limit { .. })
    ));
    let big = json!("x".repeat(100_000));
    assert!(matches!(
        set.run("forever", &big),
        Err(MappingError::Limit { .. })
    ));
}

#[test]
fn hot_reload_picks_up_edits_and_keeps_compile_errors() {
    let dir = dir_with(&[("m.jq", "1")]);
    let set = MappingSet::load(dir.path()).unwrap();
    assert_eq!(set.run("m", &json!(null)).unwrap(), vec![json!(1)]);
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(dir.path().join("m.jq"), "2").unwrap();
    // Another handle to the same set sees the change too.
    let other = set.clone();
    assert_eq!(other.run("m", &json!(null)).unwrap(), vec![json!(2)]);
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(dir.path().join("m.jq"), "{").unwrap();
    let err = set.run("m", &json!(null)).unwrap_err();
    assert!(matches!(err, MappingError::Compile { .. }), "{err}");
    assert!(err.to_string().contains("m.jq"), "{err}");
    // A new file is found without reloading the set.
    std::fs::write(dir.path().join("new.jq"), "3").unwrap();
    assert_eq!(set.run("new", &json!(null)).unwrap(), vec![json!(3)]);
}

#[test]
fn shared_across_threads_and_compiled_once_per_thread() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<MappingSet>();
    let dir = dir_with(&[("m.jq", ". * 2 # compiled-once test")]);
    let set = MappingSet::load(dir.path()).unwrap();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let set = set.clone();
            std::thread::spawn(move || {
                // Other tests compile concurrently; count only around our runs on this thread.
                let before = compile_count();
                for i in 0..200 {
                    assert_eq!(set.run("m", &json!(i)).unwrap(), vec![json!(i * 2)]);
                }
                compile_count() - before
            })
        })
        .collect();
    for h in handles {
        let compiled = h.join().unwrap();
        // One compile for this thread's first run; others belong to concurrent tests.
        assert!(compiled < 200, "compiled {compiled} times for 200 runs");
    }
}
