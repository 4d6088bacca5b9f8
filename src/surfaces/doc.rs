//! OpenAPI building blocks the surfaces' documentation shares.

use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr};

/// The schema of a body whose handler reads the fields of an object (the
/// component `object`) and nothing from any other JSON value (an array, a
/// string, null: as if the object had no fields) — what JavaScript's
/// destructuring and Python's `dict.get` on parsed JSON do.
/// Without `null`, for a body that is optional (its absence, or null, is
/// said by the request body's `Option`).
pub fn object_or_ignored_schema(object: &str, null: bool) -> RefOr<Schema> {
    let others = [
        Type::Null,
        Type::Boolean,
        Type::Number,
        Type::Integer,
        Type::String,
        Type::Array,
    ];
    AnyOfBuilder::new()
        .item(Ref::from_schema_name(object))
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter(
                    others.into_iter().filter(|t| null || *t != Type::Null),
                ))
                .description(Some(
                    "Anything but an object: read as an object without fields",
                )),
        )
        .into()
}

/// Declares `$name`, the schema of a body that is an object `$object` or
/// anything else, read as no fields ([`object_or_ignored_schema`]); with
/// `false`, anything else but null.
macro_rules! object_or_ignored {
    ($name:ident, $object:ty) => {
        crate::surfaces::doc::object_or_ignored!($name, $object, true);
    };
    ($name:ident, $object:ty, $null:expr) => {
        #[doc = concat!("A `", stringify!($object), "`, or anything else (read as no fields).")]
        #[derive(Debug)]
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::surfaces::doc::object_or_ignored_schema(
                    &<$object as utoipa::ToSchema>::name(),
                    $null,
                )
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }

            fn schemas(
                schemas: &mut Vec<(
                    String,
                    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
                )>,
            ) {
                schemas.push((
                    <$object as utoipa::ToSchema>::name().into_owned(),
                    <$object as utoipa::PartialSchema>::schema(),
                ));
                <$object as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}

pub(crate) use object_or_ignored;
