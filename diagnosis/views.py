from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Sum
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.audit import Client
from accounts.models import Role
from diagnosis import access, listings, selectors, serving
from diagnosis.filters import WorklistFilter
from diagnosis.forms import (
    DicomImportForm,
    ExclusionForm,
    ModelChangeForm,
    PatientForm,
    PatientUpdateForm,
    ReviewForm,
    StudyForm,
    UploadForm,
)
from diagnosis.models import (
    LearningPolicy,
    ModelVersion,
    Patient,
    Prediction,
    ResultDelivery,
    RetrainingItem,
    Study,
    TrainingRun,
    image_details,
)
from diagnosis.services import delivery, records, registry, review
from diagnosis.services import learning as learning_service
from diagnosis.services import worklist as worklist_service
from medsite.errors import DomainError


@login_required
@require_http_methods(["GET", "POST"])
def start(request):
    """The start page, "/": a user whose only role is radiologist starts on their worklist (the patients are under
    Patients, in the navigation); everyone else on the patient list."""
    roles = {membership.role for membership in request.user.memberships_by_role()}
    if request.method == "GET" and roles == {Role.RADIOLOGIST} and not request.user.is_staff:
        return redirect("diagnosis:worklist")
    return home(request)


@login_required
@require_http_methods(["GET", "POST"])
def home(request):
    """The newest patients of the user's sites; the search form POSTs its term (never in a URL: see selectors)."""
    query = request.POST.get("q", "").replace("\x00", "").strip()[:200] if request.method == "POST" else ""
    patients = list(selectors.patient_list(user=request.user, query=query)[:100])
    site_ids = {patient.site_id for patient in patients}
    site = patients[0].site if len(site_ids) == 1 else None
    access.record_list(request, "patient", len(patients), site, detail={"search": bool(query)})
    context = {
        "sites": access.sites_for(request.user),
        "patients": patients,
        "query": query,
        "can_create": access.sites_for(request.user, [Role.CLINICIAN]).exists(),
        "is_radiologist": access.sites_for(request.user, [Role.RADIOLOGIST]).exists(),
        "active_models": ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE),
        "training_runs": TrainingRun.objects.filter(status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]),
    }
    return render(request, "diagnosis/home.html", context)


@login_required
def patient_create(request):
    sites = access.sites_for(request.user, [Role.CLINICIAN])
    if not sites.exists():
        raise access.deny(request, "patient", "Only clinicians register patients.")
    form = PatientForm(request.POST or None, sites=sites)
    if request.method == "POST" and form.is_valid():
        patient = records.patient_create(
            **form.cleaned_data, created_by=request.user, client=Client.from_request(request)
        )
        return redirect("diagnosis:patient_detail", pk=patient.pk)
    return render(request, "diagnosis/patient_form.html", {"form": form})


@login_required
def patient_detail(request, pk: int):
    patient = access.get_patient_for_user(request, pk)
    access.record_view(request, patient, patient.site)
    context = {
        "patient": patient,
        "studies": selectors.study_list(user=request.user, filters={"patient": patient.pk}),
        "study_form": StudyForm(),
        "can_create": access.role_at(request.user, patient.site) == Role.CLINICIAN,
    }
    return render(request, "diagnosis/patient_detail.html", context)


@login_required
def patient_update(request, pk: int):
    patient = access.get_patient_for_user(request, pk, roles=[Role.CLINICIAN])
    form = PatientUpdateForm(request.POST or None, instance=Patient.objects.get(pk=patient.pk))
    if request.method == "POST" and form.is_valid():
        try:
            records.patient_update(
                patient=patient, **form.cleaned_data, changed_by=request.user, client=Client.from_request(request)
            )
        except DomainError as exc:  # e.g. the new MRN is taken at this site
            form.add_error(None, exc)
        else:
            return redirect("diagnosis:patient_detail", pk=patient.pk)
    access.record_view(request, patient, patient.site, detail={"form": "edit"})
    return render(request, "diagnosis/patient_form.html", {"form": form, "patient": patient})


