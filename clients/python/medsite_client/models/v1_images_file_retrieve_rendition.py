from enum import StrEnum


class V1ImagesFileRetrieveRendition(StrEnum):
    DEIDENTIFIED = "deidentified"
    DISPLAY = "display"
    ORIGINAL = "original"

    def __str__(self) -> str:
        return str(self.value)
