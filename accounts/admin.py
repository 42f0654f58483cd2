from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.urls import reverse
from django.utils.html import format_html

from accounts import services
from accounts.audit import Client, audit_record
from accounts.models import AuditEvent, Invitation, Membership, Role, Site, User


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records change through the apps' services (which audit them), never through admin forms."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def admin_sites(user):
    return Site.objects.filter(memberships__user=user, memberships__role=Role.ADMIN)


def is_site_admin(user) -> bool:
    """Staff holding the admin role at a site (and not superusers): they manage their sites' people."""
    return user.is_active and user.is_staff and not user.is_superuser and admin_sites(user).exists()


def users_of_admin_sites(user):
    """The people a site admin may see and pick: the members (any role) of the sites where they hold the admin
    role."""
    return User.objects.filter(memberships__site__in=admin_sites(user)).distinct()


SITE_FILTER = ("site", admin.RelatedOnlyFieldListFilter)  # lists only the sites of the rows the user may see


class SiteScopedMixin:
    """Staff who are not superusers manage only the sites where they hold the admin role."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(site__in=admin_sites(request.user))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "site" and not request.user.is_superuser:
            kwargs["queryset"] = admin_sites(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MembershipInline(admin.TabularInline):
    """Shown on the user page; roles are changed on the Membership pages, where every change is audited."""

    model = Membership
    extra = 0
    fields = ["site", "role"]
    readonly_fields = ["site", "role"]
    can_delete = False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(site__in=admin_sites(request.user))

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class SiteAdminsReadSuperusersWrite:
    """Users and sites: superusers add, change and delete them, whatever Django permissions a site admin holds;
    a site admin only reads (their get_queryset limits what)."""

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser or is_site_admin(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser or is_site_admin(request.user)

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(User)
class UserAdmin(SiteAdminsReadSuperusersWrite, DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_active", "is_staff"]
    search_fields = ["email", "first_name", "last_name"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Personal info", {"fields": ["first_name", "last_name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Important dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]

    # Superusers manage accounts. A site admin sees, read-only, the members of their sites (their user picker on
    # Memberships lists the same people) and can change none of them: no password, staff or superuser status.

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(pk__in=users_of_admin_sites(request.user))

    def get_fieldsets(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_fieldsets(request, obj)
        return [(None, {"fields": ["email", "first_name", "last_name", "is_active", "last_login", "date_joined"]})]


@admin.register(Site)
class SiteAdmin(SiteAdminsReadSuperusersWrite, admin.ModelAdmin):
    list_display = ["name", "slug", "second_reader", "created_at"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}

    # Superusers add and change sites; a site admin sees their own, read-only (for the site picker on Memberships).

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(pk__in=admin_sites(request.user))

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        audit_record(  # e.g. switching the second reader on or off changes how every result is decided
            actor=request.user,
            action=AuditEvent.Action.UPDATE if change else AuditEvent.Action.CREATE,
            obj=obj,
            site=obj,
            client=Client.from_request(request),
            detail={"fields": {name: form.cleaned_data[name] for name in form.changed_data}},
        )


@admin.register(Membership)
class MembershipAdmin(SiteScopedMixin, admin.ModelAdmin):
    """Every add, change and removal of a role goes through accounts.services and is audited."""

    list_display = ["user", "site", "role", "created_at"]
    list_filter = ["role", SITE_FILTER]
    search_fields = ["user__email"]
    autocomplete_fields = ["user", "site"]
    actions = None  # no bulk delete that would skip the audit

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        """A site admin picks among the members of their sites (UserAdmin's scoped list feeds the picker) and
        invites anyone else; an id from outside that list is refused."""
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = users_of_admin_sites(request.user)
            kwargs["help_text"] = format_html(
                'Lists the members of your sites. To add someone new, <a href="{}">send an invitation</a>.',
                reverse("admin:accounts_invitation_add"),
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        saved = services.membership_set(
            user=obj.user, site=obj.site, role=obj.role, actor=request.user, client=Client.from_request(request)
        )
        obj.pk = saved.pk

    def delete_model(self, request, obj) -> None:
        services.membership_remove(membership=obj, actor=request.user, client=Client.from_request(request))


@admin.register(Invitation)
class InvitationAdmin(SiteScopedMixin, admin.ModelAdmin):
    """Creating an invitation here emails its link."""

    list_display = ["email", "site", "role", "created_at", "sent_at", "accepted_at"]
    list_filter = ["role", SITE_FILTER]
    fields = ["email", "site", "role"]

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None

    def save_model(self, request, obj, form, change) -> None:
        invitation = services.invitation_create(
            email=obj.email,
            site=obj.site,
            role=obj.role,
            invited_by=request.user,
            base_url=request.build_absolute_uri("/"),
        )
        obj.pk = invitation.pk


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: the trail can be searched and filtered, never edited. Site admins see their sites' events."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(site__in=admin_sites(request.user))

    list_display = ["at", "actor_email", "site", "action", "object_type", "object_id", "ip"]
    list_filter = ["action", "object_type", SITE_FILTER]
    search_fields = ["actor_email", "object_id", "ip"]
    date_hierarchy = "at"