@login_required
def study_create(request, patient_pk: int):
    patient = access.get_patient_for_user(request, patient_pk, roles=[Role.CLINICIAN])
    form = StudyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        study = records.study_create(
            patient=patient, **form.cleaned_data, created_by=request.user, client=Client.from_request(request)
        )
        return redirect("diagnosis:study_detail", pk=study.pk)
    access.record_view(request, patient, patient.site, detail={"form": "new study"})
    return render(request, "diagnosis/study_form.html", {"form": form, "patient": patient})


@login_required
def study_update(request, pk: int):
    study = access.get_study_for_user(request, pk, roles=[Role.CLINICIAN])
    form = StudyForm(request.POST or None, instance=Study.objects.get(pk=study.pk))
    if request.method == "POST" and form.is_valid():
        records.study_update(
            study=study, **form.cleaned_data, changed_by=request.user, client=Client.from_request(request)
        )
        return redirect("diagnosis:study_detail", pk=study.pk)
    access.record_view(request, study, study.site, detail={"form": "edit"})
    return render(request, "diagnosis/study_form.html", {"form": form, "patient": study.patient, "study": study})


@login_required
def dicom_import(request):
    """Upload DICOM files without choosing a study first."""
    sites = access.sites_for(request.user, [Role.CLINICIAN])
    if not sites.exists():
        raise access.deny(request, "image", "Only clinicians upload images.")
    form = DicomImportForm(request.POST or None, request.FILES or None, sites=sites)
    imported, errors = [], []
    if request.method == "POST" and form.is_valid():
        for file in form.cleaned_data["files"]:
            try:
                imported.append(
                    records.dicom_import(
                        site=form.cleaned_data["site"],
                        file=file,
                        uploaded_by=request.user,
                        client=Client.from_request(request),
                    )
                )
            except DomainError as exc:
                errors.extend(exc.messages)
    status = 400 if errors or (request.method == "POST" and not form.is_valid()) else 200
    context = {"form": form, "imported": imported, "upload_errors": errors}
    return render(request, "diagnosis/dicom_import.html", context, status=status)


@login_required
def study_detail(request, pk: int):
    study = access.get_study_for_user(request, pk)
    access.record_view(request, study, study.site)
    return render(request, "diagnosis/study_detail.html", _study_context(request, study, UploadForm()))


@login_required
def study_results(request, pk: int):
    """The live part of the study page, polled by htmx until every image is finished."""
    study = access.get_study_for_user(request, pk)
    access.record_view(request, study, study.site, detail={"part": "results"})
    return render(request, "diagnosis/_results.html", _study_context(request, study, None))


@login_required
@require_POST
def study_upload(request, pk: int):
    study = access.get_study_for_user(request, pk, roles=[Role.CLINICIAN])
    form = UploadForm(request.POST, request.FILES)
    errors = []
    if form.is_valid():
        for file in form.cleaned_data["files"]:
            try:
                records.image_upload(
                    study=study, file=file, uploaded_by=request.user, client=Client.from_request(request)
                )
            except DomainError as exc:
                errors.extend(exc.messages)
    status = 400 if errors or not form.is_valid() else 200
    if status == 200:
        return redirect("diagnosis:study_detail", pk=study.pk)
    context = _study_context(request, study, form) | {"upload_errors": errors}
    access.record_view(request, study, study.site)  # the study page again, with what was refused
    return render(request, "diagnosis/study_detail.html", context, status=status)


def _study_context(request, study, upload_form) -> dict:
    role = access.role_at(request.user, study.site)
    deliveries = Prefetch(
        "prefetched_predictions__deliveries",
        ResultDelivery.objects.select_related("destination", "fhir_server"),
        to_attr="prefetched_deliveries",
    )
    images = list(study.images.prefetch_related(*image_details(), deliveries))
    for image in images:
        for prediction in image.shown_predictions:
            _annotate_reading(prediction, study.site, request.user)
            prediction.delivery_lines = delivery.delivery_lines(prediction.prefetched_deliveries)
    return {
        "study": study,
        "images": images,
        "pending": any(image.is_pending for image in images),
        "can_upload": role == Role.CLINICIAN,
        "can_review": role == Role.RADIOLOGIST,
        "upload_form": upload_form,
    }


