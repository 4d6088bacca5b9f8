//! Organizations: ILD communities, and Kolibri's collections — facilities
//! (with their settings), classrooms in a facility, learner groups in a
//! classroom. A parent is checked against its own stream before the child
//! is written.

use aggregates::{FacilitySettings, Organization, OrganizationCommand, OrganizationKind};
use uuid::Uuid;

use super::RequestContext;
use crate::{App, Error};

/// The settings of a named Kolibri preset, or a 400 naming the presets.
pub fn preset(name: &str) -> Result<FacilitySettings, Error> {
    FacilitySettings::preset(name).ok_or_else(|| {
        let names: Vec<&str> = aggregates::organization::PRESETS
            .iter()
            .map(|(name, _)| *name)
            .collect();
        Error::invalid_field(
            "preset",
            "INVALID_PRESET",
            format!("preset must be one of {}", names.join(", ")),
        )
    })
}

fn checked_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            "name",
            "INVALID_NAME",
            "name must be 1 to 100 printable characters",
        ));
    }
    Ok(name.to_string())
}

/// Creates a collection of `kind` under `parent` (none for a facility),
/// with `settings` for a facility; its id.
pub async fn create(
    app: &App,
    kind: OrganizationKind,
    name: &str,
    parent: Option<Uuid>,
    settings: Option<FacilitySettings>,
    ctx: &RequestContext,
) -> Result<Uuid, Error> {
    create_with_id(app, Uuid::now_v7(), kind, name, parent, settings, ctx).await
}

/// [`create`] with a chosen id: a deployment beside a real Kolibri gives
/// its facility Kolibri's id, so both name it alike. An id in use is
/// refused.
pub async fn create_with_id(
    app: &App,
    id: Uuid,
    kind: OrganizationKind,
    name: &str,
    parent: Option<Uuid>,
    settings: Option<FacilitySettings>,
    ctx: &RequestContext,
) -> Result<Uuid, Error> {
    create_organization(app, id, kind, name, None, parent, settings, &ctx.metadata())
        .await
        .map(|(id, _)| id)
}

/// Creates an organization of any kind with the given `id`; its id and
/// creation time.
#[allow(clippy::too_many_arguments)]
pub async fn create_organization(
    app: &App,
    id: Uuid,
    kind: OrganizationKind,
    name: &str,
    description: Option<String>,
    parent: Option<Uuid>,
    settings: Option<FacilitySettings>,
    metadata: &crate::store::Metadata,
) -> Result<(Uuid, chrono::DateTime<chrono::Utc>), Error> {
    let name = checked_name(name)?;
    if let (Some(parent), Some(expected)) = (parent, kind.parent_kind()) {
        let loaded = app.store.load::<Organization>(&parent.to_string()).await?;
        if loaded.state.kind() != Some(expected) {
            return Err(Error::invalid_field(
                "parent",
                "INVALID_PARENT",
                format!("parent must be a {}", expected.as_str()),
            ));
        }
    }
    let settings = match kind {
        OrganizationKind::Facility => Some(settings.unwrap_or_default()),
        _ => None,
    };
    let committed = app
        .store
        .create::<Organization>(
            &id.to_string(),
            OrganizationCommand::Create {
                organization_id: id,
                kind,
                name,
                description,
                parent,
                settings,
            },
            metadata,
        )
        .await?;
    let created_at = committed
        .events
        .iter()
        .find_map(|event| match event {
            aggregates::OrganizationEvent::OrganizationCreated { at, .. } => Some(*at),
            _ => None,
        })
        .unwrap_or_else(chrono::Utc::now);
    Ok((id, created_at))
}

/// Replaces a facility's settings (no event when they are the same), by
/// an operator.
pub async fn change_settings(
    app: &App,
    facility: Uuid,
    settings: FacilitySettings,
    ctx: &RequestContext,
) -> Result<(), Error> {
    write_settings(app, facility, settings, ctx.metadata()).await
}

/// Replaces a facility's settings on behalf of `actor` (who was allowed).
pub async fn change_settings_as(
    app: &App,
    facility: Uuid,
    settings: FacilitySettings,
    actor: Uuid,
    ctx: &RequestContext,
) -> Result<(), Error> {
    write_settings(app, facility, settings, ctx.metadata().acting_as(actor)).await
}

async fn write_settings(
    app: &App,
    facility: Uuid,
    settings: FacilitySettings,
    metadata: crate::store::Metadata,
) -> Result<(), Error> {
    app.store
        .execute::<Organization>(
            &facility.to_string(),
            OrganizationCommand::ChangeSettings { settings },
            &metadata,
        )
        .await?;
    Ok(())
}

