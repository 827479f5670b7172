//! The poll definitions' templates (minijinja, as push-back templates): strict about undefined
//! names, bounded by fuel, with `md5_upper` for request signatures made of other fields
//! (Kuaidi100's `sign`).

use minijinja::Environment;

/// The environment every poll template runs in.
pub fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_fuel(Some(100_000));
    env.add_filter("md5_upper", |text: String| {
        crate::tracking::sign::md5_upper(&[text.as_bytes()])
    });
    env
}

/// Compiles `template` (definition checks).
pub fn compile(template: &str) -> Result<(), String> {
    env()
        .template_from_str(template)
        .map(|_| ())
        .map_err(|e| format!("template {template:?}: {e}"))
}

/// Renders `template` over `ctx`; an error names what it was for, never a value.
pub fn render(
    env: &Environment<'static>,
    what: &str,
    template: &str,
    ctx: &minijinja::Value,
) -> Result<String, String> {
    env.render_str(template, ctx)
        .map_err(|e| format!("poll template {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_upper_signs_as_kuaidi100_does() {
        let ctx = minijinja::context! { param => "{\"num\":\"1\"}", key => "k", customer => "C" };
        let out = render(
            &env(),
            "sign",
            "{{ (param ~ key ~ customer)|md5_upper }}",
            &ctx,
        )
        .unwrap();
        assert_eq!(
            out,
            crate::tracking::sign::md5_upper(&[b"{\"num\":\"1\"}", b"k", b"C"])
        );
        assert!(render(&env(), "x", "{{ nobody }}", &ctx).is_err());
    }
}
