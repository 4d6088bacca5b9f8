//! Policies as CASL writes them (Open Archiver's roles): statements
//! `{action, subject, conditions?, inverted?}` over a fixed vocabulary,
//! evaluated the way `@casl/ability` does — `manage` and `all` are
//! wildcards, the last matching statement decides, an inverted one
//! denies, `conditions` are matched against the resource's attributes
//! (dotted paths, equality and `$in`/`$ne`) after `${user.id}` is
//! replaced by the actor's id. A check on a kind of resource (no
//! attributes at hand) counts a conditional permission as given and
//! ignores conditional denials, as CASL does.

use serde_json::Value;
use uuid::Uuid;

/// The actions a statement may name.
pub const ACTIONS: &[&str] = &[
    "manage", "create", "read", "update", "delete", "search", "export", "sync",
];

/// The subjects a statement may name.
pub const SUBJECTS: &[&str] = &[
    "archive",
    "ingestion",
    "settings",
    "users",
    "roles",
    "dashboard",
    "all",
];

/// One statement, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    actions: Vec<String>,
    subjects: Vec<String>,
    conditions: Option<Value>,
    inverted: bool,
}

/// One name or a list of names, each from `known`.
fn names(value: Option<&Value>, what: &str, known: &[&str]) -> Result<Vec<String>, String> {
    let list: Vec<&Value> = match value {
        Some(Value::Array(items)) if !items.is_empty() => items.iter().collect(),
        Some(single @ Value::String(_)) => vec![single],
        _ => return Err(format!("{what} must be a name or a list of names")),
    };
    list.into_iter()
        .map(|v| match v.as_str() {
            Some(name) if known.contains(&name) => Ok(name.to_string()),
            _ => Err(format!("unknown {what} {v}")),
        })
        .collect()
}

/// Checks a list of statements; the reason of the first bad one
/// (Open Archiver answers it as "Invalid policy statement: <reason>").
pub fn parse(value: &Value) -> Result<Vec<Statement>, String> {
    let Some(items) = value.as_array() else {
        return Err("policies must be a list".to_string());
    };
    items
        .iter()
        .map(|item| {
            let Some(fields) = item.as_object() else {
                return Err("a statement must be an object".to_string());
            };
            let conditions = match fields.get("conditions") {
                None | Some(Value::Null) => None,
                Some(c @ Value::Object(_)) => Some(c.clone()),
                Some(_) => return Err("conditions must be an object".to_string()),
            };
            let inverted = match fields.get("inverted") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err("inverted must be true or false".to_string()),
            };
            Ok(Statement {
                actions: names(fields.get("action"), "action", ACTIONS)?,
                subjects: names(fields.get("subject"), "subject", SUBJECTS)?,
                conditions,
                inverted,
            })
        })
        .collect()
}

/// `${user.id}` replaced by the actor's id, everywhere in the conditions.
fn interpolate(conditions: &Value, user_id: Uuid) -> Value {
    match conditions {
        Value::String(s) => Value::String(s.replace("${user.id}", &user_id.to_string())),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| interpolate(v, user_id)).collect())
        }
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), interpolate(v, user_id)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The value at a dotted path of a resource.
fn at<'a>(resource: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(resource, |value, key| value.get(key))
}

/// Whether a resource matches conditions: every field's test holds.
fn matches(conditions: &Value, resource: &Value) -> bool {
    let Some(fields) = conditions.as_object() else {
        return false;
    };
    fields.iter().all(|(path, test)| {
        let value = at(resource, path);
        match test.as_object() {
            Some(operators) if operators.keys().all(|k| k.starts_with('$')) => {
                operators.iter().all(|(op, operand)| match op.as_str() {
                    "$eq" => value == Some(operand),
                    "$ne" => value != Some(operand),
                    "$in" => operand
                        .as_array()
                        .is_some_and(|options| value.is_some_and(|v| options.contains(v))),
                    "$nin" => operand
                        .as_array()
                        .is_some_and(|options| value.is_none_or(|v| !options.contains(v))),
                    // An operator this evaluator does not know matches
                    // nothing: a permission it cannot read is not given.
                    _ => false,
                })
            }
            _ => value == Some(test),
        }
    })
}

/// Whether `statements` let `user_id` do `action` on `subject` — on the
/// resource `resource` (its attributes), or on the kind when `None`.
pub fn allows(
    statements: &[Statement],
    user_id: Uuid,
    action: &str,
    subject: &str,
    resource: Option<&Value>,
) -> bool {
    for statement in statements.iter().rev() {
        let action_fits = statement
            .actions
            .iter()
            .any(|a| a == action || a == "manage");
        let subject_fits = statement
            .subjects
            .iter()
            .any(|s| s == subject || s == "all");
        if !action_fits || !subject_fits {
            continue;
        }
        let applies = match (&statement.conditions, resource) {
            (None, _) => true,
            (Some(conditions), Some(resource)) => {
                matches(&interpolate(conditions, user_id), resource)
            }
            // A kind, not a resource: a conditional permission counts, a
            // conditional denial does not (CASL).
            (Some(_), None) => !statement.inverted,
        };
        if applies {
            return !statement.inverted;
        }
    }
    false
}

