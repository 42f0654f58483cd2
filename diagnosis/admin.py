from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME, ActionForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from accounts import admin as accounts_admin
from accounts.admin import ReadOnlyAdmin
from accounts.audit import Client, audit_record
from accounts.models import AuditEvent, Role, Site
from diagnosis.access import sites_for
from diagnosis.models import (
    DicomDestination,
    DicomNode,
    DicomPeer,
    FhirServer,
    Image,
    LearningPolicy,
    ModelEvaluation,
    ModelVersion,
    Patient,
    Prediction,
    ResultDelivery,
    RetrainingItem,
    Review,
    Study,
    TrainingRun,
)
from diagnosis.services import delivery, records, registry, review

BREAK_GLASS = "medsite_break_glass"  # session key: {site id: {"reason": ..., "until": ISO time}}
BREAK_GLASS_HOURS = 1


def patient_data_sites(request) -> QuerySet[Site]:
    """The sites whose patient records Django admin shows this user. Patient data follows membership for everyone:
    superusers see the sites where they hold any role (they run models, training, users and sites for all, but
    not other sites' patients), plus the sites they opened by break-glass; other staff see the sites where they
    hold the admin role."""
    user = request.user
    if not user.is_superuser:
        return sites_for(user, [Role.ADMIN])
    return Site.objects.filter(Q(pk__in=sites_for(user)) | Q(pk__in=break_glass_sites(request)))


def break_glass_sites(request) -> dict[int, str]:
    """The sites a superuser opened by break-glass in this session and not yet expired: {site id: reason}."""
    if not request.user.is_superuser:
        return {}
    now = timezone.now().isoformat()
    held = request.session.get(BREAK_GLASS, {})
    return {int(site_id): grant["reason"] for site_id, grant in held.items() if grant["until"] > now}


class BreakGlassForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.none())
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=10,
        max_length=500,
        help_text="Why you must see this site's patients now. Shown to the site's admins; no patient names or MRNs.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = Site.objects.exclude(memberships__user=user)


def break_glass_open(request, *, site: Site, reason: str) -> None:
    """Open `site`'s patient records to this superuser for BREAK_GLASS_HOURS, in this session only, audited (the
    event carries the reason and is the site's: its admins see it)."""
    until = timezone.now() + timedelta(hours=BREAK_GLASS_HOURS)
    request.session[BREAK_GLASS] = request.session.get(BREAK_GLASS, {}) | {
        str(site.pk): {"reason": reason, "until": until.isoformat()}
    }
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.BREAK_GLASS,
        obj=site,
        site=site,
        client=Client.from_request(request),
        detail={"opened": True, "reason": reason, "until": until.isoformat()},
    )