def _annotate_reading(prediction: Prediction, site, user) -> None:
    """What the result card and the review form show of where a prediction stands with the radiologists: the
    deciding (final) review, the reading state where two readers are required, and the user's own latest review
    (the form shows that decision, never the AI's, so a second save cannot silently undo a correction)."""
    state, deciding = prediction.reading(second_reader=site.second_reader)
    prediction.final_review = deciding if state == Prediction.Reading.FINAL else None
    prediction.reading_label = Prediction.Reading(state).label if site.second_reader else ""
    prediction.own_review = prediction.review_by(user)


@login_required
def study_read(request, pk: int):
    """The reading view: one image of a study, its result card and the reader's decision, side by side. Opening it
    claims the study for the reader; while another reader's claim is live it says so and offers "Read anyway"."""
    study = access.get_study_for_user(request, pk, roles=[Role.RADIOLOGIST])
    images = list(study.images.prefetch_related(*image_details()))
    if not images:
        raise Http404("This study has no images yet.")
    image = _reading_image(request, study, images)
    access.record_view(request, study, study.site, detail={"part": "reading", "image": image.pk})
    claimed_by_other = ""
    if request.GET.get("anyway") != "1":
        try:
            worklist_service.study_claim(study=study, reader=request.user, client=Client.from_request(request))
        except DomainError as exc:
            claimed_by_other = " ".join(exc.messages)
    prediction = image.current_prediction()
    if prediction is not None:
        _annotate_reading(prediction, study.site, request.user)
    position = images.index(image)
    context = {
        "study": study,
        "patient": study.patient,
        "image": image,
        "prediction": prediction,
        "position": position + 1,
        "count": len(images),
        "previous_image": images[position - 1] if position > 0 else None,
        "next_image": images[position + 1] if position + 1 < len(images) else None,
        "claimed_by_other": claimed_by_other,
        "can_review": not claimed_by_other,
    }
    return render(request, "diagnosis/study_read.html", context)


def _reading_image(request, study, images):
    """The image ?image= names (404 when it is not one of the study's), else the first one waiting for this
    reader, else the first."""
    wanted = request.GET.get("image", "")
    if wanted:
        image = next((i for i in images if str(i.pk) == wanted), None)
        if image is None:
            raise Http404("No such image in this study.")
        return image
    waiting = selectors.worklist_first_waiting_image(user=request.user, study=study)
    return next((i for i in images if waiting is not None and i.pk == waiting.pk), images[0])


@login_required
def image_file(request, pk: int, rendition: str = "display"):
    """An image's file (the URL names the rendition): diagnosis.serving checks, audits and streams it."""
    return serving.image_file(request, pk, rendition=rendition)


@login_required
def image_pixels(request, pk: int):
    """A DICOM image's stored values for the viewer's windowing (diagnosis.pixels), served by diagnosis.serving."""
    return serving.image_pixels(request, pk)


@login_required
def prediction_heatmap(request, pk: int):
    """A prediction's Grad-CAM PNG, served as the images are (diagnosis.serving)."""
    return serving.prediction_heatmap(request, pk)


@login_required
@require_POST
def review_submit(request, prediction_pk: int):
    prediction = access.get_prediction_for_user(request, prediction_pk, roles=[Role.RADIOLOGIST])
    form = ReviewForm(request.POST, classes=prediction.model_version.classes, ai_label=prediction.label)
    if not form.is_valid():
        return render(request, "diagnosis/review_invalid.html", {"form": form, "prediction": prediction}, status=400)
    client = Client.from_request(request)
    saved = review.review_submit(prediction=prediction, reviewer=request.user, **form.review_fields(), client=client)
    study = prediction.image.study
    messages.info(request, f"Saved: {saved.summary} (image {prediction.image.original_name}, {study.patient.name}).")
    then, anyway = form.cleaned_data["then"], "&anyway=1" if form.cleaned_data["anyway"] else ""
    if then == ReviewForm.THEN_STAY:
        return redirect(f"{reverse('diagnosis:study_read', args=[study.pk])}?image={prediction.image_id}{anyway}")
    if then == ReviewForm.THEN_NEXT:
        return redirect(_reading_next(request, study, client, anyway))
    return redirect(f"{reverse('diagnosis:study_detail', args=[study.pk])}#image-{prediction.image_id}")


