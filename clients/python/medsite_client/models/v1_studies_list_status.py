from enum import StrEnum


class V1StudiesListStatus(StrEnum):
    ANALYSING = "analysing"
    AWAITING_READ = "awaiting_read"
    AWAITING_REVIEW = "awaiting_review"
    COMPLETE = "complete"
    REGISTERED = "registered"

    def __str__(self) -> str:
        return str(self.value)