class SiteScopedAdmin(ReadOnlyAdmin):
    """Patient data, read-only, limited to patient_data_sites, and every page of it audited: a list or a record
    shown writes one VIEW event (ids and counts only, never names, MRNs or search terms); an id outside the
    user's sites gets admin's usual "doesn't exist" and writes one DENIED event.

    Every admin of a model that identifies a patient must be one of these: tests/diagnosis/test_admin_scope.py walks
    the admin registry and fails for one that is not."""

    site_path = "site"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(**{f"{self.site_path}__in": patient_data_sites(request)})

    def get_search_fields(self, request):
        """No search box: admin sends its terms (names, MRNs) in the URL, into proxy logs and browser history, and
        its autocomplete view would answer them unaudited. Patients are searched in the app, by POST."""
        return ()

    def get_list_filter(self, request):
        """A filter on a site lists only the sites of the rows this user may see, never every site's name."""
        return [
            (name, admin.RelatedOnlyFieldListFilter) if isinstance(name, str) and name.endswith("site") else name
            for name in super().get_list_filter(request)
        ]

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:  # outside the user's sites, or no such row: admin answers "doesn't exist" to both
            self._audit_denied(request, object_id)
        return obj

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if response.status_code == 200 and changelist is not None:
            self._audit_changelist(request, [row.pk for row in changelist.result_list], changelist.result_count)
        return response

    def _audit_changelist(self, request, ids: list[int], total: int) -> None:
        """One VIEW event for the rows of the user's own sites (or an empty page), and one BREAK_GLASS event, with
        the reason, for the rows of each site opened by break-glass."""
        site_of = dict(self.model._default_manager.filter(pk__in=ids).values_list("pk", self.site_path))
        glass = break_glass_sites(request)
        sites = Site.objects.in_bulk(set(site_of.values()))
        for site_id in sorted(set(site_of.values()) & glass.keys()):
            shown = [pk for pk in ids if site_of[pk] == site_id]
            self._audit_list(request, AuditEvent.Action.BREAK_GLASS, shown, total, sites[site_id], glass[site_id])
        own = [pk for pk in ids if site_of[pk] not in glass]
        if own or not ids:
            own_sites = sorted({site_of[pk] for pk in own})
            site = sites[own_sites[0]] if len(own_sites) == 1 else None  # rows of several sites: listed in detail
            self._audit_list(request, AuditEvent.Action.VIEW, own, total, site, sites=own_sites if not site else None)

    def _audit_list(self, request, action, ids, total, site, reason=None, sites=None) -> None:
        audit_record(
            actor=request.user,
            action=action,
            object_type=self.model._meta.model_name,
            site=site,
            client=Client.from_request(request),
            detail={"admin": "changelist", "count": len(ids), "total": total, "ids": ids}
            | ({"sites": sites} if sites else {})
            | ({"reason": reason} if reason else {}),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        self._audit_shown(request, response, "original", "change")
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        self._audit_shown(request, response, "object", "history")
        return response

    def site_of(self, obj) -> Site:
        for name in self.site_path.split("__"):
            obj = getattr(obj, name)
        return obj

    def _audit_shown(self, request, response, context_key: str, page: str) -> None:
        obj = (getattr(response, "context_data", None) or {}).get(context_key)
        if response.status_code == 200 and obj is not None:
            site = self.site_of(obj)
            reason = break_glass_sites(request).get(site.pk)
            audit_record(
                actor=request.user,
                action=AuditEvent.Action.BREAK_GLASS if reason else AuditEvent.Action.VIEW,
                obj=obj,
                site=site,
                client=Client.from_request(request),
                detail={"admin": page} | ({"reason": reason} if reason else {}),
            )

    def _audit_denied(self, request, object_id: str) -> None:
        """The event names the target and its site (for that site's admins); the user is told nothing."""
        try:
            pk = self.model._meta.pk.to_python(object_id)
        except ValidationError:
            pk = None
        target = self.model._default_manager.filter(pk=pk) if pk is not None else self.model._default_manager.none()
        site_id = target.values_list(self.site_path, flat=True).first()
        audit_record(
            actor=request.user,
            action=AuditEvent.Action.DENIED,
            obj=self.model(pk=pk) if pk is not None else None,
            object_type=self.model._meta.model_name,
            site=Site.objects.filter(pk=site_id).first(),
            client=Client.from_request(request),
            detail={"admin": request.resolver_match.url_name},
        )


@admin.register(Patient)
class PatientAdmin(SiteScopedAdmin):
    list_display = ["mrn", "site", "sex", "birth_date", "created_at"]
    list_filter = ["site"]

    def get_urls(self):
        view = self.admin_site.admin_view(self.break_glass_view)
        return [path("break-glass/", view, name="diagnosis_patient_break_glass"), *super().get_urls()]

    def break_glass_view(self, request):
        """A superuser opens one site's patient records, where they hold no membership, for BREAK_GLASS_HOURS with a
        stated reason; every page they then see of that site is audited as BREAK_GLASS with the reason."""
        if not request.user.is_superuser:
            raise PermissionDenied
        form = BreakGlassForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            site = form.cleaned_data["site"]
            break_glass_open(request, site=site, reason=form.cleaned_data["reason"])
            self.message_user(request, f"{site} is open to you for {BREAK_GLASS_HOURS} hour; every page is audited.")
            return redirect(f"{reverse('admin:diagnosis_patient_changelist')}?site__id__exact={site.pk}")
        context = self.admin_site.each_context(request) | {
            "title": "Break-glass access",
            "opts": self.model._meta,
            "form": form,
            "open_sites": Site.objects.filter(pk__in=break_glass_sites(request)),
            "hours": BREAK_GLASS_HOURS,
        }
        return TemplateResponse(request, "admin/diagnosis/break_glass.html", context)


@admin.register(Study)
class StudyAdmin(SiteScopedAdmin):
    site_path = "patient__site"
    list_display = ["id", "patient", "modality", "body_part", "study_date", "status", "created_at"]
    list_filter = ["modality", "status", "patient__site"]


@admin.register(Image)
class ImageAdmin(SiteScopedAdmin):
    site_path = "study__patient__site"
    list_display = ["id", "study", "format", "width", "height", "status", "burned_in_withheld", "uploaded_at"]
    list_filter = ["status", "format"]
    exclude = ["file", "original_name"]
    actions = ["clear_burned_in"]

    class ReasonForm(ActionForm):
        reason = forms.CharField(required=False, max_length=500, label="Reason (what you checked)")

    action_form = ReasonForm

    @admin.display(boolean=True, description="Withheld (burned-in text)")
    def burned_in_withheld(self, obj: Image) -> bool:
        return obj.burned_in_withheld

    @admin.action(description="Clear the selected images of burned-in patient details (checked, none found)")
    def clear_burned_in(self, request, queryset) -> None:
        """A site admin who has looked at the pixels releases the images for de-identified download and training:
        records.image_clear_burned_in checks the role and the reason, and audits each one."""
        for image in queryset.select_related("study__patient__site"):
            try:
                records.image_clear_burned_in(
                    image=image,
                    user=request.user,
                    reason=request.POST.get("reason", ""),
                    client=Client.from_request(request),
                )
            except ValidationError as exc:
                self.message_user(request, f"{image}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{image} cleared.")


@admin.register(Prediction)
class PredictionAdmin(SiteScopedAdmin):
    site_path = "image__study__patient__site"
    list_display = ["id", "image", "label", "model_version", "is_shadow", "abnormality", "inference_ms", "created_at"]
    list_filter = ["is_shadow", "model_version__task"]
    exclude = ["heatmap"]


@admin.register(Review)
class ReviewAdmin(SiteScopedAdmin):
    site_path = "prediction__image__study__patient__site"
    list_display = ["id", "prediction", "decision", "label", "reviewer", "created_at"]


@admin.register(RetrainingItem)
class RetrainingItemAdmin(SiteScopedAdmin):
    """Read-only: superusers exclude items (with a reason, audited) on the Learning loop pages."""

    site_path = "image__study__patient__site"
    list_display = ["id", "task", "label", "patient_key", "created_at", "excluded_at", "exclusion_reason"]
    list_filter = ["task", "label", ("excluded_at", admin.EmptyFieldListFilter)]


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "task", "status", "trigger", "progress", "model_version", "created_at", "finished_at"]
    list_filter = ["status", "task", "trigger"]


