//! Finding personal values in serialized JSON: `aggregates::Personal`
//! serializes as an object with one key, its tag — `plain` (the value),
//! `enc` (sealed here), `erased` (its key is gone).

use serde_json::Value;

/// The tags of a personal value.
const TAGS: [&str; 3] = ["plain", "enc", "erased"];

/// Whether `value` is a tagged personal value.
fn is_tagged(value: &Value) -> bool {
    matches!(value, Value::Object(map) if map.len() == 1
        && map.keys().next().is_some_and(|key| TAGS.contains(&key.as_str())))
}

/// Calls `f` with every tagged personal value in `value` and its JSON
/// pointer (the field it sits in, bound into the ciphertext).
pub fn each<E>(
    value: &mut Value,
    f: &mut dyn FnMut(&str, &mut Value) -> Result<(), E>,
) -> Result<(), E> {
    let mut path = String::new();
    walk(value, &mut path, f)
}

fn walk<E>(
    value: &mut Value,
    path: &mut String,
    f: &mut dyn FnMut(&str, &mut Value) -> Result<(), E>,
) -> Result<(), E> {
    if is_tagged(value) {
        return f(path, value);
    }
    let len = path.len();
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                path.push('/');
                path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                walk(child, path, f)?;
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter_mut().enumerate() {
                path.push('/');
                path.push_str(&index.to_string());
                walk(child, path, f)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Where a sealed value sits in a JSON text: the whole `{"enc": "…"}`
/// object, and its sealed string.
#[derive(Debug, Clone, Copy)]
pub struct Span<'a> {
    /// Start of the object.
    pub start: usize,
    /// Just past its end.
    pub end: usize,
    /// The sealed string (no escapes: subject, field and base64url).
    pub sealed: &'a str,
}

/// Every sealed value in a JSON text, in order. Compact JSON and
/// PostgreSQL's (`{"enc": "…"}`) alike; inside a JSON string the quotes
/// would be escaped, so what is found here is structure.
pub fn sealed_spans(text: &str) -> impl Iterator<Item = Span<'_>> {
    text.match_indices("\"enc\":").filter_map(move |(at, _)| {
        let start = text[..at].trim_end().strip_suffix('{').map(str::len)?;
        let rest = text[at + 6..].trim_start();
        let rest = rest.strip_prefix('"')?;
        let close = rest.find('"')?;
        let sealed = &rest[..close];
        let after = rest[close + 1..].trim_start();
        let after = after.strip_prefix('}')?;
        Some(Span {
            start,
            end: text.len() - after.len(),
            sealed,
        })
    })
}

/// The sealed text of a tagged value `{"enc": …}`.
pub fn sealed(value: &Value) -> Option<&str> {
    value.get("enc")?.as_str()
}

/// The clear value of a tagged value `{"plain": …}`.
pub fn plain(value: &Value) -> Option<&Value> {
    value.get("plain")
}

/// `{"plain": value}`.
pub fn make_plain(value: Value) -> Value {
    serde_json::json!({ "plain": value })
}

/// `{"enc": text}`.
pub fn make_sealed(text: String) -> Value {
    serde_json::json!({ "enc": text })
}

/// `{"erased": true}`.
pub fn make_erased() -> Value {
    serde_json::json!({ "erased": true })
}

/// For people reading: the clear value itself, `"[erased]"` for an erased
/// one (history, exports).
pub fn shown(mut value: Value) -> Value {
    let _ = each::<()>(&mut value, &mut |_, tagged| {
        *tagged = match plain(tagged) {
            Some(clear) => clear.clone(),
            None => Value::String("[erased]".into()),
        };
        Ok(())
    });
    value
}

/// Metadata for people reading: its personal entries (serialized tagged
/// values) shown as [`shown`] shows values.
pub fn shown_metadata(metadata: Value) -> Value {
    let Value::Object(map) = metadata else {
        return metadata;
    };
    map.into_iter()
        .map(|(name, value)| {
            let parsed = match &value {
                Value::String(text) if text.starts_with('{') => {
                    serde_json::from_str::<Value>(text).ok().filter(is_tagged)
                }
                _ => None,
            };
            (name, parsed.map(shown).unwrap_or(value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_sealed_values_in_compact_and_spaced_text_and_not_in_strings() {
        let compact = r#"{"A":{"email":{"enc":"user:1|/A/email|QUJD"},"n":{"enc":"x|/A/n|RA"}}}"#;
        let spans: Vec<_> = sealed_spans(compact).collect();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].sealed, "user:1|/A/email|QUJD");
        assert_eq!(
            &compact[spans[0].start..spans[0].end],
            r#"{"enc":"user:1|/A/email|QUJD"}"#
        );
        let spaced = r#"{"A": {"email": {"enc": "user:1|/A/email|QUJD"}}}"#;
        let span = sealed_spans(spaced).next().expect("found");
        assert_eq!(
            &spaced[span.start..span.end],
            r#"{"enc": "user:1|/A/email|QUJD"}"#
        );
        let in_a_string = r#"{"bio":{"plain":"{\"enc\":\"user:1|x|y\"}"}}"#;
        assert_eq!(sealed_spans(in_a_string).count(), 0);
    }

    #[test]
    fn finds_every_tagged_value_with_its_path_and_nothing_else() {
        let mut value = json!({"UserRegistered": {
            "email": {"plain": "a@b.c"},
            "roles": ["x"],
            "changes": [{"nickname": {"enc": "s"}}],
            "flags": {"plain": 1, "other": 2},
            "gone": {"erased": true}
        }});
        let mut found = Vec::new();
        each::<()>(&mut value, &mut |path, _| {
            found.push(path.to_string());
            Ok(())
        })
        .expect("walks");
        found.sort();
        assert_eq!(
            found,
            [
                "/UserRegistered/changes/0/nickname",
                "/UserRegistered/email",
                "/UserRegistered/gone"
            ]
        );
        assert_eq!(shown(value)["UserRegistered"]["gone"], json!("[erased]"));
    }
}