def _reading_next(request, study, client, anyway: str = "") -> str:
    """Where "Save and next" goes: the next image of this study waiting for the reader (still "read anyway" when
    the reader was), else the next study on their worklist (this study's claim released), else the worklist, all
    caught up."""
    image = selectors.worklist_first_waiting_image(user=request.user, study=study)
    if image is not None:
        return f"{reverse('diagnosis:study_read', args=[study.pk])}?image={image.pk}{anyway}"
    worklist_service.study_release(study=study, reader=request.user, client=client)
    following = selectors.worklist_next_study(user=request.user, after=study)
    if following is not None:
        return reverse("diagnosis:study_read", args=[following.pk])
    messages.info(request, "All caught up: nothing else on your worklist waits for a read.")
    return reverse("diagnosis:worklist")


WORKLIST_PAGE_SIZE = 50


@login_required
def worklist(request):
    """Triage, one row per study waiting for this reader, STAT first and most likely abnormal first by default.
    A filter the worklist does not take, or a bad value, is a 400 that says so above the (unfiltered) list."""
    sites = access.site_list_for(request.user, [Role.RADIOLOGIST])
    if not sites:
        raise access.deny(request, "worklist", "The worklist is for radiologists.")
    # The rows depend on the reader (claims, second reads), and the page holds a CSRF token for the session.
    variant = (request.user.pk, request.META.get("CSRF_COOKIE"), sorted(request.GET.lists()))
    page = listings.cached_page(listings.WORKLIST, sites, variant, lambda: _worklist_page(request, sites))
    # The worklist shows names and MRNs: one VIEW event for the page, as for API lists.
    site = sites[0] if len(sites) == 1 else None
    access.record_list(request, "worklist", page["count"], site, detail={"page": page["number"]})
    return render(request, "diagnosis/worklist.html", {"body": page["html"]}, status=page["status"])


def _worklist_page(request, sites) -> dict:
    """The worklist's content for this query, rendered, with what its audit event records."""
    params = selectors.worklist_filter(request.GET)
    errors = dict(params.errors)
    takes = params.parameters() | {"page"}
    for name in sorted(set(request.GET) - takes):
        errors[name] = [f"The worklist has no such filter. It takes: {', '.join(sorted(takes))}."]
    studies = selectors.worklist_studies(user=request.user, filters=request.GET)
    filtered = any(request.GET.get(name) for name in params.parameters() - {"order"})
    everything = selectors.worklist_studies(user=request.user) if filtered else studies  # the same rows otherwise
    waiting = everything.aggregate(studies=Count("pk"), images=Sum("unread_count"))
    paginator = Paginator(studies, WORKLIST_PAGE_SIZE)
    if not filtered:
        paginator.count = waiting["studies"]  # the same rows: spare the database a second count
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    order = selectors.worklist_study_order(request.GET)
    context = {
        "studies": page,
        "page": page,
        "page_query": query.urlencode(),
        "shown": paginator.count,
        "waiting": waiting,
        "form": params.form,
        "errors": errors,
        "created_after": request.GET.get("created_after", ""),
        "created_before": request.GET.get("created_before", ""),
        "sites": sites,
        "tasks": ModelVersion.objects.values_list("task", flat=True).distinct().order_by("task"),
        "modalities": Study.Modality.choices,
        "priorities": Study.Priority.choices,
        "claims": WorklistFilter.CLAIMED,
        "orders": WorklistFilter.ORDERS,
        "order": order,
        "order_label": dict(WorklistFilter.ORDERS)[order],
        "filtered": filtered,
    }
    html = render_to_string("diagnosis/_worklist_body.html", context, request=request)
    return {"html": html, "count": len(page), "number": page.number, "status": 400 if errors else 200}


@login_required
@require_POST
def study_release(request, pk: int):
    """Give up one's reading claim on a study (someone else's is left alone), back to the worklist."""
    study = access.get_study_for_user(request, pk, roles=[Role.RADIOLOGIST])
    worklist_service.study_release(study=study, reader=request.user, client=Client.from_request(request))
    messages.success(request, f"Released: {study.patient.name}'s {study.modality} {study.body_part} is free to read.")
    return redirect("diagnosis:worklist")