@admin.register(ModelEvaluation)
class ModelEvaluationAdmin(ReadOnlyAdmin):
    list_display = ["id", "candidate", "baseline", "holdout_size", "gate_passed", "created_at"]
    list_filter = ["gate_passed", "candidate__task"]


class SuperuserConfigAdmin(admin.ModelAdmin):
    """Configuration that only superusers see and change; every save and delete is audited (a secret field's
    change is audited without its value)."""

    secret_fields: tuple[str, ...] = ()

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action=AuditEvent.Action.UPDATE if change else AuditEvent.Action.CREATE,
            obj=obj,
            site=getattr(obj, "site", None),
            client=Client.from_request(request),
            detail={
                "fields": {
                    name: "(changed)" if name in self.secret_fields else _audit_value(form.cleaned_data[name])
                    for name in form.changed_data
                }
            },
        )

    def delete_model(self, request, obj) -> None:
        audit_record(
            actor=request.user,
            action=AuditEvent.Action.DELETE,
            obj=obj,
            site=getattr(obj, "site", None),
            client=Client.from_request(request),
        )
        super().delete_model(request, obj)

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


def _audit_value(value):
    """A form value as the audit detail keeps it: JSON's own types as they are, anything else (a site) as text."""
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


@admin.register(LearningPolicy)
class LearningPolicyAdmin(SuperuserConfigAdmin):
    """Per task: the base and held-out data, when to retrain, automatic promotion, the gate and drift alarm."""

    list_display = ["task", "base_dataset", "holdout_dataset", "retrain_after", "auto_promote", "drift_agreement"]


