//! The Kolibri side of the user read model: `facility_users` (one row per
//! facility user, the soft-deleted ones marked) and `collection_roles`
//! (their roles per collection). Counts per facility live in `counts`.
//!
//! This file is over 500 lines because it is these tables' whole read model,
//! as each of its siblings is one table's: the writes, the lookups, and
//! Kolibri's user listing (filters, orderings, user types, search terms, a
//! capped count: some 300 lines, the part to move to a file of its own
//! should it grow further).

use aggregates::{CollectionRole, FacilityUserChanges};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{execute, fetch_all, Conn, Db};

/// One facility user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FacilityUserRow {
    /// Id.
    pub user_id: Uuid,
    /// Facility.
    pub facility_id: Uuid,
    /// Username as entered.
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// Gender code.
    pub gender: Option<String>,
    /// Birth year or code.
    pub birth_year: Option<String>,
    /// Identification number.
    pub id_number: Option<String>,
    /// Registration time.
    pub date_joined: DateTime<Utc>,
    /// Holds the global administrator role.
    pub is_superuser: bool,
    /// When deleted (soft), for lists of deleted users.
    pub deleted_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "fu.user_id, fu.facility_id, fu.username, fu.full_name, fu.gender,
    fu.birth_year, fu.id_number, fu.date_joined, fu.is_superuser, fu.deleted_at";

/// One role of a facility user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoleRow {
    /// The role's id.
    pub role_id: Uuid,
    /// Its holder.
    pub user_id: Uuid,
    /// The collection.
    pub collection_id: Uuid,
    /// `admin`, `coach` or `assignable_coach`.
    pub kind: String,
}

/// A role given: a row under the holder's facility (users without one
/// hold no Kolibri roles).
pub async fn assign_role(
    conn: &mut Conn<'_>,
    user_id: Uuid,
    role: &CollectionRole,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let kind = serde_json::to_value(role.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    execute!(
        conn,
        "INSERT INTO collection_roles (role_id, user_id, facility_id, collection_id, kind,
                                       assigned_at)
         SELECT $1, $2, facility_id, $3, $4, $5 FROM facility_users WHERE user_id = $2
         ON CONFLICT (role_id) DO NOTHING",
        role.id,
        user_id,
        role.collection,
        kind,
        at
    )?;
    Ok(())
}

/// A role taken away.
pub async fn remove_role(conn: &mut Conn<'_>, role_id: Uuid) -> Result<(), sqlx::Error> {
    execute!(
        conn,
        "DELETE FROM collection_roles WHERE role_id = $1",
        role_id
    )?;
    Ok(())
}

/// Whether a facility user holds the global administrator role.
pub async fn set_superuser(
    conn: &mut Conn<'_>,
    user_id: Uuid,
    is_superuser: bool,
) -> Result<(), sqlx::Error> {
    execute!(
        conn,
        "UPDATE facility_users SET is_superuser = $2 WHERE user_id = $1",
        user_id,
        is_superuser
    )?;
    Ok(())
}

/// Account fields edited (each column set when the event changes it).
pub async fn update(
    conn: &mut Conn<'_>,
    user_id: Uuid,
    changes: &FacilityUserChanges,
    version: i64,
) -> Result<(), sqlx::Error> {
    execute!(
        conn,
        "UPDATE facility_users SET
            username   = COALESCE($2, username),
            full_name  = COALESCE($3, full_name),
            gender     = COALESCE($4, gender),
            birth_year = COALESCE($5, birth_year),
            id_number  = COALESCE($6, id_number),
            version = $7
          WHERE user_id = $1 AND version < $7",
        user_id,
        changes.username.as_ref().map(|u| u.expose().clone()),
        changes.full_name.as_ref().map(|n| n.expose().clone()),
        changes.gender.clone(),
        changes.birth_year.clone(),
        changes.id_number.as_ref().map(|n| n.expose().clone()),
        version
    )?;
    Ok(())
}

/// A soft delete: the row stays, marked, out of lists and counts.
pub async fn mark_deleted(
    conn: &mut Conn<'_>,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE facility_users SET deleted_at = $2
                WHERE user_id = $1 AND deleted_at IS NULL RETURNING facility_id";
    let facility: Option<Uuid> = match conn {
        Conn::Postgres(c) => {
            sqlx::query_scalar(sql)
                .bind(user_id)
                .bind(at)
                .fetch_optional(&mut **c)
                .await?
        }
        Conn::Sqlite(c) => {
            sqlx::query_scalar(&crate::db::sqlite_sql(sql))
                .bind(user_id)
                .bind(at)
                .fetch_optional(&mut **c)
                .await?
        }
    };
    if let Some(facility) = facility {
        execute!(
            conn,
            "UPDATE counts SET n = n - 1 WHERE name = $1",
            format!("facility_users:{facility}")
        )?;
    }
    Ok(())
}