ADJUDICATION_PAGE_SIZE = 50


@login_required
def adjudication(request):
    """Predictions whose two readers disagree, at sites with a second reader, for a third radiologist."""
    radiologist_sites = access.site_list_for(request.user, [Role.RADIOLOGIST])
    if not radiologist_sites:
        raise access.deny(request, "adjudication", "Adjudication is for radiologists.")
    disputed = selectors.adjudication_list(user=request.user).prefetch_related("reviews__reviewer")
    page = Paginator(disputed, ADJUDICATION_PAGE_SIZE).get_page(request.GET.get("page"))
    access.record_list(request, "adjudication", len(page), None, detail={"page": page.number})
    sites = [site for site in radiologist_sites if site.second_reader]
    return render(request, "diagnosis/adjudication.html", {"predictions": page, "page": page, "sites": sites})


@login_required
def model_list(request):
    """Every registered model version, active ones first: what runs on the images, for everyone who sees them."""
    versions = ModelVersion.objects.select_related("registered_by").order_by("task", "status", "-created_at")
    return render(request, "diagnosis/model_list.html", {"versions": versions})


@login_required
def model_detail(request, pk: int):
    """A version's metrics and operating point; for a shadow version, how often it agrees with the active one."""
    version = get_object_or_404(ModelVersion.objects.select_related("registered_by"), pk=pk)
    splits = [(name, (version.metrics or {}).get(name)) for name in ("val", "test")]
    passed, reasons, _ = registry.promotion_check(model_version=version)
    live = learning_service.live_performance(model_version=version)
    agreement = registry.shadow_agreement(model_version=version)
    context = {
        "version": version,
        "splits": [(name, {**m, "at_05": m.get("at_0.5")}) for name, m in splits if m],  # a template-friendly key
        "agreement": agreement,
        "alarms": learning_service.live_alarms(model_version=version, live=live, shadow=agreement),
        "evaluations": version.evaluations.select_related("baseline")[:5],
        "gate": {"passed": passed, "reasons": reasons},
        "live": live,
        "confusion_rows": list(zip(live["classes"], live["confusion"], strict=True)),
        "trend_plot": _trend_plot(live),
        "can_manage": request.user.is_superuser,
        "evaluation_pending": learning_service.model_evaluation_pending(model_version=version),
    }
    return render(request, "diagnosis/model_detail.html", context)


def _trend_plot(live: dict) -> dict | None:
    """Coordinates for the weekly agreement line (SVG, 0..1 mapped to y 110..10), or None under two weeks."""
    weeks = live["trend"]
    if len(weeks) < 2:
        return None
    step = 600 / (len(weeks) - 1)
    dots = [{"x": round(i * step, 1), "y": round(110 - 100 * w["rate"], 1)} | w for i, w in enumerate(weeks)]
    level = (live["drift"] or {}).get("level", 0.8)
    return {
        "width": 600,
        "points": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "dots": dots,
        "level_y": round(110 - 100 * level, 1),
    }


# --- the learning loop: superusers (the admins who run the models) --------------------------------------


@login_required
def learning(request):
    """Every task's retraining queue (counts per class, new since the last run), its runs and its policy."""
    access.check_model_admin(request)
    tasks = [
        learning_service.retraining_queue_summary(task=task)
        | {"policy": LearningPolicy.objects.filter(task=task).first()}
        for task in learning_service.training_tasks()
    ]
    runs = TrainingRun.objects.select_related("model_version", "requested_by")[:50]
    return render(request, "diagnosis/learning.html", {"tasks": tasks, "runs": runs})


@login_required
def retraining_items(request, task: str):
    """A task's queue items, newest first, with their exclusions; each can be excluded with a reason."""
    access.check_model_admin(request, "retrainingitem")
    items = RetrainingItem.objects.filter(task=task).select_related("review__reviewer", "excluded_by", "image")
    usable = set(items.usable().values_list("pk", flat=True))
    page = list(items.order_by("-created_at")[:300])
    access.record_list(request, "retrainingitem", len(page), None)  # pseudonyms, still about patients
    context = {"task": task, "items": [(item, item.pk in usable) for item in page], "total": items.count()}
    return render(request, "diagnosis/retraining_items.html", context)


