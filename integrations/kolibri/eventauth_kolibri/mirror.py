"""Keeps Kolibri's FacilityUser row of an eventauth user in step.

The row has the user's eventauth id (Kolibri's ids are the same 32 hex
digits; morango keeps an id that is given and only computes one when none
is), lives in the facility eventauth names (a deployment gives eventauth
Kolibri's own facility id), and carries an unusable password: signing in
is eventauth's business. Facility-level and classroom roles are mirrored
for collections that exist in Kolibri; eventauth's superusers get
Kolibri's DevicePermissions(is_superuser, can_manage_content).
"""

import logging

from django.db import transaction

logger = logging.getLogger(__name__)

# Kolibri's role kinds (kolibri.core.auth.constants.role_kinds).
ROLE_KINDS = ("admin", "coach", "classroom assignable coach")

# Fields copied as they are (eventauth answers Kolibri's wire form).
PLAIN_FIELDS = ("username", "full_name", "gender", "birth_year", "id_number")


def local_user(user_id):
    """The live local row, or None."""
    from kolibri.core.auth.models import FacilityUser

    return (
        FacilityUser.objects.select_related("facility", "dataset")
        .filter(id=user_id)
        .first()
    )


def apply(data):
    """Creates or updates the FacilityUser (and its roles) from eventauth's
    facilityuser object. Returns the user, or None when it cannot be
    mirrored (its facility is not on this Kolibri).
    """
    from kolibri.core.auth.models import Collection
    from kolibri.core.auth.models import Facility
    from kolibri.core.auth.models import FacilityUser
    from kolibri.core.auth.models import Role
    from kolibri.core.device.models import DevicePermissions

    from .client import hex_id

    user_id = hex_id(data.get("id"))
    facility_id = hex_id(data.get("facility"))
    facility = Facility.objects.filter(id=facility_id).first() if facility_id else None
    if user_id is None or facility is None:
        logger.warning(
            "eventauth user %s is in facility %s, which this Kolibri does not have: "
            "create the facility in eventauth with Kolibri's facility id "
            "(eventauth collection create --kind facility --id <id>)",
            user_id,
            facility_id,
        )
        return None

    with transaction.atomic():
        user = FacilityUser.all_objects.filter(id=user_id).first()
        created = user is None
        if created:
            user = FacilityUser(id=user_id, facility=facility)
            user.set_unusable_password()
        changed = created
        if user.facility_id != facility.id:
            user.facility = facility
            user.dataset_id = facility.dataset_id
            changed = True
        for field in PLAIN_FIELDS:
            value = data.get(field)
            if value is None:
                value = ""
            if not isinstance(value, str):
                value = str(value)
            if getattr(user, field) != value:
                setattr(user, field, value)
                changed = True
        if "extra_demographics" in data and user.extra_demographics != data.get(
            "extra_demographics"
        ):
            user.extra_demographics = data.get("extra_demographics")
            changed = True
        if user.date_deleted is not None:
            user.date_deleted = None
            changed = True
        if changed:
            user.save()
            if user.id != user_id:  # morango must keep the id it is given
                raise RuntimeError("Kolibri changed the mirrored user's id")
            logger.info(
                "%s Kolibri user %s from eventauth",
                "created" if created else "updated",
                user_id,
            )

        # Roles: what eventauth says, for collections this Kolibri has.
        wanted = set()
        for role in data.get("roles") or []:
            if not isinstance(role, dict):
                continue
            kind = role.get("kind")
            collection = hex_id(role.get("collection"))
            if kind in ROLE_KINDS and collection:
                wanted.add((collection, kind))
        present_collections = set(
            Collection.objects.filter(
                id__in=[c for c, _ in wanted]
            ).values_list("id", flat=True)
        )
        skipped = {(c, k) for c, k in wanted if c not in present_collections}
        if skipped:
            logger.info(
                "eventauth user %s: roles on collections this Kolibri does not have: %s",
                user_id,
                sorted(skipped),
            )
        wanted -= skipped
        for collection, kind in sorted(wanted, key=lambda ck: ck[1] != "admin"):
            if not Role.objects.filter(
                user=user, collection_id=collection, kind=kind
            ).exists():
                Role.objects.create(user=user, collection_id=collection, kind=kind)
        # A classroom coach role makes Kolibri add an assignable-coach role at
        # the facility; keep it while some classroom coach role is wanted.
        implied = set()
        if any(k == "coach" and c != facility.id for c, k in wanted):
            implied.add((facility.id, "classroom assignable coach"))
        for role in Role.objects.filter(user=user):
            if (role.collection_id, role.kind) not in wanted | implied:
                role.delete()

        superuser = bool(data.get("is_superuser"))
        perms = DevicePermissions.objects.filter(user=user).first()
        if superuser and (perms is None or not perms.is_superuser):
            DevicePermissions.objects.update_or_create(
                user=user,
                defaults={"is_superuser": True, "can_manage_content": True},
            )
        elif not superuser and perms is not None and perms.is_superuser:
            perms.is_superuser = False
            perms.save()
    return local_user(user_id)
