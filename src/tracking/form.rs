//! `application/x-www-form-urlencoded` bodies of carrier pushes (Kuaidi100, SF Express form
//! push). Verification and decoding read the same fields through this one reader, so a body
//! cannot be verified on one `param` and decoded from another: a field given twice is refused.

use std::borrow::Cow;

/// Most fields a push body may have (Kuaidi100 sends two, SF Express one).
pub const MAX_FIELDS: usize = 16;

/// The values of `names` in a form body, in the order asked; `None` for an absent field.
/// Fails on a field given twice or on more than [`MAX_FIELDS`] fields.
pub(crate) fn fields<'a, const N: usize>(
    body: &'a [u8],
    names: [&str; N],
) -> Result<[Option<Cow<'a, str>>; N], String> {
    let mut values: [Option<Cow<'a, str>>; N] = std::array::from_fn(|_| None);
    for (count, (key, value)) in form_urlencoded::parse(body).enumerate() {
        if count >= MAX_FIELDS {
            return Err(format!("more than {MAX_FIELDS} fields"));
        }
        if let Some(i) = names.iter().position(|n| *n == key) {
            if values[i].is_some() {
                return Err(format!("the field {} is given more than once", names[i]));
            }
            values[i] = Some(value);
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_named_fields_and_refuses_repeats_and_floods() {
        let [a, b, c] = fields(b"b=x%20y&a=%E9%A1%BA+1&z=9", ["a", "b", "c"]).unwrap();
        assert_eq!(a.as_deref(), Some("顺 1"));
        assert_eq!(b.as_deref(), Some("x y"));
        assert_eq!(c, None);
        assert!(fields(b"a=1&a=2", ["a"])
            .unwrap_err()
            .contains("more than once"));
        let flood = "x=1&".repeat(MAX_FIELDS + 1);
        assert!(fields(flood.as_bytes(), ["a"])
            .unwrap_err()
            .contains("fields"));
    }
}