/// A soft delete undone: back in lists and counts.
pub async fn restore(conn: &mut Conn<'_>, user_id: Uuid) -> Result<(), sqlx::Error> {
    let sql = "UPDATE facility_users SET deleted_at = NULL
                WHERE user_id = $1 AND deleted_at IS NOT NULL RETURNING facility_id";
    let facility: Option<Uuid> = match conn {
        Conn::Postgres(c) => {
            sqlx::query_scalar(sql)
                .bind(user_id)
                .fetch_optional(&mut **c)
                .await?
        }
        Conn::Sqlite(c) => {
            sqlx::query_scalar(&crate::db::sqlite_sql(sql))
                .bind(user_id)
                .fetch_optional(&mut **c)
                .await?
        }
    };
    if let Some(facility) = facility {
        execute!(
            conn,
            "UPDATE counts SET n = n + 1 WHERE name = $1",
            format!("facility_users:{facility}")
        )?;
    }
    Ok(())
}

/// A deleted user removed for good: their row, roles and memberships (a
/// deleted user is counted nowhere already; their collections' member
/// counts drop).
pub async fn purge(conn: &mut Conn<'_>, user_id: Uuid) -> Result<(), sqlx::Error> {
    execute!(
        conn,
        "UPDATE organizations SET members = members - 1
          WHERE organization_id IN (SELECT organization_id FROM memberships WHERE user_id = $1)",
        user_id
    )?;
    execute!(conn, "DELETE FROM memberships WHERE user_id = $1", user_id)?;
    execute!(
        conn,
        "DELETE FROM collection_roles WHERE user_id = $1",
        user_id
    )?;
    execute!(
        conn,
        "DELETE FROM facility_users WHERE user_id = $1",
        user_id
    )?;
    Ok(())
}

/// Which users a list shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this facility's users (a facility admin's view).
    pub facility: Option<Uuid>,
    /// Only this user (a learner's view).
    pub only_user: Option<Uuid>,
    /// Members of this classroom or learner group.
    pub member_of: Option<Uuid>,
    /// Any of these kinds of user.
    pub user_types: Vec<UserType>,
    /// Every whitespace-separated term in the username or the full name
    /// (case-insensitive); at most [`MAX_SEARCH_TERMS`] count.
    pub search: Option<String>,
    /// The order (default: username).
    pub order: Order,
    /// The deleted (soft) users instead of the live ones.
    pub deleted: bool,
}

/// How a list is ordered (Kolibri's `ordering`): a field, maybe
/// descending; ties broken by id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Order {
    column: OrderColumn,
    descending: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum OrderColumn {
    #[default]
    Username,
    FullName,
    DateJoined,
    Id,
    IdNumber,
    Gender,
    BirthYear,
    DateDeleted,
}

impl Order {
    /// Kolibri's `ordering` value (`username`, `-date_joined`, …); `None`
    /// for a field it does not order by.
    pub fn parse(ordering: &str) -> Option<Self> {
        let (descending, name) = match ordering.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, ordering),
        };
        let column = match name {
            "username" => OrderColumn::Username,
            "full_name" => OrderColumn::FullName,
            "date_joined" => OrderColumn::DateJoined,
            "id" => OrderColumn::Id,
            "id_number" => OrderColumn::IdNumber,
            "gender" => OrderColumn::Gender,
            "birth_year" => OrderColumn::BirthYear,
            "date_deleted" => OrderColumn::DateDeleted,
            _ => return None,
        };
        Some(Self { column, descending })
    }

    fn sql(self) -> String {
        let column = match self.column {
            OrderColumn::Username => "lower(fu.username)",
            OrderColumn::FullName => "lower(fu.full_name)",
            OrderColumn::DateJoined => "fu.date_joined",
            OrderColumn::Id => "fu.user_id",
            OrderColumn::IdNumber => "fu.id_number",
            OrderColumn::Gender => "fu.gender",
            OrderColumn::BirthYear => "fu.birth_year",
            OrderColumn::DateDeleted => "fu.deleted_at",
        };
        let direction = if self.descending { "DESC" } else { "ASC" };
        format!("{column} {direction}, fu.user_id {direction}")
    }
}

/// The most search terms a list applies.
pub const MAX_SEARCH_TERMS: usize = 4;

/// Kolibri's user types (`user_type` filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserType {
    /// No role at all.
    Learner,
    /// Coach or classroom assignable coach.
    Coach,
    /// Classroom assignable coach only.
    AssignableCoach,
    /// Admin.
    Admin,
    /// The global administrator.
    Superuser,
}