def _attempt(request, change, done=None):
    """Make one service call; a refusal (DomainError) becomes an error message, success the message `done`
    gives for the result. Returns the result, or None when refused."""
    try:
        result = change()
    except DomainError as exc:
        messages.error(request, " ".join(exc.messages))
        return None
    if done is not None:
        messages.success(request, done(result))
    return result


@login_required
@require_POST
def retraining_item_exclude(request, pk: int):
    access.check_model_admin(request)
    item = get_object_or_404(RetrainingItem.objects.select_related("image__study__patient__site"), pk=pk)
    form = ExclusionForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["reason"]))
    else:
        _attempt(
            request,
            lambda: learning_service.retraining_item_exclude(
                item=item, actor=request.user, reason=form.cleaned_data["reason"], client=Client.from_request(request)
            ),
            lambda excluded: f"Item {excluded.pk} is excluded from training.",
        )
    return redirect("diagnosis:retraining_items", task=item.task)


@login_required
@require_POST
def training_start(request, task: str):
    access.check_model_admin(request)
    run = _attempt(
        request,
        lambda: learning_service.retraining_run_create(
            task=task, requested_by=request.user, client=Client.from_request(request)
        ),
    )
    return redirect("diagnosis:training_run", pk=run.pk) if run else redirect("diagnosis:learning")


@login_required
def training_run(request, pk: int):
    """A run's live progress and log (the page polls training_run_progress), its data and its candidate."""
    access.check_model_admin(request)
    run = get_object_or_404(TrainingRun.objects.select_related("model_version", "base_version"), pk=pk)
    return render(request, "diagnosis/training_run.html", {"run": run})


@login_required
def training_run_progress(request, pk: int):
    access.check_model_admin(request)
    run = get_object_or_404(TrainingRun.objects.select_related("model_version"), pk=pk)
    return render(request, "diagnosis/_training_progress.html", {"run": run})


@login_required
@require_POST
def model_promote(request, pk: int):
    """Promotion through the gate, confirmed with a written reason (audited); with "override" checked, the reason
    also promotes a refused candidate."""
    access.check_model_admin(request)
    version = get_object_or_404(ModelVersion, pk=pk)
    form = ModelChangeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not promoted: " + " ".join(form.errors.get("reason", [])))
        return redirect("diagnosis:model_detail", pk=version.pk)
    _attempt(
        request,
        lambda: registry.model_promote(
            model_version=version, actor=request.user, client=Client.from_request(request), **form.cleaned_data
        ),
        lambda promoted: f"{promoted} is now the active {promoted.task} model.",
    )
    return redirect("diagnosis:model_detail", pk=version.pk)


@login_required
@require_POST
def model_evaluate(request, pk: int):
    access.check_model_admin(request)
    version = get_object_or_404(ModelVersion, pk=pk)
    _attempt(
        request,
        lambda: learning_service.model_evaluation_request(
            model_version=version, actor=request.user, client=Client.from_request(request)
        ),
        lambda _: "Evaluation on the held-out set queued on the training worker.",
    )
    return redirect("diagnosis:model_detail", pk=version.pk)


@login_required
@require_POST
def model_rollback(request, pk: int):
    """Make the task of this version go back to its previous active version, confirmed with a written reason."""
    access.check_model_admin(request)
    version = get_object_or_404(ModelVersion, pk=pk)
    form = ModelChangeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not rolled back: " + " ".join(form.errors.get("reason", [])))
        return redirect("diagnosis:model_detail", pk=version.pk)
    restored = _attempt(
        request,
        lambda: registry.model_rollback(
            task=version.task,
            actor=request.user,
            reason=form.cleaned_data["reason"],
            client=Client.from_request(request),
        ),
        lambda back: f"Rolled back: {back} is the active {back.task} model again.",
    )
    return redirect("diagnosis:model_detail", pk=(restored or version).pk)
