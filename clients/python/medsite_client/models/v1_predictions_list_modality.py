from enum import StrEnum


class V1PredictionsListModality(StrEnum):
    CR = "CR"
    CT = "CT"
    DX = "DX"
    MR = "MR"
    OT = "OT"

    def __str__(self) -> str:
        return str(self.value)
