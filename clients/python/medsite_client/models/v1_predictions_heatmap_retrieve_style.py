from enum import StrEnum


class V1PredictionsHeatmapRetrieveStyle(StrEnum):
    CAM = "cam"
    OVERLAY = "overlay"

    def __str__(self) -> str:
        return str(self.value)