@admin.register(DicomNode)
class DicomNodeAdmin(SuperuserConfigAdmin):
    list_display = ["ae_title", "site"]


@admin.register(DicomPeer)
class DicomPeerAdmin(SuperuserConfigAdmin):
    list_display = ["ae_title", "ip", "site"]
    list_filter = ["site"]


@admin.register(DicomDestination)
class DicomDestinationAdmin(SuperuserConfigAdmin):
    """Where a site's AI results go over DICOM C-STORE (docs/integration.md, "Results routing")."""

    list_display = ["name", "site", "ae_title", "host", "port", "calling_ae_title", "send_preliminary", "send_final"]
    list_display += ["enabled"]
    list_filter = ["site", "enabled"]


class SecretField(forms.CharField):
    """Never shown back; left blank, the stored value stays (and the field counts as unchanged)."""

    widget = forms.PasswordInput(render_value=False)

    def has_changed(self, initial, data) -> bool:
        return bool(data)


class FhirServerForm(forms.ModelForm):
    authorization = SecretField(
        required=False,
        max_length=500,
        help_text="Sent as the Authorization header, e.g. 'Bearer ...'. Never shown again: leave blank to keep it.",
    )
    clear_authorization = forms.BooleanField(required=False, help_text="Remove the stored Authorization header")
    base_url = forms.URLField(
        label="Base URL", assume_scheme="https", help_text=FhirServer._meta.get_field("base_url").help_text
    )

    class Meta:
        model = FhirServer
        fields = ["site", "name", "base_url", "authorization", "clear_authorization", "enabled"]

    def clean_authorization(self) -> str:
        return self.cleaned_data["authorization"] or self.instance.authorization

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("clear_authorization"):
            cleaned["authorization"] = ""
            self.instance.authorization = ""
            if "authorization" not in self.changed_data:
                self.changed_data.append("authorization")
        return cleaned


@admin.register(FhirServer)
class FhirServerAdmin(SuperuserConfigAdmin):
    """Where a site's DiagnosticReports go; the Authorization header is write-only."""

    form = FhirServerForm
    secret_fields = ("authorization", "clear_authorization")
    list_display = ["name", "site", "base_url", "enabled"]
    list_filter = ["site", "enabled"]


