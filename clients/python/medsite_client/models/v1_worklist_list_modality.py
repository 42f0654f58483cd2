from enum import StrEnum


class V1WorklistListModality(StrEnum):
    CR = "CR"
    CT = "CT"
    DX = "DX"
    MR = "MR"
    OT = "OT"

    def __str__(self) -> str:
        return str(self.value)
