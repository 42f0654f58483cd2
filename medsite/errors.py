"""The one error that services raise: DomainError.

A service that refuses a request (bad input it found, a state that does not allow the change, a duplicate)
raises DomainError with a message for the person who asked. The callers turn it into their own answer, the same
way everywhere:

- the REST API: medsite.exceptions.api_exception_handler answers an RFC 9457 problem (application/problem+json)
  whose status comes from `kind` and whose `errors` hold the message under `field`, or under
  "non_field_errors" when the error is about the request as a whole;
- the web: diagnosis.views._attempt shows the message on the next page;
- the DICOM receiver, STOW-RS, FHIR and the admin, which catch django.core.exceptions.ValidationError.

DomainError subclasses Django's ValidationError, so those last callers (and `exc.messages`) keep working; the
decision is deliberate: Django already gives the message list, the field dict and `code`, and every caller
already catches it. What DomainError adds is `kind`, the HTTP-ish class of refusal.
"""

from typing import ClassVar

from django.core.exceptions import ValidationError


class DomainError(ValidationError):
    """A service refused: `message` for the person who asked; `code` a stable machine-readable word (e.g.
    "duplicate_image"); `field` the input it is about, if one; `kind` one of KINDS: how the API answers it.
    `message` may also be a dict of messages per field, as Model.full_clean raises them (see from_validation)."""

    KINDS: ClassVar[dict[str, int]] = {
        "invalid": 400,  # the input is wrong
        "forbidden": 403,  # the caller may not do this
        "not_found": 404,
        "conflict": 409,  # the input is fine but the state of things does not allow it (a duplicate, a run going)
        "too_large": 413,
    }

    def __init__(self, message, *, code: str = "invalid", kind: str = "invalid", field: str | None = None, params=None):
        if kind not in self.KINDS:
            raise ValueError(f"DomainError kind must be one of {sorted(self.KINDS)}, not {kind!r}")
        self.kind = kind
        self.field = field
        if isinstance(message, dict | list):
            super().__init__(message)
        elif field is not None:
            super().__init__({field: [ValidationError(message, code=code, params=params)]})
        else:
            super().__init__(message, code=code, params=params)
        self.code = code

    @classmethod
    def from_validation(cls, exc: ValidationError, **kwargs) -> "DomainError":
        """Django's ValidationError (Model.full_clean: {field: [...]} or [...]) as a DomainError."""
        return cls(exc.error_dict if hasattr(exc, "error_dict") else exc.error_list, **kwargs)

    @property
    def status(self) -> int:
        return self.KINDS[self.kind]
