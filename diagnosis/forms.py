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
    label = forms.ChoiceField()
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, classes, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["label"].choices = [(c, c) for c in classes] + [(UNCERTAIN_CHOICE, "Uncertain / not diagnostic")]

    def clean(self):
        data = super().clean()
        data["uncertain"] = data.get("label") == UNCERTAIN_CHOICE
        if data["uncertain"]:
            data["label"] = ""
        return data


class ExclusionForm(forms.Form):
    reason = forms.CharField(max_length=500, error_messages={"required": "Say why the item is excluded."})


class PromotionForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    override = forms.BooleanField(required=False, label="Override the gate (needs a written reason)")