/// The default facility: the first one created (Kolibri's
/// `Facility.get_default_facility` without device settings).
pub async fn default_facility(app: &App) -> Result<Option<Uuid>, Error> {
    Ok(
        projections::organizations::facilities(app.read_models().await)
            .await?
            .first()
            .copied(),
    )
}

/// A facility's settings; 404 for anything but a facility.
pub async fn settings(app: &App, facility: Uuid) -> Result<FacilitySettings, Error> {
    let loaded = app
        .store
        .load::<Organization>(&facility.to_string())
        .await?;
    match (loaded.state.kind(), loaded.state.settings()) {
        (Some(OrganizationKind::Facility), Some(settings)) => Ok(settings),
        (Some(OrganizationKind::Facility), None) => Ok(FacilitySettings::default()),
        _ => Err(Error::NotFound),
    }
}

/// The kind of a collection (an organization's kind never changes, so
/// it is remembered once read); `None` for no organization.
pub async fn collection_kind(app: &App, id: Uuid) -> Result<Option<OrganizationKind>, Error> {
    if let Some(kind) = app.collection_kinds.get(&id) {
        return Ok(Some(kind));
    }
    let kind = app
        .store
        .load::<Organization>(&id.to_string())
        .await?
        .state
        .kind();
    if let Some(kind) = kind {
        app.collection_kinds.insert(id, kind);
    }
    Ok(kind)
}

/// Whether `id` is a facility (remembered once read: checking it again
/// costs no round trip).
pub async fn is_facility(app: &App, id: Uuid) -> Result<bool, Error> {
    Ok(collection_kind(app, id).await? == Some(OrganizationKind::Facility))
}

/// A facility as its public description shows it: every facility is
/// public on a device (Kolibri lets anyone, signed in or not, read them,
/// so that a sign-in page can offer them): no actor is asked.
#[derive(Debug, Clone)]
pub struct FacilityView {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its settings.
    pub settings: FacilitySettings,
    /// Its classrooms.
    pub classrooms: i64,
    /// Its live users.
    pub users: i64,
    /// Its live users without a role who are not the administrator.
    pub learners: i64,
}

impl FacilityView {
    /// The id of the facility's settings record (Kolibri's dataset):
    /// derived from the facility's, stable, one per facility.
    pub fn dataset_id(&self) -> Uuid {
        dataset_id(self.id)
    }

    /// The preset the settings are (`formal`, else `nonformal`: the
    /// settings are kept, not the name they were picked by).
    pub fn preset(&self) -> &'static str {
        match FacilitySettings::preset("formal") {
            Some(formal) if formal == self.settings => "formal",
            _ => aggregates::organization::DEFAULT_PRESET,
        }
    }
}

/// The id of `facility`'s settings record (Kolibri's dataset).
pub fn dataset_id(facility: Uuid) -> Uuid {
    Uuid::new_v5(&facility, b"facility-dataset")
}

/// The facility whose settings record `dataset` is, if any.
pub async fn of_dataset(app: &App, dataset: Uuid) -> Result<Option<Uuid>, Error> {
    Ok(
        projections::organizations::facilities(app.read_models().await)
            .await?
            .into_iter()
            .find(|facility| dataset_id(*facility) == dataset),
    )
}

/// One facility, `None` when `id` is no facility.
pub async fn view(app: &App, id: Uuid) -> Result<Option<FacilityView>, Error> {
    use projections::facility_users::{list, Filter, UserType};
    let loaded = app.store.load::<Organization>(&id.to_string()).await?;
    if loaded.state.kind() != Some(OrganizationKind::Facility) {
        return Ok(None);
    }
    let db = app.read_models().await;
    let mut filter = Filter {
        facility: Some(id),
        ..Filter::default()
    };
    let (_, users) = list(db, &filter, 1, 0).await?;
    filter.user_types.push(UserType::Learner);
    let (_, learners) = list(db, &filter, 1, 0).await?;
    let classrooms = projections::organizations::classrooms(db, id).await?.len() as i64;
    Ok(Some(FacilityView {
        id,
        name: loaded.state.name().to_string(),
        settings: loaded.state.settings().unwrap_or_default(),
        classrooms,
        users,
        learners,
    }))
}

/// Every facility, the default (oldest) first.
pub async fn all(app: &App) -> Result<Vec<FacilityView>, Error> {
    let mut views = Vec::new();
    for id in projections::organizations::facilities(app.read_models().await).await? {
        views.extend(view(app, id).await?);
    }
    Ok(views)
}