impl UserType {
    /// The type a Kolibri name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "learner" => Some(Self::Learner),
            "coach" => Some(Self::Coach),
            "classroom assignable coach" => Some(Self::AssignableCoach),
            "admin" => Some(Self::Admin),
            "superuser" => Some(Self::Superuser),
            _ => None,
        }
    }

    fn condition(self) -> &'static str {
        match self {
            Self::Learner => {
                "NOT EXISTS (SELECT 1 FROM collection_roles r WHERE r.user_id = fu.user_id)"
            }
            Self::Coach => {
                "EXISTS (SELECT 1 FROM collection_roles r WHERE r.user_id = fu.user_id
                          AND r.kind IN ('coach', 'assignable_coach'))"
            }
            Self::AssignableCoach => {
                "EXISTS (SELECT 1 FROM collection_roles r WHERE r.user_id = fu.user_id
                          AND r.kind = 'assignable_coach')"
            }
            Self::Admin => {
                "EXISTS (SELECT 1 FROM collection_roles r WHERE r.user_id = fu.user_id
                          AND r.kind = 'admin')"
            }
            Self::Superuser => "fu.is_superuser",
        }
    }
}

/// The most matches a filtered list counts (beyond it the count says this
/// many); unfiltered lists read the projection's counts instead.
pub const COUNT_CAP: i64 = 10_000;

/// A page of facility users in the filter's order (by default username,
/// case-insensitive), each with their roles, and how many match in all —
/// one statement: the page's ids (an index-only scan over the
/// live-username index, however deep the offset), their rows and roles,
/// and the count as a scalar subquery (the projection's counts when
/// unfiltered; everyone but the few role holders for learners; else the
/// matches, up to [`COUNT_CAP`]).
///
/// Binds are fixed (`$1` facility, `$2` user, `$3` collection, `$4`–`$7`
/// search terms, `$8` limit, `$9` offset, `$10` the facility's count
/// name); the statement names only those in use, so each filter gets the
/// plan of its index.
pub async fn list(
    db: &Db,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Listed>, i64), sqlx::Error> {
    let mut conditions = vec![if filter.deleted {
        "fu.deleted_at IS NOT NULL".to_string()
    } else {
        "fu.deleted_at IS NULL".to_string()
    }];
    if filter.facility.is_some() {
        conditions.push("fu.facility_id = $1".into());
    }
    if filter.only_user.is_some() {
        conditions.push("fu.user_id = $2".into());
    }
    if filter.member_of.is_some() {
        conditions.push(
            "EXISTS (SELECT 1 FROM memberships m
                      WHERE m.organization_id = $3 AND m.user_id = fu.user_id)"
                .into(),
        );
    }
    if !filter.user_types.is_empty() {
        let any: Vec<&str> = filter.user_types.iter().map(|t| t.condition()).collect();
        conditions.push(format!("({})", any.join(" OR ")));
    }
    let terms = search_patterns(filter.search.as_deref());
    for (i, _) in terms.iter().enumerate() {
        conditions.push(format!(
            "lower(fu.username) || ' ' || lower(fu.full_name) LIKE ${} ESCAPE '\\'",
            i + 4
        ));
    }
    let term = |i: usize| terms.get(i).cloned();
    let condition = conditions.join(" AND ");
    // The kept counts are of live users: deleted ones are counted.
    let unfiltered = filter.only_user.is_none()
        && filter.member_of.is_none()
        && terms.is_empty()
        && !filter.deleted;
    let facility_total = if filter.facility.is_some() {
        "(SELECT n FROM counts WHERE name = $10)"
    } else {
        "(SELECT COALESCE(sum(n), 0) FROM counts WHERE name LIKE 'facility_users:%')"
    };
    let count = if unfiltered && filter.user_types.is_empty() {
        facility_total.to_string()
    } else if unfiltered && filter.user_types == [UserType::Learner] {
        let facility = if filter.facility.is_some() {
            "AND h.facility_id = $1"
        } else {
            ""
        };
        format!(
            "({facility_total} - (SELECT count(DISTINCT r.user_id) FROM collection_roles r
                                    JOIN facility_users h ON h.user_id = r.user_id
                                   WHERE h.deleted_at IS NULL {facility}))"
        )
    } else {
        format!(
            "(SELECT count(*) FROM (SELECT 1 FROM facility_users fu WHERE {condition}
                                     LIMIT {COUNT_CAP}) AS hits)"
        )
    };
    let order = filter.order.sql();
    let sql = format!(
        "SELECT {COLUMNS}, r.role_id, r.collection_id AS role_collection, r.kind AS role_kind,
                CAST({count} AS BIGINT) AS total
           FROM (SELECT fu.user_id FROM facility_users fu WHERE {condition}
                  ORDER BY {order} LIMIT $8 OFFSET $9) AS page
           JOIN facility_users fu ON fu.user_id = page.user_id
           LEFT JOIN collection_roles r ON r.user_id = fu.user_id
          ORDER BY {order}, r.assigned_at, r.role_id"
    );
    let count_name = filter.facility.map(|f| format!("facility_users:{f}"));
    // Searches are planned for their patterns (a cached generic plan
    // cannot tell a selective pattern, fit for the trigram index, from a
    // broad one); everything else is prepared once per connection
    // (planning costs more than running a page).
    let rows = if terms.is_empty() {
        fetch_all!(
            db,
            ListRow,
            &sql,
            filter.facility,
            filter.only_user,
            filter.member_of,
            term(0),
            term(1),
            term(2),
            term(3),
            limit,
            offset,
            count_name.clone()
        )?
    } else {
        fetch_all!(unprepared db, ListRow, &sql,
            filter.facility, filter.only_user, filter.member_of,
            term(0), term(1), term(2), term(3), limit, offset, count_name.clone())?
    };
    let total = match rows.first() {
        Some(row) => row.total,
        // An empty page (past the end, or no match) still says the count.
        None => {
            let sql = format!("SELECT CAST({count} AS BIGINT) AS n");
            let counted = fetch_all!(unprepared db, Count, &sql,
                filter.facility, filter.only_user, filter.member_of,
                term(0), term(1), term(2), term(3), limit, offset, count_name)?;
            counted.first().map_or(0, |c| c.n)
        }
    };
    let mut listed: Vec<Listed> = Vec::new();
    for row in rows {
        let role = match (row.role_id, row.role_collection, row.role_kind) {
            (Some(role_id), Some(collection_id), Some(kind)) => Some(RoleRow {
                role_id,
                user_id: row.user.user_id,
                collection_id,
                kind,
            }),
            _ => None,
        };
        match listed.last_mut() {
            Some(last) if last.user.user_id == row.user.user_id => last.roles.extend(role),
            _ => listed.push(Listed {
                user: row.user,
                roles: role.into_iter().collect(),
            }),
        }
    }
    Ok((listed, total))
}

