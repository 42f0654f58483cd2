from enum import StrEnum


class V1StudiesListModality(StrEnum):
    CR = "CR"
    CT = "CT"
    DX = "DX"
    MR = "MR"
    OT = "OT"

    def __str__(self) -> str:
        return str(self.value)
