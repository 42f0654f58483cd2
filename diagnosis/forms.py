from django import forms

from diagnosis.models import Patient, Study


class PatientForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = ["site", "mrn", "name", "birth_date", "sex"]
        widgets = {"birth_date": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        self.fields["site"].empty_label = None


class PatientUpdateForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = ["mrn", "name", "birth_date", "sex"]
        widgets = {"birth_date": forms.DateInput(attrs={"type": "date"})}


class StudyForm(forms.ModelForm):
    class Meta:
        model = Study
        fields = ["modality", "body_part", "study_date", "accession_number", "referring_clinician", "description"]
        widgets = {"study_date": forms.DateInput(attrs={"type": "date"})}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field that accepts several files (Django's documented recipe)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".dcm,application/dicom,image/png,image/jpeg"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class UploadForm(forms.Form):
    files = MultipleFileField()


class DicomImportForm(forms.Form):
    """DICOM files without a chosen study: their own tags find or create the patient and study."""

    site = forms.ModelChoiceField(queryset=None, empty_label=None)
    files = MultipleFileField(widget=MultipleFileInput(attrs={"accept": ".dcm,application/dicom"}))

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites


UNCERTAIN_CHOICE = "__uncertain__"  # the label select's extra option; never a model class


class ReviewForm(forms.Form):
    """A reader's decision on a prediction: Agree (the AI's label), Disagree with the reader's label, or Uncertain /
    not diagnostic. Nothing is preset: a form without a decision is refused. A bare `label` (a class, or
    UNCERTAIN_CHOICE) still works, as the API-era forms posted it. `then` says where the reader goes after saving."""

    AGREE, DISAGREE, UNCERTAIN = "agree", "disagree", "uncertain"
    THEN_STUDY, THEN_STAY, THEN_NEXT = "study", "stay", "next"

    decision = forms.ChoiceField(
        required=False, choices=[(AGREE, "Agree"), (DISAGREE, "Disagree"), (UNCERTAIN, "Uncertain / not diagnostic")]
    )
    label = forms.ChoiceField(required=False)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    then = forms.ChoiceField(required=False, choices=[(THEN_STUDY, "study"), (THEN_STAY, "stay"), (THEN_NEXT, "next")])
    anyway = forms.BooleanField(required=False)  # the reader reads under another reader's claim ("Read anyway")

    def __init__(self, *args, classes, ai_label: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.ai_label = ai_label
        self.fields["label"].choices = [(c, c) for c in classes] + [(UNCERTAIN_CHOICE, "Uncertain / not diagnostic")]

    def clean(self):
        data = super().clean()
        decision, label = data.get("decision"), data.get("label")
        if decision == self.AGREE:
            label = self.ai_label
        elif decision == self.UNCERTAIN:
            label = UNCERTAIN_CHOICE
        elif decision == self.DISAGREE and (not label or label in (self.ai_label, UNCERTAIN_CHOICE)):
            self.add_error("label", "Disagree: choose your label, one the AI did not give.")
        elif not decision and not label and not self.errors:
            raise forms.ValidationError("Choose Agree, Disagree (with your label) or Uncertain before saving.")
        data["uncertain"] = label == UNCERTAIN_CHOICE
        data["label"] = "" if data["uncertain"] else label
        data["then"] = data.get("then") or self.THEN_STUDY
        return data

    def review_fields(self) -> dict:
        """What review_submit takes from the form."""
        return {key: self.cleaned_data[key] for key in ("label", "note", "uncertain")}


class ExclusionForm(forms.Form):
    reason = forms.CharField(max_length=500, error_messages={"required": "Say why the item is excluded."})


class ModelChangeForm(forms.Form):
    """Promotion or rollback on the web: a deliberate second step with a written reason, which the audit trail keeps.
    registry.model_promote/model_rollback own the rule (the API and the admin rely on it); this form checks it first,
    in the same words, so the page answers without a round trip through the service."""

    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Write why: the reason is kept in the audit trail."},
    )
    override = forms.BooleanField(required=False, label="Override the gate")

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Write why: the reason is kept in the audit trail.", code="required")
        return reason
