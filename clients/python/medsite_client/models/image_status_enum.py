from enum import StrEnum


class ImageStatusEnum(StrEnum):
    DONE = "done"
    FAILED = "failed"
    HELD = "held"
    NO_MODEL = "no_model"
    PROCESSING = "processing"
    QUEUED = "queued"
    UNSUITABLE = "unsuitable"

    def __str__(self) -> str:
        return str(self.value)
