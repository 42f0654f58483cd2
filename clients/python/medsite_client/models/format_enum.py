from enum import StrEnum


class FormatEnum(StrEnum):
    DICOM = "DICOM"
    JPEG = "JPEG"
    PNG = "PNG"

    def __str__(self) -> str:
        return str(self.value)