/// The predefined role the service administrator holds.
pub const SUPER_ADMIN: &str = "predefined_super_admin";

/// A predefined role's statements, parsed once.
pub fn predefined_statements(slug: &str) -> Option<&'static [Statement]> {
    static PARSED: std::sync::LazyLock<Vec<(&'static str, Vec<Statement>)>> =
        std::sync::LazyLock::new(|| {
            predefined()
                .into_iter()
                .map(|(slug, _, policies)| {
                    let statements = parse(&policies).expect("predefined policies are valid");
                    (slug, statements)
                })
                .collect()
        });
    PARSED
        .iter()
        .find(|(s, _)| *s == slug)
        .map(|(_, statements)| statements.as_slice())
}

/// Open Archiver's predefined roles: (slug, name, policies).
pub fn predefined() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            SUPER_ADMIN,
            "Super Admin",
            serde_json::json!([{ "action": "manage", "subject": "all" }]),
        ),
        (
            "predefined_end_user",
            "End user",
            serde_json::json!([
                { "action": "read", "subject": "dashboard" },
                { "action": "create", "subject": "ingestion" },
                { "action": "manage", "subject": "ingestion", "conditions": { "userId": "${user.id}" } },
                { "action": "manage", "subject": "archive", "conditions": { "ingestionSource.userId": "${user.id}" } },
            ]),
        ),
        (
            "predefined_read_only_user",
            "Read only",
            serde_json::json!([
                { "action": ["read", "search"], "subject": ["ingestion", "archive", "dashboard", "users", "roles"] },
            ]),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ME: Uuid = Uuid::from_u128(7);
    const OTHER: Uuid = Uuid::from_u128(8);

    fn role(slug: &str) -> Vec<Statement> {
        let (_, _, policies) = predefined()
            .into_iter()
            .find(|(s, _, _)| *s == slug)
            .expect("predefined");
        parse(&policies).expect("valid")
    }

    #[test]
    fn the_predefined_roles_as_a_table() {
        let mine =
            json!({ "userId": ME.to_string(), "ingestionSource": { "userId": ME.to_string() } });
        let theirs = json!({ "userId": OTHER.to_string(), "ingestionSource": { "userId": OTHER.to_string() } });
        let table: Vec<(&str, &str, &str, Option<&Value>, bool)> = vec![
            // Super Admin: everything.
            ("predefined_super_admin", "delete", "users", None, true),
            (
                "predefined_super_admin",
                "sync",
                "ingestion",
                Some(&theirs),
                true,
            ),
            ("predefined_super_admin", "export", "archive", None, true),
            ("predefined_super_admin", "update", "settings", None, true),
            // End user: the dashboard, their own ingestions and archives.
            ("predefined_end_user", "read", "dashboard", None, true),
            ("predefined_end_user", "create", "ingestion", None, true),
            (
                "predefined_end_user",
                "delete",
                "ingestion",
                Some(&mine),
                true,
            ),
            (
                "predefined_end_user",
                "delete",
                "ingestion",
                Some(&theirs),
                false,
            ),
            ("predefined_end_user", "read", "archive", Some(&mine), true),
            (
                "predefined_end_user",
                "read",
                "archive",
                Some(&theirs),
                false,
            ),
            ("predefined_end_user", "read", "archive", None, true),
            ("predefined_end_user", "read", "users", None, false),
            ("predefined_end_user", "manage", "settings", None, false),
            ("predefined_end_user", "update", "dashboard", None, false),
            // Read only: read and search, nothing else.
            ("predefined_read_only_user", "read", "users", None, true),
            (
                "predefined_read_only_user",
                "search",
                "archive",
                Some(&theirs),
                true,
            ),
            ("predefined_read_only_user", "read", "roles", None, true),
            ("predefined_read_only_user", "update", "users", None, false),
            (
                "predefined_read_only_user",
                "export",
                "archive",
                None,
                false,
            ),
            ("predefined_read_only_user", "read", "settings", None, false),
        ];
        for (slug, action, subject, resource, allowed) in table {
            assert_eq!(
                allows(&role(slug), ME, action, subject, resource),
                allowed,
                "{slug} {action} {subject} {resource:?}"
            );
        }
    }

    /// Every predefined role × every action × every subject, on the kind
    /// (no resource), on the caller's own resource and on someone else's,
    /// against the roles' documented meaning (seeds README) written out
    /// as rules here.
    #[test]
    fn every_predefined_role_against_every_action_and_subject() {
        let mine =
            json!({ "userId": ME.to_string(), "ingestionSource": { "userId": ME.to_string() } });
        let theirs = json!({ "userId": OTHER.to_string(), "ingestionSource": { "userId": OTHER.to_string() } });
        #[derive(Clone, Copy, PartialEq, Debug)]
        enum Whose {
            Kind,
            Mine,
            Theirs,
        }
        // What each role means, independently of how it is written.
        let expected = |slug: &str, action: &str, subject: &str, whose: Whose| -> bool {
            match slug {
                "predefined_super_admin" => true,
                "predefined_end_user" => match subject {
                    "dashboard" => action == "read",
                    // Creating any; everything on their own (a kind-level
                    // question counts a conditional permission as given).
                    "ingestion" => action == "create" || whose != Whose::Theirs,
                    "archive" => whose != Whose::Theirs,
                    _ => false,
                },
                "predefined_read_only_user" => {
                    ["read", "search"].contains(&action)
                        && ["ingestion", "archive", "dashboard", "users", "roles"]
                            .contains(&subject)
                }
                other => panic!("unknown role {other}"),
            }
        };
        let mut checked = 0;
        for (slug, _, _) in predefined() {
            let statements = role(slug);
            for action in ACTIONS {
                for subject in SUBJECTS {
                    for (whose, resource) in [
                        (Whose::Kind, None),
                        (Whose::Mine, Some(&mine)),
                        (Whose::Theirs, Some(&theirs)),
                    ] {
                        assert_eq!(
                            allows(&statements, ME, action, subject, resource),
                            expected(slug, action, subject, whose),
                            "{slug} {action} {subject} {whose:?}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 3 * ACTIONS.len() * SUBJECTS.len() * 3);
    }

    #[test]
    fn the_last_matching_statement_decides_and_inverted_ones_deny() {
        let statements = parse(&json!([
            { "action": "manage", "subject": "all" },
            { "action": "delete", "subject": "users", "inverted": true },
            { "action": "read", "subject": "archive", "inverted": true, "conditions": { "owner": "${user.id}" } },
        ]))
        .expect("valid");
        assert!(allows(&statements, ME, "read", "users", None));
        assert!(!allows(&statements, ME, "delete", "users", None));
        let own = json!({ "owner": ME.to_string() });
        let other = json!({ "owner": OTHER.to_string() });
        assert!(!allows(&statements, ME, "read", "archive", Some(&own)));
        assert!(allows(&statements, ME, "read", "archive", Some(&other)));
        // On the kind, a conditional denial does not apply.
        assert!(allows(&statements, ME, "read", "archive", None));
        // A later grant overrides an earlier denial.
        let regranted = parse(&json!([
            { "action": "delete", "subject": "users", "inverted": true },
            { "action": "delete", "subject": "users" },
        ]))
        .expect("valid");
        assert!(allows(&regranted, ME, "delete", "users", None));
        assert!(
            !allows(&[], ME, "read", "dashboard", None),
            "nothing by default"
        );
    }

    #[test]
    fn conditions_support_in_and_not_equal() {
        let statements = parse(&json!([
            { "action": "read", "subject": "archive", "conditions": { "tag": { "$in": ["a", "b"] }, "state": { "$ne": "hidden" } } },
        ]))
        .expect("valid");
        assert!(allows(
            &statements,
            ME,
            "read",
            "archive",
            Some(&json!({ "tag": "a", "state": "open" }))
        ));
        assert!(!allows(
            &statements,
            ME,
            "read",
            "archive",
            Some(&json!({ "tag": "c", "state": "open" }))
        ));
        assert!(!allows(
            &statements,
            ME,
            "read",
            "archive",
            Some(&json!({ "tag": "a", "state": "hidden" }))
        ));
        let unknown = parse(&json!([{ "action": "read", "subject": "archive", "conditions": { "x": { "$regex": "." } } }]))
            .expect("valid");
        assert!(!allows(
            &unknown,
            ME,
            "read",
            "archive",
            Some(&json!({ "x": "y" }))
        ));
    }

    #[test]
    fn bad_statements_are_refused_with_a_reason() {
        for (bad, reason) in [
            (json!({}), "policies must be a list"),
            (
                json!([{ "action": "fly", "subject": "all" }]),
                "unknown action \"fly\"",
            ),
            (
                json!([{ "action": "read", "subject": "planets" }]),
                "unknown subject \"planets\"",
            ),
            (
                json!([{ "subject": "all" }]),
                "action must be a name or a list of names",
            ),
            (
                json!([{ "action": [], "subject": "all" }]),
                "action must be a name or a list of names",
            ),
            (
                json!([{ "action": "read", "subject": "all", "conditions": "x" }]),
                "conditions must be an object",
            ),
            (
                json!([{ "action": "read", "subject": "all", "inverted": "yes" }]),
                "inverted must be true or false",
            ),
            (json!(["read all"]), "a statement must be an object"),
        ] {
            assert_eq!(parse(&bad).err().as_deref(), Some(reason), "{bad}");
        }
        for (_, _, policies) in predefined() {
            assert!(parse(&policies).is_ok());
        }
    }
}