/// A listed user with their roles.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The user.
    pub user: FacilityUserRow,
    /// Their roles, in assignment order.
    pub roles: Vec<RoleRow>,
}

#[derive(sqlx::FromRow)]
struct ListRow {
    #[sqlx(flatten)]
    user: FacilityUserRow,
    role_id: Option<Uuid>,
    role_collection: Option<Uuid>,
    role_kind: Option<String>,
    total: i64,
}

/// `LIKE` patterns of the search's terms.
fn search_patterns(search: Option<&str>) -> Vec<String> {
    search
        .unwrap_or_default()
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .take(MAX_SEARCH_TERMS)
        .map(|t| {
            let escaped = t
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct Count {
    n: i64,
}

/// One live facility user.
pub async fn find(db: &Db, user_id: Uuid) -> Result<Option<FacilityUserRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM facility_users fu WHERE fu.user_id = $1 AND fu.deleted_at IS NULL"
    );
    Ok(fetch_all!(db, FacilityUserRow, &sql, user_id)?
        .into_iter()
        .next())
}

/// The roles of some users, in assignment order.
pub async fn roles_of(db: &Db, users: &[Uuid]) -> Result<Vec<RoleRow>, sqlx::Error> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    // One statement per hundred ids (a page is 50 at most by default).
    let mut rows = Vec::new();
    for chunk in users.chunks(100) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT role_id, user_id, collection_id, kind FROM collection_roles
              WHERE user_id IN ({}) ORDER BY assigned_at, role_id",
            placeholders.join(", ")
        );
        rows.extend(match db {
            Db::Postgres(pool) => {
                let mut query = sqlx::query_as::<_, RoleRow>(&sql);
                for id in chunk {
                    query = query.bind(*id);
                }
                query.persistent(false).fetch_all(pool).await?
            }
            Db::Sqlite { reader, .. } => {
                let sql = crate::db::sqlite_sql(&sql);
                let mut query = sqlx::query_as::<_, RoleRow>(&sql);
                for id in chunk {
                    query = query.bind(*id);
                }
                query.persistent(false).fetch_all(reader).await?
            }
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_are_escaped_split_and_capped() {
        assert_eq!(
            search_patterns(Some(" Ada  lo_v%e,x a b c")),
            vec!["%ada%", "%lo\\_v\\%e%", "%x%", "%a%"]
        );
        assert!(search_patterns(Some("   ")).is_empty());
        assert!(search_patterns(None).is_empty());
    }
}