@admin.register(ResultDelivery)
class ResultDeliveryAdmin(SiteScopedAdmin):
    """Results sent (or being sent) to PACS and FHIR servers; a site admin sends failed ones again."""

    list_display = ["id", "kind", "target", "status", "attempts", "peer_status", "error", "created_at", "sent_at"]
    list_filter = ["status", "kind", "site"]
    actions = ["send_again"]

    @admin.display(description="sent to")
    def target(self, obj: ResultDelivery) -> str:
        return (obj.destination or obj.fhir_server).name

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("destination", "fhir_server")

    @admin.action(description="Send the selected failed deliveries again")
    def send_again(self, request, queryset) -> None:
        """delivery.delivery_retry checks the admin role at the delivery's site and audits each one."""
        for row in queryset:
            try:
                delivery.delivery_retry(delivery=row, user=request.user, client=Client.from_request(request))
            except (ValidationError, PermissionDenied) as exc:
                message = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.message_user(request, f"Delivery {row.pk}: {message}", messages.ERROR)
            else:
                self.message_user(request, f"Delivery {row.pk} is queued to be sent again.")


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    """Registration is `manage.py register_model`; here admins promote, shadow, retire and roll back, each
    atomic and audited (diagnosis.services.registry); promote and roll back go through a confirmation page that
    asks for the written reason the services require."""

    list_display = ["short_sha", "task", "status", "backbone", "threshold", "test_auc", "created_at", "activated_at"]
    list_filter = ["task", "status"]
    actions = ["promote", "shadow", "retire", "rollback"]

    @admin.display(description="test AUC")
    def test_auc(self, obj: ModelVersion) -> str:
        value = ((obj.metrics or {}).get("test") or {}).get("roc_auc")
        return "—" if value is None else f"{value:.3f}"

    class ReasonForm(forms.Form):
        """The written reason a promotion or rollback needs; registry.model_promote/model_rollback own the rule
        (a blank one comes back as their DomainError on the field), the browser's `required` is a courtesy."""

        reason = forms.CharField(
            required=False,
            max_length=500,
            label="Reason (kept in the audit trail)",
            widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "required": True}),
        )

    @admin.action(description="Promote the selected version to active through the gate (the current one is retired)")
    def promote(self, request, queryset):
        """A confirmation page: the version, the task's active one, the gate's verdict and a required reason."""
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version.", messages.ERROR)
            return None
        version = queryset.get()
        form = self.ReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            promoted = self._confirmed(
                request,
                form,
                lambda reason: registry.model_promote(
                    model_version=version, actor=request.user, reason=reason, client=Client.from_request(request)
                ),
            )
            if promoted is not None:
                self.message_user(request, f"Promoted: {promoted} is now the active {promoted.task} model.")
                return None
            if not form.errors:
                return None
        passed, findings, _ = registry.promotion_check(model_version=version)
        active = ModelVersion.objects.filter(task=version.task, status=ModelVersion.Status.ACTIVE).first()
        return self._confirmation(
            request,
            queryset,
            form,
            action="promote",
            title=f"Promote {version} to active",
            version=version,
            active=active,
            gate=(passed, findings),
        )

    @admin.action(description="Run the selected versions in shadow (stored, never shown)")
    def shadow(self, request, queryset) -> None:
        for version in queryset:
            self._apply(request, registry.model_set_shadow, version, "now runs in shadow")

    @admin.action(description="Retire the selected candidate or shadow versions")
    def retire(self, request, queryset) -> None:
        for version in queryset:
            self._apply(request, registry.model_retire, version, "is retired")

    @admin.action(description="Roll back the selected version's task to its previous active version")
    def rollback(self, request, queryset):
        """A confirmation page: the task, its active version, the version it goes back to and a required reason;
        the POST back with `apply` rolls back (registry.model_rollback audits it with the reason)."""
        tasks = set(queryset.values_list("task", flat=True))
        if len(tasks) != 1:
            self.message_user(request, "Select versions of exactly one task to roll back.", messages.ERROR)
            return None
        task = tasks.pop()
        current, target = registry.rollback_target(task=task)
        if target is None:
            self.message_user(request, f"There is no earlier active version of {task} to roll back to.", messages.ERROR)
            return None
        form = self.ReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            restored = self._confirmed(
                request,
                form,
                lambda reason: registry.model_rollback(
                    task=task, actor=request.user, reason=reason, client=Client.from_request(request)
                ),
            )
            if restored is not None:
                self.message_user(request, f"Rolled back: {restored} is the active {restored.task} model again.")
                return None
            if not form.errors:
                return None
        return self._confirmation(
            request,
            queryset,
            form,
            action="rollback",
            title=f"Roll back {task}",
            task=task,
            active=current,
            target=target,
        )

    def _confirmed(self, request, form, change) -> ModelVersion | None:
        """Run the change with the form's reason. A refusal about the reason goes onto the form (the page is shown
        again); any other refusal is a message on the list. None when refused."""
        try:
            return change(form.cleaned_data["reason"])
        except ValidationError as exc:
            if getattr(exc, "field", None) == "reason":
                form.add_error(None, exc)
            else:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return None

    def _confirmation(self, request, queryset, form, *, action: str, title: str, **context) -> TemplateResponse:
        context = self.admin_site.each_context(request) | {
            "title": title,
            "opts": self.model._meta,
            "form": form,
            "action": action,
            "selected": queryset.values_list("pk", flat=True),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            **context,
        }
        return TemplateResponse(request, "admin/diagnosis/modelversion/confirm_change.html", context)

    def _apply(self, request, change, version: ModelVersion, done: str) -> None:
        try:
            change(model_version=version, actor=request.user, client=Client.from_request(request))
        except ValidationError as exc:
            self.message_user(request, f"{version}: {' '.join(exc.messages)}", messages.ERROR)
            return
        self.message_user(request, f"{version} {done}.")

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser  # needed for the actions; fields stay read-only below

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]


admin.site.unregister(Site)


@admin.register(Site)
class SiteAdmin(accounts_admin.SiteAdmin):
    """accounts' Site admin; a change of the second-reader switch also updates the site's studies."""

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and "second_reader" in form.changed_data:
            review.site_second_reader_changed(site=obj)
